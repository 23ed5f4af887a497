"""Compiler unit tests on hand-built scripts, with a fake speech-length source.

These check the time rules on the plan itself; the rendered-audio tests check
them again on real speech and real samples.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fakes import FakePalette, FakeSpeech
from voicecoach import phrases
from voicecoach.compiler import compile_script
from voicecoach.errors import ScriptError
from voicecoach.script import (
    Bell,
    Breathe,
    DurationSpec,
    Heading,
    Hold,
    Loc,
    ParagraphBreak,
    Pause,
    Place,
    Roll,
    Script,
    Settings,
    Speech,
    Wipers,
)

SR = 44_100


def loc(line: int = 1) -> Loc:
    return Loc("t.md", line, 1)


def fixed(s: float) -> DurationSpec:
    return DurationSpec.fixed(s)


def compile_items(items, *, speech=None, sr=SR, **settings):
    base = dict(title="T", lead_in_s=0.0, end_bell=False)
    base.update(settings)
    script = Script("t.md", Settings(**base), tuple(items))
    return compile_script(script, speech or FakeSpeech(), palette=FakePalette(), sample_rate=sr)


def spans(plan, kind):
    return [e for e in plan.events if e.kind == kind]


def speech_at(plan, text):
    return [e for e in plan.events if e.kind == "speech" and e.text == text]


def test_hold_lasts_exactly_its_duration_and_counts_down_on_exact_seconds():
    plan = compile_items([Speech(loc(1), "Let the ball sink in."), Hold(loc(2), fixed(45))])
    (hold,) = spans(plan, "hold")
    assert hold.end_sample - hold.start_sample == 45 * SR
    # the directive starts when the speech before it has finished
    (intro,) = speech_at(plan, "Let the ball sink in.")
    assert hold.start_sample == intro.end_sample
    for k, word in enumerate(["one", "two", "three", "four", "five"], start=1):
        (e,) = speech_at(plan, word)
        assert e.start_sample == hold.end_sample - k * SR
    assert speech_at(plan, phrases.HOLD_TEN_LEFT)[0].start_sample == hold.end_sample - 10 * SR
    assert speech_at(plan, phrases.HOLD_HALFWAY)[0].start_sample == hold.start_sample + round(
        22.5 * SR
    )
    assert speech_at(plan, phrases.HOLD_RELEASE)[0].start_sample == hold.end_sample


def test_short_hold_has_no_halfway_nor_ten_seconds():
    plan = compile_items([Hold(loc(), fixed(15))])
    assert not speech_at(plan, phrases.HOLD_HALFWAY)
    assert not speech_at(plan, phrases.HOLD_TEN_LEFT)
    assert speech_at(plan, "five")


def test_hold_quiet_says_only_release_and_count_option_counts_n():
    quiet = compile_items([Hold(loc(), fixed(40), quiet=True)])
    assert [e.text for e in quiet.speech_events()] == [phrases.HOLD_RELEASE]
    counted = compile_items([Hold(loc(), fixed(40), count=3)])
    texts = [e.text for e in counted.speech_events()]
    assert "three" in texts and "four" not in texts


def test_hold_with_breath_tones_keeps_tones_inside_the_hold():
    plan = compile_items([Hold(loc(), fixed(30), breathe=(4.0, 6.0))])
    (hold,) = spans(plan, "hold")
    tones = plan.tone_events()
    assert [t.tone for t in tones[:4]] == ["inhale", "exhale", "inhale", "exhale"]
    assert tones[0].start_sample == hold.start_sample
    assert all(
        hold.start_sample <= t.start_sample and t.end_sample <= hold.end_sample for t in tones
    )
    assert tones[-1].end_sample == hold.end_sample  # 30 s = 3 whole cycles


@pytest.mark.parametrize("level,expected_s", [("gentle", 30), ("standard", 45), ("deep", 60)])
def test_ranges_resolve_by_level(level, expected_s):
    plan = compile_items([Hold(loc(), DurationSpec(30, 60))], level=level)
    (hold,) = spans(plan, "hold")
    assert hold.end_sample - hold.start_sample == expected_s * SR


def test_breathe_phases_fall_on_exact_samples_and_guidance_stops_after_guide_cycles():
    plan = compile_items([Breathe(loc(), (4.0, 2.0, 6.0), cycles=3)], sr=48_000)
    (b,) = spans(plan, "breathe")
    assert b.end_sample - b.start_sample == 36 * 48_000
    inhales = [t for t in plan.tone_events() if t.tone == "inhale"]
    exhales = [t for t in plan.tone_events() if t.tone == "exhale"]
    assert [t.start_sample - b.start_sample for t in inhales] == [0, 12 * 48_000, 24 * 48_000]
    assert [t.start_sample - b.start_sample for t in exhales] == [
        6 * 48_000,
        18 * 48_000,
        30 * 48_000,
    ]
    assert all(t.end_sample - t.start_sample == 4 * 48_000 for t in inhales)
    assert len(speech_at(plan, phrases.BREATHE_IN)) == 2  # guide defaults to 2


def test_breathe_for_a_duration_fits_whole_cycles_at_least_one():
    plan = compile_items([Breathe(loc(), (4.0, 6.0), duration=fixed(25))])
    assert len([t for t in plan.tone_events() if t.tone == "inhale"]) == 2
    plan = compile_items([Breathe(loc(), (4.0, 6.0), duration=fixed(3))])
    assert len([t for t in plan.tone_events() if t.tone == "inhale"]) == 1


def test_fractional_phases_do_not_accumulate_rounding():
    plan = compile_items([Breathe(loc(), (5.5, 5.5), cycles=40, guide=0)], sr=22_050)
    (b,) = spans(plan, "breathe")
    starts = [t.start_sample - b.start_sample for t in plan.tone_events()]
    assert starts == [round(k * 5.5 * 22_050) for k in range(80)]


def test_wipers_speak_two_sweeps_then_tick_alternating_sides():
    plan = compile_items([Wipers(loc(), 8, fixed(3))])
    (w,) = spans(plan, "wipers")
    assert w.end_sample - w.start_sample == 24 * SR
    assert speech_at(plan, "knees over to the left")[0].start_sample == w.start_sample
    assert speech_at(plan, "and to the right")[0].start_sample == w.start_sample + 3 * SR
    ticks = [t for t in plan.tone_events() if t.tone == "tick"]
    assert [t.start_sample - w.start_sample for t in ticks] == [k * 3 * SR for k in range(2, 8)]
    assert [t.variant for t in ticks] == ["left", "right"] * 3
    assert [t.pan for t in ticks] == [-1.0, 1.0] * 3


def test_roll_strokes_and_place_ready_tone():
    plan = compile_items([Place(loc(1), fixed(8)), Roll(loc(2), fixed(30), fixed(4))])
    (place,) = spans(plan, "place")
    (ready,) = [t for t in plan.tone_events() if t.tone == "ready"]
    assert ready.end_sample == place.end_sample and place.end_sample - place.start_sample == 8 * SR
    (roll,) = spans(plan, "roll")
    assert roll.start_sample == place.end_sample and roll.end_sample - roll.start_sample == 30 * SR
    strokes = [t for t in plan.tone_events() if t.tone == "stroke"]
    assert [t.variant for t in strokes] == ["up", "down", "up", "down", "up", "down"]
    assert strokes[-1].end_sample == roll.end_sample  # 8th stroke cut at the roll's end
    assert speech_at(plan, phrases.ROLL_UP)[0].start_sample == roll.start_sample


def test_end_bell_added_unless_last_cue_is_a_bell_or_disabled():
    plan = compile_items([Speech(loc(), "Rest.")], end_bell=True)
    assert [e.tone for e in plan.tone_events()] == ["bell"]
    assert plan.duration_samples == spans(plan, "bell")[0].end_sample
    plan = compile_items(
        [Speech(loc(), "Rest."), Bell(loc(2)), ParagraphBreak(loc(3))], end_bell=True
    )
    assert len(spans(plan, "bell")) == 1
    plan = compile_items([Speech(loc(), "Rest.")], end_bell=False)
    assert not spans(plan, "bell")


def test_sections_cover_the_session_in_order():
    items = [
        Speech(loc(1), "Lie down."),
        Heading(loc(2), "Left", 1, side="left"),
        Pause(loc(3), fixed(5)),
        Heading(loc(4), "Right", 1, side="right"),
        Pause(loc(5), fixed(5)),
    ]
    plan = compile_items(items, lead_in_s=3.0)
    titles = [s.title for s in plan.sections]
    assert titles == ["T", "Left", "Right"]
    assert plan.sections[0].start_sample == 0
    for a, b in zip(plan.sections, plan.sections[1:], strict=False):
        assert a.end_sample == b.start_sample
    assert plan.sections[-1].end_sample == plan.duration_samples
    assert plan.sections[2].side == "right"


def test_first_heading_section_starts_at_zero_including_lead_in():
    plan = compile_items([Heading(loc(1), "Only", 1), Pause(loc(2), fixed(1))], lead_in_s=3.0)
    assert plan.sections[0].start_sample == 0
    assert spans(plan, "pause")[0].start_sample == 3 * SR


def test_consecutive_lines_get_a_gap_and_never_overlap():
    plan = compile_items([Speech(loc(1), "One line."), Speech(loc(2), "Another line.")])
    a, b = plan.speech_events()
    assert b.start_sample > a.end_sample


def test_overlap_rule_on_long_count_word():
    speech = FakeSpeech(overrides={"five": 1.6})
    plan = compile_items([Hold(loc(7), fixed(15))], speech=speech)
    texts = [e.text for e in plan.speech_events()]
    assert "four" not in texts and "three" in texts
    (w,) = plan.warnings
    assert (
        w.line == 7
        and w.severity == "warning"
        and "'five' cannot finish before 'four'" in w.message
    )


def test_session_over_four_hours_is_an_error():
    items = [Pause(loc(i), fixed(3600)) for i in range(1, 6)]
    with pytest.raises(ScriptError) as info:
        compile_items(items)
    (d,) = info.value.diagnostics
    assert d.line == 5 and "4 hours" in d.message


def test_json_times_are_exact_multiples_of_the_sample_period():
    plan = compile_items(
        [
            Speech(loc(), "Hello there."),
            Breathe(loc(2), (5.5, 5.5), cycles=2),
            Hold(loc(3), fixed(21.3)),
        ],
        sr=22_050,
    )
    doc = plan.to_json()
    assert doc["sample_rate"] == 22_050
    for e in doc["events"]:
        for key in ("start_s", "end_s"):
            assert abs(e[key] * 22_050 - round(e[key] * 22_050)) < 1e-6
        assert ("text" in e) == (e["kind"] == "speech") and ("tone" in e) == (e["kind"] == "tone")


# ---- property: every compiled plan keeps the time rules ----------------------------

_durations = st.floats(min_value=0.5, max_value=90).map(lambda s: round(s, 2))
_items = st.one_of(
    st.builds(lambda t: Speech(loc(), t), st.text(alphabet="abc defg.", min_size=1, max_size=80)),
    st.just(ParagraphBreak(loc())),
    st.builds(lambda d: Pause(loc(), fixed(d)), _durations),
    st.builds(lambda d: Place(loc(), fixed(d)), _durations),
    st.builds(
        lambda p, n: Breathe(loc(), p, cycles=n),
        st.lists(st.floats(0.5, 8).map(lambda s: round(s, 1)), min_size=2, max_size=4).map(tuple),
        st.integers(1, 6),
    ),
    st.builds(
        lambda d, q, c: Hold(loc(), fixed(d), quiet=q, count=c),
        _durations,
        st.booleans(),
        st.none() | st.integers(1, 12),
    ),
    st.builds(
        lambda n, d: Wipers(loc(), n, fixed(d)),
        st.integers(1, 10),
        st.floats(0.5, 6).map(lambda s: round(s, 1)),
    ),
    st.builds(
        lambda d, s: Roll(loc(), fixed(d), fixed(s)),
        _durations,
        st.floats(0.5, 8).map(lambda s: round(s, 1)),
    ),
    st.just(Bell(loc())),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    items=st.lists(_items, max_size=12),
    sr=st.sampled_from([22_050, 44_100, 48_000]),
    rate=st.floats(0.02, 0.2),
)
def test_property_time_rules_hold_for_any_script(items, sr, rate):
    plan = compile_items(
        items, speech=FakeSpeech(seconds_per_char=rate), sr=sr, end_bell=True, lead_in_s=1.0
    )
    speech = sorted(plan.speech_events(), key=lambda e: e.start_sample)
    for a, b in zip(speech, speech[1:], strict=False):
        assert a.end_sample <= b.start_sample  # rule 3: speech never overlaps speech
    starts = [e.start_sample for e in plan.events]
    assert starts == sorted(starts)
    assert all(0 <= e.start_sample <= e.end_sample <= plan.duration_samples for e in plan.events)
    # rule 1: directive spans never overlap each other and follow script order
    kinds = ("pause", "place", "breathe", "hold", "wipers", "roll", "bell")
    dspans = [e for e in plan.events if e.kind in kinds]
    for a, b in zip(dspans, dspans[1:], strict=False):
        assert a.end_sample <= b.start_sample
    # rule 2: every directive lasts its exact length
    for item, span in zip(
        [i for i in items if not isinstance(i, Speech | ParagraphBreak)], dspans, strict=False
    ):
        if isinstance(item, Pause | Place | Hold | Roll):
            assert span.end_sample - span.start_sample == round(item.duration.low_s * sr)
    assert plan.sections[-1].end_sample == plan.duration_samples


def test_overrides_do_not_mutate_settings():
    s = Settings(title="x")
    assert dataclasses.replace(s, level="deep").level == "deep" and s.level == "standard"
