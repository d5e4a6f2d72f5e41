// CIR Test Synth: a deliberately small polyphonic synthesizer for CIR's tests.
//
// Each parameter changes the spectrum audibly, so presets (.vstpreset files) of this plugin
// render measurably different sounds: Waveform morphs sine -> saw -> square, Cutoff sets a
// 12 dB/oct low-pass, Decay the amplitude envelope, Detune spreads two oscillators (stereo).

#include "DistrhoPlugin.hpp"

#include <algorithm>
#include <cmath>

START_NAMESPACE_DISTRHO

namespace {

enum Param : uint32_t { kWaveform, kCutoff, kDecay, kDetune, kVolume, kParamCount };

constexpr int kVoices = 8;
constexpr float kAttackSeconds = 0.004f;   // click-free onset
constexpr float kReleaseSeconds = 0.06f;   // short tail after note-off
constexpr float kSilence = 1e-4f;          // -80 dB: a voice below this is free again
constexpr double kTwoPi = 6.283185307179586;

// PolyBLEP residual: removes most aliasing from the saw and square edges.
inline float polyBlep(float t, float dt)
{
    if (t < dt) { t /= dt; return t + t - t * t - 1.0f; }
    if (t > 1.0f - dt) { t = (t - 1.0f) / dt; return t * t + t + t + 1.0f; }
    return 0.0f;
}

// One oscillator sample at phase t in [0, 1) with increment dt; shape 0 sine, 0.5 saw, 1 square.
inline float oscillator(float t, float dt, float shape)
{
    const float sine = std::sin(static_cast<float>(kTwoPi) * t);
    float saw = 2.0f * t - 1.0f - polyBlep(t, dt);
    float t2 = t + 0.5f;
    if (t2 >= 1.0f) t2 -= 1.0f;
    const float square = (t < 0.5f ? 1.0f : -1.0f) + polyBlep(t, dt) - polyBlep(t2, dt);
    if (shape < 0.5f) {
        const float m = shape * 2.0f;
        return sine * (1.0f - m) + saw * m;
    }
    const float m = (shape - 0.5f) * 2.0f;
    return saw * (1.0f - m) + square * m;
}

// Zavalishin's TPT state-variable filter, low-pass output only.
struct LowPass {
    float ic1 = 0.0f, ic2 = 0.0f;
    float process(float x, float g, float k)
    {
        const float a1 = 1.0f / (1.0f + g * (g + k));
        const float v3 = x - ic2;
        const float v1 = a1 * ic1 + g * a1 * v3;
        const float v2 = ic2 + g * v1;
        ic1 = 2.0f * v1 - ic1;
        ic2 = 2.0f * v2 - ic2;
        return v2;
    }
};

struct Voice {
    bool active = false;
    bool held = false;
    uint8_t note = 0;
    float velocity = 0.0f;
    float phase[2] = {0.0f, 0.0f};
    float env = 0.0f;
    float attackLeft = 0.0f;  // seconds of attack still to run
    LowPass filter[2];
    uint32_t age = 0;
};

}  // namespace

class CIRTestSynth : public Plugin
{
public:
    CIRTestSynth()
        : Plugin(kParamCount, 0, 0)
    {
        fParams[kWaveform] = 0.5f;
        fParams[kCutoff] = 4000.0f;
        fParams[kDecay] = 0.8f;
        fParams[kDetune] = 8.0f;
        fParams[kVolume] = 0.5f;
    }

protected:
    const char* getLabel() const override { return "CIRTestSynth"; }
    const char* getDescription() const override { return "Small test instrument for CIR."; }
    const char* getMaker() const override { return "CIR"; }
    const char* getHomePage() const override { return "https://example.invalid/cir"; }
    const char* getLicense() const override { return "MIT"; }
    uint32_t getVersion() const override { return d_version(0, 1, 0); }
    int64_t getUniqueId() const override { return d_cconst('C', 't', 's', 'y'); }

    void initAudioPort(bool input, uint32_t index, AudioPort& port) override
    {
        port.groupId = kPortGroupStereo;
        Plugin::initAudioPort(input, index, port);
    }

    void initParameter(uint32_t index, Parameter& p) override
    {
        p.hints = kParameterIsAutomatable;
        switch (index) {
        case kWaveform:
            p.name = "Waveform"; p.symbol = "waveform"; p.unit = "";
            p.ranges.min = 0.0f; p.ranges.max = 1.0f; p.ranges.def = 0.5f;
            break;
        case kCutoff:
            p.name = "Cutoff"; p.symbol = "cutoff"; p.unit = "Hz";
            p.hints |= kParameterIsLogarithmic;
            p.ranges.min = 50.0f; p.ranges.max = 18000.0f; p.ranges.def = 4000.0f;
            break;
        case kDecay:
            p.name = "Decay"; p.symbol = "decay"; p.unit = "s";
            p.hints |= kParameterIsLogarithmic;
            p.ranges.min = 0.02f; p.ranges.max = 4.0f; p.ranges.def = 0.8f;
            break;
        case kDetune:
            p.name = "Detune"; p.symbol = "detune"; p.unit = "cents";
            p.ranges.min = 0.0f; p.ranges.max = 50.0f; p.ranges.def = 8.0f;
            break;
        case kVolume:
            p.name = "Volume"; p.symbol = "volume"; p.unit = "";
            p.ranges.min = 0.0f; p.ranges.max = 1.0f; p.ranges.def = 0.5f;
            break;
        }
    }

    float getParameterValue(uint32_t index) const override
    {
        return index < kParamCount ? fParams[index] : 0.0f;
    }

    void setParameterValue(uint32_t index, float value) override
    {
        if (index < kParamCount)
            fParams[index] = value;
    }

    void activate() override
    {
        for (Voice& v : fVoices)
            v = Voice();
    }

    void run(const float**, float** outputs, uint32_t frames,
             const MidiEvent* events, uint32_t eventCount) override
    {
        float* outL = outputs[0];
        float* outR = outputs[1];
        uint32_t done = 0;
        // Render in segments between MIDI events so note timing is sample-accurate.
        for (uint32_t e = 0; e <= eventCount; ++e) {
            const uint32_t until = e < eventCount ? std::min(events[e].frame, frames) : frames;
            if (until > done) {
                render(outL + done, outR + done, until - done);
                done = until;
            }
            if (e < eventCount)
                handleMidi(events[e]);
        }
    }

private:
    float fParams[kParamCount];
    Voice fVoices[kVoices];
    uint32_t fClock = 0;

    void handleMidi(const MidiEvent& ev)
    {
        if (ev.size < 3 || ev.size > MidiEvent::kDataSize)
            return;
        const uint8_t status = ev.data[0] & 0xF0;
        const uint8_t note = ev.data[1] & 0x7F;
        const uint8_t vel = ev.data[2] & 0x7F;
        if (status == 0x90 && vel > 0)
            noteOn(note, vel);
        else if (status == 0x80 || (status == 0x90 && vel == 0))
            noteOff(note);
        else if (status == 0xB0 && (note == 120 || note == 123))
            for (Voice& v : fVoices) v.held = false;
    }

    void noteOn(uint8_t note, uint8_t vel)
    {
        // A free voice, else steal the oldest one.
        Voice* pick = &fVoices[0];
        for (Voice& v : fVoices) {
            if (!v.active) { pick = &v; break; }
            if (v.age < pick->age) pick = &v;
        }
        *pick = Voice();
        pick->active = true;
        pick->held = true;
        pick->note = note;
        pick->velocity = static_cast<float>(vel) / 127.0f;
        pick->attackLeft = kAttackSeconds;
        pick->phase[1] = 0.25f;  // decorrelate the two oscillators
        pick->age = ++fClock;
    }

    void noteOff(uint8_t note)
    {
        for (Voice& v : fVoices)
            if (v.active && v.note == note)
                v.held = false;
    }

    void render(float* outL, float* outR, uint32_t frames)
    {
        const float sr = static_cast<float>(getSampleRate());
        const float dtSec = 1.0f / sr;
        const float shape = fParams[kWaveform];
        const float cutoff = std::fmin(fParams[kCutoff], 0.45f * sr);
        const float g = std::tan(static_cast<float>(M_PI) * cutoff / sr);
        const float k = 1.2f;  // mild resonance (Q about 0.83)
        const float decayMul = std::exp(-dtSec / std::fmax(fParams[kDecay], 0.005f));
        const float releaseMul = std::exp(-dtSec / kReleaseSeconds);
        const float detune = std::pow(2.0f, fParams[kDetune] / 1200.0f);
        const float gain = fParams[kVolume] * 0.5f;

        for (uint32_t i = 0; i < frames; ++i) {
            outL[i] = 0.0f;
            outR[i] = 0.0f;
        }
        for (Voice& v : fVoices) {
            if (!v.active)
                continue;
            const float freq = 440.0f * std::pow(2.0f, (static_cast<float>(v.note) - 69.0f) / 12.0f);
            const float inc[2] = {freq / sr / detune, freq / sr * detune};
            for (uint32_t i = 0; i < frames; ++i) {
                if (v.attackLeft > 0.0f) {
                    v.env = std::fmin(1.0f, v.env + dtSec / kAttackSeconds);
                    v.attackLeft -= dtSec;
                } else {
                    v.env *= v.held ? decayMul : releaseMul;
                }
                float s[2];
                for (int o = 0; o < 2; ++o) {
                    s[o] = oscillator(v.phase[o], inc[o], shape);
                    v.phase[o] += inc[o];
                    if (v.phase[o] >= 1.0f) v.phase[o] -= 1.0f;
                    s[o] = v.filter[o].process(s[o], g, k);
                }
                const float amp = v.env * v.velocity * gain;
                outL[i] += amp * (0.75f * s[0] + 0.25f * s[1]);
                outR[i] += amp * (0.25f * s[0] + 0.75f * s[1]);
            }
            if (v.attackLeft <= 0.0f && v.env < kSilence)
                v.active = false;
        }
    }

    DISTRHO_DECLARE_NON_COPYABLE_WITH_LEAK_DETECTOR(CIRTestSynth)
};

Plugin* createPlugin()
{
    return new CIRTestSynth();
}

END_NAMESPACE_DISTRHO
