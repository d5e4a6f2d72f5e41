"""Vectorised DSP building blocks of the built-in synth.

Audio lives in a block layout: a voice of n samples is an array of shape (B, L) with
L = SYNTH_BLOCK and B = ceil(n / L). Control signals (envelopes, pitch, cutoff) are
(B,) arrays, one value per block, or (B + 1,) breakpoints interpolated linearly inside the
blocks. Nothing loops per sample in Python: phases are built per block, band-limiting is a
sparse PolyBLEP correction at the few samples next to each discontinuity, and the resonant
filter is a time-varying complex one-pole pair solved as a blocked linear recurrence.
"""

from __future__ import annotations

import math

import numpy as np

from cir.synth.constants import SYNTH_RESONANCE_Q_SPAN

# Control-rate block in samples: envelopes, pitch and filter coefficients are computed once per
# block (about 0.36 ms at 44.1 kHz) and interpolated or held inside it, which keeps the engine
# vectorised (the main reason it renders hundreds of times faster than real time).
SYNTH_BLOCK = 16
# Envelope decay and release times are the time to fall 60 dB (ln 1000 time constants).
SYNTH_ENV_TIME_CONSTANTS = 6.907755

L = SYNTH_BLOCK
_RAMP = np.arange(L, dtype=np.float32) / np.float32(L)  # position inside a block, 0..1
TWO_PI = np.float32(2.0 * np.pi)


def blocks_for(n: int) -> int:
    """Number of control blocks that cover n samples."""
    return max(1, -(-n // L))


def interp_blocks(points: np.ndarray) -> np.ndarray:
    """(B + 1,) breakpoints at block edges -> (B, L) float32 linearly interpolated inside."""
    p = points.astype(np.float32)
    return p[:-1, None] + (p[1:] - p[:-1])[:, None] * _RAMP[None, :]


# --- envelopes ---------------------------------------------------------------------------------


def adsr(t: np.ndarray, gate: float, attack: float, decay: float, sustain: float,
         release: float, min_attack: float = 0.0, min_release: float = 0.0) -> np.ndarray:
    """ADSR level at times t (seconds from note on) with the gate closing at `gate`.

    The attack is a convex analog-style curve reaching 1 at `attack`; decay and release are
    exponential, `decay`/`release` being the time to fall 60 dB (towards sustain, towards 0).
    """
    k = SYNTH_ENV_TIME_CONSTANTS
    attack = max(attack, min_attack)
    release = max(release, min_release)

    def held(tt: np.ndarray) -> np.ndarray:
        if attack > 0:
            att = -np.expm1(-3.0 * np.clip(tt, 0.0, attack) / attack) / -np.expm1(-3.0)
        else:
            att = np.ones_like(tt)
        if decay > 0:
            dec = sustain + (1.0 - sustain) * np.exp(-k * np.maximum(tt - attack, 0.0) / decay)
        else:
            dec = np.full_like(tt, sustain)
        return np.where(tt < attack, att, dec)

    level = held(np.minimum(t, gate))
    after = t > gate
    if after.any():
        if release > 0:
            level = np.where(after, level * np.exp(-k * np.maximum(t - gate, 0.0) / release), level)
        else:
            level = np.where(after, 0.0, level)
    return level


def lfo_wave(shape: str, phase: np.ndarray) -> np.ndarray:
    """A bipolar (-1..1) LFO of `shape` at phase (cycles)."""
    ph = phase - np.floor(phase)
    if shape == "sine":
        return np.sin(2.0 * np.pi * ph)
    if shape == "triangle":
        return 1.0 - 4.0 * np.abs(ph - 0.5)
    if shape == "square":
        return np.where(ph < 0.5, 1.0, -1.0)
    return 2.0 * ph - 1.0  # saw


# --- phases and oscillators ----------------------------------------------------------------------


class Phase:
    """A 32-bit fixed-point phase accumulator laid out as (B, L) blocks.

    `acc` holds (phase + 1/2 cycle) * 2^32 as uint32, so its int32 view is the centred phase
    (2 * phase - 1) * 2^31: a naive saw, with no floor or modulo pass. Integer overflow is the
    wrap, block to block continuity is exact, and the resolution is 2^-32 cycles.
    """

    inc: np.ndarray
    acc: np.ndarray  # deleted when a consuming read spends the Phase

    __slots__ = ("acc", "inc")

    def __init__(self, inc: np.ndarray, ratio: float = 1.0, start: float = 0.0,
                 max_inc: float = 0.5) -> None:
        inc_u = np.round(np.minimum(np.asarray(inc) * ratio, max_inc) * _TWO32).astype(np.uint64)
        begin = np.empty(len(inc_u), dtype=np.uint64)
        begin[0] = 0
        np.cumsum(inc_u[:-1] * np.uint64(L), out=begin[1:])
        begin += np.uint64((int(start % 1.0 * _TWO32) + (1 << 31)) % (1 << 32))
        self.inc = inc_u.astype(np.uint32)
        self.acc = np.multiply(self.inc[:, None], _KU[None, :])  # wraps mod 2^32 on purpose
        self.acc += (begin & np.uint64(0xFFFFFFFF)).astype(np.uint32)[:, None]

    @property
    def dt(self) -> np.ndarray:
        """Increments per block in cycles per sample, float32."""
        return (self.inc * (1.0 / _TWO32)).astype(np.float32)

    def centred(self, consume: bool = False) -> np.ndarray:
        """2 * phase - 1 in [-1, 1), float32 (a naive saw).

        consume=True converts in place, reusing the accumulator's memory (the Phase is then
        spent): fewer large temporaries is most of this engine's speed.
        """
        out = self.acc.view(np.float32) if consume else None
        y = np.multiply(self.acc.view(np.int32), np.float32(2.0**-31), out=out,
                        dtype=np.float32)
        if consume:
            del self.acc  # its memory is y's now: the Phase is spent
        return y

    def unit(self) -> np.ndarray:
        """The phase in [0, 1), float32 (spends the Phase)."""
        y = self.centred(consume=True)
        y *= 0.5
        y += 0.5
        return y

    def wraps(self, offset: np.ndarray | int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Flat indices just past where the phase crossed `offset` (2^32 = one cycle; an int
        or one per block), and how far past the crossing each lies, in samples (0..1)."""
        shift = (np.asarray(offset, dtype=np.uint64) + np.uint64(1 << 31)) & np.uint64(_MASK)
        shift = shift.astype(np.uint32)
        shift = shift[:, None] if shift.ndim else shift
        acc = self.acc
        acc -= shift  # phase - offset, mod 1, in place to avoid a large temporary
        idx = np.flatnonzero(acc < self.inc[:, None])
        idx = idx[idx > 0]
        d = acc.reshape(-1)[idx] / self.inc[idx // L].astype(np.float64)
        acc += shift
        return idx, np.minimum(d, 1.0).astype(np.float32)


_TWO32 = float(1 << 32)
_MASK = (1 << 32) - 1
_KU = np.arange(L, dtype=np.uint32)


def block_phase(inc: np.ndarray, start: float = 0.0, max_inc: float = 0.5
                ) -> tuple[np.ndarray, np.ndarray]:
    """Phase (B, L) float32 in [0, 1) and increments (B,) for per-block `inc` (cycles/sample)."""
    p = Phase(inc, 1.0, start, max_inc)
    dt = p.dt
    return p.unit(), dt


def saw_wave(p: Phase) -> np.ndarray:
    """Band-limited (PolyBLEP) rising saw, -1..1 (spends the Phase)."""
    idx, d = p.wraps()
    y = p.centred(consume=True)
    _blep_step(y, idx, d, np.float32(2.0))
    return y


def pulse_wave(p: Phase, width: np.ndarray | float) -> np.ndarray:
    """Band-limited pulse, zero mean: low for the first `width` of each cycle (spends the
    Phase). It is a saw minus the saw delayed by `width`."""
    w = (np.round(np.asarray(width, dtype=np.float64) * _TWO32).astype(np.uint64)
         & np.uint64(_MASK)).astype(np.uint32)
    idx, d = p.wraps()
    ridx, rd = p.wraps(w)
    y = p.centred()
    p.acc -= w[:, None] if w.ndim else w
    y -= p.centred(consume=True)
    _blep_step(y, idx, d, np.float32(2.0))
    _blep_step(y, ridx, rd, np.float32(-2.0))
    return y


def triangle_wave(p: Phase) -> np.ndarray:
    """Triangle, -1..1 (lowest at phase 0), with PolyBLAMP-rounded corners (spends the Phase)."""
    dt = p.dt
    corners = [(p.wraps(offset), sign) for offset, sign in ((0, 8.0), (1 << 31, -8.0))]
    y = p.centred(consume=True)
    np.abs(y, out=y)
    y *= -2.0
    y += 1.0
    for (idx, d), change in corners:
        _blamp_corner(y, idx, d, np.float32(change) * dt[idx // L])
    return y


def sine_wave(p: Phase) -> np.ndarray:
    """Sine starting at 0 and rising, like sin(2 pi phase) (spends the Phase)."""
    y = p.centred(consume=True)
    y *= np.float32(-np.pi)
    return np.sin(y, out=y)


def _blep_step(
    y: np.ndarray, idx: np.ndarray, frac: np.ndarray, height: np.ndarray | np.floating
) -> None:
    """Smooth a downward step of `height` between flat samples idx-1 and idx (PolyBLEP).

    `frac` is how far past the step sample idx lies, in samples (0..1).
    """
    flat = y.reshape(-1)
    half = 0.5 * height
    flat[idx] += half * (1.0 - frac) ** 2
    prev = idx - 1
    ok = prev >= 0
    flat[prev[ok]] -= (half * frac * frac)[ok]


def _wraps(ph: np.ndarray, dt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices where the phase wrapped, and how far past the wrap each lies (0..1)."""
    idx = np.flatnonzero(ph < dt[:, None])
    idx = idx[idx > 0]
    d = ph.reshape(-1)[idx] / dt[idx // L]
    return idx, np.minimum(d, 1.0)


def triangle(ph: np.ndarray) -> np.ndarray:
    """Naive triangle of a float phase, -1..1 (synced triangles; harmonics fall 12 dB/oct)."""
    y = np.abs(ph - 0.5)
    y *= -4.0
    y += 1.0
    return y


def _blamp_corner(y: np.ndarray, idx: np.ndarray, frac: np.ndarray, change: np.ndarray) -> None:
    """Round a change of slope (`change` per sample) between samples idx-1 and idx (PolyBLAMP)."""
    flat = y.reshape(-1)
    flat[idx] += change * (1.0 - frac) ** 3 / 6.0
    prev = idx - 1
    ok = prev >= 0
    flat[prev[ok]] += (change * frac**3 / 6.0)[ok]


def sine(ph: np.ndarray) -> np.ndarray:
    return np.sin(TWO_PI * ph)


def _sync_wraps(slave: np.ndarray, master: np.ndarray, dt: np.ndarray, ratio: float
                ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The slave's own wraps (not at a master restart) and the master's restarts."""
    midx, md = _wraps(master, dt)
    idx, d = _wraps(slave, dt * np.float32(ratio))
    own = ~np.isin(idx, midx, assume_unique=True)
    return (idx[own], d[own]), (midx, md)


def _slave_phase_at_restart(ratio: float) -> float:
    """Where a synced slave's phase is just before the master restarts it, in (0, 1]."""
    return ratio - math.ceil(ratio) + 1.0


def _events_before_restart(y: np.ndarray, midx: np.ndarray, md: np.ndarray, dt: np.ndarray,
                           ratio: float, event: np.ndarray | float, height: float) -> None:
    """Smooth slave steps (at slave phase `event`) that fell between a sample and a restart.

    The restart resets the slave's phase, so such a step is never seen by `_wraps`.
    """
    f = _slave_phase_at_restart(ratio)
    q = (f - np.asarray(event, dtype=np.float64)) % 1.0
    d = md + q / (ratio * dt[midx // L])
    inside = (d < 1.0) & (q > 0.0)
    if np.any(inside):
        _blep_step(y, midx[inside], d[inside].astype(np.float32), np.float32(height))


def synced_saw(master: np.ndarray, dt: np.ndarray, ratio: float) -> np.ndarray:
    """Saw at `ratio` x the master frequency, restarted at every master period (hard sync)."""
    ph = master * np.float32(ratio)
    ph -= np.floor(ph)
    (idx, d), (midx, md) = _sync_wraps(ph, master, dt, ratio)
    y = ph * np.float32(2.0)
    y -= 1.0
    _blep_step(y, idx, d, np.float32(2.0))
    _events_before_restart(y, midx, md, dt, ratio, 0.0, 2.0)
    _blep_step(y, midx, md, np.float32(2.0 * _slave_phase_at_restart(ratio)))
    return y


def synced_pulse(master: np.ndarray, dt: np.ndarray, ratio: float, width: np.ndarray | float
                 ) -> np.ndarray:
    """Pulse (+1 for the first `width` of its cycle) at `ratio` x the master, hard-synced."""
    w = np.asarray(width, dtype=np.float32)
    w = w[:, None] if w.ndim == 1 else w
    ph = master * np.float32(ratio)
    ph -= np.floor(ph)
    y = np.where(ph < w, np.float32(1.0), np.float32(-1.0))
    (idx, d), (midx, md) = _sync_wraps(ph, master, dt, ratio)
    _blep_step(y, idx, d, np.float32(-2.0))  # rises to +1 at each own wrap
    fall = ph - w
    fall -= np.floor(fall)
    fidx, fd = _wraps(fall, dt * np.float32(ratio))
    _blep_step(y, fidx, fd, np.float32(2.0))
    w_at = np.broadcast_to(w, ph.shape).reshape(-1)[midx].astype(np.float64)
    _events_before_restart(y, midx, md, dt, ratio, 0.0, -2.0)
    _events_before_restart(y, midx, md, dt, ratio, w_at, 2.0)
    # Just before a restart the slave sits at phase f: low (-1) when f >= width, then jumps up.
    low = _slave_phase_at_restart(ratio) >= w_at
    _blep_step(y, midx[low], md[low], np.float32(-2.0))
    return y


def noise(rng: np.random.Generator, shape: tuple[int, int], color: str) -> np.ndarray:
    """White or pink noise with an RMS of 0.5, shaped (B, L).

    Uniform rather than Gaussian samples: four times cheaper and sounds the same. Pink is the
    Voss-McCartney sum of octave-rate sample-and-hold noises (about -3 dB/octave).
    """
    n = shape[0] * shape[1]
    if color != "pink":
        out = rng.random(n, dtype=np.float32)
        out -= 0.5
        out *= np.float32(math.sqrt(3.0))  # uniform in +-0.866: RMS 0.5
        return out.reshape(shape)
    out = np.zeros(n, dtype=np.float32)
    rows = _PINK_OCTAVES
    for k in range(rows):
        hold = 1 << k
        w = rng.random(-(-n // hold), dtype=np.float32)
        out += np.repeat(w, hold)[:n] if hold > 1 else w
    out -= np.float32(0.5 * rows)
    out *= np.float32(0.5 * math.sqrt(12.0 / rows))
    return out.reshape(shape)


_PINK_OCTAVES = 10


# --- resonant filter -----------------------------------------------------------------------------


def _recurrence(c: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Solve y[n] = c[n] * y[n-1] + u[n] (y[-1] = 0) for 1-D complex arrays, vectorised.

    Splits the sequence into rows of L, runs the recurrence down the columns for all rows at
    once, then solves the much shorter row-to-row carry recursively.
    """
    n = len(u)
    if n <= 2 * L:
        y = np.empty_like(u)
        acc = 0j
        for i, (ci, ui) in enumerate(zip(c.tolist(), u.tolist(), strict=True)):
            acc = ci * acc + ui
            y[i] = acc
        return y
    rows = -(-n // L)
    pad = rows * L - n
    if pad:
        c = np.concatenate([c, np.ones(pad, c.dtype)])
        u = np.concatenate([u, np.zeros(pad, u.dtype)])
    out = _solve_blocks(np.ascontiguousarray(c.reshape(rows, L).T),
                        np.ascontiguousarray(u.reshape(rows, L).T))
    return out.T.reshape(-1)[:n]


def _solve_blocks(c: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Recurrence over blocks in row order, returned transposed as (L, B).

    u is (L, B) C-contiguous (it is overwritten); c is (L, B), or (B,) for one coefficient
    per block. Pass 1 runs every block from a zero state, the short carry recursion finds
    each block's true starting state, pass 2 adds that state's decaying response.
    """
    s = u
    per_block = c.ndim == 1
    tmp = np.empty_like(s[0])
    gain = (c if per_block else c[0]).copy()
    for k in range(1, L):
        ck = c if per_block else c[k]
        np.multiply(ck, s[k - 1], out=tmp)
        s[k] += tmp
        gain *= ck
    # carry[b] = state at the end of block b; each block starts from the previous block's end.
    carry = _recurrence(gain, s[L - 1])
    state = np.empty(s.shape[1], dtype=s.dtype)
    state[0] = 0
    state[1:] = carry[:-1]
    for k in range(L):
        state *= c if per_block else c[k]
        s[k] += state
    return s


def resonance_q(resonance: float) -> float:
    return 0.7071 * SYNTH_RESONANCE_Q_SPAN ** resonance


def biquad_tv(x: np.ndarray, kind: str, cutoff: np.ndarray, q: float, sample_rate: int
              ) -> np.ndarray:
    """RBJ low/high/band-pass biquad with a per-block cutoff, on (B, L) audio.

    The biquad is split into partial fractions, c0 + 2 Re(A / (1 - p z^-1)): a complex one-pole
    whose pole moves with the cutoff. Scaling the input (not the state) keeps it stable and
    free of zipper noise under fast sweeps.
    """
    w = 2.0 * np.pi * cutoff / sample_rate
    cw = np.cos(w)
    alpha = np.sin(w) / (2.0 * q)
    a0 = 1.0 + alpha
    a1 = -2.0 * cw / a0
    a2 = (1.0 - alpha) / a0
    if kind == "lowpass":
        b0 = (1.0 - cw) / (2.0 * a0)
        b1 = 2.0 * b0
        b2 = b0
    elif kind == "highpass":
        b0 = (1.0 + cw) / (2.0 * a0)
        b1 = -2.0 * b0
        b2 = b0
    else:  # bandpass, 0 dB peak
        b0 = alpha / a0
        b1 = np.zeros_like(b0)
        b2 = -b0
    c0 = b2 / a2
    p = (-a1 + 1j * np.sqrt(np.maximum(4.0 * a2 - a1 * a1, 1e-18))) / 2.0
    residue = ((b0 - c0) + (b1 - c0 * a1) / p) / (1.0 - np.conj(p) / p)
    u = np.multiply(x.T, (2.0 * residue).astype(np.complex64)[None, :], order="C")  # (L, B)
    s = _solve_blocks(p.astype(np.complex64), u)
    y = np.multiply(x, c0.astype(np.float32)[:, None])
    y += np.real(s).T
    return y
