# Install CIR for this user on Windows, from a clone of the repository (the steps of the Linux
# installer, installers/install.sh):
#   powershell -ExecutionPolicy Bypass -File installers\windows\install.ps1
#   powershell -ExecutionPolicy Bypass -File installers\windows\install.ps1 -Uninstall [-Purge]
# Python 3.11 (python.org or winget), the virtual environment in .venv, the CIR Bridge plugin
# (bundles built with MSYS2's make and MinGW g++ into build\plugins, then copied to the VST3,
# CLAP and LV2 folders), the daemon as a logon task, the built-in catalogue in the background.
param(
    [switch]$Uninstall,
    [switch]$Purge,
    [switch]$NoCatalogue,
    [int]$CatalogueLimit = 0
)
$ErrorActionPreference = "Stop"
$Repo = Split-Path -Parent (Split-Path -Parent $PSScriptRoot)
$Venv = Join-Path $Repo ".venv"
$Cir = Join-Path $Venv "Scripts\cir.exe"
$LogonTask = Join-Path $PSScriptRoot "install-logon-task.ps1"
$StateDir = Join-Path $env:LOCALAPPDATA "cir"
$BuildLog = Join-Path $StateDir "catalogue-build.log"
$Bundles = @(
    @{ Name = "CIRBridge.vst3"; Folder = Join-Path $env:LOCALAPPDATA "Programs\Common\VST3" },
    @{ Name = "CIRBridge.clap"; Folder = Join-Path $env:LOCALAPPDATA "Programs\Common\CLAP" },
    @{ Name = "CIRBridge.lv2"; Folder = Join-Path $env:APPDATA "LV2" }
)

function Say([string]$Text) { Write-Host "cir install: $Text" }

if ($Uninstall) {
    & powershell -ExecutionPolicy Bypass -File $LogonTask -Uninstall
    foreach ($b in $Bundles) {
        $target = Join-Path $b.Folder $b.Name
        if (Test-Path $target) { Remove-Item -Recurse -Force $target; Say "removed $target" }
    }
    if ($Purge) {
        Remove-Item -Recurse -Force $StateDir -ErrorAction SilentlyContinue
        Say "removed the catalogue, keys and logs ($StateDir)"
    } else {
        Say "kept your catalogue (remove it too with -Uninstall -Purge)"
    }
    exit 0
}

# 1. Python
$python = Get-Command python.exe -ErrorAction SilentlyContinue
if (-not $python) { throw "python.exe not found: install Python 3.11 (winget install Python.Python.3.11)" }

# 2. the virtual environment
if (Test-Path $Cir) {
    Say "virtual environment: in place ($Venv)"
} else {
    & $python.Source -m venv $Venv
    & (Join-Path $Venv "Scripts\python.exe") -m pip install -q --upgrade pip
    & (Join-Path $Venv "Scripts\pip.exe") install -q -c (Join-Path $Repo "constraints.txt") -e "$Repo[capture,soundfonts]"
}

# 3. the plugin bundles (built with MSYS2: `make plugins DPF_SRC=/path/to/DPF`)
$built = Join-Path $Repo "build\plugins"
if (-not (Test-Path (Join-Path $built "CIRBridge.vst3"))) {
    throw "no plugin bundles in $built: build them in an MSYS2 shell with `make plugins DPF_SRC=<DPF 1.6 tree>`"
}
$env:CIR_PLUGIN_BUILD_DIR = $built
& $Cir plugin install | Out-Null
Say "plugins: installed into the VST3, CLAP and LV2 folders"

# 4. the daemon as a logon task
& powershell -ExecutionPolicy Bypass -File $LogonTask -Cir $Cir

# 5. the built-in catalogue, in the background
if (-not $NoCatalogue) {
    $stats = & $Cir catalogue stats --json | Out-String
    if ($stats -match '"builtin"') {
        Say "catalogue: the built-in synth is in it"
    } else {
        New-Item -ItemType Directory -Force -Path $StateDir | Out-Null
        $arguments = @("catalogue", "add-builtin")
        if ($CatalogueLimit -gt 0) { $arguments += @("--limit", "$CatalogueLimit") }
        Start-Process -FilePath $Cir -ArgumentList $arguments -WindowStyle Hidden `
            -RedirectStandardOutput $BuildLog -RedirectStandardError "$BuildLog.err"
        Say "catalogue: building in the background; progress in $BuildLog"
    }
}
Say "done. Rescan plugins in your DAW and add 'CIR Bridge'; check the daemon: cir daemon status"
