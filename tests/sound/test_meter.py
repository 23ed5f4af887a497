"""The loudness meter and the true-peak meter against pyloudnorm, ffmpeg and scipy, on real signals."""

from __future__ import annotations

import shutil
import tracemalloc

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from tests.meters import ffmpeg_ebur128
from voicecoach.sound import truepeak
from voicecoach.sound.meter import LoudnessMeter

SR = 44_100


def _signals() -> dict[str, tuple[np.ndarray, int]]:
    rng = np.random.default_rng(7)
    t = np.arange(SR * 6) / SR
    t48 = np.arange(48_000 * 5) / 48_000
    gate = (np.sin(2 * np.pi * 0.4 * t) > 0)[:, None]
    return {
        "sine-1k-stereo": (np.stack([0.3 * np.sin(2 * np.pi * 1000 * t)] * 2, axis=1), SR),
        "noise-bursts": (rng.normal(0, 0.1, (len(t), 2)) * gate, SR),
        "mono-60hz": (0.5 * np.sin(2 * np.pi * 60 * t), SR),
        "quiet-then-loud": (
            np.concatenate([rng.normal(0, 0.001, (SR * 3, 2)), rng.normal(0, 0.2, (SR * 3, 2))]),
            SR,
        ),
        "panned-48k": (
            np.stack(
                [0.4 * np.sin(2 * np.pi * 440 * t48), 0.05 * rng.normal(size=len(t48))], axis=1
            ),
            48_000,
        ),
        "odd-length": (rng.normal(0, 0.05, (SR * 2 + 1234, 2)), SR),
    }


def _feed(x: np.ndarray, rate: int, block: int) -> LoudnessMeter:
    meter = LoudnessMeter(rate)
    for i in range(0, len(x), block):
        meter.feed(x[i : i + block])
    return meter


@pytest.mark.parametrize("name", list(_signals()))
@pytest.mark.parametrize("block", [777, 8192])
def test_integrated_loudness_matches_pyloudnorm(name, block):
    x, rate = _signals()[name]
    expected = pyloudnorm.Meter(rate).integrated_loudness(x)
    got = _feed(x.astype(np.float32), rate, block).integrated_lufs()
    assert got == pytest.approx(expected, abs=0.1)


def test_result_does_not_depend_on_block_boundaries():
    x, rate = _signals()["noise-bursts"]
    a = _feed(x, rate, 1000).result()
    b = _feed(x, rate, 44_100).result()
    assert a[0] == pytest.approx(b[0], abs=1e-9)
    assert a[1] == pytest.approx(b[1], abs=1e-9)


def test_silence_and_too_short_are_minus_infinity():
    assert _feed(np.zeros((SR * 2, 2)), SR, 4096).result() == (-np.inf, -np.inf)
    lufs, _ = _feed(
        0.5 * np.ones((SR // 10, 2)), SR, 4096
    ).result()  # 100 ms: no whole gating block
    assert lufs == -np.inf


needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")


@needs_ffmpeg
def test_true_peak_matches_ffmpeg_on_intersample_peaks(tmp_path):
    # a quarter-rate sine sampled 45 degrees off its crest: samples at 0.707 of the real peak (+3 dB between them)
    n = np.arange(SR * 3)
    fade = np.minimum(1.0, np.minimum(n, n[::-1]) / (0.2 * SR))  # no onset ringing at the ends
    x = 0.5 * np.sin(2 * np.pi * n / 4 + np.pi / 4) * fade
    stereo = np.stack([x, 0.3 * np.sin(2 * np.pi * 997 * n / SR)], axis=1)
    path = tmp_path / "isp.wav"
    sf.write(path, stereo, SR, subtype="FLOAT")
    _, ffmpeg_peak = ffmpeg_ebur128(path)
    lufs, peak = _feed(stereo, SR, 5000).result()
    sample_peak_db = 20 * np.log10(np.abs(stereo).max())
    assert peak == pytest.approx(ffmpeg_peak, abs=0.3)
    assert peak > sample_peak_db + 2.5  # the meter sees between the samples
    assert peak == pytest.approx(20 * np.log10(0.5), abs=0.2)


def test_meter_memory_grows_with_sub_blocks_not_samples():
    rng = np.random.default_rng(3)
    block = rng.normal(0, 0.05, (8192, 2)).astype(np.float32)
    meter = LoudnessMeter(SR)
    meter.feed(
        np.ones((64, 2), dtype=np.float32)
    )  # a full-scale start: later blocks need no oversampling
    meter.feed(block)
    n_blocks = int(3 * 60 * SR / 8192)  # 3 minutes of audio, 63 MB as float32 stereo
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(n_blocks):
        meter.feed(block)
    retained = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert retained < 100_000  # about 1800 sub-blocks of 8 bytes each
    assert meter.samples == 64 + 8192 * (1 + n_blocks)


def test_oversampling_filter_and_envelope_equal_scipys():
    from scipy import signal

    taps = signal.firwin(49, 1 / 4, window=("kaiser", 8.0)) * 4
    np.testing.assert_allclose(truepeak._TP_FILTER, taps, atol=1e-15)
    x = np.random.default_rng(2).normal(0, 0.3, (5000, 2))
    n = 4000
    up = signal.upfirdn(truepeak._TP_FILTER, x, up=4, axis=0)[4 * (len(x) - n) :][: 4 * n]
    reference = np.abs(up).max(axis=1).reshape(n, 4).max(axis=1)
    got = truepeak.Interpolator.envelope_of(x, n)
    np.testing.assert_allclose(got, reference, atol=1e-12)


def _centred_then_panned(rate: int = SR) -> np.ndarray:
    """Centred noise bursts (L == R), a panned stretch, silence, then centred again: float32 stereo."""
    rng = np.random.default_rng(11)
    centred = rng.normal(0, 0.2, (rate * 2, 1)) * np.ones((1, 2))
    panned = np.stack([rng.normal(0, 0.2, rate), rng.normal(0, 0.05, rate)], axis=1)
    silence = np.zeros((rate * 2, 2))
    return np.concatenate([centred, panned, centred, silence, centred]).astype(np.float32)


def test_centred_blocks_are_metered_bit_for_bit_as_two_channels(monkeypatch):
    x = _centred_then_panned()
    fast = _feed(x, SR, 8192)
    assert fast._mono_copies is not None
    monkeypatch.setattr(LoudnessMeter, "_mono_copies", lambda self, block: False)
    slow = _feed(x, SR, 8192)
    assert fast.result() == slow.result()
    assert list(fast._subblocks) == list(slow._subblocks)
    np.testing.assert_array_equal(fast._zi, slow._zi)


def test_centred_envelope_equals_the_two_channel_one(monkeypatch):
    x = np.repeat(np.random.default_rng(3).normal(0, 0.3, (5000, 1)), 2, axis=1)
    q = np.arange(12, len(x))
    centred = truepeak._envelope_at(x, q)
    monkeypatch.setattr(truepeak, "_distinct_channels", lambda xx: range(xx.shape[1]))
    np.testing.assert_array_equal(centred, truepeak._envelope_at(x, q))
