#!/bin/sh
# Install the CIR daemon as a login service for this user: systemd (Linux) or launchd (macOS).
#   sh installers/install.sh             # install and start
#   sh installers/install.sh --uninstall
# Windows: installers/windows/install-logon-task.ps1
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
CIR=${CIR:-}
if [ -z "$CIR" ]; then
    if [ -x "$REPO/.venv/bin/cir" ]; then CIR="$REPO/.venv/bin/cir"; else CIR=$(command -v cir || true); fi
fi
[ -n "$CIR" ] || { echo "cir not found: run 'make setup' or set CIR=/path/to/cir" >&2; exit 1; }

case "$(uname -s)" in
Linux)
    UNIT_DIR="${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user"
    if [ "${1:-}" = "--uninstall" ]; then
        systemctl --user disable --now cir-daemon.service || true
        rm -f "$UNIT_DIR/cir-daemon.service"
        systemctl --user daemon-reload
        echo "removed cir-daemon.service"; exit 0
    fi
    mkdir -p "$UNIT_DIR"
    sed -e "s|@CIR@|$CIR|" -e "s|@DOCS@|$REPO/docs|" "$HERE/systemd/cir-daemon.service" \
        > "$UNIT_DIR/cir-daemon.service"
    systemctl --user daemon-reload
    systemctl --user enable --now cir-daemon.service
    echo "installed $UNIT_DIR/cir-daemon.service; check with: systemctl --user status cir-daemon"
    ;;
Darwin)
    PLIST="$HOME/Library/LaunchAgents/org.cir.daemon.plist"
    if [ "${1:-}" = "--uninstall" ]; then
        launchctl unload -w "$PLIST" 2>/dev/null || true
        rm -f "$PLIST"; echo "removed $PLIST"; exit 0
    fi
    mkdir -p "$HOME/Library/LaunchAgents" "$HOME/Library/Logs/cir"
    sed -e "s|@CIR@|$CIR|" -e "s|@LOGS@|$HOME/Library/Logs/cir|" "$HERE/launchd/org.cir.daemon.plist" > "$PLIST"
    launchctl load -w "$PLIST"
    echo "installed $PLIST; check with: cir daemon status"
    ;;
*)
    echo "unsupported system $(uname -s): on Windows run installers/windows/install-logon-task.ps1" >&2
    exit 1
    ;;
esac
