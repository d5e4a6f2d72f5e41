# Register a scheduled task that starts the CIR daemon at logon (Windows).
#   powershell -ExecutionPolicy Bypass -File installers\windows\install-logon-task.ps1
#   powershell -ExecutionPolicy Bypass -File installers\windows\install-logon-task.ps1 -Uninstall
# The daemon listens on tcp://127.0.0.1:47100 (ipc:// is not used on Windows).
param(
    [string]$Cir = "",
    [switch]$Uninstall
)
$ErrorActionPreference = "Stop"
$TaskName = "CIR daemon"

if ($Uninstall) {
    Unregister-ScheduledTask -TaskName $TaskName -Confirm:$false
    Write-Host "removed the logon task '$TaskName'"
    exit 0
}
if (-not $Cir) {
    $found = Get-Command cir.exe -ErrorAction SilentlyContinue
    if (-not $found) {
        throw "cir.exe not found on PATH: pass -Cir C:\path\to\.venv\Scripts\cir.exe"
    }
    $Cir = $found.Source
}
$action = New-ScheduledTaskAction -Execute $Cir -Argument "daemon run"
$trigger = New-ScheduledTaskTrigger -AtLogOn -User $env:USERNAME
# Restart after a crash; no time limit (the default stops tasks after 3 days).
$settings = New-ScheduledTaskSettingsSet -RestartCount 3 -RestartInterval (New-TimeSpan -Minutes 1) `
    -ExecutionTimeLimit ([TimeSpan]::Zero) -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries
Register-ScheduledTask -TaskName $TaskName -Action $action -Trigger $trigger -Settings $settings `
    -Description "CIR: per-family preset suggestions for audio loops" -Force | Out-Null
Start-ScheduledTask -TaskName $TaskName
Write-Host "registered and started '$TaskName' ($Cir daemon run); check with: cir daemon status"
