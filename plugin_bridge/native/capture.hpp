// CIR Bridge capture engine: the audio-thread side, free of DPF and of any system call.
//
// The audio callback calls Capture::process() once per block. It copies the block into a
// preallocated single-producer / single-consumer history ring (the worker thread is the one
// consumer) and runs a small state machine that decides WHICH frames to send:
//
//   - Capture armed (the button, or the transport starting when Auto is on) while the host
//     plays with a tempo: wait for the next bar line, then request the last N bars; when the
//     host loops (the play position jumps back), the loop region itself is requested as soon
//     as one full cycle has played (DPF's TimePosition has no loop fields, so the loop is
//     inferred from the wrap).
//   - Armed without a playing transport (live input, a host without tempo): request the last
//     N bars at the fallback tempo, ending with the current block, once that much audio has
//     gone through the plugin.
//
// A request is published through an atomic sequence number (Mailbox); the worker copies the
// frames out of the ring, checks that the writer has not overwritten them meanwhile, and does
// all the socket work. Nothing here allocates, locks or blocks.
#pragma once

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace cir {

// Values of the "State" output parameter (docs: README, plugin section).
enum class BridgeState : int { Idle = 0, Capturing = 1, Sent = 2, Answered = 3, Error = 4 };

constexpr int kChannels = 2;                 // DPF plugins have fixed stereo I/O
constexpr double kMaxCaptureSeconds = 32.0;  // 16 bars of 4/4 at 120 BPM; protocol max is 60
constexpr double kRingMarginSeconds = 4.0;   // slack for the worker to copy before overwrite
constexpr double kFallbackBpm = 120.0;       // length of a "bar" when the host gives no tempo
constexpr double kFallbackBeatsPerBar = 4.0;

// What the host says about its transport for one block (a copy of DPF's TimePosition).
struct Transport {
    bool playing = false;
    uint64_t frame = 0;        // host play position, frames
    bool bbtValid = false;     // the fields below are meaningful
    double bpm = 0.0;
    double beatsPerBar = 4.0;
    double beatInBar = 0.0;    // beats since the current bar's start, 0 <= x < beatsPerBar
};

// One capture the worker must send: frames [end - frames, end) of the history stream.
struct CaptureRequest {
    uint64_t end = 0;
    uint64_t frames = 0;
    double bpm = 0.0;  // 0: unknown (sent as null)
    bool loop = false;  // the host's loop region rather than N bars
};

// Single-slot lock-free mailbox from the audio thread to the worker (a seqlock).
class Mailbox {
public:
    void post(const CaptureRequest& r) noexcept
    {
        const uint64_t s = fSeq.load(std::memory_order_relaxed);
        fSeq.store(s + 1, std::memory_order_relaxed);  // odd: being written
        std::atomic_thread_fence(std::memory_order_release);
        fEnd.store(r.end, std::memory_order_relaxed);
        fFrames.store(r.frames, std::memory_order_relaxed);
        fBpm.store(r.bpm, std::memory_order_relaxed);
        fLoop.store(r.loop, std::memory_order_relaxed);
        fSeq.store(s + 2, std::memory_order_release);
    }

    // True (and the request) when a request newer than `lastSeen` is complete.
    bool take(uint64_t& lastSeen, CaptureRequest& out) const noexcept
    {
        const uint64_t s1 = fSeq.load(std::memory_order_acquire);
        if (s1 == lastSeen || (s1 & 1u))
            return false;
        out.end = fEnd.load(std::memory_order_relaxed);
        out.frames = fFrames.load(std::memory_order_relaxed);
        out.bpm = fBpm.load(std::memory_order_relaxed);
        out.loop = fLoop.load(std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_acquire);
        if (fSeq.load(std::memory_order_relaxed) != s1)
            return false;
        lastSeen = s1;
        return true;
    }

private:
    std::atomic<uint64_t> fSeq{0};
    std::atomic<uint64_t> fEnd{0}, fFrames{0};
    std::atomic<double> fBpm{0.0};
    std::atomic<bool> fLoop{false};
};

// The history ring: written by the audio thread only, read by the worker only.
class HistoryRing {
public:
    HistoryRing() = default;
    HistoryRing(const HistoryRing&) = delete;
    HistoryRing& operator=(const HistoryRing&) = delete;
    ~HistoryRing() { delete[] fData; }

    // Not real-time: called from activate() while the audio thread is stopped.
    void allocate(uint64_t capacityFrames)
    {
        if (capacityFrames != fCapacity) {
            delete[] fData;
            fData = nullptr;
            fCapacity = 0;
            fData = new float[capacityFrames * kChannels]();  // zeroed: pages faulted in now
            fCapacity = capacityFrames;
        }
        fTotal.store(0, std::memory_order_release);
    }

    uint64_t capacity() const noexcept { return fCapacity; }
    uint64_t total() const noexcept { return fTotal.load(std::memory_order_acquire); }

    // Audio thread: append a stereo block (planar in, interleaved in the ring).
    void write(const float* left, const float* right, uint32_t frames) noexcept
    {
        if (fCapacity == 0)
            return;
        uint64_t t = fTotal.load(std::memory_order_relaxed);
        for (uint32_t i = 0; i < frames; ++i, ++t) {
            float* dst = fData + (t % fCapacity) * kChannels;
            dst[0] = left[i];
            dst[1] = right[i];
        }
        fTotal.store(t, std::memory_order_release);
    }

    // Worker: copy frames [end - frames, end) interleaved into `out`; false when they are not
    // (or no longer) all in the ring. `maxBlock` frames past total() may be mid-write.
    bool read(uint64_t end, uint64_t frames, float* out, uint64_t maxBlock) const noexcept
    {
        if (frames == 0 || end < frames || !fits(end, frames, maxBlock))
            return false;
        const uint64_t start = end - frames;
        uint64_t pos = start % fCapacity;
        uint64_t left = frames;
        while (left > 0) {
            const uint64_t n = left < fCapacity - pos ? left : fCapacity - pos;
            std::memcpy(out, fData + pos * kChannels, n * kChannels * sizeof(float));
            out += n * kChannels;
            left -= n;
            pos = 0;
        }
        std::atomic_thread_fence(std::memory_order_acquire);
        return fits(end, frames, maxBlock);  // the writer did not lap us while copying
    }

private:
    float* fData = nullptr;
    uint64_t fCapacity = 0;
    std::atomic<uint64_t> fTotal{0};

    bool fits(uint64_t end, uint64_t frames, uint64_t maxBlock) const noexcept
    {
        const uint64_t t = fTotal.load(std::memory_order_acquire);
        return end <= t && t + maxBlock - (end - frames) <= fCapacity;
    }
};

// The audio-thread state machine. All members are touched by the audio thread only, except
// the atomics that the worker and the host read.
class Capture {
public:
    HistoryRing ring;
    Mailbox mailbox;
    std::atomic<int> state{static_cast<int>(BridgeState::Idle)};
    std::atomic<float> secondsCaptured{0.0f};
    std::atomic<bool> busy{false};  // a request is with the worker (set here, cleared there)
    std::atomic<float> secondsWanted{0.0f};  // length of the capture being made (the window's bar)
    // While capturing: enough audio is there, and the capture waits for the bar line
    // (kWaitBarLine) or for the host's loop to wrap (kWaitLoop); 0 while audio still fills it.
    std::atomic<int> waiting{0};
    static constexpr int kWaitBarLine = 1;
    static constexpr int kWaitLoop = 2;

    // Not real-time: sizes the ring for `sampleRate` (called from activate()).
    void prepare(double sampleRate, uint32_t maxBlock)
    {
        fSampleRate = sampleRate;
        fMaxBlock = maxBlock;
        ring.allocate(static_cast<uint64_t>(std::ceil((kMaxCaptureSeconds + kRingMarginSeconds) * sampleRate)));
        fArmed = false;
        fWasPlaying = false;
        fContinuous = 0;
        fLoopFrames = 0;
        fHaveExpected = false;
    }

    uint64_t maxBlock() const noexcept { return fMaxBlock; }

    // Audio thread: arm a capture (ignored while one is being captured or sent).
    void arm() noexcept
    {
        if (fArmed || busy.load(std::memory_order_acquire))
            return;
        fArmed = true;
        state.store(static_cast<int>(BridgeState::Capturing), std::memory_order_release);
        secondsCaptured.store(0.0f, std::memory_order_relaxed);
    }

    // Audio thread: one block. `autoArm`: arm when the transport starts. `bars` >= 1.
    void process(const float* left, const float* right, uint32_t frames,
                 const Transport& tp, int bars, bool autoArm) noexcept
    {
        const uint64_t before = ring.total();
        ring.write(left, right, frames);
        const uint64_t after = before + frames;

        bool wrapped = false;
        uint64_t loopFrames = 0;
        if (tp.playing) {
            if (!fWasPlaying) {
                fContinuous = 0;
                fLoopFrames = 0;
                if (autoArm)
                    arm();
            } else if (fHaveExpected && tp.frame != fExpected) {
                // A jump: backwards is a loop wrap when one full cycle played continuously.
                if (tp.frame < fExpected && fContinuous >= fExpected - tp.frame
                    && seconds(fExpected - tp.frame) <= kMaxCaptureSeconds) {
                    wrapped = true;
                    loopFrames = fExpected - tp.frame;
                    fLoopFrames = loopFrames;
                }
                fContinuous = 0;
            }
            fExpected = tp.frame + frames;
            fHaveExpected = true;
        } else {
            fHaveExpected = false;
        }
        fWasPlaying = tp.playing;

        if (fArmed) {
            const bool tempo = tp.bbtValid && tp.bpm > 0.0;
            if (tp.playing && wrapped)
                finish(before, loopFrames, tempo ? tp.bpm : 0.0, true);
            else if (tp.playing && fLoopFrames > 0)
                progress(fContinuous + frames, fLoopFrames, kWaitLoop);  // wait for the next wrap
            else if (tp.playing && tempo)
                barLine(tp, frames, before, bars);
            else
                lastBars(tp.playing ? fContinuous + frames : after, after, bars);
        }
        if (tp.playing)
            fContinuous += frames;
    }

private:
    double fSampleRate = 48000.0;
    uint64_t fMaxBlock = 4096;
    bool fArmed = false;
    bool fWasPlaying = false;
    bool fHaveExpected = false;
    uint64_t fExpected = 0;    // host frame position expected at the next block
    uint64_t fContinuous = 0;  // frames played without a jump, before this block
    uint64_t fLoopFrames = 0;  // length of the loop seen in this play session (0: none)

    double seconds(uint64_t frames) const noexcept { return static_cast<double>(frames) / fSampleRate; }

    // Frames in `bars` bars, capped to the longest capture (whole bars when possible).
    uint64_t barsFrames(double bpm, double beatsPerBar, int bars) const noexcept
    {
        const double barFrames = beatsPerBar * 60.0 / bpm * fSampleRate;
        const double maxFrames = kMaxCaptureSeconds * fSampleRate;
        double want = barFrames * bars;
        if (want > maxFrames)
            want = barFrames <= maxFrames ? barFrames * std::floor(maxFrames / barFrames) : maxFrames;
        return static_cast<uint64_t>(std::llround(want));
    }

    void progress(uint64_t have, uint64_t want, int waitKind) noexcept
    {
        const uint64_t shown = want > 0 && have > want ? want : have;
        secondsCaptured.store(static_cast<float>(seconds(shown)), std::memory_order_relaxed);
        secondsWanted.store(static_cast<float>(seconds(want)), std::memory_order_relaxed);
        waiting.store(have >= want ? waitKind : 0, std::memory_order_relaxed);
    }

    // Playing with a tempo: when a bar line falls in this block and N bars played before it.
    void barLine(const Transport& tp, uint32_t frames, uint64_t before, int bars) noexcept
    {
        const double framesPerBeat = 60.0 / tp.bpm * fSampleRate;
        const double toBar = (tp.beatsPerBar - tp.beatInBar) * framesPerBeat;
        uint64_t offset = static_cast<uint64_t>(std::llround(toBar));
        if (tp.beatInBar < 1e-9)
            offset = 0;  // this block starts on a bar line
        const uint64_t want = barsFrames(tp.bpm, tp.beatsPerBar, bars);
        if (offset < frames && fContinuous + offset >= want) {
            finish(before + offset, want, tp.bpm, false);
            return;
        }
        progress(fContinuous + frames, want, kWaitBarLine);
    }

    // No tempo: the last N bars at the fallback tempo, ending with this block, once `have`
    // frames (all audio when stopped, the continuous playback when playing) are enough.
    void lastBars(uint64_t have, uint64_t after, int bars) noexcept
    {
        const uint64_t want = barsFrames(kFallbackBpm, kFallbackBeatsPerBar, bars);
        if (have >= want) {
            finish(after, want, 0.0, false);
            return;
        }
        progress(have, want, 0);
    }

    void finish(uint64_t end, uint64_t frames, double bpm, bool loop) noexcept
    {
        fArmed = false;
        busy.store(true, std::memory_order_release);
        secondsCaptured.store(static_cast<float>(seconds(frames)), std::memory_order_relaxed);
        secondsWanted.store(static_cast<float>(seconds(frames)), std::memory_order_relaxed);
        waiting.store(0, std::memory_order_relaxed);
        mailbox.post(CaptureRequest{end, frames, bpm, loop});
    }
};

}  // namespace cir
