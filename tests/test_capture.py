"""Capture helpers without hardware: ring buffer, bars, device lookup errors."""

from __future__ import annotations

import numpy as np
import pytest

from cir.plugin_bridge.capture import CaptureError, RingBuffer, bars_to_seconds, record


def blocks(n: int, size: int, channels: int = 2):
    """n consecutive blocks of a ramp, so order and continuity are checkable."""
    ramp = np.arange(n * size * channels, dtype=np.float32).reshape(n * size, channels)
    return [ramp[i * size : (i + 1) * size] for i in range(n)], ramp


def test_ring_buffer_keeps_the_last_frames_in_order():
    ring = RingBuffer(1000, 2)
    parts, ramp = blocks(7, 300)
    assert len(ring) == 0 and ring.read().shape == (0, 2)
    ring.write(parts[0])
    assert np.array_equal(ring.read(), ramp[:300])
    for part in parts[1:]:
        ring.write(part)
    assert len(ring) == 1000
    assert np.array_equal(ring.read(), ramp[-1000:])


def test_ring_buffer_block_larger_than_capacity():
    ring = RingBuffer(100, 1)
    ring.write(np.arange(250, dtype=np.float32)[:, None])
    assert np.array_equal(ring.read()[:, 0], np.arange(150, 250, dtype=np.float32))
    ring.write(np.array([[1000.0]], np.float32))
    assert ring.read()[-1, 0] == 1000.0 and ring.read()[0, 0] == 151.0


def test_ring_buffer_read_is_a_copy():
    ring = RingBuffer(10, 1)
    ring.write(np.ones((10, 1), np.float32))
    snapshot = ring.read()
    ring.write(np.zeros((5, 1), np.float32))
    assert snapshot.sum() == 10.0


def test_bars_to_seconds():
    assert bars_to_seconds(4, 120) == pytest.approx(8.0)
    assert bars_to_seconds(2, 90, beats_per_bar=3) == pytest.approx(4.0)
    with pytest.raises(CaptureError, match="bpm"):
        bars_to_seconds(4, 0)


def test_record_rejects_absurd_lengths_before_touching_a_device():
    with pytest.raises(CaptureError, match="at most 60"):
        record(600)
    with pytest.raises(CaptureError):
        record(0)
