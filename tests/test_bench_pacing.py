"""The pure helpers of benchmarks/bench_pacing.py (word counts, span arithmetic, patterns)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

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
