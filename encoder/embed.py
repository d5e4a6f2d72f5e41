"""Inference: the only part of the encoder the daemon and the catalogue import.

`load_embedder()` returns the shipped weights (the per-family mix heads over the frozen
encoder, else the plain encoder) when present, else the MFCC-80 baseline. All follow
encoder.api.Embedder: mono audio at `sample_rate` in, unit vectors out.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from cir import defaults
from cir.encoder.api import QueryReading, plays_alone
from cir.encoder.baseline import MFCCEmbedder
from cir.encoder.constants import EMBED_BATCH_SIZE, HEADS_QUERY_SECONDS, QUERY_SILENCE_RMS
from cir.encoder.features import check_audio, resample
from cir.encoder.model import load_model
from cir.errors import CIRError

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


class UnknownEmbedderError(CIRError):
    """An embedder name that is neither a known name nor a checkpoint file."""


def default_weights() -> Path:
    """The shipped checkpoint: the mix-heads one when present (its catalogue vectors are the
    plain encoder's), else the plain encoder's (absent too: then the baseline serves)."""
    heads = WEIGHTS_DIR / f"{defaults.ENCODER_HEADS_WEIGHTS_NAME}.pt"
    return heads if heads.is_file() else WEIGHTS_DIR / f"{defaults.ENCODER_WEIGHTS_NAME}.pt"


def pick_device() -> str:
    """CUDA, then Apple MPS, else CPU."""
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def window_starts(n_samples: int, window: int, hop: int) -> list[int]:
    """Window start offsets covering `n_samples`; the last window ends at the end."""
    if n_samples <= window:
        return [0]
    starts = list(range(0, n_samples - window + 1, hop))
    if starts[-1] + window < n_samples:
        starts.append(n_samples - window)
    return starts


class EncoderEmbedder:
    """The trained CNN behind the Embedder contract (batched clips, windowed queries)."""

    def __init__(self, checkpoint: str | Path, device: str | None = None):
        model, version = load_model(checkpoint)
        self._use(model, version, checkpoint, device)

    def _use(self, model, version: str, checkpoint: str | Path, device: str | None) -> None:
        self.device = device or pick_device()
        self.model = model.to(self.device)
        self.checkpoint = Path(checkpoint)
        self.name = model.config.name
        self.version = version
        self.dim = model.config.dim
        self.sample_rate = model.config.features.sample_rate
        self.window = int(defaults.QUERY_WINDOW_SECONDS * self.sample_rate)
        self.hop = int(defaults.QUERY_HOP_SECONDS * self.sample_rate)

    def _prepare(self, audio: np.ndarray, sample_rate: int | None) -> np.ndarray:
        audio = check_audio(audio)
        if sample_rate is not None and sample_rate != self.sample_rate:
            audio = resample(audio, sample_rate, self.sample_rate)
        return audio

    @torch.no_grad()
    def _embed_equal(self, batch: list[np.ndarray]) -> np.ndarray:
        x = torch.from_numpy(np.stack(batch)).to(self.device)
        return self.model(x).float().cpu().numpy()

    def embed_clips(
        self, clips: Sequence[np.ndarray], sample_rate: int | None = None
    ) -> np.ndarray:
        """(n, dim) unit vectors. Clips of equal length share a forward pass (no padding, so
        silence added by batching never enters the mean/max pooling)."""
        prepared = [self._prepare(c, sample_rate) for c in clips]
        out = np.zeros((len(prepared), self.dim), np.float32)
        by_length: dict[int, list[int]] = {}
        for i, clip in enumerate(prepared):
            by_length.setdefault(len(clip), []).append(i)
        size = EMBED_BATCH_SIZE
        for indices in by_length.values():
            for k in range(0, len(indices), size):
                chunk = indices[k : k + size]
                out[chunk] = self._embed_equal([prepared[i] for i in chunk])
        return out

    def _query_windows(self, audio: np.ndarray, sample_rate: int | None) -> list[np.ndarray]:
        """Windows of QUERY_WINDOW_SECONDS (half overlap); silent ones skipped unless all are."""
        audio = self._prepare(audio, sample_rate)
        windows = [
            audio[s : s + self.window] for s in window_starts(len(audio), self.window, self.hop)
        ]
        rms = np.array([np.sqrt(np.mean(w.astype(np.float64) ** 2)) for w in windows])
        loud = [w for w, r in zip(windows, rms, strict=True) if r >= QUERY_SILENCE_RMS]
        return loud or windows

    def embed_query(self, audio: np.ndarray, sample_rate: int | None = None) -> np.ndarray:
        """(dim,) unit vector: the query's window embeddings averaged and re-normalised."""
        return unit_mean(self.embed_clips(self._query_windows(audio, sample_rate)))


def unit_mean(vectors: np.ndarray) -> np.ndarray:
    """The L2-normalised mean of (n, dim) vectors: how a preset's reference clips, or a
    query's windows, become one vector (catalogue, daemon and training all use this)."""
    mean = np.asarray(vectors, dtype=np.float32).mean(axis=0)
    return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)


class HeadsEmbedder(EncoderEmbedder):
    """A frozen catalogue encoder plus per-family heads (encoder.mix_heads): an
    encoder.api.FamilyEmbedder.

    Catalogue clips and `embed_query` use the frozen encoder, so `version` is its version and
    catalogues built with it stay valid; `read_query` gives one vector per family from the
    heads (`query_version` names them) and, with a presence head, a presence per family.
    A query up to HEADS_QUERY_SECONDS is read in one pass (the heads were trained on whole
    3-8 s crops); a longer one in windows of that length, half overlapping."""

    def __init__(self, checkpoint: str | Path, device: str | None = None):
        from cir.encoder.mix_heads import load_heads

        catalogue, version, heads, query_version = load_heads(checkpoint)
        self._use(catalogue, version, checkpoint, device)
        self.heads = heads.to(self.device)
        self.query_version = query_version
        self.head_families = heads.config.families
        self.has_presence = heads.presence is not None
        self.shared_row = heads.config.shared_row
        self.pass_window = int(HEADS_QUERY_SECONDS * self.sample_rate)

    def _pass_windows(self, audio: np.ndarray, sample_rate: int | None) -> list[np.ndarray]:
        """The whole query when it fits in one pass, else windows of that length (half
        overlap); silent windows skipped unless all are."""
        audio = self._prepare(audio, sample_rate)
        starts = window_starts(len(audio), self.pass_window, self.pass_window // 2)
        windows = [audio[s : s + self.pass_window] for s in starts]
        rms = np.array([np.sqrt(np.mean(w.astype(np.float64) ** 2)) for w in windows])
        loud = [w for w, r in zip(windows, rms, strict=True) if r >= QUERY_SILENCE_RMS]
        return loud or windows

    @torch.no_grad()
    def read(
        self, audio: np.ndarray, families: Sequence[str], sample_rate: int | None = None
    ) -> QueryReading:
        """Per-family query vectors, presence and the solo score, from one trunk pass.

        A family with a head gets its head's vector. A solo (one instrument alone) is read by
        the frozen catalogue encoder instead: with a solo logit that says so, every family
        gets the encoder's `embed_query`-style vector alone (the encoder reads a single sound
        of other synths far better than the heads: ext-single 77.0 against 57.8 top-1, and
        74.3 with both rows, docs/BENCHMARKS.md). Heads without a solo logit keep their rule:
        when presence hears exactly one family, that family gets the shared vector beside its
        head's row (max fusion). In a mix the one shared vector misleads every family, so a
        mix keeps its heads' rows. Heads trained on mixes only (`shared_row`) always get both
        rows; families without a head the shared row alone. Presence: the highest window's
        sigmoid score, per family with a head; solo: the windows' mean."""
        windows = self._pass_windows(audio, sample_rate)
        x = torch.from_numpy(np.stack(windows)).to(self.device)
        # One log-mel serves both models: load_heads refuses heads with other features.
        mel = self.model.logmel(x)
        with_head = tuple(f for f in families if f in self.head_families)
        per, logits = self.heads.read_features(mel, with_head) if with_head else ({}, None)
        presence: dict[str, float] = {}
        solo: float | None = None
        fused: set[str] = set()
        alone = False  # a solo read by the catalogue encoder alone
        if logits is not None:
            family_logits, solo_logits = self.heads.split_logits(logits.float())
            scores = torch.sigmoid(family_logits).amax(0).cpu().numpy()
            everyone = dict(zip(self.head_families, scores.tolist(), strict=True))
            presence = {f: round(everyone[f], 4) for f in with_head}
            if solo_logits is not None:
                solo = round(float(torch.sigmoid(solo_logits).mean()), 4)
                alone = plays_alone(solo)
            else:
                heard = [f for f, p in everyone.items() if p >= defaults.PRESENCE_THRESHOLD]
                fused = set(heard) if len(heard) == 1 else set()
        if self.shared_row:
            fused = set(families)
        shared = None
        if alone or fused & set(with_head) or len(with_head) < len(families):
            shared = unit_mean(self.model.embed_features(mel).float().cpu().numpy())
        out = {}
        for f in families:
            if alone or f not in with_head:
                out[f] = shared[None, :]
                continue
            head_row = unit_mean(per[f].float().cpu().numpy())
            out[f] = np.stack([head_row, shared]) if f in fused else head_row[None, :]
        return QueryReading(out, presence, solo)

    def read_query(
        self, audio: np.ndarray, families: Sequence[str], sample_rate: int | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        """({family: (m, dim) unit query vectors}, {family: presence}): read()'s first two."""
        reading = self.read(audio, families, sample_rate)
        return reading.vectors, reading.presence

    def embed_query_by_family(
        self, audio: np.ndarray, families: Sequence[str], sample_rate: int | None = None
    ) -> dict[str, np.ndarray]:
        """{family: (m, dim) unit query vectors} (read_query's vectors)."""
        return self.read_query(audio, families, sample_rate)[0]

    @torch.no_grad()
    def embed_query(self, audio: np.ndarray, sample_rate: int | None = None) -> np.ndarray:
        """(dim,) the frozen encoder's vector of the query, read as the heads read it (one
        pass when it fits): the shared row of read_query."""
        x = torch.from_numpy(np.stack(self._pass_windows(audio, sample_rate))).to(self.device)
        return unit_mean(self.model(x).float().cpu().numpy())


def open_checkpoint(path: str | Path, device: str | None = None) -> EncoderEmbedder:
    """The embedder of a checkpoint file: HeadsEmbedder for mix-heads ones, else the encoder."""
    from cir.encoder.mix_heads import HEADS_FORMAT, checkpoint_format

    if checkpoint_format(path) == HEADS_FORMAT:
        return HeadsEmbedder(path, device)
    return EncoderEmbedder(path, device)


def shipped_names() -> list[str]:
    """Names of the weights shipped in encoder/weights (each <name>.pt with its <name>.json)."""
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.pt") if p.with_suffix(".json").is_file())


def load_embedder(name: str | None = None, device: str | None = None):
    """The embedder to use: None/"default" -> shipped weights (default_weights()), else
    MFCC-80; "mfcc80" -> the baseline; a shipped name (shipped_names(): e.g. the plain
    ENCODER_WEIGHTS_NAME encoder, the ENCODER_HEADS_WEIGHTS_NAME heads, earlier shipped
    weights kept for comparison) -> those weights; a path -> that checkpoint (either kind)."""
    if name in (None, "default"):
        path = default_weights()
        return open_checkpoint(path, device) if path.is_file() else MFCCEmbedder()
    if name == MFCCEmbedder.name:
        return MFCCEmbedder()
    if name in shipped_names():
        return open_checkpoint(WEIGHTS_DIR / f"{name}.pt", device)
    path = Path(name)
    if path.suffix == ".pt" or path.is_file():
        return open_checkpoint(path, device)
    raise UnknownEmbedderError(
        f"unknown embedder {name!r}: expected 'default', 'mfcc80', one of "
        f"{', '.join(map(repr, shipped_names()))} or a checkpoint file (.pt)"
    )
