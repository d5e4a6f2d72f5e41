# shellcheck shell=sh
# shellcheck disable=SC2034,SC2153  # options are read, and VENV/CIR/... set, by the sourcing script
# Steps shared by the Linux and macOS installers (sourced by installers/install.sh and
# installers/macos/install.sh, which set REPO, VENV, CIR, BUNDLES, BUILD_LOG and BUILD_PID).
# BUNDLES lists "bundle:folder" pairs: where each CIR Bridge bundle goes.

say() { printf '%s\n' "cir install: $*"; }
fail() { printf '%s\n' "cir install: error: $*" >&2; exit 1; }

# Options of both installers into: uninstall purge packages catalogue limit venv.
parse_options() {
    uninstall=0 purge=0 packages=1 catalogue=1 limit="" venv=""
    while [ $# -gt 0 ]; do
        case "$1" in
        --uninstall) uninstall=1 ;;
        --purge) purge=1 ;;
        --no-packages) packages=0 ;;
        --no-catalogue) catalogue=0 ;;
        --catalogue-limit) limit=${2:?--catalogue-limit needs a number}; shift ;;
        --venv) venv=${2:?--venv needs a directory}; shift ;;
        -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
        esac
        shift
    done
}

# The virtual environment with cir, made with `$1` (a python3) unless it works already.
install_venv() {
    if [ -x "$CIR" ] && "$CIR" --version >/dev/null 2>&1; then
        say "virtual environment: in place ($VENV)"
        return
    fi
    [ -z "$venv" ] || fail "--venv $venv has no working cir ($CIR)"
    say "creating the virtual environment in $VENV (a few minutes)"
    "$1" -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    # constraints.txt pins the CPU build of torch (a plain torch pulls a large CUDA build).
    "$VENV/bin/pip" install -q -c "$REPO/constraints.txt" -e "${REPO}[capture,soundfonts]"
    touch "$VENV/.cir-installer"  # --uninstall removes only a venv this script made
}

# Write stdin to the file `$1` unless it already holds exactly that; true when it changed.
replace_if_changed() {
    cat > "$1.tmp"
    if cmp -s "$1.tmp" "$1"; then rm -f "$1.tmp"; return 1; fi
    mv "$1.tmp" "$1"
}

# Copy each built bundle to its folder unless the same one is there.
install_bundles() {
    for pair in $BUNDLES; do
        name=${pair%%:*} folder=${pair#*:}
        if [ -e "$folder/$name" ] && diff -r "$REPO/build/plugins/$name" "$folder/$name" >/dev/null 2>&1; then
            say "plugin: $folder/$name in place"
        else
            mkdir -p "$folder"
            CIR_PLUGIN_BUILD_DIR="$REPO/build/plugins" "$CIR" plugin install \
                --format "${name##*.}" --dest "$folder" >/dev/null
            say "plugin: installed $folder/$name"
        fi
    done
}

# The built-in synth's catalogue, built in the background once (--catalogue-limit N: N presets).
start_catalogue() {
    if [ -f "$BUILD_PID" ] && kill -0 "$(cat "$BUILD_PID")" 2>/dev/null; then
        say "catalogue: still building (progress: tail -f $BUILD_LOG)"
    elif "$CIR" catalogue stats --json 2>/dev/null | grep -q '"builtin"'; then
        say "catalogue: the built-in synth is in it"
    else
        set -- catalogue add-builtin
        [ -z "$limit" ] || set -- "$@" --limit "$limit"
        mkdir -p "$(dirname "$BUILD_LOG")"
        nohup "$CIR" "$@" > "$BUILD_LOG" 2>&1 &
        echo $! > "$BUILD_PID"
        say "catalogue: building the built-in synth in the background (a few minutes);"
        say "  progress: tail -f $BUILD_LOG    the daemon picks it up when it is done"
    fi
}

# Uninstall what both systems share: the build, the bundles, the data (--purge: `$1` is the
# state folder to remove with it), and a venv this script made.
remove_common() {
    if [ -f "$BUILD_PID" ] && kill -0 "$(cat "$BUILD_PID")" 2>/dev/null; then
        kill "$(cat "$BUILD_PID")" && say "stopped the catalogue build"
    fi
    rm -f "$BUILD_PID"
    if [ -x "$CIR" ]; then "$CIR" daemon stop >/dev/null 2>&1 || true; fi
    for pair in $BUNDLES; do
        target="${pair#*:}/${pair%%:*}"
        if [ -e "$target" ]; then rm -rf "$target"; say "removed $target"; fi
    done
    if [ "$purge" = 1 ]; then
        data=$("$VENV/bin/python" -c "from cir import paths; print(paths.data_dir())" 2>/dev/null || true)
        [ -n "$data" ] || fail "cannot tell where the catalogue is ($VENV has no cir): remove it by hand"
        rm -rf "$data" "$1" && say "removed the catalogue, keys and logs ($data)"
    else
        say "kept your catalogue (remove it too with --uninstall --purge)"
    fi
    if [ -f "$VENV/.cir-installer" ]; then rm -rf "$VENV"; say "removed $VENV"; fi
}
