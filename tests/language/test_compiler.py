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
from voicecoach.errors import ScriptError
from voicecoach.language import phrases
from voicecoach.language.compiler import compile_script
from voicecoach.language.script import (
    Bell,
    Breathe,
    DurationSpec,
    Heading,
    Hold,
    Loc,
    ParagraphBreak,
    Pause,
    Place,
    Recheck,
    Roll,
    Script,
    Settings,
    Speech,
    Wipers,
)

SR = 44_100
W = phrases.PHRASES  # the default words
LINE_PAUSE = round(0.8 * SR)


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
    # a directive on its own line starts line_pause after the speech before it
    (intro,) = speech_at(plan, "Let the ball sink in.")
    assert hold.start_sample == intro.end_sample + LINE_PAUSE
    for k, word in enumerate(["one", "two", "three", "four", "five"], start=1):
        (e,) = speech_at(plan, word)
        assert e.start_sample == hold.end_sample - k * SR
    assert speech_at(plan, W["hold_ten_left"])[0].start_sample == hold.end_sample - 10 * SR
    assert speech_at(plan, W["hold_halfway"])[0].start_sample == hold.start_sample + round(
        22.5 * SR
    )
    assert speech_at(plan, W["hold_release"])[0].start_sample == hold.end_sample


def test_short_hold_has_no_halfway_nor_ten_seconds():
    plan = compile_items([Hold(loc(), fixed(15))])
    assert not speech_at(plan, W["hold_halfway"])
    assert not speech_at(plan, W["hold_ten_left"])
    assert speech_at(plan, "five")


def test_hold_quiet_says_only_release_and_count_option_counts_n():
    quiet = compile_items([Hold(loc(), fixed(40), quiet=True)])
    assert [e.text for e in quiet.speech_events()] == [W["hold_release"]]
    counted = compile_items([Hold(loc(), fixed(40), count=3)])
    texts = [e.text for e in counted.speech_events()]
    assert "three" in texts and "four" not in texts


def test_hold_with_breath_tones_runs_whole_cycles_before_the_countdown():
    """Time rule 6: 45 s of 4-6 with a 5 s countdown: 4 whole cycles (40 s), none cut."""
    plan = compile_items([Hold(loc(), fixed(45), breathe=(4.0, 6.0))])
    (hold,) = spans(plan, "hold")
    tones = plan.tone_events()
    assert [t.tone for t in tones] == ["inhale", "exhale"] * 4
    assert tones[0].start_sample == hold.start_sample
    assert [t.duration_samples for t in tones] == [4 * SR, 6 * SR] * 4
    assert tones[-1].end_sample == hold.start_sample + 40 * SR
    (five,) = speech_at(plan, "five")
    assert tones[-1].end_sample <= five.start_sample


def test_quiet_hold_with_breath_tones_runs_whole_cycles_to_its_end():
    plan = compile_items([Hold(loc(), fixed(30), breathe=(4.0, 6.0), quiet=True)])
    (hold,) = spans(plan, "hold")
    tones = plan.tone_events()
    assert len(tones) == 6 and tones[-1].end_sample == hold.end_sample


@settings(max_examples=60, deadline=None)
@given(
    hold_s=st.integers(min_value=1, max_value=300),
    pattern=st.sampled_from([(4.0, 6.0), (4.0, 2.0, 6.0), (5.5, 5.5), (4.0, 0.0, 6.0, 2.0)]),
    count=st.sampled_from([None, 1, 3, 10]),
)
def test_no_breath_phase_is_cut_inside_a_hold(hold_s, pattern, count):
    if count is not None and count > hold_s:
        count = hold_s
    plan = compile_items([Hold(loc(), fixed(hold_s), breathe=pattern, count=count)])
    (hold,) = spans(plan, "hold")
    lengths = {"inhale": pattern[0], "exhale": pattern[1] if len(pattern) == 2 else pattern[2]}
    counted = [
        e for e in plan.speech_events() if e.text in {phrases.number_word(k) for k in range(1, 11)}
    ]
    for t in plan.tone_events():
        assert (
            t.duration_samples == round(lengths[t.tone] * SR)
            or abs(t.duration_samples - lengths[t.tone] * SR) <= 1
        )
        assert t.end_sample <= hold.end_sample
        assert all(t.end_sample <= c.start_sample for c in counted)


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
    assert len(speech_at(plan, W["breathe_in"])) == 2  # guide defaults to 2


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
    assert speech_at(plan, "knees over to the right")[0].start_sample == w.start_sample + 3 * SR
    # time rule 7: the guided sweeps tick too, with their words
    ticks = [t for t in plan.tone_events() if t.tone == "tick"]
    assert [t.start_sample - w.start_sample for t in ticks] == [k * 3 * SR for k in range(8)]
    assert [t.variant for t in ticks] == ["left", "right"] * 4
    assert [t.pan for t in ticks] == [-1.0, 1.0] * 4


def test_roll_strokes_and_place_ready_tone():
    plan = compile_items([Place(loc(1), fixed(8)), Roll(loc(2), fixed(30), fixed(4))])
    (place,) = spans(plan, "place")
    (ready,) = [t for t in plan.tone_events() if t.tone == "ready"]
    assert ready.end_sample == place.end_sample and place.end_sample - place.start_sample == 8 * SR
    (roll,) = spans(plan, "roll")
    assert roll.start_sample == place.end_sample and roll.end_sample - roll.start_sample == 30 * SR
    strokes = [t for t in plan.tone_events() if t.tone == "stroke"]
    # time rule 7: the guided strokes sound with their words
    assert [t.variant for t in strokes] == ["up", "down"] * 4
    assert strokes[0].start_sample == roll.start_sample
    assert strokes[-1].end_sample == roll.end_sample  # 8th stroke cut at the roll's end
    assert speech_at(plan, W["roll_up"])[0].start_sample == roll.start_sample


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


def test_lines_of_a_paragraph_are_line_pause_apart_and_a_blank_line_paragraph_pause():
    plan = compile_items(
        [
            Speech(loc(1), "One."),
            Speech(loc(2), "Two."),
            ParagraphBreak(loc(3)),
            Speech(loc(4), "Three."),
        ]
    )
    one, two, three = plan.speech_events()
    assert two.start_sample - one.end_sample == LINE_PAUSE
    assert three.start_sample - two.end_sample == round(1.6 * SR)
    wide = compile_items(
        [Speech(loc(1), "One."), Speech(loc(2), "Two.")], line_pause_s=1.25
    ).speech_events()
    assert wide[1].start_sample - wide[0].end_sample == round(1.25 * SR)


def test_a_cue_inside_a_line_starts_when_the_words_end():
    plan = compile_items([Speech(loc(1), "Sink in."), Pause(loc(1), fixed(2))])
    (words,) = plan.speech_events()
    (pause,) = spans(plan, "pause")
    assert pause.start_sample == words.end_sample
    inline_hold = compile_items(
        [Speech(Loc("t.md", 1, 1), "Rest."), Hold(Loc("t.md", 1, 8), fixed(5))]
    )
    assert spans(inline_hold, "hold")[0].start_sample == inline_hold.speech_events()[0].end_sample


def test_zero_hold_phase_is_neither_said_nor_sounded():
    plan = compile_items([Breathe(loc(), (4.0, 0.0, 6.0), cycles=2)])
    (b,) = spans(plan, "breathe")
    assert b.duration_samples == 20 * SR
    assert [e.text for e in plan.speech_events()] == [W["breathe_in"], W["breathe_out"]] * 2
    assert [(t.tone, t.start_sample - b.start_sample) for t in plan.tone_events()] == [
        ("inhale", 0),
        ("exhale", 4 * SR),
        ("inhale", 10 * SR),
        ("exhale", 14 * SR),
    ]


def test_say_overrides_replace_the_built_in_words():
    plan = compile_items(
        [Wipers(loc(), 4, fixed(3)), Hold(loc(2), fixed(12), count=3)],
        say=(("wipers_left", "feet over to the left"), ("count_3", "three, soft")),
    )
    texts = [e.text for e in plan.speech_events()]
    assert texts[:2] == ["feet over to the left", W["wipers_right"]]
    assert "three, soft" in texts and "three" not in texts


def test_recheck_asks_then_leaves_eight_quiet_seconds():
    plan = compile_items([Speech(loc(1), "Lie down."), Recheck(loc(2), "upper-back")])
    (span,) = spans(plan, "recheck")
    question = plan.speech_events()[1]
    assert question.text == "notice your upper back: one is free, five is very tight"
    assert span.start_sample == question.start_sample
    assert span.end_sample == question.end_sample + 8 * SR
    assert span.text == "upper-back"
    assert plan.duration_samples == span.end_sample


@pytest.mark.parametrize("explicit", [False, True])
def test_final_bell_comes_after_end_quiet_of_quiet(explicit):
    items = [Speech(loc(1), "Rest."), Breathe(loc(2), (4.0, 6.0), cycles=1)]
    if explicit:
        items.append(Bell(loc(3)))
    plan = compile_items(items, end_bell=True)
    (bell,) = spans(plan, "bell")
    last_sound = max(
        e.end_sample for e in plan.events if e.kind in ("speech", "tone") and e.tone != "bell"
    )
    assert bell.start_sample - last_sound == 6 * SR
    assert plan.duration_samples == bell.end_sample
    short = compile_items(items, end_bell=True, end_quiet_s=2.5)
    last = max(
        e.end_sample for e in short.events if e.kind in ("speech", "tone") and e.tone != "bell"
    )
    assert spans(short, "bell")[0].start_sample - last == round(2.5 * SR)


def test_a_bell_in_the_middle_does_not_wait_for_end_quiet():
    plan = compile_items(
        [Speech(loc(1), "Rest."), Bell(loc(2)), Speech(loc(3), "Again.")], end_bell=False
    )
    (bell,) = spans(plan, "bell")
    assert bell.start_sample == plan.speech_events()[0].end_sample + LINE_PAUSE


def test_a_dropped_built_in_phrase_points_to_say_name():
    """A countdown that cannot fit says which say.NAME gives it shorter words."""
    slow = FakeSpeech(overrides={"three": 1.5})
    plan = compile_items([Hold(loc(), fixed(12), count=3)], speech=slow)
    messages = [w.message for w in plan.warnings]
    assert any("say.count_3" in m for m in messages), messages


def test_a_session_surely_over_four_hours_is_refused_before_any_synthesis():
    """A line of 200,000 words was synthesised (minutes) before the 4-hour limit refused it."""

    class NoSynthesis(FakeSpeech):
        def prepare(self, texts):
            raise AssertionError("synthesis started")

    with pytest.raises(ScriptError, match="more than 4 hours"):
        compile_items([Speech(loc(), "rest " * 200_000)], speech=NoSynthesis())
    plan = compile_items([Speech(loc(), "rest " * 2_000)])  # about 14 minutes: fine
    assert plan.duration_samples > 0
