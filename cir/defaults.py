"""Every default of CIR in one place, with the reason for each value.

Modules import these names rather than repeating numbers. Values that define a vector space
(sample rate, features, reference notes) are part of the encoder/catalogue versions: changing
them means bumping RENDER_VERSION and re-embedding.
"""

from __future__ import annotations

# --- Audio ---------------------------------------------------------------------------------------
# Synths have content above the paper's 8 kHz; 22.05 kHz keeps it while halving compute.
MODEL_SAMPLE_RATE = 22_050
# The built-in synth's default output rate (CLI renders, previews, demo loops).
RENDER_SAMPLE_RATE = 44_100
# Peak level that renders are normalised to (about -1 dBFS): loud but never clipping.
RENDER_PEAK = 0.89

# --- Catalogue reference renders -----------------------------------------------------------------
# A canonical note per family (velocity 100, docs/DESIGN.md): near each family's median pitch.
CANONICAL_PITCH = {"percussion": 60, "bass": 40, "lead": 72, "pad": 60, "keys": 60}
CANONICAL_VELOCITY = 100
# Held note length per family, seconds; clips are the note plus a release tail.
NOTE_SECONDS = {"percussion": 0.25, "bass": 0.8, "lead": 0.8, "pad": 1.5, "keys": 0.8}
CLIP_SECONDS = {"percussion": 1.0, "bass": 1.5, "lead": 1.5, "pad": 2.5, "keys": 1.5}
# Reference notes per family as (semitones from the canonical pitch, velocity), the canonical
# note (CANONICAL_VELOCITY) first. A preset's embedding is the normalised mean over their
# renders, which span the register and the dynamics a loop plays it in: a sampled instrument
# changes samples across both (multisamples, velocity layers; a GM snare at velocity 64 is
# another recording than at 100), so one note would not stand for it, and one unlucky note
# does not decide its place. Measured on the gm and builtin benchmarks: docs/BENCHMARKS.md.
_MELODIC_REFERENCES = ((0, 100), (-12, 100), (-5, 80), (7, 100), (12, 80))
REFERENCE_NOTES = {
    "percussion": ((0, 100), (0, 64), (0, 127)),
    "bass": _MELODIC_REFERENCES,
    "lead": _MELODIC_REFERENCES,
    "pad": _MELODIC_REFERENCES,
    "keys": _MELODIC_REFERENCES,
}
# Bumped whenever the reference renders above change: stored embeddings then get rebuilt.
# 2: references span an octave each way and three velocities (1: -5, 0, +7 at velocity 100).
RENDER_VERSION = 2

# --- Factory bank --------------------------------------------------------------------------------
# 2: percussion plays its designed sound on any key; siblings that sound like their parent are
# drawn again (synth.bank).
BANK_VERSION = 2
BANK_SEED = 20_260_913
# Split by preset: fractions for train / valid; test takes the rest (about 80/10/10).
SPLIT_FRACTIONS = (0.8, 0.1)
SPLITS = ("train", "valid", "test")
# About one preset in five is a sibling: an earlier preset of its sub-category with one or two
# parameters moved moderately (the near neighbours contrastive training needs as hard negatives).
BANK_SIBLING_FRACTION = 0.2
# Siblings start once a sub-category has this many originals, so parents are spread out.
BANK_SIBLING_MIN_PARENTS = 5
# A sibling must differ from its parent by at least this mean |difference| (dB) of 64-band log
# spectrograms over the canonical note (synth.calibrate). About 1 dB is a just-noticeable level
# change; on BANK_VERSION 1, 287 of 1,218 siblings were under 1 dB and 96 under 0.1 (twins).
BANK_SIBLING_MIN_DB = 1.5
# Redraws allowed when a draw repeats an existing sound (a recipe that needs more is a bug).
BANK_MAX_REDRAWS = 20
# Longest amp decay (time to -60 dB, s) of a percussion one-shot: gone well within a second.
BANK_ONE_SHOT_MAX_DECAY = 0.6
# Loudest-frame RMS (dBFS) that each kind of preset is calibrated to (synth/recipes/levels.py,
# measured by synth/calibrate.py): about 9 dB of headroom below the engine's limiter knee for peaks.
BANK_LEVEL_DBFS = -15.0
# ...but never so loud that most presets of a kind (90th percentile) peak above this: short
# percussion has a high crest factor, and an RMS target alone would drive it into the limiter.
BANK_PEAK_CEILING_DBFS = -1.0

# --- Family registers ----------------------------------------------------------------------------
# MIDI pitch ranges each family plays in (training notes, mixtures, bank register checks).
# Percussion plays its designed sound on any key (Voice.fixed_pitch); its range only places hits.
FAMILY_PITCH_RANGE = {
    "percussion": (48, 72),
    "bass": (28, 52),
    "lead": (60, 88),
    "pad": (48, 76),
    "keys": (48, 84),
}

# --- Daemon endpoints (protocol v1, docs/protocol.md) --------------------------------------------
# Loopback TCP works everywhere (the native plugin uses it); POSIX also gets a user-private ipc.
DAEMON_TCP_PORT = 47100
# A full ZeroMQ endpoint in this variable overrides the default for clients and the plugin.
ENDPOINT_ENV = "CIR_ENDPOINT"

# --- Encoder: features, inference, training (encoder/) -------------------------------------------
# Log-mel settings (docs/DESIGN.md, decisions). Stored in every checkpoint: a model refuses to
# load under other settings. 64 mel bins: half the CNN cost of 128 with little timbre lost at
# 22.05 kHz (docs/DESIGN.md, decisions).
ENCODER_N_FFT = 1024
ENCODER_HOP = 256
ENCODER_N_MELS = 64
ENCODER_F_MIN = 20.0
# Power floor before the log: about 100 dB below a full-scale partial, so silence is a constant.
ENCODER_LOG_FLOOR = 1e-5
# The MFCC-80 baseline (the paper's): 40 coefficients of a 128-band log-mel, mean and std.
MFCC_N_MELS = 128
MFCC_N_COEFFS = 40
# Long queries are cut into windows of this length (a mix window in training is as long),
# overlapping by half; the window embeddings are averaged and re-normalised.
QUERY_WINDOW_SECONDS = 4.0
QUERY_HOP_SECONDS = 2.0
# Shorter queries (a single hit, a click) are padded with silence to this length:
# the encoder's pooling needs a few frames, and a short hit followed by silence is what a
# catalogue one-shot clip is (the shortest reference clip, percussion, is 1 s).
QUERY_MIN_SECONDS = 1.0
# Shorter sample files (a click) are padded with silence to this length before embedding: the
# encoder's pooling needs a few frames; longer one-shots keep their own length and preview.
SAMPLE_MIN_SECONDS = 0.5
# Windows quieter than this RMS (about -60 dBFS) carry no timbre and are skipped, unless all are.
QUERY_SILENCE_RMS = 1e-3
# Clips embedded per forward pass (memory stays under ~200 MB on CPU at 4 s clips).
EMBED_BATCH_SIZE = 32
# Contrastive losses on cosine distance (docs/DESIGN.md): triplet margin in 1 - cos units, InfoNCE
# temperature as in the paper.
TRIPLET_MARGIN = 0.3
INFONCE_TEMPERATURE = 0.1
# Mixtures (docs/DESIGN.md, the method): one preset per family, monophonic lines in a random scale.
MIX_TEMPO_RANGE = (60.0, 140.0)
# Note lengths in beats and their odds, per family: percussion mostly quarters, basses longer,
# leads shorter. Each slot is silent with MIX_SILENCE_PROB (never for percussion).
MIX_NOTE_BEATS = {
    "percussion": ((0.5, 1.0, 2.0), (0.2, 0.7, 0.1)),
    "bass": ((1.0, 2.0, 4.0), (0.45, 0.4, 0.15)),
    "lead": ((0.25, 0.5, 1.0, 2.0), (0.25, 0.45, 0.2, 0.1)),
    "pad": ((2.0, 4.0), (0.5, 0.5)),
    "keys": ((0.5, 1.0, 2.0), (0.3, 0.5, 0.2)),
}
MIX_SILENCE_PROB = 0.25
# Fraction of its slot a note is held (release tails run on until the next onset cuts them).
MIX_GATE_FRACTION = 0.85
# A cut note fades out over 10 ms (no click), and onsets move by up to +-10 ms (not robotic).
MIX_FADE_SECONDS = 0.010
MIX_ONSET_JITTER_SECONDS = 0.010
# Percussion is boosted after per-track peak normalisation (x4 in the authors' code).
MIX_PERCUSSION_BOOST = 4.0
# Mix length of the benchmarks and demo loops: windows of QUERY_WINDOW_SECONDS, half overlap.
MIX_SECONDS = 6.0
# Velocity (mean, standard deviation) per family, clipped to 30..127, for mixes and notes.
NOTE_VELOCITY = {
    "percussion": (100.0, 15.0),
    "bass": (95.0, 12.0),
    "lead": (90.0, 15.0),
    "pad": (80.0, 12.0),
    "keys": (90.0, 15.0),
}
# Scales a line is drawn from (semitones above the root).
MIX_SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "harmonic-minor": (0, 2, 3, 5, 7, 8, 11),
    "minor-pentatonic": (0, 3, 5, 7, 10),
    "major-pentatonic": (0, 2, 4, 7, 9),
}
# Benchmarks (docs/BENCHMARKS.md): catalogue entries per family (held-out TEST presets first, then
# TRAIN presets as distractors: about 1,500 as in the paper), default query counts and seed.
BENCH_CATALOGUE_PER_FAMILY = 500
BENCH_SINGLE_QUERIES = 600
BENCH_MIX_QUERIES = 300
BENCH_SEED = 0
# The real-instrument benchmark's SoundFont: never used for training (docs/DESIGN.md).
GM_SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
# Shipped weights: encoder/weights/<name>.pt beside <name>.json (its config). The catalogue
# encoder: line-aware (cir.training.lines, a preset's lines are positives of its notes), its
# TRAIN the factory bank plus three Debian SoundFonts (TimGM6mb, sf_GMbank, OPL-3).
ENCODER_WEIGHTS_NAME = "cir-line-sf3"
# Shipped per-family heads with presence (cir.training.family_heads): the frozen
# ENCODER_WEIGHTS_NAME encoder plus one query head per family and a presence head; the default
# embedder when present (same catalogue space). Earlier weights (cir-cnn, cir-cnn-heads,
# cir-line, cir-line-heads-attn: the starting points of the shipped pair) live in
# training/checkpoints, outside the wheel; load one by its path for comparison.
ENCODER_HEADS_WEIGHTS_NAME = "cir-line-sf3-heads"
# Training stems (cir.training.data.line_set): monophonic lines per TRAIN preset, rendered by
# the engine with plan_mix's rhythms, pitches, gates and velocities, each this long (uniform).
TRAIN_LINES_PER_PRESET = 8
TRAIN_LINE_SECONDS = (3.0, 8.0)
# Random level of a training stem or mix part, in dB around its normalised level: queries
# arrive at any level, and level must never identify a preset.
TRAIN_GAIN_DB = (-6.0, 6.0)
# VALID mixes of training runs: how many, and how many families play in each (uniform).
VALID_MIX_COUNT = 300
VALID_MIX_PARTS = (2, 5)
# Per-family presence (family heads' presence head): a family whose sigmoid score is below
# this is reported absent (the CLI and the results page mark it instead of listing presets).
PRESENCE_THRESHOLD = 0.5
# Per-family heads read a query up to this long in one pass (they train on whole 3-8 s crops;
# one pass beat the mean of 4 s windows on 6 s mixes); longer queries: windows this long.
HEADS_QUERY_SECONDS = 8.0

# --- Protocol v1 limits (docs/protocol.md; daemon and bridge) ------------------------------------
# The longest query a client may send: a few bars at slow tempi, with room to spare.
PROTOCOL_MAX_SECONDS = 60.0
# Telephone-band to high-resolution studio rates; anything outside is a client bug.
PROTOCOL_MIN_SAMPLE_RATE = 8_000
PROTOCOL_MAX_SAMPLE_RATE = 192_000
# Up to 7.1 surround; the daemon downmixes to mono anyway.
PROTOCOL_MAX_CHANNELS = 8
# PCM payload cap: the full length in stereo at the highest rate (60 s x 192 kHz x 2 x 4 B).
# Longer or wider audio must be cut or downmixed by the client.
PROTOCOL_MAX_PCM_BYTES = int(PROTOCOL_MAX_SECONDS) * PROTOCOL_MAX_SAMPLE_RATE * 2 * 4
# JSON header cap: headers are a few hundred bytes; this leaves room for added fields.
PROTOCOL_MAX_HEADER_BYTES = 64 * 1024
# Enforced in the socket (zmq.MAXMSGSIZE, per frame): a larger frame is dropped and its
# sender disconnected before any memory is allocated for it. The same sum caps a whole message.
PROTOCOL_MAX_MESSAGE_BYTES = PROTOCOL_MAX_PCM_BYTES + PROTOCOL_MAX_HEADER_BYTES
# Frames of a request body (after the routing envelope): the header, and the PCM for match.
PROTOCOL_MAX_BODY_FRAMES = 2
# Replies have a limit of their own, sized from k: a fixed part (status, timings, warnings)
# plus, per suggestion, room for its name, key, locator and two paths of up to 4 KiB each
# (escaped in JSON). k=100 over five families: about 8 MB.
PROTOCOL_REPLY_BASE_BYTES = 64 * 1024
PROTOCOL_REPLY_HIT_BYTES = 16 * 1024
# Suggestions per family when a request does not say; the cap stops absurd k from clients.
MATCH_DEFAULT_K = 5
MATCH_MAX_K = 100

# --- Daemon --------------------------------------------------------------------------------------
# Poll timeout of the service loop: how quickly it notices a signal, an idle deadline or
# memory past the guard's ceiling.
DAEMON_POLL_MS = 50
# Audio quieter than this peak is treated as silence (nothing to match), dBFS.
DAEMON_SILENCE_DBFS = -60.0
# Peaks at or above this are reported as clipping (a warning, the request is still served).
DAEMON_CLIP_PEAK = 0.999
# How long `cir daemon start` waits for the new daemon to answer a ping, seconds.
DAEMON_START_TIMEOUT_S = 60.0
# How long `cir daemon stop` waits for the daemon to exit before giving up, seconds.
DAEMON_STOP_TIMEOUT_S = 15.0
# Socket linger on close, ms: a reply in flight gets this long to leave, then it is dropped.
DAEMON_LINGER_MS = 200
# Requests waiting for the matcher, in number and in bytes: beyond either, a request is refused
# at once with `busy` instead of queueing without bound. 32 clients with an 8 s stereo loop
# each (about 100 MB) fit.
DAEMON_QUEUE_MAX_REQUESTS = 64
DAEMON_QUEUE_MAX_BYTES = 256 * 1024 * 1024
# Messages libzmq may hold per connection before the daemon has read them (ZMQ_RCVHWM), and
# replies per connection not yet sent (ZMQ_SNDHWM).
DAEMON_RCVHWM = 4
DAEMON_SNDHWM = 16
# A connection that has not finished the CURVE handshake by then is dropped (ZMQ_HANDSHAKE_IVL).
DAEMON_HANDSHAKE_MS = 5_000
# Memory guard: when resident memory passes the daemon's size at start-up plus this headroom,
# it drops every connection and every queued request (libzmq then frees what it buffered) and
# listens again. The headroom holds a full queue plus the largest request in flight.
DAEMON_MEMORY_HEADROOM_BYTES = 1024 * 1024 * 1024
# glibc: allocations from this size on get their own mapping, handed back to the system when
# freed, so a burst of large requests does not leave resident memory high (Linux only).
DAEMON_MALLOC_MMAP_THRESHOLD = 256 * 1024
# ZAP domain of the daemon's CURVE socket (the authenticator answers only for it).
DAEMON_ZAP_DOMAIN = "cir"
# The daemon's key file (CurveZMQ key pairs, mode 0600) in the data dir; the first start
# creates it. CIR_KEY_FILE names another file (clients and the native plugin read it too).
KEY_FILENAME = "daemon.key"
KEY_FILE_ENV = "CIR_KEY_FILE"
# Torch threads of a daemon on the CPU. One: a query is small, and on a busy machine (a DAW's
# audio threads, other jobs) torch's thread hand-offs stall: p50 on 2 shared cores went from
# 185 ms with 2 threads to 27 ms with 1 (`cir bench latency`, docs/BENCHMARKS.md).
DAEMON_TORCH_THREADS = 1
# numpy's BLAS threads in a daemon (exact search), for the same reason: exact search of 10^5
# real vectors, p50 on 2 loaded cores, took 7.9 ms with OpenBLAS's 2 threads and 0.53 ms with
# 1 (`tools.bench.search_scale` runs 1 and 3, docs/BENCHMARKS.md; it measures under this limit).
DAEMON_BLAS_THREADS = 1

# --- Results page (daemon/web: served by the daemon beside its ZeroMQ loop) ---------------------
# Loopback only, always: the page plays your audio and reveals files; no other host may reach it.
WEB_HOST = "127.0.0.1"
# Beside the daemon's TCP port; `cir daemon status` prints the address, `cir open` opens it.
WEB_PORT = 47101
# A port number here moves the page (0: any free port); "off" serves no page.
WEB_PORT_ENV = "CIR_WEB_PORT"
# Connections queued while the page's server starts (a browser opens a handful at once).
WEB_LISTEN_BACKLOG = 64
# Answers kept for the page, newest first (the plugin's, `cir match`'s, `cir record`'s)...
WEB_HISTORY_ANSWERS = 50
# ...and at most this much query audio in all (int16, <= 48 kHz, <= 2 channels: a 60 s stereo
# query is 11 MB), so a long session never grows the daemon without bound.
WEB_HISTORY_MAX_BYTES = 160 * 1024 * 1024
WEB_AUDIO_MAX_RATE = 48_000
WEB_AUDIO_MAX_CHANNELS = 2
# A file dropped on the page: the longest query (PROTOCOL_MAX_SECONDS) of a compressed or
# 16-bit stereo file at 96 kHz fits well within this.
WEB_UPLOAD_MAX_BYTES = 64 * 1024 * 1024
# Spectrograms drawn on the page: mel bands, FFT size, columns (time is resampled to this many),
# and the dB range below the loudest bin that is shown.
WEB_SPECTROGRAM_MELS = 96
WEB_SPECTROGRAM_N_FFT = 2048
WEB_SPECTROGRAM_COLUMNS = 480
WEB_SPECTROGRAM_DB_RANGE = 80.0
# Waveform: min/max pairs drawn across the player's width.
WEB_WAVEFORM_POINTS = 600
# Spectrograms/waveforms of previews kept in memory (small arrays; previews never change).
WEB_MEDIA_CACHE = 512
# "Find similar" and catalogue search page sizes.
WEB_SIMILAR_K = 12
WEB_CATALOGUE_PAGE = 200
# The 2-D map: t-SNE (scikit-learn) over one family's vectors; perplexity as in the t-SNE paper's
# default, lowered for small families (it must stay below the number of points).
WEB_MAP_PERPLEXITY = 30.0
WEB_MAP_SEED = 0
# The query is placed on the map at the score-weighted mean of its top hits (t-SNE has no
# out-of-sample transform); weights are exp(score / this temperature), so the closest dominate.
WEB_MAP_QUERY_TEMPERATURE = 0.05
# Server-Sent Events: a comment line this often keeps proxies and browsers from dropping the
# stream; the stream re-checks for shutdown this often.
WEB_SSE_PING_S = 15.0
WEB_SSE_POLL_S = 0.5
# A dropped file is matched through the daemon's own socket; this long for its reply, ms.
WEB_MATCH_TIMEOUT_MS = 30_000
# `tools.bench.page`: timed repeats of the hook and the views, requests timed to the page.
BENCH_PAGE_REPEATS = 20
BENCH_PAGE_REQUESTS = 30

# --- Bridge client (Lazy Pirate) -----------------------------------------------------------------
# Per-try reply timeout, ms: long enough for a cold first match on CPU.
CLIENT_TIMEOUT_MS = 10_000
# Tries before the client says the daemon is not running.
CLIENT_RETRIES = 3
# Short timeout for ping/status probes (start/stop/status commands), ms.
CLIENT_PROBE_TIMEOUT_MS = 1_000
# How long a client waits for a TCP/ipc connection before saying no daemon runs (a refused
# connection is known at once), and then for the CURVE handshake that proves it is the user's
# daemon, ms. The second is generous: a busy machine may be slow to schedule the daemon.
CLIENT_CONNECT_TIMEOUT_MS = 1_000
CLIENT_HANDSHAKE_TIMEOUT_MS = 5_000

# --- Capture (cir record / cir listen) -----------------------------------------------------------
CAPTURE_SAMPLE_RATE = 48_000
CAPTURE_CHANNELS = 2
# `cir listen` keeps this many seconds in its ring buffer and sends them on Enter.
LISTEN_SECONDS = 8.0
# Bars are 4 beats unless a caller says otherwise.
BEATS_PER_BAR = 4

# --- Demo and latency benchmark ------------------------------------------------------------------
# Demo loop length and tempo (the mix generator picks notes; these set the loop's size).
DEMO_SECONDS = 8.0
DEMO_BPM = 120.0
# Latency benchmark: an 8 s stereo 48 kHz loop against a catalogue of 10,000 presets.
BENCH_LATENCY_SECONDS = 8.0
BENCH_LATENCY_SAMPLE_RATE = 48_000
BENCH_LATENCY_CATALOGUE_SIZE = 10_000
BENCH_LATENCY_REQUESTS = 50
BENCH_LATENCY_CLIENTS = 8
# Query-fusion benchmark (tools.bench.fusion): single-note and mix queries, builtin benchmark.
BENCH_FUSION_SINGLES = 240
BENCH_FUSION_MIXES = 120

# --- Catalogue (presets_db) ----------------------------------------------------------------------
# platformdirs application name: the default catalogue is <user data dir>/cir/catalogue.db.
APP_NAME = "cir"
# When set, this directory holds the catalogue instead (tests and portable installs use it).
CIR_HOME_ENV = "CIR_HOME"
# Further overrides of cir.paths (caches, training runs, runtime dir): see that module's table.
CACHE_ENV = "CIR_CACHE"
RUNS_ENV = "CIR_RUNS"
RUNTIME_DIR_ENV = "CIR_RUNTIME_DIR"
CATALOGUE_FILENAME = "catalogue.db"
# Embedder the catalogue uses unless told otherwise: "default" = encoder.embed.load_embedder().
CATALOGUE_EMBEDDER = "default"
# Results written per transaction: small enough that a killed build loses seconds of work,
# large enough that commits (fsync) do not dominate.
BUILD_BATCH_SIZE = 16
# ... and at least every this many seconds, so a slow source still commits often.
BUILD_BATCH_SECONDS = 2.0
# A worker that takes longer than this on one preset is killed and the preset marked failed
# (a hanging plugin must not stall the build). Generous: the first task includes imports.
BUILD_TASK_TIMEOUT_S = 120.0
# Build engines (presets_db.engines): "local" worker processes, or "ray" tasks (cir[ray]).
BUILD_ENGINES = ("local", "ray")
BUILD_ENGINE = "local"
# Ray: a task whose worker process dies (a plugin's segfault, a lost node, the OOM killer) runs
# once more on a fresh worker before its preset is marked failed; on a cluster a death is often
# the node's fault, not the preset's. A task that raises is not retried: renders are
# deterministic, the same preset fails the same way.
RAY_TASK_RETRIES = 1
# Ray tasks submitted ahead per running task: enough that a worker finishing one preset finds
# the next already on its node, few enough that a killed driver loses little work in flight
# and the driver's memory stays bounded (a result is a vector and a FLAC preview, ~100 KB).
RAY_IN_FLIGHT_PER_WORKER = 2
# Longest the driver waits for a Ray result before it checks the timeouts again (seconds).
RAY_POLL_S = 1.0
# Object store of a local Ray instance (bytes): results are small and fetched at once; Ray's
# default (30 % of memory) would reserve gigabytes of shared memory for nothing.
RAY_OBJECT_STORE_BYTES = 256 * 1024**2
# Longest Ray temp dir (characters) under the cir runtime dir: Ray puts Unix sockets at
# <temp dir>/session_<date>_<pid>/sockets/<name> (about 60 more), and a socket path may not
# exceed 107 bytes on Linux. A longer runtime dir gets a private temporary folder instead.
RAY_TEMP_DIR_MAX_CHARS = 40
# A clip whose peak stays below this (about -80 dBFS) is silence: the preset made no sound.
SILENCE_PEAK = 1e-4
# Folder samples longer than this are cut: the attack and body carry the timbre.
FOLDER_MAX_SECONDS = 4.0
# FluidSynth master gain for SoundFont renders (its default 0.2 is quiet; clips are normalised).
SF2_GAIN = 0.5
# GM drum kits (bank 128) become one entry per kit piece, at these GM keys.
SF2_DRUM_PIECES = {
    "kick": 36, "snare": 38, "clap": 39, "closed hat": 42, "open hat": 46, "crash": 49,
}  # fmt: skip
# VST3 renders: pedalboard's block size and the tail rendered before reading state.
VST3_BUFFER_SIZE = 512
# Exact search (numpy) up to this many vectors per embedder version; HNSW (usearch) beyond.
# From `tools.bench.search_scale` on the shipped encoder's vectors (docs/BENCHMARKS.md, "Catalogue
# search on real embeddings", run 3): exact on one BLAS thread takes 0.5 ms at 10^5 and 7.7 ms
# (p95 8.7) at 10^6, always exact; usearch HNSW takes 0.15 ms at 10^6 but finds only 77% of
# the true top 5 there. Beyond 10^6 exact passes 10 ms, and the index takes over.
SEARCH_EXACT_MAX = 1_000_000
# HNSW parameters (usearch and the shared server's pgvector): graph degree and search/build
# breadth. Recall on real embeddings (`tools.bench.search_scale`): 0.999-1.000 up to 10^5; at
# 10^6 of crowded jittered copies 0.77, and expansion_search 512 only reaches 0.81 (the graph,
# not the breadth), so the search breadth stays at 64.
HNSW_CONNECTIVITY = 16
HNSW_EXPANSION_ADD = 128
HNSW_EXPANSION_SEARCH = 64
# A saved HNSW index is updated in place (usearch add/remove) as entries come and go; removed
# nodes stay in the graph as tombstones, so past this share of removals it is built afresh.
HNSW_MAX_REMOVED_FRACTION = 0.25
# Threads that insert into an HNSW graph. usearch's concurrent inserts leave a node unreachable
# now and then: 28 of 3,000 nodes in 30 graphs of 100 (each then missing from every answer,
# tests/test_search_incremental.py caught it), none with one thread.
HNSW_BUILD_THREADS = 1
# Shared catalogue (presets_db.shared, PostgreSQL + pgvector): seconds to wait for the server
# before saying it cannot be reached (the daemon keeps serving and says why); presets per COPY
# batch of a push (one progress step); memory for pgvector's HNSW build (the build is far
# slower once the graph outgrows it; 10^6 x 256-d needs about 1.3 GB).
SHARED_CONNECT_TIMEOUT_S = 5
# The server searches exactly (a scan of the family, index scans off) up to this many entries
# of a version, its HNSW indexes beyond: they kept recall@5 at 1.000 at 2*10^4 and 10^5 and
# 0.997 at 10^6 (`tools.bench.search_scale`), where a scan cost 16 ms p50 at 10^5 (a first run
# whose planner, lacking statistics, sorted the family instead of using the index).
SHARED_SEARCH_EXACT_MAX = 10_000
SHARED_PUSH_BATCH = 2_000
SHARED_INDEX_BUILD_MEMORY = "2GB"
# `cir catalogue server start`: the port of the local PostgreSQL (one above PostgreSQL's own
# 5432, so that a system server is left alone), its user and database.
SHARED_SERVER_PORT = 5433
SHARED_SERVER_USER = "cir"
SHARED_SERVER_DATABASE = "cir"
# Seconds pg_ctl waits for the server to start or stop.
SHARED_SERVER_WAIT_S = 60
# `cir bench search`: catalogue sizes, dimension, queries per size.
BENCH_SEARCH_SIZES = (10_000, 100_000, 1_000_000)
BENCH_SEARCH_DIM = 256
# Intrinsic dimension of the benchmark's synthetic embeddings (see presets_db.bench).
BENCH_SEARCH_LATENT_DIM = 16
BENCH_SEARCH_QUERIES = 200
BENCH_SEARCH_K = 5
# `tools.bench.search_scale`: real catalogue vectors grown by jittered copies to these sizes;
# 200 queries; copies and queries are real vectors plus noise of std JITTER/sqrt(dim) per
# coordinate: 0.35 puts a copy at cosine about 0.945 from its source, as far as real built-in
# presets lie from their nearest neighbour (median 0.94), so copies read as new presets.
BENCH_SCALE_SIZES = (100_000, 1_000_000)
BENCH_SCALE_QUERIES = 200
BENCH_SCALE_JITTER = 0.35
# Entries added and removed by the timed in-place HNSW update; clients querying the server at
# once in the throughput run; the private server's port.
BENCH_SCALE_CHURN = 1_000
# expansion_search (usearch) / hnsw.ef_search (pgvector) values the benchmark also tries.
BENCH_SCALE_EF = (32, 128, 256, 512)
BENCH_SCALE_CLIENTS = 4
BENCH_SCALE_PORT = 55_433
# `cir bench build`: presets per source in the throughput benchmark (enough that the workers'
# start-up, a few seconds, does not dominate).
BENCH_BUILD_PRESETS = 96
# `tools.bench.engines`: no-op tasks timed per engine (their round trip is the engine's own cost),
# and the cluster its projection is for: this many cores, this many presets.
BENCH_ENGINES_NOOP_TASKS = 300
# Presets per engine build: at about 15 ms a preset, 96 presets end before a local pool's second
# worker has started (spawn, torch import, model load: about 2 s), which then read as a slow pool.
BENCH_ENGINES_PRESETS = 600
# Presets of the untimed build that loads the driver's imports before the timed ones.
BENCH_ENGINES_WARM_UP = 4
BENCH_PROJECTION_CORES = 100
BENCH_PROJECTION_PRESETS = 1_000_000

# --- Built-in synth engine (synth/engine.py, synth/dsp.py) ---------------------------------------
# Sample rates the engine accepts: telephone band up to high-resolution studio rates.
SYNTH_SAMPLE_RATE_RANGE = (8_000, 192_000)
# Control-rate block in samples: envelopes, pitch and filter coefficients are computed once per
# block (about 0.36 ms at 44.1 kHz) and interpolated or held inside it, which keeps the engine
# vectorised (the main reason it renders hundreds of times faster than real time).
SYNTH_BLOCK = 16
# Envelope decay and release times are the time to fall 60 dB (ln 1000 time constants).
SYNTH_ENV_TIME_CONSTANTS = 6.907755
# Shortest amp release and attack (seconds): a note never starts or stops with a click.
SYNTH_MIN_RELEASE = 0.003
SYNTH_MIN_ATTACK = 0.0005
# A mono voice cut by the next note fades out over this time (seconds).
SYNTH_MONO_FADE = 0.004
# Glide time is the time to get within 5 % of the target pitch (3 time constants).
SYNTH_GLIDE_TIME_CONSTANTS = 3.0
# Filter: cutoff stays below this fraction of the sample rate; resonance 0..0.98 maps to
# Q = 0.707 * SYNTH_RESONANCE_Q_SPAN ** resonance (0.707 = no peak, about 23 at the top).
SYNTH_FILTER_MAX_FRACTION = 0.45
SYNTH_RESONANCE_Q_SPAN = 32.0
# FM operator feedback y = sin(theta + b * y) is solved per sample as Kepler's equation
# (Newton steps, vectorised) instead of a one-sample loop: b = feedback * this maximum (below 1
# the solution is unique and goes from sine to saw-like), with this many Newton iterations
# (float32-exact up to the maximum).
SYNTH_FM_FEEDBACK_MAX = 0.95
SYNTH_FM_FEEDBACK_ITERATIONS = 5
# Effects tail added after the last release when the length is automatic (seconds, capped).
SYNTH_EFFECT_TAIL_MAX = 3.0
# Peak-ish level of one full-velocity voice before effects: leaves headroom for chords and
# resonance so the limiter rarely works.
SYNTH_VOICE_GAIN = 0.5
# Above this level the safety limiter bends the signal smoothly so nothing exceeds 1.0.
SYNTH_LIMITER_KNEE = 0.9
# Optional glibc allocator settings (synth.engine.tune_allocator): keep freed memory up to
# these sizes in the heap instead of handing it back to the OS, so the engine's many
# short-lived 100-400 KB arrays stop costing page faults (about a third of a render's time).
SYNTH_MALLOC_MMAP_THRESHOLD = 32 * 1024 * 1024
SYNTH_MALLOC_TRIM_THRESHOLD = 256 * 1024 * 1024
# `tools.bench.synth`: seconds of audio per render and renders per preset.
BENCH_SYNTH_NOTE_SECONDS = 1.0
BENCH_SYNTH_REPEATS = 30
# Demo catalogue: the bank's test split (never trained on) plus this many presets of the
# valid split as distractors; a few minutes of rendering on a fresh 2-core machine.
DEMO_DISTRACTORS = 150
# A private daemon started by the demo exits by itself after this long without requests.
DEMO_DAEMON_IDLE_S = 300.0

# --- Native plugins (plugin_bridge/native, `make plugins`, `cir plugin install`) -----------------
# Bundle base name and the formats `make plugins` builds into build/plugins/.
PLUGIN_BRIDGE_NAME = "CIRBridge"
PLUGIN_FORMATS = ("vst3", "clap", "lv2")
# When set, `cir plugin install` takes the bundles from this folder instead of build/plugins.
PLUGIN_BUILD_DIR_ENV = "CIR_PLUGIN_BUILD_DIR"
# The plugin's own limits are C++ constants (it cannot read this module); they mirror these:
# reply timeout 15 s (env CIR_BRIDGE_TIMEOUT_MS overrides), longest capture 32 s (16 bars of
# 4/4 at 120 BPM, within PROTOCOL_MAX_SECONDS), 120 BPM 4/4 bars when the host gives no tempo.
PLUGIN_BRIDGE_TIMEOUT_ENV = "CIR_BRIDGE_TIMEOUT_MS"
