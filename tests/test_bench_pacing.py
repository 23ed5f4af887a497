"""The pure helpers of benchmarks/bench_pacing.py (word counts, span arithmetic, gated loudness)."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest

_PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_pacing.py"
_spec = importlib.util.spec_from_file_location("bench_pacing", _PATH)
assert _spec is not None and _spec.loader is not None
bench = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("bench_pacing", bench)  # dataclasses look their module up there
_spec.loader.exec_module(bench)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Let your arms rest by your sides.", 7),
        ("Let the knees fall side-to-side, like wipers.", 9),
        ("Don't hold your breath.", 4),
        ("  ", 0),
        ("five", 1),
    ],
)
def test_count_words(text, words):
    assert bench.count_words(text) == words


def test_subtract_spans_cuts_holes_and_ends():
    spans = [(0, 100), (200, 300)]
    cuts = [(-5, 10), (50, 60), (90, 210), (290, 400)]
    assert bench.subtract_spans(spans, cuts) == [(10, 50), (60, 90), (210, 290)]


def test_subtract_spans_merges_overlapping_inputs_and_keeps_uncut():
    assert bench.subtract_spans([(0, 10), (5, 20), (30, 40)], [(25, 28)]) == [(0, 20), (30, 40)]
    assert bench.subtract_spans([(0, 10)], [(0, 10)]) == []


def test_gated_lufs_agrees_with_pyloudnorm():
    pyln = pytest.importorskip("pyloudnorm")
    from scipy.signal import sosfilt

    from voicecoach.loudness import _k_weighting_sos

    rate = 44_100
    rng = np.random.default_rng(1)
    t = np.arange(6 * rate) / rate
    # loud and quiet stretches, so both gates matter
    x = 0.2 * np.sin(2 * np.pi * 440 * t) * (1 + 0.9 * np.sign(np.sin(2 * np.pi * 0.3 * t)))
    x += 0.01 * rng.standard_normal(len(t))
    stereo = np.stack([x, 0.5 * x], axis=1)
    y = sosfilt(_k_weighting_sos(rate), stereo, axis=0)
    ours, gated = bench.gated_lufs((y * y).sum(axis=1), rate)
    assert gated
    assert ours == pytest.approx(pyln.Meter(rate).integrated_loudness(stereo), abs=0.05)


def test_gated_lufs_short_input_is_the_ungated_mean():
    rate = 1000
    energy = np.full(300, 0.5)  # under one 400 ms block
    value, gated = bench.gated_lufs(energy, rate)
    assert not gated
    assert value == pytest.approx(-0.691 + 10 * math.log10(0.5))
    assert bench.gated_lufs(np.zeros(0), rate) == (-math.inf, False)


@pytest.mark.parametrize(
    ("line", "pattern"),
    [
        ("[hold 30-60s breathe calm]", (4.0, 6.0)),
        ("[hold 45s breathe 4-2-6 count 3]", (4.0, 2.0, 6.0)),
        ("[hold 45s breathe 4-0-6]", (4.0, 0.0, 6.0)),
        ("[hold 45s]", None),
    ],
)
def test_parse_pattern(line, pattern):
    assert bench.parse_pattern(line) == pattern


def test_breath_phases_of_two_three_and_four_phase_patterns():
    assert bench.breath_phases((4, 6)) == {"inhale": 4, "exhale": 6}
    assert bench.breath_phases((4, 2, 6)) == {"inhale": 4, "exhale": 6}
    assert bench.breath_phases((4, 4, 4, 4)) == {"inhale": 4, "exhale": 4}
