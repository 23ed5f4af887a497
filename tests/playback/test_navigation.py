"""Where play goes: the resume point after a pause, and the next/back keys (no sound server)."""

from __future__ import annotations

import pytest

from voicecoach.language.plan import Event, Plan, Section
from voicecoach.language.script import Settings
from voicecoach.playback.navigation import SectionNavigator, resume_sample, section_starts, where

from ..play_driver import RATE, two_sections


def _breathing_plan() -> Plan:
    sr = RATE
    ev = [
        Event("speech", 0, sr, 1, text="lie down", speech_key="a"),
        Event("breathe", 2 * sr, 14 * sr, 2),
    ]
    for c in range(2):  # two cycles of 4-2 (in, out) from 2 s
        s = 2 * sr + c * 6 * sr
        ev.append(Event("tone", s, s + 4 * sr, 2, tone="inhale"))
        ev.append(Event("tone", s + 4 * sr, s + 6 * sr, 2, tone="exhale"))
    ev.append(Event("speech", 2 * sr, int(2.8 * sr), 2, text="breathe in", speech_key="b"))
    ev.append(Event("hold", 14 * sr, 20 * sr, 3))
    ev.sort(key=lambda e: (e.start_sample, e.end_sample))
    return Plan("b", sr, 20 * sr, (Section("S", 0, 20 * sr, 1),), tuple(ev), Settings(title="b"))


@pytest.mark.parametrize(
    ("at_s", "expected_s"),
    [
        (0.5, 0.0),  # inside a phrase: its start
        (1.5, 1.5),  # in a pause: right there
        (2.5, 2.0),  # inside the guided first cycle (and its phrase): the cycle's start
        (7.0, 2.0),  # exhale of the first cycle
        (9.0, 8.0),  # second cycle
        (16.0, 16.0),  # in a hold after the breathing: right there
    ],
)
def test_resume_point(at_s, expected_s):
    plan = _breathing_plan()
    assert resume_sample(plan, int(at_s * RATE)) == int(expected_s * RATE)


LATENCY = 4410  # what the heard position lags behind right after a jump


def test_quick_presses_count_against_the_section_jumped_to():
    """Three quick rights move three sections; the heard position lagging by the latency is no matter."""
    nav = SectionNavigator([0, 100_000, 200_000, 300_000, 400_000])
    heard = 50_000
    for expected in (100_000, 200_000, 300_000):
        target = nav.next(heard)
        assert target == expected
        nav.moved_to(target)
        heard = target - LATENCY  # what position_sample() says just after the jump
    nav.moved_to(400_000)
    assert nav.next(400_000 - LATENCY) is None  # the last section: the edge UI sound, no jump


def test_two_quick_backs_from_a_section_land_on_the_one_before():
    starts = [0, 100_000, 200_000, 300_000]  # Arrive, left side, right side, rest
    nav = SectionNavigator(starts, double_press_s=1.5)
    heard = 250_000  # in "right side"
    first = nav.back(heard, now_s=10.0)
    assert first == 200_000  # start of this section
    nav.moved_to(first)
    second = nav.back(first - LATENCY, now_s=10.5)
    assert second == 100_000  # the previous section, not two back
    nav.moved_to(second)
    assert nav.back(second - LATENCY, now_s=20.0) == 100_000  # a slow press: start of this one


def test_section_starts_and_where():
    plan = two_sections()  # One at 0 s, Two at 2 s
    assert section_starts(plan) == [0, 2 * RATE]
    assert where(plan, int(2.5 * RATE)) == "0:02 in 'Two'"
