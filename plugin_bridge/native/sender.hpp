// CIR Bridge worker: the background thread that sends captures to the daemon (protocol v1).
//
// It wakes every kPollMs, takes a capture request from the audio thread's mailbox, copies the
// frames out of the history ring, and sends one `match` request on a ZeroMQ DEALER socket:
// [empty, header JSON, PCM f32le interleaved]. Each request gets a fresh CURVE socket with the
// user's keys (keys.hpp) and a socket monitor: the audio is sent only after the handshake
// proved the peer holds the daemon's secret key, so a process that took the daemon's address
// never receives it. Nothing listening, a failed handshake, a refused key and a dropped
// connection are told apart at once (the "error" entry of the plugin's status). It waits for
// the reply in kPollMs slices (so unload never waits longer than one slice), discards replies
// to other ids, and gives up after the timeout. LINGER 0 and a send high-water mark of 1 keep
// a dead daemon from holding memory or unload.
#pragma once

#include "answer.hpp"
#include "capture.hpp"
#include "keys.hpp"
#include "preview.hpp"

#include <zmq.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace cir {

constexpr const char* kEndpointEnv = "CIR_ENDPOINT";        // as cir/defaults.py ENDPOINT_ENV
constexpr const char* kDefaultEndpoint = "tcp://127.0.0.1:47100";  // DAEMON_TCP_PORT
constexpr const char* kTimeoutEnv = "CIR_BRIDGE_TIMEOUT_MS";
constexpr int kDefaultTimeoutMs = 15000;  // the daemon may load its model on the first match
constexpr int kPollMs = 20;               // worker wake-up period; bounds unload time
constexpr int kMatchK = 5;
// The protocol's reply limit for k = 5 (cir.protocol.reply_limit: 64 KiB + k x 5 x 16 KiB).
constexpr int kMaxReplyBytes = 64 * 1024 + kMatchK * 5 * 16 * 1024;
// A preview reply: the header plus at most kMaxPreviewSeconds of mono f32 at 192 kHz.
constexpr int64_t kMaxPreviewReplyBytes = 64 * 1024 + static_cast<int64_t>(kMaxPreviewSeconds * 192000) * 4;
constexpr int kConnectTimeoutMs = 1000;    // CLIENT_CONNECT_TIMEOUT_MS: nothing listens
constexpr int kHandshakeTimeoutMs = 5000;  // CLIENT_HANDSHAKE_TIMEOUT_MS

// Why the last request failed (the plugin's status shows the name).
enum class BridgeError : int {
    None = 0, NoKey, NoCurve, NoDaemon, NotYourDaemon, KeyRefused, NoHandshake, SendFailed,
    Timeout, Dropped, Refused, CaptureLost, BadReply,
};

inline const char* errorName(BridgeError e)
{
    switch (e) {
    case BridgeError::None: return "";
    case BridgeError::NoKey: return "no_key";
    case BridgeError::NoCurve: return "no_curve";
    case BridgeError::NoDaemon: return "no_daemon";
    case BridgeError::NotYourDaemon: return "not_your_daemon";
    case BridgeError::KeyRefused: return "key_refused";
    case BridgeError::NoHandshake: return "no_handshake";
    case BridgeError::SendFailed: return "send_failed";
    case BridgeError::Timeout: return "timeout";
    case BridgeError::Dropped: return "dropped";
    case BridgeError::Refused: return "refused";
    case BridgeError::CaptureLost: return "capture_lost";
    case BridgeError::BadReply: return "bad_reply";
    }
    return "unknown";
}

// The sentence the window shows for an error (Refused and BadReply add the daemon's reason).
inline const char* errorSentence(BridgeError e)
{
    switch (e) {
    case BridgeError::None: return "";
    case BridgeError::NoKey: return "no key: start the daemon once with `cir daemon start`";
    case BridgeError::NoCurve: return "this libzmq has no CURVE support: install libzmq5 4.3+";
    case BridgeError::NoDaemon: return "no daemon: run `cir daemon start`";
    case BridgeError::NotYourDaemon: return "not your daemon: another program holds its address";
    case BridgeError::KeyRefused: return "key refused: the daemon uses another key file";
    case BridgeError::NoHandshake: return "no handshake: the program at the address is not the CIR daemon";
    case BridgeError::SendFailed: return "could not send the request to the daemon";
    case BridgeError::Timeout: return "no answer in time: check `cir daemon status`";
    case BridgeError::Dropped: return "the daemon went away before answering";
    case BridgeError::Refused: return "the daemon refused the request";
    case BridgeError::CaptureLost: return "capture lost: the audio was overwritten before it was sent";
    case BridgeError::BadReply: return "bad reply from the daemon";
    }
    return "unknown error";
}

// What the window and the status say about an error: the daemon's own words for a refusal,
// the parser's for a malformed reply, else errorSentence().
inline std::string errorMessage(BridgeError e, const std::string& reason)
{
    if ((e == BridgeError::Refused || e == BridgeError::BadReply) && !reason.empty())
        return reason;
    return errorSentence(e);
}

// One ZeroMQ context for every instance in the process (one I/O thread, not one per plugin).
class SharedContext {
public:
    static void* acquire()
    {
        std::lock_guard<std::mutex> lock(mutex());
        if (refs()++ == 0)
            ctx() = zmq_ctx_new();
        return ctx();
    }

    static void release()
    {
        std::lock_guard<std::mutex> lock(mutex());
        if (--refs() == 0) {
            zmq_ctx_term(ctx());  // all sockets are closed with LINGER 0: returns at once
            ctx() = nullptr;
        }
    }

private:
    static std::mutex& mutex() { static std::mutex m; return m; }
    static int& refs() { static int r = 0; return r; }
    static void*& ctx() { static void* c = nullptr; return c; }
};


class Worker {
public:
    std::atomic<float> topScore{0.0f};
    std::atomic<uint32_t> requestsSent{0};
    std::atomic<int> lastError{0};  // a BridgeError
    // Bumped whenever the answer or the message changes: the window polls it (no lock).
    std::atomic<uint32_t> answerSerial{0};

    Worker(Capture& capture, PreviewPlayer& preview)
        : fCapture(capture), fPreview(preview)
    {
        const char* ep = std::getenv(kEndpointEnv);
        fEndpoint = (ep != nullptr && ep[0] != '\0') ? ep : kDefaultEndpoint;
        const char* to = std::getenv(kTimeoutEnv);
        fTimeoutMs = (to != nullptr && std::atoi(to) > 0) ? std::atoi(to) : kDefaultTimeoutMs;
        fInstance = static_cast<unsigned long long>(
            std::chrono::steady_clock::now().time_since_epoch().count()) ^ reinterpret_cast<uintptr_t>(this);
        fContext = SharedContext::acquire();
        fThread = std::thread([this] { loop(); });
    }

    ~Worker()
    {
        fStop.store(true, std::memory_order_release);
        if (fThread.joinable())
            fThread.join();
        closeSocket();
        SharedContext::release();
    }

    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    // Held by the worker while it reads the ring; activate() takes it to resize the ring.
    std::mutex ringMutex;

    void setSampleRate(double sr) { fSampleRate.store(sr, std::memory_order_release); }

    // From activate(), with ringMutex held: the preview ring was reallocated, drop the clip.
    void previewReset()
    {
        fPreviewPcm.clear();
        fPreviewFed = 0;
        playingId.store(0, std::memory_order_release);
    }

    // Window thread: play this preset's preview (0: stop), or record it as the pick.
    void audition(int64_t presetId) { enqueue(Job{Job::Preview, presetId, std::string()}); }
    void pick(const std::string& family, int64_t presetId) { enqueue(Job{Job::Pick, presetId, family}); }

    // Preset id whose preview is playing or about to (0: none).
    std::atomic<int64_t> playingId{0};

    // The results page and the last audition/pick outcome (window thread).
    void extras(std::string& pageUrl, std::string& note) const
    {
        std::lock_guard<std::mutex> lock(fAnswerMutex);
        pageUrl = fPageUrl;
        note = fNote;
    }

    // The last answer and the last error's reason (the daemon's message, or why its reply
    // was malformed; empty otherwise). Window and host threads only: never the audio thread.
    void lastAnswer(Answer& answer, std::string& reason) const
    {
        std::lock_guard<std::mutex> lock(fAnswerMutex);
        answer = fAnswer;
        reason = fReason;
    }

private:
    Capture& fCapture;
    std::string fEndpoint;
    int fTimeoutMs = kDefaultTimeoutMs;
    unsigned long long fInstance = 0;
    void* fContext = nullptr;
    void* fSocket = nullptr;
    void* fMonitor = nullptr;
    bool fDropped = false;
    std::thread fThread;
    std::atomic<bool> fStop{false};
    std::atomic<double> fSampleRate{48000.0};
    uint64_t fLastSeq = 0;
    uint64_t fCounter = 0;
    std::vector<float> fPcm;  // worker-owned copy of the capture (allocation is fine here)
    mutable std::mutex fAnswerMutex;  // guards fAnswer and fReason (worker, window, host)
    Answer fAnswer;
    std::string fReason;
    std::string fPageUrl;  // guarded by fAnswerMutex
    std::string fNote;     // guarded by fAnswerMutex
    std::string fQuery;    // worker-only: fingerprint of the last answered capture

    // Jobs from the window: auditions and picks (window thread -> worker, never audio).
    struct Job {
        enum Kind { Preview, Pick } kind;
        int64_t presetId;
        std::string family;
    };
    std::mutex fJobMutex;
    std::deque<Job> fJobs;
    PreviewPlayer& fPreview;
    std::vector<float> fPreviewPcm;  // the clip being played (worker-owned)
    uint64_t fPreviewFed = 0;        // samples of it written into the ring so far

    void enqueue(Job job)
    {
        std::lock_guard<std::mutex> lock(fJobMutex);
        if (fJobs.size() < 8)  // a burst of clicks: the first ones are enough
            fJobs.push_back(std::move(job));
        answerSerial.fetch_add(1, std::memory_order_release);
    }

    bool takeJob(Job& job)
    {
        std::lock_guard<std::mutex> lock(fJobMutex);
        if (fJobs.empty())
            return false;
        job = std::move(fJobs.front());
        fJobs.pop_front();
        return true;
    }

    void note(const std::string& text)
    {
        {
            std::lock_guard<std::mutex> lock(fAnswerMutex);
            fNote = text;
        }
        answerSerial.fetch_add(1, std::memory_order_release);
    }

    std::string presetName(int64_t presetId) const
    {
        std::lock_guard<std::mutex> lock(fAnswerMutex);
        for (int f = 0; f < fAnswer.familyCount; ++f)
            for (int h = 0; h < fAnswer.families[f].hitCount; ++h)
                if (fAnswer.families[f].hits[h].presetId == presetId)
                    return fAnswer.families[f].hits[h].name;
        return "preset " + std::to_string(presetId);
    }

    // Write what the ring takes of the current clip (called often: the loop, reply waits).
    void feedPreview()
    {
        if (fPreviewFed >= fPreviewPcm.size())
            return;
        std::lock_guard<std::mutex> lock(ringMutex);
        if (fPreviewFed < fPreviewPcm.size())
            fPreviewFed += fPreview.write(fPreviewPcm.data() + fPreviewFed, fPreviewPcm.size() - fPreviewFed);
    }

    void run(const Job& job)
    {
        if (job.kind == Job::Pick)
            runPick(job);
        else
            runPreview(job.presetId);
    }

    void stopPreview()
    {
        std::lock_guard<std::mutex> lock(ringMutex);
        fPreviewPcm.clear();
        fPreviewFed = 0;
        fPreview.startClip(0);
        fPreview.publishClip();
        playingId.store(0, std::memory_order_release);
    }

    // `preview` (docs/protocol.md): the daemon renders nothing, it sends the catalogue's
    // preview of the preset as mono f32le at our sample rate; it plays from the next block.
    void runPreview(int64_t presetId)
    {
        stopPreview();
        if (presetId == 0) {
            answerSerial.fetch_add(1, std::memory_order_release);
            return;
        }
        playingId.store(presetId, std::memory_order_release);
        const std::string id = nextId();
        const int sr = static_cast<int>(std::lround(fSampleRate.load()));
        const std::string header = "{\"v\":1,\"id\":\"" + id + "\",\"cmd\":\"preview\",\"preset_id\":"
                                   + std::to_string(presetId) + ",\"sample_rate\":" + std::to_string(sr) + "}";
        Exchange ex;
        const BridgeError err = exchange(id, header, nullptr, 0, kMaxPreviewReplyBytes, ex, nullptr);
        std::string why;
        if (err != BridgeError::None) {
            why = errorMessage(err, ex.reason);
        } else {
            const auto frames = ex.reply.find("frames"), channels = ex.reply.find("channels");
            if (frames == ex.reply.end() || !frames->is_number_unsigned()
                || channels == ex.reply.end() || *channels != 1
                || ex.extra.size() != frames->get<uint64_t>() * sizeof(float))
                why = "malformed reply: the preview's frames, channels and PCM disagree";
            else if (frames->get<uint64_t>() > fPreview.capacity())
                why = "the preview is longer than the player holds";
        }
        if (!why.empty()) {
            playingId.store(0, std::memory_order_release);
            note("audition failed: " + why);
            return;
        }
        {
            std::lock_guard<std::mutex> lock(ringMutex);
            fPreviewPcm.resize(ex.extra.size() / sizeof(float));
            std::memcpy(fPreviewPcm.data(), ex.extra.data(), ex.extra.size());
            fPreviewFed = 0;
            fPreview.startClip(fPreviewPcm.size());
            fPreview.publishClip();
        }
        feedPreview();
        note("playing " + presetName(presetId));
    }

    // `pick`: the daemon stores (query fingerprint, family, preset, time) in the catalogue.
    void runPick(const Job& job)
    {
        const std::string id = nextId();
        const nlohmann::json head = {{"v", 1}, {"id", id}, {"cmd", "pick"}, {"preset_id", job.presetId},
                                     {"family", job.family}, {"query", fQuery}, {"source", "cir-bridge"}};
        Exchange ex;
        const BridgeError err = exchange(id, head.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                                         nullptr, 0, kMaxReplyBytes, ex, nullptr);
        if (err == BridgeError::None)
            note("picked " + presetName(job.presetId) + " for " + job.family);
        else
            note("pick failed: " + errorMessage(err, ex.reason));
    }

    // A new answer (or none: nullptr keeps the last one) and the reason for the state.
    void publish(const Answer* answer, const std::string& reason)
    {
        {
            std::lock_guard<std::mutex> lock(fAnswerMutex);
            if (answer != nullptr)
                fAnswer = *answer;
            fReason = reason;
        }
        answerSerial.fetch_add(1, std::memory_order_release);
    }

    bool stopping() const { return fStop.load(std::memory_order_acquire); }

    void loop()
    {
        while (!stopping()) {
            CaptureRequest req;
            Job job;
            if (fCapture.mailbox.take(fLastSeq, req)) {
                handle(req);
            } else if (takeJob(job)) {
                run(job);
            } else {
                feedPreview();
                if (playingId.load(std::memory_order_relaxed) != 0 && fPreviewFed >= fPreviewPcm.size()
                    && !fPreview.playing()) {
                    playingId.store(0, std::memory_order_release);  // the clip has played out
                    answerSerial.fetch_add(1, std::memory_order_release);
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(kPollMs));
            }
        }
    }

    void finish(BridgeError e)
    {
        lastError.store(static_cast<int>(e), std::memory_order_release);
        const BridgeState s = e == BridgeError::None ? BridgeState::Answered : BridgeState::Error;
        fCapture.state.store(static_cast<int>(s), std::memory_order_release);
        fCapture.busy.store(false, std::memory_order_release);
    }

    void handle(const CaptureRequest& req)
    {
        publish(nullptr, std::string());  // the last error's reason no longer applies
        {
            std::lock_guard<std::mutex> lock(ringMutex);
            fPcm.resize(req.frames * kChannels);
            if (!fCapture.ring.read(req.end, req.frames, fPcm.data(), fCapture.maxBlock())) {
                std::fprintf(stderr, "CIR Bridge: capture overwritten before it could be sent\n");
                finish(BridgeError::CaptureLost);
                return;
            }
        }
        const std::string id = nextId();
        char tempo[32];
        if (req.bpm > 0.0)
            std::snprintf(tempo, sizeof(tempo), "%.6g", req.bpm);
        else
            std::snprintf(tempo, sizeof(tempo), "null");
        char header[512];
        std::snprintf(
            header, sizeof(header),
            "{\"v\":1,\"id\":\"%s\",\"cmd\":\"match\",\"sample_rate\":%d,\"channels\":%d,"
            "\"frames\":%llu,\"format\":\"f32le\",\"tempo\":%s,\"k\":%d,\"families\":null,"
            "\"source\":\"cir-bridge\",\"loop_region\":%s}",
            id.c_str(), static_cast<int>(std::lround(fSampleRate.load())), kChannels,
            static_cast<unsigned long long>(req.frames), tempo, kMatchK, req.loop ? "true" : "false");
        Exchange ex;
        // Samples are little-endian floats on every platform DPF targets (x86, ARM).
        BridgeError err = exchange(id, header, fPcm.data(), fPcm.size() * sizeof(float),
                                   kMaxReplyBytes, ex, [this] {
            requestsSent.fetch_add(1, std::memory_order_relaxed);
            topScore.store(0.0f, std::memory_order_relaxed);
            fCapture.state.store(static_cast<int>(BridgeState::Sent), std::memory_order_release);
        });
        if (err == BridgeError::None) {
            Answer parsed;
            const ReplyVerdict verdict = readAnswer(ex.reply, id, parsed);
            if (verdict.kind == ReplyKind::Answer) {
                fQuery = fingerprint(fPcm);
                topScore.store(parsed.topScore(), std::memory_order_relaxed);
                publish(&parsed, std::string());
                lookUpPage();
            } else {
                std::fprintf(stderr, "CIR Bridge: %s\n", verdict.reason.c_str());
                publish(nullptr, verdict.reason);
                err = BridgeError::BadReply;
            }
        } else if (err == BridgeError::Refused || err == BridgeError::BadReply) {
            publish(nullptr, ex.reason);
        }
        finish(err);
    }

    // The query's fingerprint for picks: FNV-1a 64 over the PCM bytes and the sample rate.
    std::string fingerprint(const std::vector<float>& pcm) const
    {
        uint64_t h = 1469598103934665603ull;
        const auto mix = [&h](const unsigned char* p, size_t n) {
            for (size_t i = 0; i < n; ++i)
                h = (h ^ p[i]) * 1099511628211ull;
        };
        mix(reinterpret_cast<const unsigned char*>(pcm.data()), pcm.size() * sizeof(float));
        const int32_t sr = static_cast<int32_t>(std::lround(fSampleRate.load()));
        mix(reinterpret_cast<const unsigned char*>(&sr), sizeof(sr));
        char buf[40];
        std::snprintf(buf, sizeof(buf), "fnv1a64:%016llx", static_cast<unsigned long long>(h));
        return buf;
    }

    // The daemon's results page (its `status` reply's web_url), for "open page".
    void lookUpPage()
    {
        const std::string id = nextId();
        const std::string header = "{\"v\":1,\"id\":\"" + id + "\",\"cmd\":\"status\"}";
        Exchange ex;
        if (exchange(id, header, nullptr, 0, kMaxReplyBytes, ex, nullptr) != BridgeError::None)
            return;
        const auto url = ex.reply.find("web_url");
        std::lock_guard<std::mutex> lock(fAnswerMutex);
        fPageUrl = url != ex.reply.end() && url->is_string() ? url->get<std::string>() : std::string();
    }

    std::string nextId()
    {
        char buf[64];
        std::snprintf(buf, sizeof(buf), "bridge-%llx-%llu", fInstance,
                      static_cast<unsigned long long>(++fCounter));
        return buf;
    }

    BridgeError openSocket(int64_t maxReplyBytes)
    {
        closeSocket();
        if (!zmq_has("curve")) {
            std::fprintf(stderr, "CIR Bridge: this libzmq has no CURVE support; the daemon "
                                 "accepts only authenticated clients\n");
            return BridgeError::NoCurve;
        }
        const std::string keyPath = keyFilePath();
        UserKeys keys;
        const KeyStatus ks = loadUserKeys(keyPath, keys);
        if (ks != KeyStatus::Ok) {
            std::fprintf(stderr, "CIR Bridge: %s key file %s; start the daemon once "
                                 "(`cir daemon start`) to create it\n",
                         ks == KeyStatus::NotPrivate ? "refusing the non-private"
                                                     : "no usable", keyPath.c_str());
            return BridgeError::NoKey;
        }
        fSocket = zmq_socket(fContext, ZMQ_DEALER);
        if (fSocket == nullptr)
            return BridgeError::SendFailed;
        const int linger = 0, hwm = 1;
        const int64_t maxMsg = maxReplyBytes;
        zmq_setsockopt(fSocket, ZMQ_LINGER, &linger, sizeof(linger));
        zmq_setsockopt(fSocket, ZMQ_SNDHWM, &hwm, sizeof(hwm));
        zmq_setsockopt(fSocket, ZMQ_RCVHWM, &hwm, sizeof(hwm));
        zmq_setsockopt(fSocket, ZMQ_MAXMSGSIZE, &maxMsg, sizeof(maxMsg));
        // 41 bytes: Z85 text with its terminating NUL (40 would be read as binary).
        zmq_setsockopt(fSocket, ZMQ_CURVE_SERVERKEY, keys.serverPublic.c_str(), kZ85KeyChars + 1);
        zmq_setsockopt(fSocket, ZMQ_CURVE_PUBLICKEY, keys.clientPublic.c_str(), kZ85KeyChars + 1);
        zmq_setsockopt(fSocket, ZMQ_CURVE_SECRETKEY, keys.clientSecret.c_str(), kZ85KeyChars + 1);
        keys.clientSecret.assign(keys.clientSecret.size(), '\0');
        // The monitor is attached before connecting, so no event of this connection is missed.
        char addr[96];
        std::snprintf(addr, sizeof(addr), "inproc://cir-bridge-monitor-%llx-%llu", fInstance,
                      static_cast<unsigned long long>(fCounter));
        const int events = ZMQ_EVENT_CONNECTED | ZMQ_EVENT_CLOSED | ZMQ_EVENT_CONNECT_RETRIED
                           | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED
                           | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
                           | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
        if (zmq_socket_monitor(fSocket, addr, events) != 0
            || (fMonitor = zmq_socket(fContext, ZMQ_PAIR)) == nullptr
            || zmq_setsockopt(fMonitor, ZMQ_LINGER, &linger, sizeof(linger)) != 0
            || zmq_connect(fMonitor, addr) != 0) {
            std::fprintf(stderr, "CIR Bridge: cannot monitor the socket: %s\n",
                         zmq_strerror(zmq_errno()));
            return BridgeError::SendFailed;
        }
        fDropped = false;
        if (zmq_connect(fSocket, fEndpoint.c_str()) != 0) {
            std::fprintf(stderr, "CIR Bridge: cannot connect to %s: %s\n", fEndpoint.c_str(),
                         zmq_strerror(zmq_errno()));
            return BridgeError::NoDaemon;
        }
        return BridgeError::None;
    }

    // Next monitor event (0 when none within timeoutMs); notes a dropped connection.
    int nextEvent(int timeoutMs)
    {
        zmq_pollitem_t item = {fMonitor, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, timeoutMs) <= 0 || !(item.revents & ZMQ_POLLIN))
            return 0;
        int event = 0;
        int more = 1;
        bool first = true;
        while (more) {  // [6 bytes: uint16 event, uint32 value][endpoint]
            zmq_msg_t msg;
            zmq_msg_init(&msg);
            if (zmq_msg_recv(&msg, fMonitor, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&msg);
                return event;
            }
            if (first && zmq_msg_size(&msg) >= 2) {
                uint16_t id = 0;
                std::memcpy(&id, zmq_msg_data(&msg), sizeof(id));
                event = id;
            }
            first = false;
            more = zmq_msg_more(&msg);
            zmq_msg_close(&msg);
        }
        if (event == ZMQ_EVENT_DISCONNECTED)
            fDropped = true;
        return event;
    }

    // Wait until the peer proved it holds the daemon's key; nothing is sent before.
    BridgeError handshake()
    {
        auto start = std::chrono::steady_clock::now();
        bool connected = false;
        int failures = 0;
        int last = 0;
        while (!stopping()) {
            const int limitMs = connected ? kHandshakeTimeoutMs : kConnectTimeoutMs;
            const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::steady_clock::now() - start).count();
            if (elapsed >= limitMs) {
                std::fprintf(stderr, connected
                    ? "CIR Bridge: the process at %s accepts connections but is not your CIR "
                      "daemon (no key handshake); nothing was sent\n"
                    : "CIR Bridge: daemon not running at %s; start it with `cir daemon start`\n",
                    fEndpoint.c_str());
                return connected ? BridgeError::NoHandshake : BridgeError::NoDaemon;
            }
            feedPreview();
            const int event = nextEvent(kPollMs);
            if (event == 0)
                continue;
            const int previous = last;
            last = event;
            switch (event) {
            case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
                return BridgeError::None;
            case ZMQ_EVENT_CONNECTED:
                connected = true;
                start = std::chrono::steady_clock::now();
                break;
            case ZMQ_EVENT_CONNECT_RETRIED:
                // After a failed attempt (CLOSED) nobody listens; after a dropped connection
                // (DISCONNECTED) it is only libzmq scheduling its reconnect.
                if (previous == ZMQ_EVENT_CLOSED) {
                    std::fprintf(stderr, "CIR Bridge: daemon not running at %s; start it with "
                                         "`cir daemon start`\n", fEndpoint.c_str());
                    return BridgeError::NoDaemon;
                }
                break;
            case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
                std::fprintf(stderr, "CIR Bridge: the daemon at %s refused this user's key (%s)"
                                     "\n", fEndpoint.c_str(), keyFilePath().c_str());
                return BridgeError::KeyRefused;
            case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
            case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
                // A protocol failure (another mechanism, bad cryptography) is a verdict. A peer
                // that just closed may be a daemon dying at that moment: libzmq reconnects at
                // once, and a second close (or nothing listening) decides.
                connected = false;
                start = std::chrono::steady_clock::now();
                if (++failures < 2 && event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
                    break;
                std::fprintf(stderr, "CIR Bridge: the process at %s is not your CIR daemon (it "
                                     "failed the key handshake); nothing was sent\n",
                             fEndpoint.c_str());
                return BridgeError::NotYourDaemon;
            default:
                break;
            }
        }
        return BridgeError::Timeout;
    }

    void closeSocket()
    {
        if (fSocket != nullptr) {
            zmq_socket_monitor(fSocket, nullptr, 0);
            zmq_close(fSocket);
            fSocket = nullptr;
        }
        if (fMonitor != nullptr) {
            zmq_close(fMonitor);
            fMonitor = nullptr;
        }
    }

    // One request's reply: its envelope (ok true), an extra frame (a preview's PCM), or why
    // it was refused or malformed.
    struct Exchange {
        nlohmann::json reply;
        std::string extra;
        std::string reason;
    };

    // One request on a fresh socket (the daemon proves itself again for each): handshake, send
    // [empty, header, payload?], wait for the reply with this id. `onSent` runs once the
    // request is queued. None: `ex.reply` is an ok reply; Refused/BadReply: `ex.reason`.
    template <typename OnSent>
    BridgeError exchange(const std::string& id, const std::string& header, const void* payload,
                         size_t bytes, int64_t maxReplyBytes, Exchange& ex, OnSent onSent)
    {
        BridgeError err = openSocket(maxReplyBytes);
        if (err == BridgeError::None)
            err = handshake();
        if (err == BridgeError::None) {
            const int flags = ZMQ_DONTWAIT | ZMQ_SNDMORE;
            const bool more = payload != nullptr;
            if (zmq_send(fSocket, "", 0, flags) < 0
                || zmq_send(fSocket, header.data(), header.size(), more ? flags : ZMQ_DONTWAIT) < 0
                || (more && zmq_send(fSocket, payload, bytes, ZMQ_DONTWAIT) < 0)) {
                std::fprintf(stderr, "CIR Bridge: cannot queue the request to %s: %s\n",
                             fEndpoint.c_str(), zmq_strerror(zmq_errno()));
                err = BridgeError::SendFailed;
            }
        }
        if (err == BridgeError::None) {
            if constexpr (!std::is_same_v<OnSent, std::nullptr_t>)
                onSent();
            err = awaitReply(id, ex);
        }
        closeSocket();  // one socket per request: the next one proves the daemon again
        return err;
    }

    // Receive one multipart message: [empty, json, extra?] into `frames`.
    bool receive(std::vector<std::string>& frames)
    {
        frames.clear();
        int more = 1;
        while (more && frames.size() < 4) {
            zmq_msg_t msg;
            zmq_msg_init(&msg);
            if (zmq_msg_recv(&msg, fSocket, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&msg);
                return false;
            }
            frames.emplace_back(static_cast<const char*>(zmq_msg_data(&msg)), zmq_msg_size(&msg));
            more = zmq_msg_more(&msg);
            zmq_msg_close(&msg);
        }
        return !more && frames.size() >= 2;
    }

    BridgeError awaitReply(const std::string& id, Exchange& ex)
    {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(fTimeoutMs);
        std::vector<std::string> frames;
        while (!stopping() && std::chrono::steady_clock::now() < deadline) {
            feedPreview();  // a long match must not starve an audition
            zmq_pollitem_t items[2] = {{fSocket, 0, ZMQ_POLLIN, 0}, {fMonitor, 0, ZMQ_POLLIN, 0}};
            if (zmq_poll(items, 2, kPollMs) <= 0)
                continue;
            if (items[1].revents & ZMQ_POLLIN) {
                while (nextEvent(0) != 0) {}
                if (fDropped && !(items[0].revents & ZMQ_POLLIN)) {
                    std::fprintf(stderr, "CIR Bridge: the daemon at %s went away before "
                                         "replying\n", fEndpoint.c_str());
                    return BridgeError::Dropped;
                }
            }
            if (!(items[0].revents & ZMQ_POLLIN) || !receive(frames))
                continue;
            const ReplyVerdict verdict = readEnvelope(frames[1].data(), frames[1].size(), id, ex.reply);
            switch (verdict.kind) {
            case ReplyKind::NotOurs:
                continue;  // a late reply to an abandoned request: not ours
            case ReplyKind::Refused:
                std::fprintf(stderr, "CIR Bridge: daemon error %s\n", verdict.reason.c_str());
                ex.reason = verdict.reason;
                return BridgeError::Refused;
            case ReplyKind::Malformed:
                std::fprintf(stderr, "CIR Bridge: %s\n", verdict.reason.c_str());
                ex.reason = verdict.reason;
                return BridgeError::BadReply;
            case ReplyKind::Answer:
                break;
            }
            if (frames.size() > 2)
                ex.extra = std::move(frames[2]);
            return BridgeError::None;
        }
        if (!stopping())
            std::fprintf(stderr, "CIR Bridge: no reply from the daemon at %s within %d ms; "
                                 "start it with `cir daemon start`\n", fEndpoint.c_str(), fTimeoutMs);
        return BridgeError::Timeout;
    }
};

}  // namespace cir
