"""The K-weighting filter loop: scipy's compiled core without ``scipy.signal``, the same numbers."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from scipy import signal

from voicecoach.sound import iir
from voicecoach.sound.meter import k_weighting_sos


@pytest.fixture(params=["core", "public"])
def way(request, monkeypatch):
    """Both ways ``iir.sosfilt`` can run: the loaded core, and scipy.signal's when it is missing."""
    if request.param == "public":
        monkeypatch.setattr(iir, "_CORE", [None])
    else:
        monkeypatch.setattr(iir, "_CORE", [])
        assert iir._core() is not None  # this scipy keeps the core where iir looks
    return request.param


def test_mono_with_state_equals_scipy(way):
    rng = np.random.default_rng(1)
    sos = k_weighting_sos(48_000)
    x = rng.standard_normal(20_000)
    zi = rng.standard_normal((2, 2)) * 0.1
    before = (x.copy(), zi.copy())
    y, zf = iir.sosfilt(sos, x, zi)
    want_y, want_zf = signal.sosfilt(sos, x, zi=zi)
    assert np.array_equal(y, want_y) and np.array_equal(zf, want_zf)
    assert np.array_equal(x, before[0]) and np.array_equal(zi, before[1])  # inputs untouched
    # in two halves, the state carried: the same as in one go
    y1, z1 = iir.sosfilt(sos, x[:7_001], zi)
    y2, z2 = iir.sosfilt(sos, x[7_001:], z1)
    assert np.array_equal(np.concatenate([y1, y2]), want_y) and np.array_equal(z2, want_zf)


def test_channels_along_frames_equal_scipy(way):
    rng = np.random.default_rng(2)
    sos = k_weighting_sos(44_100)
    x = rng.standard_normal((5_000, 2)).astype(np.float32)  # the renderer's blocks
    zi = rng.standard_normal((2, 2, 2)) * 0.1
    y, zf = iir.sosfilt(sos, x, zi)
    want_y, want_zf = signal.sosfilt(sos, x, axis=0, zi=zi)
    assert y.dtype == np.float64 and y.shape == x.shape and zf.shape == zi.shape
    assert np.array_equal(y, want_y) and np.array_equal(zf, want_zf)
    y0, z0 = iir.sosfilt(sos, x)  # from rest
    assert np.array_equal(y0, signal.sosfilt(sos, x, axis=0))
    assert not np.array_equal(z0, np.zeros_like(z0))


def test_metering_never_imports_scipy_signal():
    """A process that levels a phrase and meters a block does not pay for scipy.signal's import."""
    code = (
        "import json, sys\n"
        "import numpy as np\n"
        "from voicecoach.sound.meter import LoudnessMeter, span_loudness_lufs\n"
        "x = np.sin(np.arange(48000) * 0.05)\n"
        "level = span_loudness_lufs(x, 48000)\n"
        "m = LoudnessMeter(48000)\n"
        "m.feed(np.stack([x, x], axis=1).astype(np.float32))\n"
        "print(json.dumps([level, m.integrated_lufs(), 'scipy.signal' in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    level, lufs, imported = json.loads(out.stdout)
    assert not imported
    assert -20 < level < 0 and abs(lufs - level) < 0.5  # a steady sine: the span's level
