"""The ``system`` engine with the REAL pyttsx3 + eSpeak NG (espeakng-loader), in real workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from tests.speech_rate import PROSE, cue_and_prose_seconds_per_syllable, median_wpm
from voicecoach.errors import SpeechError
from voicecoach.speech.pace import ESPEAK_POINTS
from voicecoach.speech.system import SystemEngine, clamp_rate_wpm
from voicecoach.speech.trim import TRIM_MARGIN_S, TRIM_RECIPE, TRIM_THRESHOLD_DB

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="these figures are for eSpeak NG on Linux"
)

SHORT = "Breathe in."
MEDIUM = "Let the ball sink in, and breathe out slowly."
LONG = (
    "Place the ball between your shoulder blade and your spine, cross your arms over "
    "your chest, and let your whole weight sink slowly into the floor."
)


@pytest.fixture(scope="module")
def engine():
    eng = SystemEngine(workers=1)
    yield eng
    eng.close()


def _loud_edges(samples: np.ndarray) -> tuple[int, int]:
    """Samples before the first / after the last sample above the trim threshold."""
    threshold = np.abs(samples).max() * 10 ** (TRIM_THRESHOLD_DB / 20)
    loud = np.flatnonzero(np.abs(samples) > threshold)
    return int(loud[0]), len(samples) - 1 - int(loud[-1])


def test_synthesis_gives_plausible_trimmed_speech(engine):
    audio = engine.synthesize(MEDIUM, voice=None, rate_wpm=150)
    x = audio.samples
    assert audio.sample_rate == 22_050  # read from the WAV header
    assert x.dtype == np.float32 and x.ndim == 1
    # 8 words at 150 wpm: about 3 s; eSpeak's exact pace varies, the scale does not.
    assert 1.5 < audio.duration_s < 6.0
    rms = float(np.sqrt(np.mean(x**2)))
    assert rms > 0.02 and np.abs(x).max() <= 1.0
    # Trimmed: the quiet edges are no longer than the kept margin (plus a little),
    # and the cut is faded (the very first and last samples are near zero).
    margin = round(TRIM_MARGIN_S * audio.sample_rate)
    lead, tail = _loud_edges(x)
    assert lead <= margin + 2 and tail <= margin + 2
    assert abs(x[0]) < 1e-3 and abs(x[-1]) < 1e-3


def test_duration_grows_with_text_and_falls_with_rate(engine):
    short = engine.synthesize(SHORT, voice=None, rate_wpm=150).duration_s
    medium = engine.synthesize(MEDIUM, voice=None, rate_wpm=150).duration_s
    long = engine.synthesize(LONG, voice=None, rate_wpm=150).duration_s
    assert short < medium < long
    slow = engine.synthesize(MEDIUM, voice=None, rate_wpm=120).duration_s
    fast = engine.synthesize(MEDIUM, voice=None, rate_wpm=300).duration_s
    assert fast < 0.7 * slow


def test_rate_beyond_the_table_is_the_fastest_setting(engine):
    assert clamp_rate_wpm(10) == 80 and clamp_rate_wpm(1000) == 450 and clamp_rate_wpm(150) == 150
    very_fast = engine.synthesize(MEDIUM, voice=None, rate_wpm=2000).duration_s
    at_end = engine.synthesize(MEDIUM, voice=None, rate_wpm=int(ESPEAK_POINTS[-1][0]) + 1)
    assert abs(very_fast - at_end.duration_s) < 0.05


@pytest.mark.parametrize("rate_wpm", [120, 140, 160])
def test_prose_is_spoken_at_the_rate_asked_as_heard(engine, rate_wpm):
    # ``rate`` is words per minute of the returned (trimmed) speech: the median
    # over real prose lines is within 10% of the request (eSpeak's own number
    # runs about a third fast, so it must not be passed through).
    assert median_wpm(engine, PROSE, rate_wpm) == pytest.approx(rate_wpm, rel=0.10)


@pytest.mark.parametrize("voice", ["gmw/en", "gmw/en-gb-scotland", "gmw/en-029"])
def test_other_english_voices_keep_the_rate_too(engine, voice):
    assert median_wpm(engine, PROSE[::2], 140, voice) == pytest.approx(140, rel=0.10)


def test_the_reference_rate_is_the_table_voices_own(engine, monkeypatch):
    # The factor of a voice compares it with gmw/en-us at the reference setting:
    # measured like any other voice, gmw/en-us itself must come out at 1.
    monkeypatch.setattr("voicecoach.speech.system.ESPEAK_TABLE_VOICE", "none")
    assert engine.pace_factor("gmw/en-us") == pytest.approx(1.0, abs=0.01)
    engine._factors.pop("gmw/en-us")
    assert 1.0 < engine.pace_factor("gmw/en-gb-scotland") < 1.15  # measured: 1.08


def test_short_cues_are_not_rushed(engine):
    # A countdown number or "and out" alone: at least as slow, per syllable, as prose
    # at the same rate (eSpeak lengthens a lone word rather than clipping it).
    cues = ("five", "four", "two", "one", "breathe in", "and out", "ten seconds", "hold")
    cue_s, prose_s = cue_and_prose_seconds_per_syllable(engine, cues, PROSE, 140)
    for cue, seconds in cue_s.items():
        assert seconds >= 0.9 * prose_s, cue


def test_the_same_text_gives_the_same_samples_whatever_came_before():
    # eSpeak kept its pitch-flutter phase, glottal cycle count and gain between
    # utterances: the same text differed by a few samples with what was said
    # before. Two fresh engines, texts in opposite orders and between other
    # voices and rates: bit for bit the same.
    texts = [*PROSE[:6], "five", "and out", "breathe in"]
    first, second = SystemEngine(workers=1), SystemEngine(workers=2)
    try:
        a = {t: first.synthesize(t, voice=None, rate_wpm=140).samples for t in texts}
        for t in reversed(texts):
            second.synthesize(t, voice="gmw/en", rate_wpm=200)
            b = second.synthesize(t, voice=None, rate_wpm=140).samples
            assert b.dtype == a[t].dtype and np.array_equal(a[t], b), t
        assert first._call("stats")["state_reset_complete"] == 1
    finally:
        first.close()
        second.close()


def test_many_utterances_are_never_empty(engine):
    # pyttsx3 + eSpeak returned an empty WAV for ~5% of utterances until the
    # backend waited for eSpeak to be idle; guard against that coming back.
    # Alternate rate and voice: every change is what made eSpeak "busy".
    texts = [f"Hold for {n} more breaths, and let go." for n in range(30)]
    lengths = [
        len(
            engine.synthesize(
                t, voice=("en-us", "gmw/en")[n % 2], rate_wpm=(160, 170, 180)[n % 3]
            ).samples
        )
        for n, t in enumerate(texts)
    ]
    assert min(lengths) > 22_050  # each is well over a second
    assert engine._call("stats")["empty_retries"] == 0


def test_voices_list_english_with_an_american_default(engine):
    voices = engine.voices()
    assert len(voices) > 20
    assert all(v.engine == "system" for v in voices)
    english = [v for v in voices if v.name.lower().startswith("english")]
    assert english
    defaults = [v for v in voices if v.default]
    assert [v.id for v in defaults] == ["gmw/en-us"]
    assert defaults[0].name == "English (America)"


def test_voice_by_id_name_or_short_id_any_case(engine):
    assert engine.resolve_voice(None) == "gmw/en-us"
    assert engine.resolve_voice("English (Great Britain)") == "gmw/en"
    assert engine.resolve_voice("english (great britain)") == "gmw/en"
    assert engine.resolve_voice("GMW/EN") == "gmw/en"
    assert engine.resolve_voice("en-us") == "gmw/en-us"


def test_another_voice_sounds_different(engine):
    # Both voices now speak at the asked pace (lengths within a few percent), so
    # compare the sound itself: the waveforms are unrelated, not the same one.
    us = engine.synthesize(MEDIUM, voice="en-us", rate_wpm=150).samples
    fr = engine.synthesize(MEDIUM, voice="French (France)", rate_wpm=150).samples
    n = min(len(us), len(fr))
    assert abs(np.corrcoef(us[:n], fr[:n])[0, 1]) < 0.5
    again = engine.synthesize(MEDIUM, voice="en-us", rate_wpm=150).samples
    assert np.array_equal(us, again)


def test_unknown_voice_lists_close_names(engine):
    with pytest.raises(SpeechError) as info:
        engine.synthesize(SHORT, voice="Englsh (Amerika)", rate_wpm=150)
    message = str(info.value)
    assert "unknown voice 'Englsh (Amerika)'" in message
    assert "English (America)" in message
    assert "voicecoach voices" in message


def test_identity_is_cheap_and_starts_nothing():
    fresh = SystemEngine()
    started = time.perf_counter()
    identity = fresh.identity()
    assert time.perf_counter() - started < 0.05
    assert identity.startswith("system:pyttsx3-2.") and ":espeak-ng-0." in identity
    assert identity.endswith(TRIM_RECIPE)  # trimmed audio is what the cache keeps
    assert fresh.worker_pids == []


def test_stdout_of_the_engine_stays_clean():
    # pyttsx3 prints "Audio saved to ..." for every file: never on our stdout
    # (``voicecoach plan --json`` writes JSON there).
    code = (
        "from voicecoach.speech.system import SystemEngine\n"
        "e = SystemEngine(workers=1)\n"
        "a = e.synthesize('Hello.', voice=None, rate_wpm=150)\n"
        "e.close()\n"
        "print(len(a.samples) > 0)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout == "True\n"
    assert "Audio saved" not in out.stderr


# -- failures: killed, hung, missing ---------------------------------------


def test_killed_worker_is_restarted():
    eng = SystemEngine(workers=1)
    try:
        eng.synthesize(SHORT, voice=None, rate_wpm=150)
        (pid,) = eng.worker_pids
        os.kill(pid, signal.SIGKILL)
        audio = eng.synthesize(MEDIUM, voice=None, rate_wpm=150)
        assert audio.duration_s > 1.0
        (new_pid,) = eng.worker_pids
        assert new_pid != pid
        assert eng.restarts == 1
    finally:
        eng.close()


def test_worker_killed_during_a_call_is_restarted_and_the_call_answered():
    eng = SystemEngine(workers=1)
    try:
        eng.synthesize(SHORT, voice=None, rate_wpm=150)
        (pid,) = eng.worker_pids
        os.kill(pid, signal.SIGSTOP)  # frozen: the next request waits in its pipe
        result: dict = {}
        call = threading.Thread(
            target=lambda: result.update(a=eng.synthesize(LONG, voice=None, rate_wpm=150))
        )
        call.start()
        time.sleep(0.5)
        os.kill(pid, signal.SIGKILL)  # dies mid-call
        call.join(30)
        assert not call.is_alive()
        assert result["a"].duration_s > 3.0
        assert eng.restarts == 1 and eng.worker_pids != [pid]
    finally:
        eng.close()


def test_hung_worker_is_killed_after_the_timeout_and_restarted():
    eng = SystemEngine(workers=1, call_timeout_s=1.5)
    try:
        eng.synthesize(SHORT, voice=None, rate_wpm=150)
        (pid,) = eng.worker_pids
        os.kill(pid, signal.SIGSTOP)  # a hang, as pyttsx3 sometimes does
        started = time.monotonic()
        audio = eng.synthesize(MEDIUM, voice=None, rate_wpm=150)
        waited = time.monotonic() - started
        assert audio.duration_s > 1.0
        assert 1.4 < waited < 15
        assert eng.restarts == 1 and eng.worker_pids != [pid]
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # the hung process is gone, not left behind
    finally:
        eng.close()


def test_engine_that_never_answers_gives_up_with_a_clear_message():
    eng = SystemEngine(workers=1, call_timeout_s=0.0001, max_attempts=2)
    try:
        with pytest.raises(SpeechError) as info:
            eng.synthesize(LONG, voice=None, rate_wpm=150)
        message = str(info.value)
        assert "the system speech engine did not answer within 0.0001 s" in message
        assert "2 tries" in message
    finally:
        eng.close()


def _shadow_package(tmp_path, monkeypatch, name: str, source: str) -> None:
    """Put a module ``name`` first on the path the worker inherits."""
    folder = tmp_path / "shadow"
    folder.mkdir()
    (folder / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(folder))


def test_missing_pyttsx3_names_what_to_install(tmp_path, monkeypatch):
    _shadow_package(tmp_path, monkeypatch, "pyttsx3", "raise ImportError('No module pyttsx3')\n")
    eng = SystemEngine(workers=1)
    try:
        with pytest.raises(SpeechError) as info:
            eng.synthesize(SHORT, voice=None, rate_wpm=150)
    finally:
        eng.close()
    message = str(info.value)
    assert "could not start" in message and "pyttsx3 is not installed" in message
    assert "pip install pyttsx3 espeakng-loader" in message


def test_espeak_without_its_data_exits_the_worker_not_us(tmp_path, monkeypatch):
    # A loader pointing eSpeak NG at an empty data folder: eSpeak calls exit(1).
    import espeakng_loader

    empty = tmp_path / "no-data"
    empty.mkdir()
    _shadow_package(
        tmp_path,
        monkeypatch,
        "espeakng_loader",
        f"def get_data_path():\n    return {str(empty)!r}\n"
        f"def get_library_path():\n    return {espeakng_loader.get_library_path()!r}\n",
    )
    eng = SystemEngine(workers=1, start_timeout_s=30)
    try:
        with pytest.raises(SpeechError) as info:
            eng.synthesize(SHORT, voice=None, rate_wpm=150)
    finally:
        eng.close()
    message = str(info.value)
    assert "could not start" in message and "exit code 1" in message
    assert "pip install" in message


def test_first_utterance_of_a_fresh_worker_has_the_asked_rate_and_voice(engine):
    # pyttsx3 starts "busy"; the first voice/rate change used to be cancelled
    # inside eSpeak now and then, leaving a whole worker at 200 wpm.
    reference = engine.synthesize(MEDIUM, voice="en-us", rate_wpm=120).duration_s
    for _ in range(3):
        fresh = SystemEngine(workers=1)
        try:
            first = fresh.synthesize(MEDIUM, voice="en-us", rate_wpm=120).duration_s
        finally:
            fresh.close()
        assert first == pytest.approx(reference, abs=0.03)


def test_espeak_state_is_found_by_name_in_the_wheels_library(tmp_path):
    # The reset depends on the library's symbol table: it must find every variable
    # there, and find nothing (not crash) in a file that is not an ELF library.
    import espeakng_loader

    from voicecoach.speech.espeak_state import CARRIED_VARIABLES, elf_symbols

    found = elf_symbols(espeakng_loader.get_library_path(), (*CARRIED_VARIABLES, "espeak_Synth"))
    assert set(found) == {*CARRIED_VARIABLES, "espeak_Synth"}
    assert found["Flutter_ix"][1] == 4 and found["echo_buf"][1] > 1000  # an int, a buffer
    other = tmp_path / "not-a-library.so"
    other.write_bytes(b"#!/bin/sh\n")
    assert elf_symbols(str(other), CARRIED_VARIABLES) == {}
    assert elf_symbols(str(tmp_path / "missing.so"), CARRIED_VARIABLES) == {}
