// CIR Bridge window (DPF DGL, Cairo): the state in words, the Capture / Bars / Auto controls,
// the last answer per family (top 3: name, source, score; presence; absent families as one
// grey line), audition (the play mark before a suggestion), "this one" and "open page".
//
// Everything is laid out on a 620 x 580 grid; DPF's automatic scaling (the UI constructor's
// last argument) scales the drawing to the window, so the window is readable
// at any host scale (DPF opens it at the desktop scale factor) and when resized. The
// window reads the plugin through cir::BridgeModel (model.hpp) on its own thread; it polls a
// cheap stamp in uiIdle() and repaints only when something changed.

#include "DistrhoUI.hpp"

#include "model.hpp"
#include "sender.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

START_NAMESPACE_DISTRHO

namespace {

// Layout grid (unscaled pixels) and the parameters' indices (as in CIRBridge.cpp).
constexpr double kGridW = 620.0, kGridH = 580.0;
enum UIParam : uint32_t { kCapture, kBars, kAuto };
constexpr int kMaxBars = 16;
constexpr int kShownHits = 3;          // suggestions shown per family
constexpr double kRowH = 20.0, kFamilyH = 24.0, kAnswerTop = 132.0;

struct Box {
    double x, y, w, h;
    bool contains(double px, double py) const { return px >= x && px < x + w && py >= y && py < y + h; }
};

const Box kCaptureBox{16, 84, 96, 30}, kBarsDown{176, 84, 30, 30}, kBarsUp{246, 84, 30, 30},
    kAutoBox{290, 84, 94, 30}, kAloneBox{392, 84, 96, 30}, kPageBox{496, 84, 108, 30};

// A clickable row element of the answer: audition or pick of one hit.
struct HitTarget {
    Box box;
    bool pick;
    int family;
    int hit;
};

const char* const kFamilyOrder[] = {"percussion", "bass", "lead", "pad", "keys"};

int familyRank(const char* name)
{
    for (int i = 0; i < 5; ++i)
        if (std::strcmp(name, kFamilyOrder[i]) == 0)
            return i;
    return 5;
}

}  // namespace

class CIRBridgeUI : public UI
{
public:
    CIRBridgeUI()
        : UI(static_cast<uint>(kGridW), static_cast<uint>(kGridH), true),
          fModel(cir::modelOf(getPluginInstancePointer()))
    {
        refresh();
    }

protected:
    void parameterChanged(uint32_t index, float value) override
    {
        switch (index) {
        case kBars: fBars = std::clamp(static_cast<int>(value + 0.5f), 1, kMaxBars); break;
        case kAuto: fAuto = value >= 0.5f; break;
        default: return;
        }
        repaint();
    }

    void stateChanged(const char*, const char*) override {}  // "status" is for the host only

    void uiIdle() override
    {
        const uint64_t stamp = fModel->viewStamp();
        if (stamp != fStamp)
            refresh();
    }

    void onCairoDisplay(const CairoGraphicsContext& context) override
    {
        cairo_t* const cr = context.handle;
        cairo_save(cr);
        cairo_set_source_rgb(cr, 0.97, 0.97, 0.95);
        cairo_paint(cr);
        cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
        cairo_set_font_size(cr, 20.0);
        ink(cr, 0.1);
        text(cr, 16, 30, "CIR Bridge");
        drawState(cr);
        drawControls(cr);
        drawAnswer(cr);
        cairo_restore(cr);
    }

    bool onMouse(const MouseEvent& ev) override
    {
        if (ev.button != 1)
            return false;
        // DPF scales the drawing, but a top-level widget gets the mouse in window pixels.
        const double s = std::max(0.1, std::min(getWidth() / kGridW, getHeight() / kGridH));
        const double x = ev.pos.getX() / s, y = ev.pos.getY() / s;
        if (kCaptureBox.contains(x, y) || fCaptureDown) {
            // The plugin arms on the off -> on edge; release sends "off" for the next press.
            fCaptureDown = ev.press && kCaptureBox.contains(x, y);
            editParameter(kCapture, fCaptureDown);
            setParameterValue(kCapture, fCaptureDown ? 1.0f : 0.0f);
            repaint();
            return true;
        }
        if (!ev.press)
            return false;
        if (kBarsDown.contains(x, y) || kBarsUp.contains(x, y)) {
            fBars = std::clamp(fBars + (kBarsUp.contains(x, y) ? 1 : -1), 1, kMaxBars);
            setParameterValue(kBars, static_cast<float>(fBars));
        } else if (kAutoBox.contains(x, y)) {
            fAuto = !fAuto;
            setParameterValue(kAuto, fAuto ? 1.0f : 0.0f);
        } else if (kAloneBox.contains(x, y)) {
            fModel->setPreviewAlone(!fView.previewAlone);
            fView.previewAlone = !fView.previewAlone;
        } else if (kPageBox.contains(x, y)) {
            fModel->openPage();
        } else {
            for (int i = 0; i < fTargetCount; ++i) {
                const HitTarget& t = fTargets[i];
                if (!t.box.contains(x, y))
                    continue;
                const cir::FamilyAnswer& fa = fView.answer.families[t.family];
                const int64_t id = fa.hits[t.hit].presetId;
                if (t.pick)
                    fModel->pick(fa.name, id);
                else
                    fModel->audition(fView.playing == id ? 0 : id);
                break;
            }
        }
        repaint();
        return true;
    }

private:
    cir::BridgeModel* const fModel;
    cir::View fView;
    uint64_t fStamp = ~0ull;
    int fBars = 4;
    bool fAuto = true;
    bool fCaptureDown = false;
    HitTarget fTargets[cir::kMaxFamilies * kShownHits * 2];
    int fTargetCount = 0;

    void refresh()
    {
        fStamp = fModel->viewStamp();
        fModel->view(fView);
        repaint();
    }

    static void ink(cairo_t* cr, double grey) { cairo_set_source_rgb(cr, grey, grey, grey); }

    static void text(cairo_t* cr, double x, double y, const std::string& str)
    {
        cairo_move_to(cr, x, y);
        cairo_show_text(cr, str.c_str());
    }

    // `str` cut with an ellipsis to fit `width`.
    static std::string fit(cairo_t* cr, std::string str, double width)
    {
        cairo_text_extents_t ext;
        cairo_text_extents(cr, str.c_str(), &ext);
        if (ext.x_advance <= width)
            return str;
        while (!str.empty()) {
            do
                str.pop_back();
            while (!str.empty() && (static_cast<unsigned char>(str.back()) & 0xC0) == 0x80);
            const std::string cut = str + "...";
            cairo_text_extents(cr, cut.c_str(), &ext);
            if (ext.x_advance <= width)
                return cut;
        }
        return str;
    }

    static void font(cairo_t* cr, double size, bool bold)
    {
        cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                               bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
        cairo_set_font_size(cr, size);
    }

    static void button(cairo_t* cr, const Box& b, const char* label, bool on)
    {
        cairo_rectangle(cr, b.x, b.y, b.w, b.h);
        if (on) cairo_set_source_rgb(cr, 0.25, 0.45, 0.75);
        else cairo_set_source_rgb(cr, 0.88, 0.88, 0.86);
        cairo_fill_preserve(cr);
        ink(cr, 0.35);
        cairo_set_line_width(cr, 1.0);
        cairo_stroke(cr);
        font(cr, 15.0, true);
        cairo_text_extents_t ext;
        cairo_text_extents(cr, label, &ext);
        ink(cr, on ? 1.0 : 0.1);
        text(cr, b.x + (b.w - ext.x_advance) / 2, b.y + b.h / 2 + 5.5, label);
    }

    std::string stateSentence() const
    {
        char buf[160];
        switch (static_cast<cir::BridgeState>(fView.state)) {
        case cir::BridgeState::Idle:
            return "idle: press Capture, or start the transport with Auto on";
        case cir::BridgeState::Capturing:
            if (fView.waiting == cir::Capture::kWaitBarLine)
                return "waiting for the bar line";
            if (fView.waiting == cir::Capture::kWaitLoop)
                return "waiting for the loop to come round";
            std::snprintf(buf, sizeof(buf), "capturing %.1f of %.1f s", fView.captured, fView.wanted);
            return buf;
        case cir::BridgeState::Sent:
            std::snprintf(buf, sizeof(buf), "sent %.1f s, waiting for the answer", fView.captured);
            return buf;
        case cir::BridgeState::Answered:
            return "answered";
        case cir::BridgeState::Error:
            return fView.message.empty() ? std::string("error") : fView.message;
        }
        return std::string();
    }

    void drawState(cairo_t* cr) const
    {
        const bool error = fView.state == static_cast<int>(cir::BridgeState::Error);
        font(cr, 16.0, error);
        if (error) cairo_set_source_rgb(cr, 0.7, 0.05, 0.05);
        else ink(cr, 0.15);
        text(cr, 16, 62, fit(cr, stateSentence(), kGridW - 32));
        if (fView.state == static_cast<int>(cir::BridgeState::Capturing) && fView.wanted > 0.0f) {
            const double frac = std::clamp(fView.captured / fView.wanted, 0.0f, 1.0f);
            cairo_rectangle(cr, 16, 70, kGridW - 32, 5);
            ink(cr, 0.85);
            cairo_fill(cr);
            cairo_rectangle(cr, 16, 70, (kGridW - 32) * frac, 5);
            cairo_set_source_rgb(cr, 0.25, 0.45, 0.75);
            cairo_fill(cr);
        }
    }

    void drawControls(cairo_t* cr) const
    {
        button(cr, kCaptureBox, "Capture", fCaptureDown);
        font(cr, 15.0, false);
        ink(cr, 0.1);
        text(cr, 126, 104, "Bars");
        button(cr, kBarsDown, "-", false);
        char bars[8];
        std::snprintf(bars, sizeof(bars), "%d", fBars);
        font(cr, 16.0, true);
        ink(cr, 0.1);
        text(cr, fBars >= 10 ? 213 : 219, 105, bars);
        button(cr, kBarsUp, "+", false);
        button(cr, kAutoBox, fAuto ? "Auto: on" : "Auto: off", fAuto);
        // How an audition plays: instead of the input, or mixed under it.
        button(cr, kAloneBox, fView.previewAlone ? "hear alone" : "hear mixed", false);
        button(cr, kPageBox, "open page", false);
    }

    // Families in the protocol's order; each: a header line, then its top 3 (or, when the
    // presence head marks it absent, the header alone in grey).
    void drawAnswer(cairo_t* cr)
    {
        fTargetCount = 0;
        const cir::Answer& a = fView.answer;
        double y = kAnswerTop;
        if (a.familyCount == 0) {
            font(cr, 15.0, false);
            ink(cr, 0.45);
            text(cr, 16, y + 16, "no answer yet");
        }
        int order[cir::kMaxFamilies];
        for (int f = 0; f < a.familyCount; ++f)
            order[f] = f;
        std::stable_sort(order, order + a.familyCount, [&a](int l, int r) {
            return familyRank(a.families[l].name) < familyRank(a.families[r].name);
        });
        for (int k = 0; k < a.familyCount && y < kGridH - kFamilyH; ++k)
            y = drawFamily(cr, order[k], y);
        if (!fView.note.empty()) {
            font(cr, 14.0, false);
            ink(cr, 0.3);
            text(cr, 16, kGridH - 10, fit(cr, fView.note, kGridW - 32));
        }
    }

    double drawFamily(cairo_t* cr, int f, double y)
    {
        const cir::FamilyAnswer& fa = fView.answer.families[f];
        char head[96];
        if (fa.absent())
            std::snprintf(head, sizeof(head), "%s: absent (presence %d%%)", fa.name,
                          static_cast<int>(std::lround(fa.presence * 100)));
        else if (fa.hasPresence)
            std::snprintf(head, sizeof(head), "%s (presence %d%%)", fa.name,
                          static_cast<int>(std::lround(fa.presence * 100)));
        else
            std::snprintf(head, sizeof(head), "%s", fa.name);
        font(cr, 16.0, !fa.absent());
        ink(cr, fa.absent() ? 0.55 : 0.1);
        text(cr, 16, y + 17, head);
        y += kFamilyH;
        if (fa.absent())
            return y;
        if (fa.hitCount == 0) {
            font(cr, 15.0, false);
            ink(cr, 0.45);
            text(cr, 40, y + 15, "no presets of this family in the catalogue");
            return y + kRowH;
        }
        for (int h = 0; h < fa.hitCount && h < kShownHits; ++h, y += kRowH) {
            const cir::Hit& hit = fa.hits[h];
            const bool playing = fView.playing != 0 && fView.playing == hit.presetId;
            const Box play{16, y + 1, 20, 18}, pick{516, y + 1, 88, 18};
            const Box suggestion{16, y, 480, kRowH};  // a click on the row auditions it
            // The audition mark: a triangle, a square while this preset plays.
            cairo_set_source_rgb(cr, 0.25, 0.45, 0.75);
            if (playing) {
                cairo_rectangle(cr, play.x + 4, play.y + 3, 12, 12);
            } else {
                cairo_move_to(cr, play.x + 4, play.y + 2);
                cairo_line_to(cr, play.x + 17, play.y + 9);
                cairo_line_to(cr, play.x + 4, play.y + 16);
                cairo_close_path(cr);
            }
            cairo_fill(cr);
            font(cr, 15.0, false);
            ink(cr, 0.1);
            text(cr, 44, y + 15, fit(cr, hit.name, 300));
            ink(cr, 0.35);
            text(cr, 352, y + 15, fit(cr, hit.source, 80));
            char score[16];
            std::snprintf(score, sizeof(score), "%.2f", hit.score);
            ink(cr, 0.1);
            text(cr, 450, y + 15, score);
            font(cr, 13.0, false);
            cairo_rectangle(cr, pick.x, pick.y, pick.w, pick.h);
            ink(cr, 0.9);
            cairo_fill_preserve(cr);
            ink(cr, 0.5);
            cairo_set_line_width(cr, 1.0);
            cairo_stroke(cr);
            ink(cr, 0.15);
            text(cr, pick.x + 18, pick.y + 13, "this one");
            fTargets[fTargetCount++] = HitTarget{suggestion, false, f, h};
            fTargets[fTargetCount++] = HitTarget{Box{pick.x, pick.y, pick.w, pick.h}, true, f, h};
        }
        return y + 4;
    }

    DISTRHO_DECLARE_NON_COPYABLE_WITH_LEAK_DETECTOR(CIRBridgeUI)
};

UI* createUI()
{
    return new CIRBridgeUI();
}

END_NAMESPACE_DISTRHO
