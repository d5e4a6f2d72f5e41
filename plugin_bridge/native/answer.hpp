// CIR Bridge answer: the daemon's `match` reply (docs/protocol.md, "Reply"), parsed with a real
// JSON parser (nlohmann::json, Debian's nlohmann-json3-dev) into a fixed-size Answer.
//
// The Answer is plain data of bounded size (families, hits and text are capped and truncated),
// so the worker can hand a copy to the window and to the host's state without allocating on
// their side. A reply that is not what protocol v1 promises (bad JSON, nesting deeper than any
// v1 reply, a field of the wrong type) is "malformed": the plugin shows the reason and keeps
// nothing of it. Unknown fields are ignored, as protocol v1 asks of receivers.
#pragma once

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

namespace cir {

constexpr int kMaxFamilies = 8;        // the protocol has 5 families; room for new ones
constexpr int kAnswerK = 5;            // hits kept per family (the plugin asks for k = 5)
constexpr int kMaxTextBytes = 96;      // preset names, keys, source paths: truncated beyond
constexpr int kMaxShortBytes = 24;     // family and source kind names
constexpr int kMaxReplyDepth = 8;      // a v1 reply nests 4 deep (results.family[i].locator)
constexpr float kPresenceThreshold = 0.5f;  // as PRESENCE_THRESHOLD in cir/defaults.py

struct Hit {
    int64_t presetId = 0;
    float score = 0.0f;
    char name[kMaxTextBytes] = {};
    char key[kMaxTextBytes] = {};
    char source[kMaxShortBytes] = {};
};

struct FamilyAnswer {
    char name[kMaxShortBytes] = {};
    bool hasPresence = false;  // the encoder gave presence for this family
    float presence = 1.0f;
    int hitCount = 0;
    Hit hits[kAnswerK];

    // Marked absent by the daemon's presence head: listed, but not a suggestion.
    bool absent() const noexcept { return hasPresence && presence < kPresenceThreshold; }
};

struct Answer {
    int familyCount = 0;
    FamilyAnswer families[kMaxFamilies];
    char requestId[kMaxTextBytes] = {};

    float topScore() const noexcept
    {
        float best = 0.0f;
        bool any = false;
        for (int f = 0; f < familyCount; ++f)
            for (int h = 0; h < families[f].hitCount; ++h)
                if (!any || families[f].hits[h].score > best) {
                    best = families[f].hits[h].score;
                    any = true;
                }
        return best;
    }
};

enum class ReplyKind { Answer, NotOurs, Refused, Malformed };

// What parseReply found; `reason` is a sentence for Refused ("code: message") and Malformed.
struct ReplyVerdict {
    ReplyKind kind = ReplyKind::Malformed;
    std::string reason;
};

namespace detail {

inline void copyText(char* dst, size_t cap, const std::string& src)
{
    // Truncate on a UTF-8 character boundary so the window never draws half a character.
    size_t n = src.size() < cap - 1 ? src.size() : cap - 1;
    while (n > 0 && n < src.size() && (static_cast<unsigned char>(src[n]) & 0xC0) == 0x80)
        --n;
    std::memcpy(dst, src.data(), n);
    dst[n] = '\0';
}

// Deepest nesting of arrays/objects in `data` (strings skipped); stops counting past `limit`.
inline int nestingDepth(const char* data, size_t size, int limit)
{
    int depth = 0, deepest = 0;
    bool inString = false, escaped = false;
    for (size_t i = 0; i < size; ++i) {
        const char c = data[i];
        if (inString) {
            if (escaped) escaped = false;
            else if (c == '\\') escaped = true;
            else if (c == '"') inString = false;
        } else if (c == '"') {
            inString = true;
        } else if (c == '{' || c == '[') {
            if (++depth > deepest && (deepest = depth) > limit)
                return deepest;
        } else if (c == '}' || c == ']') {
            --depth;
        }
    }
    return deepest;
}

inline ReplyVerdict malformed(const std::string& why) { return {ReplyKind::Malformed, "malformed reply: " + why}; }

// One hit object into `out`; an empty string when it is well formed, else what is wrong.
inline std::string readHit(const nlohmann::json& j, Hit& out)
{
    if (!j.is_object())
        return " is not an object";
    const auto name = j.find("name"), source = j.find("source"), score = j.find("score");
    const auto id = j.find("preset_id"), key = j.find("key");
    if (name == j.end() || !name->is_string())
        return ".name is not a string";
    if (source == j.end() || !source->is_string())
        return ".source is not a string";
    if (score == j.end() || !score->is_number())
        return ".score is not a number";
    if (id == j.end() || !id->is_number_integer())
        return ".preset_id is not an integer";
    if (key != j.end() && !key->is_string())
        return ".key is not a string";
    const double s = score->get<double>();
    if (!std::isfinite(s) || s < -1.0001 || s > 1.0001)
        return ".score is outside [-1, 1]";
    out.score = static_cast<float>(s);
    out.presetId = id->get<int64_t>();
    copyText(out.name, sizeof(out.name), name->get_ref<const std::string&>());
    copyText(out.source, sizeof(out.source), source->get_ref<const std::string&>());
    copyText(out.key, sizeof(out.key), key != j.end() ? key->get_ref<const std::string&>() : std::string());
    return std::string();
}

}  // namespace detail

// Read one reply frame's envelope into `j`: Answer (ok true; `j` holds the reply), NotOurs (a
// reply to another request id: discard it), Refused (`reason` is "code: message") or Malformed.
inline ReplyVerdict readEnvelope(const char* data, size_t size, const std::string& expectedId,
                                 nlohmann::json& j)
{
    if (detail::nestingDepth(data, size, kMaxReplyDepth) > kMaxReplyDepth)
        return detail::malformed("nested deeper than a protocol v1 reply");
    j = nlohmann::json::parse(data, data + size, nullptr, false);
    if (j.is_discarded())
        return detail::malformed("not JSON");
    if (!j.is_object())
        return detail::malformed("not a JSON object");
    const auto id = j.find("id");
    if (id == j.end() || !id->is_string() || id->get_ref<const std::string&>() != expectedId)
        return {ReplyKind::NotOurs, std::string()};
    const auto ok = j.find("ok");
    if (ok == j.end() || !ok->is_boolean())
        return detail::malformed("\"ok\" is not true or false");
    if (!ok->get<bool>()) {
        const auto err = j.find("error");
        if (err == j.end() || !err->is_object())
            return detail::malformed("an error reply without an \"error\" object");
        const auto code = err->find("code"), message = err->find("message");
        std::string why = code != err->end() && code->is_string() ? code->get<std::string>() : "error";
        if (message != err->end() && message->is_string())
            why += ": " + message->get<std::string>();
        return {ReplyKind::Refused, why};
    }
    return {ReplyKind::Answer, std::string()};
}

// The answer of a `match` reply whose envelope was read (readEnvelope gave Answer): `out` holds
// it (families in the reply's order) unless the verdict is Malformed (`out` is left as it was).
inline ReplyVerdict readAnswer(const nlohmann::json& j, const std::string& requestId, Answer& out)
{
    const auto results = j.find("results");
    if (results == j.end() || !results->is_object())
        return detail::malformed("\"results\" is not an object");
    if (results->size() > static_cast<size_t>(kMaxFamilies))
        return detail::malformed("more than " + std::to_string(kMaxFamilies) + " families");
    const auto presence = j.find("presence");
    const bool havePresence = presence != j.end() && !presence->is_null();
    if (havePresence && !presence->is_object())
        return detail::malformed("\"presence\" is not an object");

    Answer parsed;
    for (auto fam = results->begin(); fam != results->end(); ++fam) {
        const std::string where = "results." + fam.key();
        if (!fam->is_array())
            return detail::malformed(where + " is not a list");
        FamilyAnswer& fa = parsed.families[parsed.familyCount++];
        detail::copyText(fa.name, sizeof(fa.name), fam.key());
        for (size_t i = 0; i < fam->size(); ++i) {
            Hit scratch;
            Hit& hit = fa.hitCount < kAnswerK ? fa.hits[fa.hitCount] : scratch;
            const std::string bad = detail::readHit((*fam)[i], hit);
            if (!bad.empty())
                return detail::malformed(where + "[" + std::to_string(i) + "]" + bad);
            if (fa.hitCount < kAnswerK)
                ++fa.hitCount;
        }
        if (havePresence) {
            const auto p = presence->find(fam.key());
            if (p != presence->end()) {
                if (!p->is_number() || !(p->get<double>() >= 0.0 && p->get<double>() <= 1.0))
                    return detail::malformed("presence." + fam.key() + " is not a number in [0, 1]");
                fa.hasPresence = true;
                fa.presence = static_cast<float>(p->get<double>());
            }
        }
    }
    detail::copyText(parsed.requestId, sizeof(parsed.requestId), requestId);
    out = parsed;
    return {ReplyKind::Answer, std::string()};
}

// Both steps for one `match` reply frame.
inline ReplyVerdict parseReply(const char* data, size_t size, const std::string& expectedId, Answer& out)
{
    nlohmann::json j;
    const ReplyVerdict envelope = readEnvelope(data, size, expectedId, j);
    return envelope.kind == ReplyKind::Answer ? readAnswer(j, expectedId, out) : envelope;
}

// The answer as JSON for the plugin's "status" state: {"results": {family: [hit...]},
// "presence": {family: p}} with the hit fields of protocol v1 that the plugin keeps.
inline nlohmann::json answerJson(const Answer& a)
{
    nlohmann::json results = nlohmann::json::object(), presence = nlohmann::json::object();
    for (int f = 0; f < a.familyCount; ++f) {
        const FamilyAnswer& fa = a.families[f];
        nlohmann::json hits = nlohmann::json::array();
        for (int h = 0; h < fa.hitCount; ++h)
            hits.push_back({{"preset_id", fa.hits[h].presetId}, {"name", fa.hits[h].name},
                            {"key", fa.hits[h].key}, {"source", fa.hits[h].source},
                            {"score", fa.hits[h].score}});
        results[fa.name] = hits;
        if (fa.hasPresence)
            presence[fa.name] = fa.presence;
    }
    return {{"results", results}, {"presence", presence}};
}

}  // namespace cir
