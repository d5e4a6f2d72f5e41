// CIR Test Synth: DPF build settings (headless instrument, MIDI in, stereo out).
#ifndef CIR_TEST_SYNTH_INFO_H
#define CIR_TEST_SYNTH_INFO_H

#define DISTRHO_PLUGIN_BRAND "CIR"
#define DISTRHO_PLUGIN_NAME  "CIR Test Synth"
#define DISTRHO_PLUGIN_URI   "urn:cir:test-synth"
#define DISTRHO_PLUGIN_CLAP_ID "org.cir.test-synth"

#define DISTRHO_PLUGIN_HAS_UI          0
#define DISTRHO_PLUGIN_IS_RT_SAFE      1
#define DISTRHO_PLUGIN_IS_SYNTH        1
#define DISTRHO_PLUGIN_NUM_INPUTS      0
#define DISTRHO_PLUGIN_NUM_OUTPUTS     2
#define DISTRHO_PLUGIN_WANT_MIDI_INPUT 1

#define DISTRHO_PLUGIN_VST3_CATEGORIES "Instrument|Synth|Stereo"
#define DISTRHO_PLUGIN_CLAP_FEATURES   "instrument", "synthesizer", "stereo"
#define DISTRHO_PLUGIN_LV2_CATEGORY    "lv2:InstrumentPlugin"

#endif
