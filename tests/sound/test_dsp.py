"""The numpy resampler equals scipy's resample_poly (the reference) on real-rate pairs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import resample_poly as scipy_resample_poly

from voicecoach.sound.dsp import resample, resample_poly


@pytest.mark.parametrize(
    "in_rate,out_rate",
    [(22_050, 44_100), (22_050, 48_000), (22_050, 16_000), (16_000, 44_100), (44_100, 22_050)],
)
@pytest.mark.parametrize("n", [1, 7, 1000, 40_001])
def test_matches_scipy_resample_poly(in_rate, out_rate, n):
    rng = np.random.default_rng(n)
    x = rng.uniform(-1, 1, n)
    ours = resample(x, in_rate, out_rate)
    ref = scipy_resample_poly(x, out_rate, in_rate)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=1e-9)


def test_identity_ratio_copies():
    x = np.arange(5.0)
    y = resample_poly(x, 3, 3)
    assert np.array_equal(x, y) and y is not x


@pytest.mark.parametrize("in_rate,out_rate", [(22_050, 44_100), (22_050, 48_000), (44_100, 16_000)])
def test_long_input_matches_scipy_on_every_code_path(in_rate, out_rate):
    # long enough that the per-phase path runs for every ratio, with speech-like float32 input
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(150_000) * 0.3).astype(np.float32)
    ours = resample(x, in_rate, out_rate)
    ref = scipy_resample_poly(x.astype(np.float64), out_rate, in_rate)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=1e-9)


@pytest.mark.parametrize("in_rate,out_rate", [(22_050, 44_100), (22_050, 48_000), (44_100, 16_000)])
def test_float32_output_is_the_float64_result_to_float_rounding(in_rate, out_rate):
    # the renderer resamples speech in float32 (faster); it must be the same filter, rounded
    rng = np.random.default_rng(5)
    x = (rng.standard_normal(60_000) * 0.3).astype(np.float32)
    ours = resample_poly(x, out_rate, in_rate, dtype=np.float32)
    ref = scipy_resample_poly(x.astype(np.float64), out_rate, in_rate)
    assert ours.dtype == np.float32 and ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=2e-6)
