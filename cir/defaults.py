"""The contracts between CIR's layers (and with the C++ plugin), each with its reason.

A value one package alone uses lives beside its code. Values that define a vector space
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
# Per family: canonical pitch, note and clip lengths, register: cir.families.FAMILY_SPECS.
CANONICAL_VELOCITY = 100
# Bumped whenever the reference renders above change: stored embeddings then get rebuilt.
# 2: references span an octave each way and three velocities (1: -5, 0, +7 at velocity 100).
RENDER_VERSION = 2

# --- Factory bank --------------------------------------------------------------------------------
# Split by preset: fractions for train / valid; test takes the rest (about 80/10/10).
SPLIT_FRACTIONS = (0.8, 0.1)
SPLITS = ("train", "valid", "test")

# --- Daemon endpoints (protocol v1, docs/protocol.md) --------------------------------------------
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
# Long queries are cut into windows of this length (a mix window in training is as long),
# overlapping by half; the window embeddings are averaged and re-normalised.
QUERY_WINDOW_SECONDS = 4.0
QUERY_HOP_SECONDS = 2.0
# Mix length of the benchmarks and demo loops: windows of QUERY_WINDOW_SECONDS, half overlap.
MIX_SECONDS = 6.0
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
# embedder when present (same catalogue space); v4 adds the solo logit that routes a single
# instrument to the encoder. Earlier weights (cir-cnn, cir-cnn-heads, cir-line,
# cir-line-heads-attn, cir-line-sf3-heads: the starting points of the shipped pair) live in
# training/checkpoints, outside the wheel; load one by its path for comparison.
ENCODER_HEADS_WEIGHTS_NAME = "cir-v4-heads"
# Per-family presence (family heads' presence head): a family whose sigmoid score is below
# this is reported absent (the CLI and the results page mark it instead of listing presets).
PRESENCE_THRESHOLD = 0.5

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
# Suggestions per family when a request does not say; the cap stops absurd k from clients.
MATCH_DEFAULT_K = 5
MATCH_MAX_K = 100

# --- Results page (daemon/web: served by the daemon beside its ZeroMQ loop) ---------------------
# Beside the daemon's TCP port; `cir daemon status` prints the address, `cir open` opens it.
WEB_PORT = 47101
# A port number here moves the page (0: any free port); "off" serves no page.
WEB_PORT_ENV = "CIR_WEB_PORT"

# --- Bridge client (Lazy Pirate) -----------------------------------------------------------------
# Short timeout for ping/status probes (start/stop/status commands), ms.
CLIENT_PROBE_TIMEOUT_MS = 1_000

# --- Capture (cir record / cir listen) -----------------------------------------------------------
CAPTURE_SAMPLE_RATE = 48_000
CAPTURE_CHANNELS = 2

# --- Catalogue (presets_db) ----------------------------------------------------------------------
# Embedder the catalogue uses unless told otherwise: "default" = encoder.embed.load_embedder().
CATALOGUE_EMBEDDER = "default"
# Results written per transaction: small enough that a killed build loses seconds of work,
# large enough that commits (fsync) do not dominate.
BUILD_BATCH_SIZE = 16
# Build engines (presets_db.engines): "local" worker processes, or "ray" tasks (cir[ray]).
BUILD_ENGINES = ("local", "ray")
BUILD_ENGINE = "local"
# `cir catalogue server start`: the port of the local PostgreSQL (one above PostgreSQL's own
# 5432, so that a system server is left alone), its user and database.
SHARED_SERVER_PORT = 5433
SHARED_SERVER_USER = "cir"
SHARED_SERVER_DATABASE = "cir"

# --- Demo (cir demo) -----------------------------------------------------------------------------
# Demo catalogue: the bank's test split (never trained on) plus this many presets of the
# valid split as distractors; a few minutes of rendering on a fresh 2-core machine.
DEMO_DISTRACTORS = 150

# --- Native plugins (plugin_bridge/native, `make plugins`, `cir plugin install`) -----------------
# Bundle base name and the formats `make plugins` builds into build/plugins/.
PLUGIN_BRIDGE_NAME = "CIRBridge"
PLUGIN_FORMATS = ("vst3", "clap", "lv2")
# The plugin's own limits are C++ constants (tests/test_native_constants.py checks them):
# reply timeout 15 s (env CIR_BRIDGE_TIMEOUT_MS overrides), longest capture 32 s (16 bars of
# 4/4 at 120 BPM, within PROTOCOL_MAX_SECONDS), 120 BPM 4/4 bars when the host gives no tempo.
PLUGIN_BRIDGE_TIMEOUT_ENV = "CIR_BRIDGE_TIMEOUT_MS"
