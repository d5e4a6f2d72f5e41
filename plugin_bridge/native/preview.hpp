// CIR Bridge preview player: the audition of a suggestion, played through the plugin's output.
//
// A preallocated single-producer / single-consumer ring of mono samples. The worker thread (the
// one producer) writes the preview the daemon sent; the audio thread (the one consumer) plays
// it out, mixed under the input or instead of it. Both sides only load and store atomics and
// copy samples: nothing allocates, locks or blocks on the audio thread. Stream positions are
// 64-bit counters that never wrap. A new preview (or a stop) moves `fFlushTo` to the position
// where the new clip starts; the audio thread skips whatever older audio it had not played yet.
// The worker writes a position only once the audio thread has read past the same ring slot one
// lap earlier, so a clip longer than the free space is written in pieces as it plays.
#pragma once

#include <atomic>
#include <cmath>
#include <cstdint>

namespace cir {

constexpr double kMaxPreviewSeconds = 12.0;  // the daemon sends at most 10 s (daemon/previews.py)

class PreviewPlayer {
public:
    PreviewPlayer() = default;
    PreviewPlayer(const PreviewPlayer&) = delete;
    PreviewPlayer& operator=(const PreviewPlayer&) = delete;
    ~PreviewPlayer() { delete[] fData; }

    // Not real-time: from activate(), while neither the audio thread nor the worker uses it.
    void allocate(double sampleRate)
    {
        const uint64_t capacity = static_cast<uint64_t>(std::ceil(kMaxPreviewSeconds * sampleRate));
        if (capacity != fCapacity) {
            delete[] fData;
            fData = nullptr;
            fCapacity = 0;
            fData = new float[capacity]();  // zeroed: pages faulted in now, not on the audio thread
            fCapacity = capacity;
        }
        fWrite.store(0, std::memory_order_relaxed);
        fRead.store(0, std::memory_order_relaxed);
        fFlushTo.store(0, std::memory_order_relaxed);
        fClipEnd = 0;
    }

    uint64_t capacity() const noexcept { return fCapacity; }

    // Worker: a new clip of `frames` samples starts now (0 frames: stop). Returns its end.
    uint64_t startClip(uint64_t frames) noexcept
    {
        const uint64_t at = fWrite.load(std::memory_order_relaxed);
        fFlushTo.store(at, std::memory_order_release);
        fClipEnd = at + frames;
        return fClipEnd;
    }

    // Worker: write as much of `samples` (the clip's samples from `offset` on, `count` of them)
    // as the ring takes now; returns how many it wrote (call again later for the rest).
    uint64_t write(const float* samples, uint64_t count) noexcept
    {
        if (fCapacity == 0)
            return 0;
        const uint64_t w = fWrite.load(std::memory_order_relaxed);
        const uint64_t r = fRead.load(std::memory_order_acquire);
        const uint64_t room = fCapacity - (w - r);
        uint64_t n = count < room ? count : room;
        if (w + n > fClipEnd)
            n = fClipEnd > w ? fClipEnd - w : 0;
        for (uint64_t i = 0; i < n; ++i)
            fData[(w + i) % fCapacity] = samples[i];
        fWrite.store(w + n, std::memory_order_release);
        return n;
    }

    // Worker/window: the clip has not finished playing.
    bool playing() const noexcept
    {
        return fRead.load(std::memory_order_acquire) < fClipEndShared.load(std::memory_order_acquire);
    }

    // Worker: publish the current clip's end for playing() (after startClip).
    void publishClip() noexcept { fClipEndShared.store(fClipEnd, std::memory_order_release); }

    // Audio thread: play into the block; `alone` replaces the input while a preview plays,
    // else the preview is mixed under it. Returns the frames of preview played.
    uint32_t play(float* left, float* right, uint32_t frames, bool alone) noexcept
    {
        if (fCapacity == 0)
            return 0;
        uint64_t r = fRead.load(std::memory_order_relaxed);
        const uint64_t flush = fFlushTo.load(std::memory_order_acquire);
        if (r < flush)
            r = flush;
        const uint64_t w = fWrite.load(std::memory_order_acquire);
        const uint64_t avail = w > r ? w - r : 0;
        const uint32_t n = avail < frames ? static_cast<uint32_t>(avail) : frames;
        for (uint32_t i = 0; i < n; ++i) {
            const float v = fData[(r + i) % fCapacity] * kGain;
            left[i] = alone ? v : left[i] + v;
            right[i] = alone ? v : right[i] + v;
        }
        fRead.store(r + n, std::memory_order_release);
        return n;
    }

private:
    static constexpr float kGain = 0.7071f;  // the mono preview on both channels at -3 dB

    float* fData = nullptr;
    uint64_t fCapacity = 0;
    std::atomic<uint64_t> fWrite{0};    // next position the worker writes (worker-owned)
    std::atomic<uint64_t> fRead{0};     // next position the audio thread plays (audio-owned)
    std::atomic<uint64_t> fFlushTo{0};  // the audio thread skips to here (worker-owned)
    uint64_t fClipEnd = 0;              // worker-only
    std::atomic<uint64_t> fClipEndShared{0};
};

}  // namespace cir
