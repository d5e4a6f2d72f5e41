#!/bin/sh
# Install CIR for this user, from a clone of the repository, in one command:
#   sh installers/install.sh                 # packages, venv, plugins, daemon service, catalogue
#   sh installers/install.sh --uninstall     # remove it all, keep the catalogue
#   sh installers/install.sh --uninstall --purge   # ... and the catalogue, keys and logs
# Options: --no-packages (do not install system packages, only check them), --venv DIR (use
# an existing virtual environment that has cir), --catalogue-limit N (build N built-in
# presets instead of the whole bank), --no-catalogue, -h/--help.
#
# Linux: Debian/Ubuntu packages (asks for sudo once when some are missing), the virtual
# environment in .venv, the CIR Bridge plugin into ~/.vst3, ~/.clap and ~/.lv2, the daemon as
# a systemd user service (started now; where no user systemd runs, started directly), and the
# built-in catalogue built in the background (progress in its log). Running it again changes
# nothing that is already in place. macOS: installers/macos/install.sh; Windows:
# installers/windows/install.ps1.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
# shellcheck source=installers/common.sh
. "$HERE/common.sh"
parse_options "$@"

case "$(uname -s)" in
Linux) ;;
Darwin) exec sh "$HERE/macos/install.sh" "$@" ;;
*) fail "unsupported system $(uname -s): on Windows run installers\\windows\\install.ps1" ;;
esac

UNIT=cir-daemon.service
# What `make plugins` and the daemon need on Debian/Ubuntu (the test-only ones are in .ci/run).
PACKAGES="make g++ pkg-config python3-venv dpf-source libzmq3-dev nlohmann-json3-dev
libcairo2-dev libx11-dev libxext-dev libxrandr-dev libxcursor-dev libportaudio2
fluidsynth libfluidsynth3"
VENV=${venv:-$REPO/.venv}
CIR="$VENV/bin/cir"
BUNDLES="CIRBridge.vst3:$HOME/.vst3 CIRBridge.clap:$HOME/.clap CIRBridge.lv2:$HOME/.lv2"
UNIT_DIR="${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user"
STATE_DIR="${XDG_STATE_HOME:-$HOME/.local/state}/cir"
BUILD_LOG="$STATE_DIR/catalogue-build.log"
BUILD_PID="$STATE_DIR/catalogue-build.pid"

user_systemd() { command -v systemctl >/dev/null 2>&1 && systemctl --user show-environment >/dev/null 2>&1; }

# --- uninstall -------------------------------------------------------------------------------

if [ "$uninstall" = 1 ]; then
    if user_systemd; then
        systemctl --user disable --now "$UNIT" 2>/dev/null || true
    fi
    if [ -f "$UNIT_DIR/$UNIT" ]; then
        rm -f "$UNIT_DIR/$UNIT"
        if user_systemd; then systemctl --user daemon-reload || true; fi
        say "removed $UNIT_DIR/$UNIT"
    fi
    remove_common "$STATE_DIR"
    exit 0
fi

# --- 1. system packages ----------------------------------------------------------------------

missing=""
if command -v dpkg-query >/dev/null 2>&1; then
    for p in $PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
    done
    if [ -n "$missing" ]; then
        [ "$packages" = 1 ] || fail "missing system packages:$missing (install them, or drop --no-packages)"
        as_root=""
        [ "$(id -u)" = 0 ] || as_root="sudo"
        [ -z "$as_root" ] || command -v sudo >/dev/null 2>&1 \
            || fail "missing system packages:$missing; as root run: apt-get install$missing"
        say "installing system packages:$missing"
        # shellcheck disable=SC2086  # one word per package
        $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
    else
        say "system packages: in place"
    fi
else
    say "not a Debian/Ubuntu system: install these (or your system's names for them):"
    # shellcheck disable=SC2086  # one word per package
    say "  $(printf '%s ' $PACKAGES)"
fi

# --- 2. the virtual environment --------------------------------------------------------------

install_venv python3

# --- 3. the plugin bundles -------------------------------------------------------------------

say "building the CIR Bridge plugin (make plugins)"
make -s -C "$REPO" plugins >/dev/null
install_bundles

# --- 4. the daemon as a systemd user service -------------------------------------------------

mkdir -p "$UNIT_DIR" "$STATE_DIR"
if sed -e "s|@CIR@|$CIR|" -e "s|@DOCS@|$REPO/docs|" "$HERE/systemd/$UNIT" \
        | replace_if_changed "$UNIT_DIR/$UNIT"; then
    say "service: wrote $UNIT_DIR/$UNIT"
    changed_unit=1
else
    say "service: $UNIT_DIR/$UNIT in place"
    changed_unit=0
fi
if user_systemd; then
    [ "$changed_unit" = 0 ] || systemctl --user daemon-reload
    systemctl --user is-enabled -q "$UNIT" 2>/dev/null || systemctl --user enable -q "$UNIT"
    if [ "$changed_unit" = 1 ]; then systemctl --user restart "$UNIT"; else systemctl --user start "$UNIT"; fi
    say "service: enabled and running (systemctl --user status cir-daemon)"
elif "$CIR" daemon status >/dev/null 2>&1; then
    say "daemon: running (no user systemd here: it starts at login where systemd runs)"
else
    out=$("$CIR" daemon start 2>&1) || fail "the daemon did not start: $out"
    say "daemon: started (no user systemd here: the unit starts it at login where systemd runs)"
fi

# --- 5. the built-in catalogue, in the background --------------------------------------------

[ "$catalogue" = 0 ] || start_catalogue
say "done. Rescan plugins in your DAW and add 'CIR Bridge'; the daemon answers: $CIR daemon status"
