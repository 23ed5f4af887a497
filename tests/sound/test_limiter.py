"""The peak limiter on real signals: the ceiling holds (checked by ffmpeg too), timing and quiet parts stay."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import soundfile as sf

from tests.meters import ffmpeg_ebur128
from voicecoach.sound.levels import db_to_gain
from voicecoach.sound.limiter import limited_blocks
from voicecoach.sound.truepeak import TruePeakMeter

SR = 44_100
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")


def _true_peak_dbtp(x: np.ndarray, block: int = 8192) -> float:
    meter = TruePeakMeter()
    for i in range(0, len(x), block):
        meter.feed(x[i : i + block])
    return meter.dbtp()


def _crest_signal(seconds: float = 8.0) -> np.ndarray:
    """Speech-like bursts with sharp transients and inter-sample peaks well over -1 dBTP."""
    rng = np.random.default_rng(11)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    x = rng.normal(0, 0.06, (n, 2)) * (np.sin(2 * np.pi * 0.7 * t) > -0.2)[:, None]
    for at in rng.integers(SR // 2, n - SR // 2, 40):
        x[at : at + 40] += 0.95 * np.sin(2 * np.pi * np.arange(40) / 4 + np.pi / 4)[:, None]
    return x.astype(np.float32)


def _blocks(x: np.ndarray, size: int) -> list[np.ndarray]:
    return [x[i : i + size] for i in range(0, len(x), size)]


@needs_ffmpeg
def test_limiter_holds_true_peak_under_the_ceiling(tmp_path):
    x = _crest_signal()
    assert _true_peak_dbtp(x) > 0.0  # the input really goes over
    out = list(limited_blocks(_blocks(x, 3000), -1.0, SR))
    y = np.concatenate(out)
    assert _true_peak_dbtp(y) <= -1.0
    path = tmp_path / "limited.wav"
    sf.write(path, y, SR, subtype="FLOAT")
    _, ffmpeg_peak = ffmpeg_ebur128(path)
    assert ffmpeg_peak <= -1.0 + 0.05


def test_limiter_keeps_block_sizes_timing_and_quiet_parts():
    x = _crest_signal()
    sizes = [1, 500, 8192, 3, 20_000]
    blocks, pos = [], 0
    while pos < len(x):
        size = sizes[len(blocks) % len(sizes)]
        blocks.append(x[pos : pos + size])
        pos += size
    out = list(limited_blocks(blocks, -1.0, SR))
    assert [len(b) for b in out] == [len(b) for b in blocks]
    assert all(b.dtype == np.float32 for b in out)
    y = np.concatenate(out)
    # far (50 ms) from any loud frame, the audio is untouched and not delayed by a single sample
    loud = np.abs(x).max(axis=1) > db_to_gain(-1.0) / 1.8
    near = np.convolve(loud, np.ones(2 * 2205 + 1), mode="same") > 0
    assert (~near).sum() > SR
    np.testing.assert_array_equal(y[~near], x[~near])
    # where it acts, it only turns down, and smoothly (no gain step larger than a ramp allows)
    ratio = np.abs(y[:, 0]) / np.maximum(np.abs(x[:, 0]), 1e-9)
    assert ratio[np.abs(x[:, 0]) > 1e-3].max() <= 1.0 + 1e-6


def test_limiter_passes_quiet_audio_bit_exact():
    x = 0.2 * _crest_signal(3.0)
    out = np.concatenate(list(limited_blocks(_blocks(x, 4096), -1.0, SR)))
    np.testing.assert_array_equal(out, x)


def test_limiter_gain_is_smooth():
    # a steady tone that is 6 dB over the ceiling for one second: gain must ramp, never jump
    n = SR * 3
    t = np.arange(n) / SR
    amp = np.where((t > 1) & (t < 2), 1.6, 0.4)
    x = (amp * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    y = np.concatenate(list(limited_blocks(_blocks(x, 2048), -1.0, SR)))
    env_in = np.abs(x).reshape(-1, 441).max(axis=1)  # 10 ms windows
    env_out = np.abs(y).reshape(-1, 441).max(axis=1)
    gain_db = 20 * np.log10(env_out / env_in)
    assert gain_db.max() <= 0.01
    assert (
        np.abs(np.diff(gain_db)).max() < 7.0
    )  # the 5 ms S-ramp spreads the 5 dB change over windows
    assert 20 * np.log10(np.abs(y).max()) <= -1.0


def test_limiter_output_does_not_depend_on_block_sizes():
    x = _crest_signal(4.0)
    whole = np.concatenate(list(limited_blocks(_blocks(x, 50_000), -1.0, SR)))
    pieces = np.concatenate(list(limited_blocks(_blocks(x, 97), -1.0, SR)))
    assert not np.array_equal(whole, x)  # it acted
    np.testing.assert_allclose(pieces, whole, atol=1e-6)


def test_limiter_passes_blocks_under_the_ceiling_through_as_they_are():
    x = _crest_signal(3.0)
    blocks = _blocks(x, 4096)
    out = list(limited_blocks(blocks, -1.0, SR))
    quiet = [i for i, b in enumerate(blocks) if np.abs(b).max() < db_to_gain(-1.0) / 1.8]
    quiet = [i for i in quiet if 0 < i < len(blocks) - 1 and i - 1 in quiet and i + 1 in quiet]
    assert quiet
    assert all(out[i] is blocks[i] for i in quiet)  # no copy where nothing changes
