// CIR Bridge: DPF build settings (stereo effect with host transport and a Cairo window).
#ifndef CIR_BRIDGE_INFO_H
#define CIR_BRIDGE_INFO_H

#define DISTRHO_PLUGIN_BRAND "CIR"
#define DISTRHO_PLUGIN_NAME  "CIR Bridge"
#define DISTRHO_PLUGIN_URI   "urn:cir:bridge"
#define DISTRHO_PLUGIN_CLAP_ID "org.cir.bridge"

#define DISTRHO_PLUGIN_HAS_UI          1
#define DISTRHO_UI_USE_CAIRO           1
#define DISTRHO_UI_USER_RESIZABLE      1
#define DISTRHO_UI_DEFAULT_WIDTH       620
#define DISTRHO_UI_DEFAULT_HEIGHT      580
// The window reads the answer from the plugin instance (same process; model.hpp).
#define DISTRHO_PLUGIN_WANT_DIRECT_ACCESS 1
#define DISTRHO_PLUGIN_IS_RT_SAFE      1
#define DISTRHO_PLUGIN_NUM_INPUTS      2
#define DISTRHO_PLUGIN_NUM_OUTPUTS     2
#define DISTRHO_PLUGIN_WANT_TIMEPOS    1
// A read-only "status" state mirrors the output parameters: hosts built on JUCE 7 (pedalboard)
// never update output parameter values without a message thread, but they read the state.
#define DISTRHO_PLUGIN_WANT_STATE      1
#define DISTRHO_PLUGIN_WANT_FULL_STATE 1

#define DISTRHO_PLUGIN_VST3_CATEGORIES "Fx|Analyzer|Stereo"
#define DISTRHO_PLUGIN_CLAP_FEATURES   "audio-effect", "analyzer", "stereo"
#define DISTRHO_PLUGIN_LV2_CATEGORY    "lv2:AnalyserPlugin"

#endif
