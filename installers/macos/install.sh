#!/bin/sh
# Install CIR for this user on macOS, from a clone of the repository (the steps of the Linux
# installer, installers/install.sh, which runs this script on macOS; the same options):
#   sh installers/macos/install.sh [--uninstall [--purge]] [--no-packages] [--no-catalogue]
#                                  [--catalogue-limit N] [--venv DIR]
# Homebrew packages, the virtual environment in .venv, the CIR Bridge plugin into
# ~/Library/Audio/Plug-Ins/{VST3,CLAP,LV2}, the daemon as a launchd agent, and the built-in
# catalogue built in the background. The plugin builds against a DPF 1.6 source tree: Debian
# packages it as dpf-source; on macOS point DPF_SRC at a checkout of DPF 1.6.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$(dirname "$HERE")")
# shellcheck source=installers/common.sh
. "$REPO/installers/common.sh"
parse_options "$@"

PLIST="$HOME/Library/LaunchAgents/org.cir.daemon.plist"
LOGS="$HOME/Library/Logs/cir"
PLUGINS="$HOME/Library/Audio/Plug-Ins"
BUNDLES="CIRBridge.vst3:$PLUGINS/VST3 CIRBridge.clap:$PLUGINS/CLAP CIRBridge.lv2:$PLUGINS/LV2"
BREW_PACKAGES="python@3.11 pkg-config zeromq nlohmann-json cairo portaudio fluid-synth"
VENV=${venv:-$REPO/.venv}
CIR="$VENV/bin/cir"
BUILD_LOG="$LOGS/catalogue-build.log"
BUILD_PID="$LOGS/catalogue-build.pid"

if [ "$uninstall" = 1 ]; then
    if [ -f "$PLIST" ]; then
        launchctl unload -w "$PLIST" 2>/dev/null || true
        rm -f "$PLIST" && say "removed $PLIST"
    fi
    remove_common "$LOGS"
    exit 0
fi

# 1. packages (Homebrew)
command -v brew >/dev/null 2>&1 || fail "Homebrew not found: install it (https://brew.sh), then run this again"
missing=""
for p in $BREW_PACKAGES; do brew list --versions "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
    [ "$packages" = 1 ] || fail "missing Homebrew packages:$missing"
    say "installing Homebrew packages:$missing"
    # shellcheck disable=SC2086  # one word per package
    brew install $missing
fi
if [ -z "${DPF_SRC:-}" ] || [ ! -f "$DPF_SRC/Makefile.plugins.mk" ]; then
    fail "set DPF_SRC to a DPF 1.6 source tree (git checkout of DISTRHO/DPF at v1.6)"
fi

# 2. the virtual environment, 3. the plugin bundles
install_venv python3.11
make -s -C "$REPO" plugins DPF_SRC="$DPF_SRC" >/dev/null
install_bundles

# 4. the daemon as a launchd agent
mkdir -p "$HOME/Library/LaunchAgents" "$LOGS"
if sed -e "s|@CIR@|$CIR|" -e "s|@LOGS@|$LOGS|" "$REPO/installers/launchd/org.cir.daemon.plist" \
        | replace_if_changed "$PLIST"; then
    launchctl unload -w "$PLIST" 2>/dev/null || true
    launchctl load -w "$PLIST"
    say "service: loaded $PLIST"
else
    say "service: $PLIST in place"
fi

# 5. the built-in catalogue, in the background
[ "$catalogue" = 0 ] || start_catalogue
say "done. Rescan plugins in your DAW and add 'CIR Bridge'; check the daemon: $CIR daemon status"
