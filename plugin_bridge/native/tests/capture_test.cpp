// Unit test of the CIR Bridge capture engine (capture.hpp) with a simulated host transport.
// Built and run by tests/test_plugin_bridge.py (`make -C plugin_bridge/native capture-test`);
// prints one line per failed check and exits non-zero on any failure.
#include "capture.hpp"

#include <cstdio>
#include <vector>

static int failures = 0;
#define CHECK(cond) do { if (!(cond)) { std::printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); ++failures; } } while (0)

namespace {

constexpr double kRate = 48000.0;
constexpr uint32_t kBlock = 480;

struct Host {
    cir::Capture cap;
    std::vector<float> left = std::vector<float>(kBlock), right = std::vector<float>(kBlock);
    uint64_t fed = 0;  // frames fed so far (the history stream index)
    Host() { cap.prepare(kRate, kBlock); }

    // One block whose samples encode their stream index, so reads can be checked exactly.
    void block(const cir::Transport& tp, int bars, bool autoArm)
    {
        for (uint32_t i = 0; i < kBlock; ++i) {
            left[i] = static_cast<float>(fed + i);
            right[i] = -static_cast<float>(fed + i);
        }
        cap.process(left.data(), right.data(), kBlock, tp, bars, autoArm);
        fed += kBlock;
    }

    uint64_t seen = 0;
    bool take(cir::CaptureRequest& r) { return cap.mailbox.take(seen, r); }

    void done() { cap.busy.store(false); cap.state.store(0); }
};

cir::Transport playing(uint64_t frame, double bpm = 120.0)
{
    cir::Transport tp;
    tp.playing = true;
    tp.frame = frame;
    tp.bbtValid = true;
    tp.bpm = bpm;
    tp.beatsPerBar = 4.0;
    const double framesPerBeat = 60.0 / bpm * kRate;
    const double beats = static_cast<double>(frame) / framesPerBeat;
    tp.beatInBar = beats - 4.0 * static_cast<uint64_t>(beats / 4.0);
    return tp;
}

void testNoTransportSendsLastBarsAtFallbackTempo()
{
    Host h;
    cir::CaptureRequest r;
    for (int i = 0; i < 10; ++i) h.block(cir::Transport(), 1, false);
    h.cap.arm();
    CHECK(h.cap.state.load() == static_cast<int>(cir::BridgeState::Capturing));
    int blocks = 0;
    while (!h.take(r) && blocks < 1000) { h.block(cir::Transport(), 1, false); ++blocks; }
    CHECK(r.frames == 96000);  // one bar of 4/4 at 120 BPM = 2 s
    CHECK(r.end == h.fed);
    CHECK(!r.loop && r.bpm == 0.0);
    std::vector<float> pcm(r.frames * 2);
    CHECK(h.cap.ring.read(r.end, r.frames, pcm.data(), kBlock));
    CHECK(pcm[0] == static_cast<float>(r.end - r.frames) && pcm[1] == -pcm[0]);
    CHECK(pcm.back() == -static_cast<float>(r.end - 1));
    // Arming again while the worker is busy does nothing.
    h.cap.arm();
    h.block(cir::Transport(), 1, false);
    CHECK(!h.take(r));
    h.done();
}

void testAutoCaptureEndsOnABarLine()
{
    Host h;
    cir::CaptureRequest r;
    const uint64_t bar = 96000;  // frames per bar at 120 BPM
    bool got = false;
    for (uint64_t pos = 0; pos < 5 * bar && !got; pos += kBlock) {
        h.block(playing(pos), 2, true);
        got = h.take(r);
    }
    CHECK(got);
    CHECK(r.frames == 2 * bar);
    CHECK(r.end == 2 * bar);  // the first bar line after two full bars of playback
    CHECK(r.bpm == 120.0 && !r.loop);
}

// The window's progress: how much is wanted, how much is there, and waiting for the bar line.
void testProgressAndWaitingForTheBarLine()
{
    const uint64_t bar = 96000;
    {   // Armed half a bar in: audio is still filling the two bars.
        Host h;
        uint64_t pos = 0;
        for (; pos < bar / 2; pos += kBlock) h.block(playing(pos), 2, false);
        h.cap.arm();
        h.block(playing(pos), 2, false);
        CHECK(h.cap.secondsWanted.load() == 4.0f);  // two bars at 120 BPM
        CHECK(h.cap.waiting.load() == 0);
        CHECK(h.cap.secondsCaptured.load() > 1.0f && h.cap.secondsCaptured.load() < 1.1f);
    }
    // Armed two and a half bars in: two bars are there, it waits for the next bar line.
    Host h;
    cir::CaptureRequest r;
    uint64_t pos = 0;
    for (; pos < 2 * bar + bar / 2; pos += kBlock) h.block(playing(pos), 2, false);
    h.cap.arm();
    h.block(playing(pos), 2, false);
    pos += kBlock;
    CHECK(h.cap.waiting.load() == cir::Capture::kWaitBarLine);
    CHECK(h.cap.secondsCaptured.load() == 4.0f && !h.take(r));
    bool got = false;
    for (; pos < 3 * bar + kBlock && !got; pos += kBlock) {
        h.block(playing(pos), 2, false);
        got = h.take(r);
    }
    CHECK(got && r.end == 3 * bar && r.frames == 2 * bar && h.cap.waiting.load() == 0);
}

void testLoopWrapSendsTheLoopRegion()
{
    Host h;
    cir::CaptureRequest r;
    const uint64_t loopStart = 48000, loopLen = 96000 + 4800;  // not a whole number of bars
    uint64_t pos = loopStart;
    bool got = false;
    for (int i = 0; i < 2000 && !got; ++i) {
        h.block(playing(pos), 8, true);  // 8 bars never fit before the wrap
        got = h.take(r);
        pos += kBlock;
        if (pos >= loopStart + loopLen) pos = loopStart + (pos - loopStart - loopLen);
    }
    CHECK(got);
    CHECK(r.loop);
    CHECK(r.frames == (loopLen / kBlock + (loopLen % kBlock ? 1 : 0)) * kBlock);
    CHECK(r.end == r.frames);  // one cycle, ending where the host jumped back
}

void testOverwrittenCaptureIsRejected()
{
    Host h;
    for (uint64_t i = 0; i < h.cap.ring.capacity() / kBlock + 10; ++i) h.block(cir::Transport(), 1, false);
    std::vector<float> pcm(kBlock * 2);
    CHECK(!h.cap.ring.read(kBlock, kBlock, pcm.data(), kBlock));  // long overwritten
    CHECK(h.cap.ring.read(h.fed, kBlock, pcm.data(), kBlock));
    CHECK(pcm[0] == static_cast<float>(h.fed - kBlock));
}

}  // namespace

int main()
{
    testNoTransportSendsLastBarsAtFallbackTempo();
    testAutoCaptureEndsOnABarLine();
    testProgressAndWaitingForTheBarLine();
    testLoopWrapSendsTheLoopRegion();
    testOverwrittenCaptureIsRejected();
    std::printf("%s: %d failure(s)\n", failures ? "FAILED" : "ok", failures);
    return failures ? 1 : 0;
}
