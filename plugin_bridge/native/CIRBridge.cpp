// CIR Bridge: a pass-through stereo effect that captures the DAW loop and asks the CIR daemon
// which presets make its sounds (protocol v1, docs/protocol.md).
//
// Threads: the host's audio thread runs run(): pass-through plus cir::Capture (a copy into a
// preallocated lock-free ring and a little arithmetic) and cir::PreviewPlayer (an audition read
// from another preallocated lock-free ring). cir::Worker's thread does everything else
// (copying the capture out, ZeroMQ, waiting for replies, fetching previews). The window
// (CIRBridgeUI.cpp) reads the answer through cir::BridgeModel, talking to the worker only; the
// state is also in output parameters and in the read-only "status" state.

#include "DistrhoPlugin.hpp"

#include "capture.hpp"
#include "model.hpp"
#include "preview.hpp"
#include "sender.hpp"

#include <algorithm>
#include <cmath>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <thread>
#if defined(_WIN32)
#include <windows.h>
#include <shellapi.h>
#else
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

START_NAMESPACE_DISTRHO

namespace {

enum Param : uint32_t { kCapture, kBars, kAuto, kState, kCaptured, kTopScore, kParamCount };

constexpr int kDefaultBars = 4;
constexpr int kMaxBars = 16;
constexpr uint32_t kMinBlockMargin = 8192;  // frames a host block may exceed its announced size

const char* const kStateLabels[] = {"idle", "capturing", "sent", "answered", "error"};
// The daemon's results page on its default port (defaults.WEB_PORT), before it told its own.
constexpr const char* kDefaultPageUrl = "http://127.0.0.1:47101/";

}  // namespace

class CIRBridge : public Plugin, public cir::BridgeModel
{
public:
    CIRBridge()
        : Plugin(kParamCount, 0, 1),
          fWorker(fCapture, fPreview) {}

    // --- cir::BridgeModel: the window's thread ---------------------------------------------

    void view(cir::View& v) const override
    {
        v.state = fCapture.state.load(std::memory_order_acquire);
        v.waiting = fCapture.waiting.load(std::memory_order_relaxed);
        v.captured = fCapture.secondsCaptured.load(std::memory_order_relaxed);
        v.wanted = fCapture.secondsWanted.load(std::memory_order_relaxed);
        v.requests = fWorker.requestsSent.load(std::memory_order_relaxed);
        v.error = fWorker.lastError.load(std::memory_order_acquire);
        std::string reason;
        fWorker.lastAnswer(v.answer, reason);
        v.message = cir::errorMessage(static_cast<cir::BridgeError>(v.error), reason);
        fWorker.extras(v.pageUrl, v.note);
        v.playing = fWorker.playingId.load(std::memory_order_acquire);
        v.previewAlone = fPreviewAlone.load(std::memory_order_relaxed);
    }

    uint64_t viewStamp() const override
    {
        const uint64_t tenths = static_cast<uint64_t>(fCapture.secondsCaptured.load(std::memory_order_relaxed) * 10.0f);
        return (static_cast<uint64_t>(fWorker.answerSerial.load(std::memory_order_acquire)) << 32)
               ^ (static_cast<uint64_t>(fCapture.state.load(std::memory_order_acquire)) << 28)
               ^ (static_cast<uint64_t>(fCapture.waiting.load(std::memory_order_relaxed)) << 26)
               ^ (static_cast<uint64_t>(fWorker.lastError.load(std::memory_order_acquire)) << 20)
               ^ (static_cast<uint64_t>(fWorker.playingId.load(std::memory_order_acquire) & 0xff) << 12)
               ^ (fPreviewAlone.load(std::memory_order_relaxed) ? 1ull << 11 : 0) ^ (tenths & 0x7ff);
    }

    void audition(int64_t presetId) override { fWorker.audition(presetId); }
    void pick(const char* family, int64_t presetId) override { fWorker.pick(family, presetId); }
    void setPreviewAlone(bool alone) override { fPreviewAlone.store(alone, std::memory_order_relaxed); }

    void openPage() override
    {
        std::string url, note, reason;
        fWorker.extras(url, note);
        if (url.empty())
            url = kDefaultPageUrl;  // before the daemon told its own: the default page
        cir::Answer answer;
        fWorker.lastAnswer(answer, reason);
        if (answer.requestId[0] != '\0')  // the page shows this answer (request ids: [-0-9a-z])
            url += std::string("#request=") + answer.requestId;
#if defined(_WIN32)
        ShellExecuteA(nullptr, "open", url.c_str(), nullptr, nullptr, SW_SHOWNORMAL);
#else
#if defined(__APPLE__)
        const char* opener = "open";
#else
        const char* opener = "xdg-open";
#endif
        char* const argv[] = {const_cast<char*>(opener), const_cast<char*>(url.c_str()), nullptr};
        pid_t pid = 0;
        if (posix_spawnp(&pid, opener, nullptr, nullptr, argv, environ) != 0) {
            std::fprintf(stderr, "CIR Bridge: cannot run %s to open %s\n", opener, url.c_str());
            return;
        }
        std::thread([pid] { waitpid(pid, nullptr, 0); }).detach();  // reap it, never wait here
#endif
    }

protected:
    const char* getLabel() const override { return "CIRBridge"; }
    const char* getDescription() const override
    {
        return "Captures the loop (last N bars or the host loop) and sends it to the CIR daemon.";
    }
    const char* getMaker() const override { return "CIR"; }
    const char* getHomePage() const override { return "https://example.invalid/cir"; }
    const char* getLicense() const override { return "MIT"; }
    uint32_t getVersion() const override { return d_version(0, 1, 0); }
    int64_t getUniqueId() const override { return d_cconst('C', 'i', 'r', 'B'); }

    void initAudioPort(bool input, uint32_t index, AudioPort& port) override
    {
        port.groupId = kPortGroupStereo;
        Plugin::initAudioPort(input, index, port);
    }

    void initParameter(uint32_t index, Parameter& p) override
    {
        switch (index) {
        case kCapture:
            // A button: each off -> on edge starts one capture (hosts show a toggle).
            p.hints = kParameterIsAutomatable | kParameterIsBoolean;
            p.name = "Capture"; p.symbol = "capture";
            p.ranges.min = 0.0f; p.ranges.max = 1.0f; p.ranges.def = 0.0f;
            break;
        case kBars:
            p.hints = kParameterIsAutomatable | kParameterIsInteger;
            p.name = "Bars"; p.symbol = "bars";
            p.ranges.min = 1.0f; p.ranges.max = kMaxBars; p.ranges.def = kDefaultBars;
            break;
        case kAuto:
            // On: every transport start captures once (N bars, or one loop cycle).
            p.hints = kParameterIsAutomatable | kParameterIsBoolean;
            p.name = "Auto"; p.symbol = "auto_capture";
            p.ranges.min = 0.0f; p.ranges.max = 1.0f; p.ranges.def = 1.0f;
            break;
        case kState: {
            p.hints = kParameterIsOutput | kParameterIsInteger;
            p.name = "State"; p.symbol = "state";
            p.ranges.min = 0.0f; p.ranges.max = 4.0f; p.ranges.def = 0.0f;
            ParameterEnumerationValue* const values = new ParameterEnumerationValue[5];
            for (int i = 0; i < 5; ++i) {
                values[i].label = kStateLabels[i];
                values[i].value = static_cast<float>(i);
            }
            p.enumValues.count = 5;
            p.enumValues.restrictedMode = true;
            p.enumValues.values = values;
            break;
        }
        case kCaptured:
            p.hints = kParameterIsOutput;
            p.name = "Captured"; p.symbol = "captured_seconds"; p.unit = "s";
            p.ranges.min = 0.0f; p.ranges.max = 60.0f; p.ranges.def = 0.0f;
            break;
        case kTopScore:
            p.hints = kParameterIsOutput;
            p.name = "Top score"; p.symbol = "top_score";
            p.ranges.min = -1.0f; p.ranges.max = 1.0f; p.ranges.def = 0.0f;
            break;
        }
    }

    float getParameterValue(uint32_t index) const override
    {
        switch (index) {
        case kCapture: return fCaptureHigh ? 1.0f : 0.0f;
        case kBars: return static_cast<float>(fBars);
        case kAuto: return fAuto ? 1.0f : 0.0f;
        case kState: return static_cast<float>(fCapture.state.load(std::memory_order_acquire));
        case kCaptured: return fCapture.secondsCaptured.load(std::memory_order_relaxed);
        case kTopScore: return fWorker.topScore.load(std::memory_order_relaxed);
        }
        return 0.0f;
    }

    void setParameterValue(uint32_t index, float value) override
    {
        switch (index) {
        case kCapture: {
            const bool high = value >= 0.5f;
            // Edges before the first processed block come from a restored state, not a press.
            if (high && !fCaptureHigh && fProcessed.load(std::memory_order_acquire))
                fArmRequest.store(true, std::memory_order_release);
            fCaptureHigh = high;
            break;
        }
        case kBars:
            fBars = std::clamp(static_cast<int>(value + 0.5f), 1, kMaxBars);
            break;
        case kAuto:
            fAuto = value >= 0.5f;
            break;
        }
    }

    void initState(uint32_t, State& state) override
    {
        state.key = "status";
        state.label = "Status";
        state.defaultValue = "";
        state.hints = kStateIsOnlyForDSP;
        state.description = "Read-only JSON copy of the output parameters.";
    }

    // JSON: {"state": "answered", "captured_seconds": 8.0, "top_score": 0.91, "requests": 1,
    //        "error": "", "message": "", "answer": {"results": {...}, "presence": {...}}}
    // error: why the last request failed (e.g. "not_your_daemon"); message: its sentence (the
    // daemon's own for a refusal); answer: the last answer's per-family hits (answer.hpp).
    String getState(const char* key) const override
    {
        if (std::strcmp(key, "status") != 0)
            return String();
        const int s = std::clamp(fCapture.state.load(std::memory_order_acquire), 0, 4);
        const auto err = static_cast<cir::BridgeError>(fWorker.lastError.load(std::memory_order_acquire));
        cir::Answer answer;
        std::string reason;
        fWorker.lastAnswer(answer, reason);
        const nlohmann::json status = {
            {"state", kStateLabels[s]},
            {"captured_seconds", std::round(fCapture.secondsCaptured.load(std::memory_order_relaxed) * 1000.0) / 1000.0},
            {"top_score", fWorker.topScore.load(std::memory_order_relaxed)},
            {"requests", fWorker.requestsSent.load(std::memory_order_relaxed)},
            {"error", cir::errorName(err)},
            {"message", cir::errorMessage(err, reason)},
            {"answer", cir::answerJson(answer)},
        };
        return String(status.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    }

    void setState(const char*, const char*) override {}  // read-only: a restored copy is stale

    void activate() override
    {
        // Not real-time: resize the ring while the worker is not reading it.
        std::lock_guard<std::mutex> lock(fWorker.ringMutex);
        fCapture.prepare(getSampleRate(), std::max(getBufferSize() * 2, kMinBlockMargin));
        fPreview.allocate(getSampleRate());
        fWorker.previewReset();
        fWorker.setSampleRate(getSampleRate());
    }

    void run(const float** inputs, float** outputs, uint32_t frames) override
    {
        // Capture first: the host may process in place.
        if (fArmRequest.exchange(false, std::memory_order_acq_rel))
            fCapture.arm();
        fCapture.process(inputs[0], inputs[1], frames, transport(), fBars, fAuto);

        for (int c = 0; c < 2; ++c)
            if (outputs[c] != inputs[c])
                std::memcpy(outputs[c], inputs[c], sizeof(float) * frames);
        fPreview.play(outputs[0], outputs[1], frames, fPreviewAlone.load(std::memory_order_relaxed));
        fProcessed.store(true, std::memory_order_release);
    }

private:
    cir::Capture fCapture;  // before fWorker: the worker uses both until joined
    cir::PreviewPlayer fPreview;
    cir::Worker fWorker;
    std::atomic<bool> fPreviewAlone{true};
    std::atomic<bool> fArmRequest{false};
    std::atomic<bool> fProcessed{false};
    bool fCaptureHigh = false;
    int fBars = kDefaultBars;
    bool fAuto = true;

    cir::Transport transport() const
    {
        const TimePosition& pos(getTimePosition());
        cir::Transport tp;
        tp.playing = pos.playing;
        tp.frame = pos.frame;
        if (pos.bbt.valid && pos.bbt.beatsPerMinute > 0.0 && pos.bbt.beatsPerBar > 0.0f) {
            tp.bbtValid = true;
            tp.bpm = pos.bbt.beatsPerMinute;
            tp.beatsPerBar = pos.bbt.beatsPerBar;
            const double tick = pos.bbt.ticksPerBeat > 0.0 ? pos.bbt.tick / pos.bbt.ticksPerBeat : 0.0;
            tp.beatInBar = std::max(0.0, static_cast<double>(pos.bbt.beat - 1) + tick);
        }
        return tp;
    }

    DISTRHO_DECLARE_NON_COPYABLE_WITH_LEAK_DETECTOR(CIRBridge)
};

Plugin* createPlugin()
{
    return new CIRBridge();
}

END_NAMESPACE_DISTRHO

cir::BridgeModel* cir::modelOf(void* pluginInstance)
{
    return static_cast<DISTRHO_NAMESPACE::CIRBridge*>(static_cast<DISTRHO_NAMESPACE::Plugin*>(pluginInstance));
}
