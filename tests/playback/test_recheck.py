"""Answering a re-check in its window (issue 14): the control thread's rules with a real plan and a
real journal, and the answer's UI sound through the audio callback (no sound server)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.playback.test_ring import counting, make_transport, period, plan_sample_of
from voicecoach.journal import Journal
from voicecoach.journal.recorder import PlayRecord, recheck_turns, session_key
from voicecoach.playback.keys import parse_keys
from voicecoach.playback.recheck import TAP_SETTLE_S, Rechecks
from voicecoach.playback.transport import Sound
from voicecoach.playback.uisounds import UISoundBank, answer_chime, stereo, ui_sounds
from voicecoach.session import load

SCRIPT = """---
title: Answers
lead_in: 0.5s
---
# Before
[recheck neck]
# Middle
Rest.
[pause 2s]
# After
[recheck neck]
"""


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    path = tmp_path_factory.mktemp("script") / "answers.md"
    path.write_text(SCRIPT, encoding="utf-8")
    with load(path, engine="system") as session:
        return session.plan(), session.script, path


def _record(compiled, tmp_path):
    plan, script, path = compiled
    journal = Journal(tmp_path / "j.sqlite3")
    rec = PlayRecord.begin(journal, plan, script, session=session_key(path))
    confirmed: list[int] = []
    rechecks = Rechecks(rec, plan.sample_rate, lambda: confirmed.append(1))
    return plan, journal, rechecks, confirmed


def _ratings(journal: Journal) -> dict[str, tuple[int | None, int | None]]:
    (p,) = journal.practices()
    return {r.word: (r.before, r.after) for r in p.rechecks}


def test_number_keys_count_only_inside_the_window(compiled, tmp_path):
    plan, journal, rechecks, confirmed = _record(compiled, tmp_path)
    before, after = recheck_turns(plan)
    sr = plan.sample_rate
    window = before.end_sample - 8 * sr
    assert window > before.start_sample  # the question comes first, then the 8 s window
    assert rechecks.key("4", before.start_sample + 1, 0.0)  # during the question: taken, ignored
    assert rechecks.key("4", window - 1, 0.0) and confirmed == []
    assert rechecks.status(window - 1) == ""
    assert rechecks.status(window) == "neck? answer 1-5"
    assert not rechecks.key("space", window - 1, 0.0)  # outside: space stays pause/resume
    assert not rechecks.key("q", window + 1, 0.0)  # q still quits inside a window
    assert rechecks.key("4", window + 1, 0.0) and confirmed == [1]
    assert rechecks.key("2", before.end_sample - 1, 0.0)  # changed mind: the last one counts
    assert rechecks.status(before.end_sample) == "neck before: 2/5"
    assert rechecks.key("5", before.end_sample, 0.0)  # the window has closed: ignored
    assert rechecks.key("1", after.end_sample - sr, 0.0)
    assert confirmed == [1, 1, 1]
    assert _ratings(journal) == {"neck": (2, 1)}


def test_space_taps_count_up_to_five_and_are_recorded_when_they_settle(compiled, tmp_path):
    plan, journal, rechecks, confirmed = _record(compiled, tmp_path)
    before, after = recheck_turns(plan)
    sr = plan.sample_rate
    at = before.end_sample - 6 * sr
    for k in range(3):
        assert rechecks.key("space", at, 10.0 + 0.3 * k)
    rechecks.tick(at, 10.6 + TAP_SETTLE_S - 0.1)  # not settled yet
    assert confirmed == [] and rechecks.status(at) == "neck: 3 taps"
    rechecks.tick(at, 10.6 + TAP_SETTLE_S)
    assert confirmed == [1] and _ratings(journal) == {"neck": (3, None)}
    # seven quick taps near the end of the after-window: capped at 5, recorded as the window closes
    at = after.end_sample - sr // 2
    for k in range(7):
        rechecks.key("space", at, 20.0 + 0.1 * k)
    rechecks.tick(after.end_sample, 20.7)
    assert confirmed == [1, 1] and _ratings(journal) == {"neck": (3, 5)}


def test_taps_still_counting_when_the_play_ends_are_recorded_without_a_sound(compiled, tmp_path):
    plan, journal, rechecks, confirmed = _record(compiled, tmp_path)
    before, _ = recheck_turns(plan)
    rechecks.key("space", before.end_sample - 100, 1.0)
    rechecks.key("space", before.end_sample - 50, 1.1)
    rechecks.finish(before.end_sample - 10)
    assert confirmed == [] and _ratings(journal) == {"neck": (2, None)}


def test_without_a_recorder_no_window_takes_keys(compiled):
    plan = compiled[0]
    before, _ = recheck_turns(plan)
    rechecks = Rechecks(None, plan.sample_rate, lambda: None)
    assert not rechecks.key("space", before.end_sample - 10, 0.0)
    assert rechecks.status(before.end_sample - 10) == ""


def test_number_keys_are_read_from_the_terminal():
    assert parse_keys(b"1 5q6") == (["1", "space", "5", "q"], b"")


def test_the_answer_sound_is_mixed_over_the_session_by_the_callback():
    transport, _, _ = make_transport()
    chime = stereo(answer_chime(8000))
    transport.ui = UISoundBank({"answer": chime})
    quiet = period(transport, 100)
    transport.cmd = Sound("answer")
    heard = np.concatenate(
        [period(transport, 500) for _ in range(4)]
    )  # the chime lasts 2800 frames
    assert transport.cmd is None
    session = counting(100, len(heard))
    assert np.allclose(heard, session + chime[: len(heard)], atol=1e-6)
    assert not np.allclose(quiet, heard[:100])


def test_the_answer_sound_rises_is_short_and_no_louder_than_the_other_ui_sounds():
    from voicecoach.sound.palette import load_palette

    rate = 48000
    sounds = ui_sounds(load_palette(None), rate)
    chime = sounds["answer"][:, 0]
    assert len(chime) < 0.5 * rate
    half = len(chime) // 3

    def pitch_hz(x: np.ndarray) -> float:
        spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
        return float(np.argmax(spectrum) * rate / len(x))

    assert pitch_hz(chime[:half]) < pitch_hz(chime[half:])  # rising: unlike "paused", which falls
    assert np.max(np.abs(chime)) <= np.max(np.abs(sounds["paused"][:, 0])) + 1e-6
    assert not any(
        len(v) == len(sounds["answer"]) and np.allclose(v, sounds["answer"])
        for k, v in sounds.items()
        if k != "answer"
    )


# ---- play --level auto: a sentence said before the session --------------------------------------


def test_an_opening_sound_plays_whole_and_alone_then_the_session_from_its_start():
    transport, ring, _ = make_transport()
    n = transport._hold_frames + 1000  # longer than a jump's sound may hold the session back
    transport.ui = UISoundBank({"intro": np.full((n, 2), 0.25, dtype=np.float32)})
    assert not transport.open_with("missing")
    assert transport.open_with("intro")
    heard = np.concatenate([period(transport, 100) for _ in range(80)])
    start = n + transport._gap_frames  # the sentence, then the gap, then the session
    assert np.allclose(heard[:n], 0.25) and not heard[n:start].any()
    first = start + (-start) % 100  # the state changes at the end of a period
    assert list(plan_sample_of(heard[first:])) == list(range(len(heard) - first))
    assert ring.position == len(heard) - first
