#!/bin/sh
# Install CIR for this user on macOS, from a clone of the repository (the same steps as the
# Linux installer, installers/install.sh, which runs this script on macOS):
#   sh installers/macos/install.sh [--uninstall [--purge]] [--no-packages] [--no-catalogue]
#                                  [--catalogue-limit N] [--venv DIR]
# Homebrew packages, the virtual environment in .venv, the CIR Bridge plugin into
# ~/Library/Audio/Plug-Ins/{VST3,CLAP,LV2}, the daemon as a launchd agent, and the built-in
# catalogue built in the background. The plugin builds against a DPF 1.6 source tree: Debian
# packages it as dpf-source; on macOS point DPF_SRC at a checkout of DPF 1.6.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$(dirname "$HERE")")
PLIST="$HOME/Library/LaunchAgents/org.cir.daemon.plist"
LOGS="$HOME/Library/Logs/cir"
PLUGINS="$HOME/Library/Audio/Plug-Ins"
BUNDLES="CIRBridge.vst3:VST3 CIRBridge.clap:CLAP CIRBridge.lv2:LV2"
BREW_PACKAGES="python@3.11 pkg-config zeromq nlohmann-json cairo portaudio fluid-synth"

uninstall=0 purge=0 packages=1 catalogue=1 limit="" venv=""
while [ $# -gt 0 ]; do
    case "$1" in
    --uninstall) uninstall=1 ;;
    --purge) purge=1 ;;
    --no-packages) packages=0 ;;
    --no-catalogue) catalogue=0 ;;
    --catalogue-limit) limit=${2:?--catalogue-limit needs a number}; shift ;;
    --venv) venv=${2:?--venv needs a directory}; shift ;;
    *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

say() { printf '%s\n' "cir install: $*"; }
fail() { printf '%s\n' "cir install: error: $*" >&2; exit 1; }

VENV=${venv:-$REPO/.venv}
CIR="$VENV/bin/cir"
BUILD_LOG="$LOGS/catalogue-build.log"
BUILD_PID="$LOGS/catalogue-build.pid"

if [ "$uninstall" = 1 ]; then
    if [ -f "$BUILD_PID" ] && kill -0 "$(cat "$BUILD_PID")" 2>/dev/null; then kill "$(cat "$BUILD_PID")"; fi
    rm -f "$BUILD_PID"
    if [ -f "$PLIST" ]; then
        launchctl unload -w "$PLIST" 2>/dev/null || true
        rm -f "$PLIST" && say "removed $PLIST"
    fi
    for pair in $BUNDLES; do
        target="$PLUGINS/${pair#*:}/${pair%%:*}"
        if [ -e "$target" ]; then rm -rf "$target"; say "removed $target"; fi
    done
    if [ "$purge" = 1 ]; then
        data=$("$VENV/bin/python" -c "from cir import paths; print(paths.data_dir())" 2>/dev/null || true)
        [ -n "$data" ] || data="$HOME/Library/Application Support/cir"
        rm -rf "$data" "$LOGS" && say "removed the catalogue, keys and logs ($data)"
    else
        say "kept your catalogue (remove it too with --uninstall --purge)"
    fi
    if [ -f "$VENV/.cir-installer" ]; then rm -rf "$VENV"; say "removed $VENV"; fi
    exit 0
fi

# 1. packages (Homebrew)
if command -v brew >/dev/null 2>&1; then
    missing=""
    for p in $BREW_PACKAGES; do brew list --versions "$p" >/dev/null 2>&1 || missing="$missing $p"; done
    if [ -n "$missing" ]; then
        [ "$packages" = 1 ] || fail "missing Homebrew packages:$missing"
        say "installing Homebrew packages:$missing"
        # shellcheck disable=SC2086  # one word per package
        brew install $missing
    fi
else
    fail "Homebrew not found: install it (https://brew.sh), then run this again"
fi
if [ -z "${DPF_SRC:-}" ] || [ ! -f "$DPF_SRC/Makefile.plugins.mk" ]; then
    fail "set DPF_SRC to a DPF 1.6 source tree (git checkout of DISTRHO/DPF at v1.6)"
fi

# 2. the virtual environment
if [ -x "$CIR" ] && "$CIR" --version >/dev/null 2>&1; then
    say "virtual environment: in place ($VENV)"
else
    [ -z "$venv" ] || fail "--venv $venv has no working cir ($CIR)"
    python3.11 -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q -c "$REPO/constraints.txt" -e "${REPO}[capture,soundfonts]"
    touch "$VENV/.cir-installer"
fi

# 3. the plugin bundles
make -s -C "$REPO" plugins DPF_SRC="$DPF_SRC" >/dev/null
for pair in $BUNDLES; do
    name=${pair%%:*} folder="$PLUGINS/${pair#*:}"
    if [ -e "$folder/$name" ] && diff -r "$REPO/build/plugins/$name" "$folder/$name" >/dev/null 2>&1; then
        say "plugin: $folder/$name in place"
    else
        CIR_PLUGIN_BUILD_DIR="$REPO/build/plugins" "$CIR" plugin install --format "${name##*.}" >/dev/null
        say "plugin: installed $folder/$name"
    fi
done

# 4. the daemon as a launchd agent
mkdir -p "$HOME/Library/LaunchAgents" "$LOGS"
tmp="$PLIST.tmp"
sed -e "s|@CIR@|$CIR|" -e "s|@LOGS@|$LOGS|" "$REPO/installers/launchd/org.cir.daemon.plist" > "$tmp"
if cmp -s "$tmp" "$PLIST"; then
    rm -f "$tmp"
    say "service: $PLIST in place"
else
    [ ! -f "$PLIST" ] || launchctl unload -w "$PLIST" 2>/dev/null || true
    mv "$tmp" "$PLIST"
    launchctl load -w "$PLIST"
    say "service: loaded $PLIST"
fi

# 5. the built-in catalogue, in the background
if [ "$catalogue" = 1 ]; then
    if [ -f "$BUILD_PID" ] && kill -0 "$(cat "$BUILD_PID")" 2>/dev/null; then
        say "catalogue: still building (progress: tail -f $BUILD_LOG)"
    elif "$CIR" catalogue stats --json 2>/dev/null | grep -q '"builtin"'; then
        say "catalogue: the built-in synth is in it"
    else
        set -- catalogue add-builtin
        [ -z "$limit" ] || set -- "$@" --limit "$limit"
        nohup "$CIR" "$@" > "$BUILD_LOG" 2>&1 &
        echo $! > "$BUILD_PID"
        say "catalogue: building in the background; progress: tail -f $BUILD_LOG"
    fi
fi
say "done. Rescan plugins in your DAW and add 'CIR Bridge'; check the daemon: $CIR daemon status"
