// Unit test of the CIR Bridge preview player (preview.hpp): clips play once, alone or mixed,
// a new clip or a stop cuts the old one at once, a clip longer than the free room is written
// in pieces as it plays. Built and run by tests/test_plugin_bridge.py.
#include "preview.hpp"

#include <cstdio>
#include <vector>

static int failures = 0;
#define CHECK(cond) do { if (!(cond)) { std::printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); ++failures; } } while (0)

namespace {

constexpr float kGain = 0.7071f;

std::vector<float> ramp(size_t n, float from)
{
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i)
        v[i] = from + static_cast<float>(i);
    return v;
}

struct Block {
    std::vector<float> left, right;
    explicit Block(uint32_t n, float in = 0.0f) : left(n, in), right(n, -in) {}
};

void alonePlaysTheClipOnceThenPassesTheInputThrough()
{
    cir::PreviewPlayer p;
    p.allocate(100.0);  // 1,200 samples of room
    const auto clip = ramp(150, 1.0f);
    p.startClip(clip.size());
    p.publishClip();
    CHECK(p.write(clip.data(), clip.size()) == 150);
    CHECK(p.playing());
    Block b(100, 0.5f);
    CHECK(p.play(b.left.data(), b.right.data(), 100, true) == 100);
    CHECK(b.left[0] == 1.0f * kGain && b.right[99] == 100.0f * kGain);
    Block c(100, 0.5f);
    CHECK(p.play(c.left.data(), c.right.data(), 100, true) == 50);
    CHECK(c.left[49] == 150.0f * kGain && c.left[50] == 0.5f && c.right[50] == -0.5f);
    CHECK(!p.playing());
}

void mixedAddsTheClipUnderTheInput()
{
    cir::PreviewPlayer p;
    p.allocate(100.0);
    const auto clip = ramp(10, 1.0f);
    p.startClip(clip.size());
    p.write(clip.data(), clip.size());
    Block b(10, 0.5f);
    p.play(b.left.data(), b.right.data(), 10, false);
    CHECK(b.left[3] == 0.5f + 4.0f * kGain && b.right[3] == -0.5f + 4.0f * kGain);
}

void aNewClipOrAStopCutsTheOldOne()
{
    cir::PreviewPlayer p;
    p.allocate(100.0);
    const auto first = ramp(500, 1.0f), second = ramp(20, 1000.0f);
    p.startClip(first.size());
    p.write(first.data(), first.size());
    Block b(10);
    p.play(b.left.data(), b.right.data(), 10, true);
    p.startClip(second.size());  // the audio thread has 490 samples of the first unplayed
    p.publishClip();
    p.write(second.data(), second.size());
    Block c(30);
    CHECK(p.play(c.left.data(), c.right.data(), 30, true) == 20);
    CHECK(c.left[0] == 1000.0f * kGain && c.left[19] == 1019.0f * kGain && c.left[20] == 0.0f);
    p.startClip(0);  // stop
    p.publishClip();
    Block d(10, 0.25f);
    CHECK(p.play(d.left.data(), d.right.data(), 10, true) == 0 && d.left[0] == 0.25f);
}

void aLongClipIsWrittenInPiecesAsItPlays()
{
    cir::PreviewPlayer p;
    p.allocate(100.0);  // room for 1,200
    const auto clip = ramp(3000, 0.0f);
    p.startClip(clip.size());
    uint64_t written = p.write(clip.data(), clip.size());
    CHECK(written == 1200);
    std::vector<float> heard;
    for (int i = 0; i < 40; ++i) {
        Block b(100);
        const uint32_t n = p.play(b.left.data(), b.right.data(), 100, true);
        heard.insert(heard.end(), b.left.begin(), b.left.begin() + n);
        written += p.write(clip.data() + written, clip.size() - written);
    }
    CHECK(heard.size() == 3000);
    bool exact = heard.size() == 3000;
    for (size_t i = 0; exact && i < heard.size(); ++i)
        exact = heard[i] == static_cast<float>(i) * kGain;
    CHECK(exact);
}

}  // namespace

int main()
{
    alonePlaysTheClipOnceThenPassesTheInputThrough();
    mixedAddsTheClipUnderTheInput();
    aNewClipOrAStopCutsTheOldOne();
    aLongClipIsWrittenInPiecesAsItPlays();
    std::printf("%s: %d failure(s)\n", failures ? "FAILED" : "ok", failures);
    return failures ? 1 : 0;
}
