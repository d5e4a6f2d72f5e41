// CIR Bridge model: what the window reads of the plugin and what it may ask of it.
//
// The window (CIRBridgeUI.cpp) reaches the plugin directly (DPF's direct access: same process)
// through this interface only. Every call runs on the window's thread and talks to the worker
// thread (a mutex shared with the worker, never with the audio thread), so the window never
// makes the audio thread wait, and a closed window calls nothing.
#pragma once

#include "answer.hpp"

#include <cstdint>
#include <string>

namespace cir {

// A snapshot of the plugin for one frame of the window.
struct View {
    int state = 0;            // a BridgeState
    int waiting = 0;          // Capture::kWaitBarLine / kWaitLoop while capturing, else 0
    float captured = 0.0f;    // seconds captured so far
    float wanted = 0.0f;      // seconds the capture needs
    uint32_t requests = 0;
    int error = 0;            // a BridgeError
    std::string message;      // the error's sentence (empty when none)
    Answer answer;            // the last answer (familyCount 0: none yet)
    std::string pageUrl;      // the daemon's results page ("" when unknown)
    int64_t playing = 0;      // preset id being auditioned (0: none)
    std::string note;         // the last audition/pick outcome, for the window's foot line
    bool previewAlone = true; // auditions replace the input (false: mixed under it)
};

class BridgeModel {
public:
    virtual ~BridgeModel() = default;
    virtual void view(View& out) const = 0;
    // Changes whenever view() would return something else (cheap: atomics only).
    virtual uint64_t viewStamp() const = 0;
    // Play this preset's preview through the plugin's output (0: stop).
    virtual void audition(int64_t presetId) = 0;
    // "This one": the daemon records the pick of this preset for this family and answer.
    virtual void pick(const char* family, int64_t presetId) = 0;
    // Auditions replace the input (true) or play under it (false).
    virtual void setPreviewAlone(bool alone) = 0;
    // Opens the daemon's results page in the browser.
    virtual void openPage() = 0;
};

// The model of a CIR Bridge plugin instance (DPF's getPluginInstancePointer()).
BridgeModel* modelOf(void* pluginInstance);

}  // namespace cir
