"""``PlanAhead``: a plan compiled while its speech is synthesised is final before ``settled_sample``.

Real speech (eSpeak NG): every intermediate plan, taken after each synthesis
batch, has exactly the final plan's events before its settled point, and the
last one is the plan ``Session.plan`` gives.
"""

from __future__ import annotations

import pytest

from voicecoach.language.ahead import PlanAhead
from voicecoach.speech.service import SpeechService

SESSIONS = ["upper-back", "rhomboids-wipers", "wind-down"]


def _events_before(plan, sample: int) -> list[tuple]:
    return [
        (e.kind, e.start_sample, e.end_sample, e.speech_key, e.tone, e.variant)
        for e in plan.events
        if e.start_sample < sample
    ]


@pytest.mark.slow
@pytest.mark.parametrize("name", SESSIONS)
@pytest.mark.parametrize("minutes", [None, "between"])
def test_every_settled_prefix_is_final(name, minutes, tmp_path, monkeypatch):
    import voicecoach

    monkeypatch.setenv("VOICECOACH_CACHE_DIR", str(tmp_path / "cache"))
    seen: list[tuple] = []
    real_update = PlanAhead._update

    def recording_update(self):
        todo = real_update(self)
        seen.append((self.plan, self.settled_sample, self.done, len(todo)))
        return todo

    if minutes == "between":  # a dose: the plan is fitted anew at each step
        monkeypatch.setenv("VOICECOACH_CACHE_DIR", str(tmp_path / "probe-cache"))
        lengths = []
        for level in ("gentle", "deep"):
            with voicecoach.load(name, engine="system", level=level) as probe:
                lengths.append(probe.plan().duration_s)
        minutes = round(sum(lengths) / 2 / 60, 2)
        monkeypatch.setenv("VOICECOACH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(PlanAhead, "_update", recording_update)
    with voicecoach.load(name, engine="system", minutes=minutes) as session:
        ahead = session.plan_ahead().start()
        ahead.join(300)
        assert ahead.done and ahead.error is None
        final = session.plan()
    assert (
        final.events == ahead.plan.events and final.duration_samples == ahead.plan.duration_samples
    )
    assert len(seen) >= 4, "synthesis came in fewer batches than expected"
    if minutes is not None:  # a dose's ranges depend on every length: nothing settles early
        assert all(point == 0 for _, point, done, _ in seen if not done)
    settled = [s for _, s, _, _ in seen]
    assert settled == sorted(settled), "the settled point moved back"
    for plan, point, done, _ in seen:
        assert _events_before(plan, point) == _events_before(final, point)
        if done:
            assert plan.events == final.events


@pytest.mark.slow
def test_a_phrase_the_engine_cannot_speak_is_reported_at_its_line(tmp_path, monkeypatch):
    import voicecoach
    from voicecoach.errors import ScriptError

    monkeypatch.setenv("VOICECOACH_CACHE_DIR", str(tmp_path / "cache"))
    script = tmp_path / "bad.md"
    script.write_text("# One\nFirst line.\n\nSecond line, which fails.\n", encoding="utf-8")
    real_make = SpeechService._make

    def failing(self, key, text):
        if "fails" in text:
            from voicecoach.errors import PhraseError

            raise PhraseError(f'could not speak "{text}": broken on purpose', text)
        return real_make(self, key, text)

    monkeypatch.setattr(SpeechService, "_make", failing)
    with voicecoach.load(script, engine="system") as session:
        ahead = session.plan_ahead().start()
        ahead.join(60)
    assert isinstance(ahead.error, ScriptError)
    assert "bad.md:4:1: error" in str(ahead.error.diagnostics[0].format())


DROPPING_SCRIPT = """---
title: A cue cut off
say.hold_halfway: you are halfway through this hold now, so keep breathing slowly and softly and let your shoulders melt into the floor
---

# One
Let the ball sink in.
[hold 30s]
Roll off the ball.
"""


@pytest.mark.slow
@pytest.mark.parametrize("name", [*SESSIONS, "dropping"])
def test_the_settled_plan_is_the_compilers_plan_with_every_phrase_synthesised(
    name, tmp_path, monkeypatch
):
    """Against the compiler given the speech service itself (every phrase the script could say
    synthesised first), including a script whose countdown is cut off by a long sentence: the
    cut-off words are estimated, never said, and must not keep the plan from settling."""
    import threading

    import voicecoach
    from voicecoach.language.compiler import compile_script

    monkeypatch.setenv("VOICECOACH_CACHE_DIR", str(tmp_path / "cache"))
    target = name
    if name == "dropping":
        target = tmp_path / "dropping.md"
        target.write_text(DROPPING_SCRIPT, encoding="utf-8")
    with voicecoach.load(target, engine="system") as session:
        result: list = []
        worker = threading.Thread(target=lambda: result.append(session.plan()), daemon=True)
        worker.start()
        worker.join(120)
        assert result, "the plan never settled"
        (settled,) = result
        classic = compile_script(
            session.script,
            session.speech,
            palette=session.palette,
            sample_rate=settled.sample_rate,
            engine=session.engine_name,
        )
    assert settled.events == classic.events
    assert settled.duration_samples == classic.duration_samples
    assert settled.sections == classic.sections and settled.warnings == classic.warnings
    if name == "dropping":
        assert any("cannot finish before" in w.message for w in settled.warnings)


def test_a_final_plan_still_synthesises_what_comes_later(tmp_path, monkeypatch):
    """``play`` after ``plan`` in one process: the word "paused" is made though the plan is final."""
    import voicecoach

    monkeypatch.setenv("VOICECOACH_CACHE_DIR", str(tmp_path / "cache"))
    with voicecoach.load("wind-down", engine="system") as session:
        plan = session.plan()
        assert not session.speech.is_ready("paused")
        ahead = session.plan_ahead(later=("paused",)).start()
        ahead.join(60)
        assert ahead.done and ahead.plan is plan
        assert session.speech.is_ready("paused")
