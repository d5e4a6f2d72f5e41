// Unit test of the CIR Bridge reply parser (answer.hpp): whole answers, refusals, and every
// kind of malformed reply. Built and run by tests/test_plugin_bridge.py; with a file argument
// it parses that file as a reply to id "r1" and prints the verdict and the answer as JSON (the
// test feeds it replies produced by the real daemon). Prints one line per failed check and
// exits non-zero on any failure.
#include "answer.hpp"

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

static int failures = 0;
#define CHECK(cond) do { if (!(cond)) { std::printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); ++failures; } } while (0)

namespace {

cir::ReplyVerdict parse(const std::string& text, cir::Answer& out)
{
    return cir::parseReply(text.data(), text.size(), "r1", out);
}

const char* const kGood = R"({"v": 1, "id": "r1", "ok": true, "error": null,
  "results": {"bass": [
      {"rank": 1, "preset_id": 42, "name": "Acid Bass 042", "family": "bass", "key": "bass-0042",
       "source": "builtin", "source_path": "factory", "locator": {"bank": "factory"}, "score": 0.91,
       "preview": null, "future_field": [1, 2]},
      {"rank": 2, "preset_id": 7, "name": "Sub 007", "family": "bass", "key": "bass-0007",
       "source": "sf2", "source_path": "/x.sf2", "locator": {"bank": 0, "program": 33}, "score": 0.5,
       "preview": "/p.flac"}],
    "pad": []},
  "presence": {"bass": 0.97, "pad": 0.1}, "timing_ms": {"total": 24.2}, "warnings": []})";

void wholeAnswer()
{
    cir::Answer a;
    const cir::ReplyVerdict v = parse(kGood, a);
    CHECK(v.kind == cir::ReplyKind::Answer);
    CHECK(a.familyCount == 2);
    CHECK(std::string(a.families[0].name) == "bass" && a.families[0].hitCount == 2);
    CHECK(std::string(a.families[0].hits[0].name) == "Acid Bass 042");
    CHECK(std::string(a.families[0].hits[1].source) == "sf2");
    CHECK(a.families[0].hits[0].presetId == 42 && a.families[0].hits[1].presetId == 7);
    CHECK(a.families[0].hits[0].score > 0.909f && a.families[0].hits[0].score < 0.911f);
    CHECK(a.families[0].hasPresence && !a.families[0].absent());
    CHECK(std::string(a.families[1].name) == "pad" && a.families[1].hitCount == 0);
    CHECK(a.families[1].absent());
    CHECK(a.topScore() > 0.909f && a.topScore() < 0.911f);
    CHECK(cir::answerJson(a)["results"]["bass"][1]["key"] == "bass-0007");
}

void notOursAndRefused()
{
    cir::Answer a;
    CHECK(parse(R"({"v":1,"id":"other","ok":true,"results":{}})", a).kind == cir::ReplyKind::NotOurs);
    CHECK(parse(R"({"v":1,"id":null,"ok":false})", a).kind == cir::ReplyKind::NotOurs);
    const cir::ReplyVerdict v = parse(
        R"({"v":1,"id":"r1","ok":false,"error":{"code":"silent_audio","message":"the loop is silent"}})", a);
    CHECK(v.kind == cir::ReplyKind::Refused);
    CHECK(v.reason == "silent_audio: the loop is silent");
    CHECK(a.familyCount == 0);
}

// Each malformed reply is refused with a reason naming what is wrong; the answer is untouched.
void malformed()
{
    struct Case { const char* text; const char* reason; };
    const Case cases[] = {
        {"", "not JSON"},
        {R"({"v":1,"id":"r1","ok":true,"results":{"bass":[)", "not JSON"},
        {R"([1,2])", "not a JSON object"},
        {R"({"v":1,"id":"r1","ok":"yes","results":{}})", "\"ok\" is not"},
        {R"({"v":1,"id":"r1","ok":false,"error":"x"})", "without an \"error\" object"},
        {R"({"v":1,"id":"r1","ok":true})", "\"results\" is not an object"},
        {R"({"v":1,"id":"r1","ok":true,"results":{"bass":{}}})", "results.bass is not a list"},
        {R"({"v":1,"id":"r1","ok":true,"results":{"bass":[3]}})", "results.bass[0] is not an object"},
        {R"({"v":1,"id":"r1","ok":true,"results":{"bass":[{"name":1,"source":"s","score":0.1,"preset_id":1}]}})",
         "results.bass[0].name is not a string"},
        {R"({"v":1,"id":"r1","ok":true,"results":{"bass":[{"name":"n","source":"s","score":"0.1","preset_id":1}]}})",
         ".score is not a number"},
        {R"({"v":1,"id":"r1","ok":true,"results":{"bass":[{"name":"n","source":"s","score":7,"preset_id":1}]}})",
         ".score is outside"},
        {R"({"v":1,"id":"r1","ok":true,"results":{"bass":[{"name":"n","source":"s","score":0.1,"preset_id":1.5}]}})",
         ".preset_id is not an integer"},
        {R"({"v":1,"id":"r1","ok":true,"results":{"bass":[]},"presence":[0.5]})", "\"presence\" is not an object"},
        {R"({"v":1,"id":"r1","ok":true,"results":{"bass":[]},"presence":{"bass":2}})", "presence.bass is not"},
        {R"({"v":1,"id":"r1","ok":true,"results":{"a":[],"b":[],"c":[],"d":[],"e":[],"f":[],"g":[],"h":[],"i":[]}})",
         "more than 8 families"},
        {R"({"v":1,"id":"r1","ok":true,"results":{},"x":[[[[[[[[[[[[1]]]]]]]]]]]]})", "nested deeper"},
    };
    for (const Case& c : cases) {
        cir::Answer a;
        a.familyCount = 1;  // a previous answer: must survive
        const cir::ReplyVerdict v = parse(c.text, a);
        const bool ok = v.kind == cir::ReplyKind::Malformed && v.reason.find(c.reason) != std::string::npos
                        && v.reason.rfind("malformed reply: ", 0) == 0 && a.familyCount == 1;
        if (!ok)
            std::printf("FAIL malformed case %s -> kind %d reason '%s'\n", c.text, static_cast<int>(v.kind),
                        v.reason.c_str());
        failures += ok ? 0 : 1;
    }
}

// Long text is truncated on a character boundary; more hits than kept are read and dropped.
void bounded()
{
    std::string name;
    for (int i = 0; i < 60; ++i)
        name += "\xc3\xa9";  // 120 bytes of 'é'
    std::string hits;
    for (int i = 0; i < 12; ++i)
        hits += std::string(i ? "," : "") + R"({"name":")" + name + R"(","source":"builtin","score":0.5,"preset_id":)"
                + std::to_string(i) + "}";
    cir::Answer a;
    CHECK(parse(R"({"v":1,"id":"r1","ok":true,"results":{"lead":[)" + hits + "]}}", a).kind
          == cir::ReplyKind::Answer);
    CHECK(a.families[0].hitCount == cir::kAnswerK);
    const std::string kept = a.families[0].hits[0].name;
    CHECK(kept.size() < static_cast<size_t>(cir::kMaxTextBytes) && kept.size() % 2 == 0);
    CHECK(kept == name.substr(0, kept.size()));
    CHECK(!cir::answerJson(a).dump().empty());  // valid UTF-8: dump() would throw otherwise
}

}  // namespace

int main(int argc, char** argv)
{
    if (argc == 2) {  // parse a reply file: the test compares with what the daemon sent
        std::ifstream in(argv[1], std::ios::binary);
        const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        cir::Answer a;
        const cir::ReplyVerdict v = parse(text, a);
        const nlohmann::json out = {{"kind", static_cast<int>(v.kind)}, {"reason", v.reason},
                                    {"answer", cir::answerJson(a)}};
        std::printf("%s\n", out.dump().c_str());
        return 0;
    }
    wholeAnswer();
    notOursAndRefused();
    malformed();
    bounded();
    std::printf("ok: %d failure(s)\n", failures);
    return failures == 0 ? 0 : 1;
}
