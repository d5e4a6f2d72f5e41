#!/bin/sh
# Make a patched copy of Debian's DPF tree (dpf-source 1.6) for CIR's plugins.
#
# Usage: patch-dpf.sh SRC DEST     e.g. patch-dpf.sh /usr/share/dpf build/dpf
#
# DPF's code is never committed to this repository: every build copies it from the system
# package and applies two fixes to DPF 1.6's VST3 wrapper (docs/DESIGN.md, decisions):
#   1. The 2,080 hidden "MIDI Ch. N CC M" parameters of any MIDI-input plugin are renamed to
#      start with "MIDI CC ", a prefix pedalboard skips: loading drops from ~20 s to ~0.1 s.
#   2. Off-by-one `rindex <= kVst3InternalParameterMidiCC_end` becomes `<`, so the plugin's
#      first real parameter is not mistaken for a MIDI CC (raw_state would lose it).
# A pattern that is not found stops the build: a newer DPF needs these fixes re-checked.
set -eu

SRC=${1:?usage: patch-dpf.sh SRC DEST}
DEST=${2:?usage: patch-dpf.sh SRC DEST}
VST3="$DEST.tmp/distrho/src/DistrhoPluginVST3.cpp"

if [ ! -f "$SRC/Makefile.plugins.mk" ]; then
    echo "error: no DPF tree at $SRC (expected $SRC/Makefile.plugins.mk);" \
         "install it with: sudo apt-get install dpf-source" >&2
    exit 1
fi

# Replace pattern $1 by $2 in $VST3; fail unless exactly $3 lines matched before.
patch_count() {
    found=$(grep -c -F -- "$1" "$VST3" || true)
    if [ "$found" != "$3" ]; then
        echo "error: DPF patch: expected $3 line(s) with '$1' in $VST3, found $found;" \
             "this DPF version differs from 1.6: re-check the fixes in plugin_bridge/native/patch-dpf.sh" >&2
        exit 1
    fi
    sed -i "s/$4/$5/g" "$VST3"
    if grep -q -F -- "$1" "$VST3"; then
        echo "error: DPF patch: '$1' still present in $VST3 after sed" >&2
        exit 1
    fi
    grep -q -F -- "$2" "$VST3" || { echo "error: DPF patch: '$2' missing after sed" >&2; exit 1; }
}

rm -rf "$DEST.tmp" "$DEST"
mkdir -p "$(dirname "$DEST")"
cp -rL "$SRC" "$DEST.tmp"
chmod -R u+w "$DEST.tmp"

patch_count '"MIDI Ch. %d CC %d"' '"MIDI CC Ch.%d CC%d"' 1 \
    '"MIDI Ch\. %d CC %d"' '"MIDI CC Ch.%d CC%d"'
patch_count 'rindex <= kVst3InternalParameterMidiCC_end' 'rindex < kVst3InternalParameterMidiCC_end' 3 \
    'rindex <= kVst3InternalParameterMidiCC_end' 'rindex < kVst3InternalParameterMidiCC_end'

# The LV2 bundles need DPF's ttl generator, built once inside the copy.
${MAKE:-make} -s -C "$DEST.tmp/utils/lv2-ttl-generator"

mv "$DEST.tmp" "$DEST"
echo "patched DPF copy ready in $DEST"
