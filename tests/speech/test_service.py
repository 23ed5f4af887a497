"""``SpeechService`` and engine selection, with the REAL system engine and real cache files."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

from voicecoach.errors import SpeechError
from voicecoach.speech import (
    SpeechCache,
    SpeechService,
    default_engine_name,
    get_engine,
    open_speech,
)
from voicecoach.speech.system import SystemEngine

TEXTS = [
    "Lie down on your back.",
    "Let the ball sink in.",
    "Breathe in slowly.",
    "Lie down on your back.",  # a repeat: synthesised once
    "Cross your arms over your chest.",
]


@pytest.fixture()
def service(tmp_path):
    svc = SpeechService(
        SystemEngine(workers=1), voice=None, rate_wpm=150, cache=SpeechCache(tmp_path)
    )
    yield svc
    svc.close()


def test_prepare_fills_the_cache_once_per_distinct_text(service, tmp_path):
    service.prepare(TEXTS)
    assert service.cache.stats()["entries"] == 4
    durations = [service.duration_s(t) for t in TEXTS]
    assert all(0.5 < d < 5.0 for d in durations)
    assert durations[0] == durations[3]
    key = service.key(TEXTS[1])
    audio = service.audio(key)
    assert audio.duration_s == pytest.approx(service.duration_s(TEXTS[1]))
    assert service.duration_samples(TEXTS[1], 44_100) == audio.duration_samples_at(44_100)
    assert np.sqrt(np.mean(audio.samples**2)) > 0.02


def test_is_ready_says_whether_a_phrase_is_synthesised_without_synthesising_it(service):
    assert not service.is_ready(TEXTS[0])
    assert service.cache.stats()["entries"] == 0  # asking made nothing
    service.prepare(TEXTS[:1])
    assert service.is_ready(TEXTS[0]) and not service.is_ready(TEXTS[1])


def test_warm_cache_needs_no_engine_and_is_fast(service, tmp_path):
    texts = [f"Stay here for breath number {i}." for i in range(30)]
    service.prepare(texts)
    cold = [service.duration_samples(t, 44_100) for t in texts]
    # A new process would start from here: new service, same cache folder.
    warm_engine = SystemEngine(workers=1)
    warm = SpeechService(warm_engine, voice=None, rate_wpm=150, cache=SpeechCache(tmp_path))
    started = time.perf_counter()
    warm.prepare(texts)
    again = [warm.duration_samples(t, 44_100) for t in texts]
    elapsed = time.perf_counter() - started
    assert again == cold
    assert warm_engine.worker_pids == []  # nothing synthesised, no worker started
    assert elapsed < 0.05, f"warm prepare of 30 phrases took {elapsed:.3f} s"
    warm.close()


def test_key_changes_with_voice_rate_and_text(tmp_path):
    engine = SystemEngine(workers=1)
    a = SpeechService(engine, voice=None, rate_wpm=150, cache=None)
    b = SpeechService(engine, voice="en-us", rate_wpm=150, cache=None)
    c = SpeechService(engine, voice=None, rate_wpm=160, cache=None)
    keys = {a.key("Breathe."), b.key("Breathe."), c.key("Breathe."), a.key("Breathe")}
    assert len(keys) == 4
    assert a.key("Breathe.") == SpeechService(engine, voice=None, rate_wpm=150, cache=None).key(
        "Breathe."
    )


def test_truncated_entry_is_made_again_by_prepare(service):
    text = "Lift your hips to go deeper."
    service.prepare([text])
    path = service.cache.path_for(service.key(text))
    full = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(full // 2)
    fresh = SpeechService(
        SystemEngine(workers=1), voice=None, rate_wpm=150, cache=SpeechCache(service.cache.root)
    )
    try:
        fresh.prepare([text])
        assert path.stat().st_size > full // 2
        assert fresh.cache.load(fresh.key(text)) is not None
        assert fresh.engine.worker_pids  # it had to synthesise
    finally:
        fresh.close()


def test_corrupted_entry_is_made_again_when_its_audio_is_fetched(service):
    text = "Roll slowly towards your shoulder."
    service.prepare([text])
    key = service.key(text)
    path = service.cache.path_for(key)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte of the PCM
    path.write_bytes(bytes(data))
    assert service.cache.load(key) is None
    audio = service.audio(key)  # detected, re-made, stored again
    assert audio.duration_s > 1.0
    assert service.cache.load(key) is not None


def test_audio_of_an_unknown_key_is_a_clear_error(service):
    with pytest.raises(SpeechError, match="not prepared"):
        service.audio("0" * 64)


def test_without_cache_everything_stays_in_memory(tmp_path, monkeypatch):
    monkeypatch.setenv("VOICECOACH_CACHE_DIR", str(tmp_path / "unused"))
    svc = open_speech("system", voice=None, rate_wpm=150, use_cache=False)
    try:
        svc.prepare(["Rest.", "Breathe out."])
        audio = svc.audio(svc.key("Rest."))
        assert audio.duration_s == pytest.approx(svc.duration_s("Rest."))
    finally:
        svc.close()
    assert not (tmp_path / "unused").exists()


def test_big_batch_uses_two_workers_and_matches_one_worker(tmp_path):
    texts = [f"Count {i}, and let the breath go." for i in range(16)]
    two = SpeechService(
        SystemEngine(workers=2), voice=None, rate_wpm=150, cache=SpeechCache(tmp_path / "a")
    )
    try:
        two.prepare(texts)
        assert len(two.engine.worker_pids) == 2
        lengths_two = [two.duration_s(t) for t in texts]
    finally:
        two.close()
    one = SpeechService(
        SystemEngine(workers=1), voice=None, rate_wpm=150, cache=SpeechCache(tmp_path / "b")
    )
    try:
        one.prepare(texts)
        lengths_one = [one.duration_s(t) for t in texts]
    finally:
        one.close()
    # eSpeak varies by a few samples with what it spoke before; never more.
    assert np.allclose(lengths_two, lengths_one, atol=0.02)
    assert min(lengths_two) > 1.0


def test_empty_text_is_silence_without_the_engine(tmp_path):
    engine = SystemEngine(workers=1)
    svc = SpeechService(engine, voice=None, rate_wpm=150, cache=SpeechCache(tmp_path))
    try:
        svc.prepare(["   "])
        assert svc.duration_s("   ") == 0.0
        assert engine.worker_pids == []
    finally:
        svc.close()


def test_engine_selection():
    assert isinstance(get_engine("system"), SystemEngine)
    with pytest.raises(SpeechError, match="unknown speech engine 'festival'"):
        get_engine("festival")
    assert default_engine_name() in ("system", "piper")


def test_piper_reported_missing_cleanly_or_available():
    try:
        engine = get_engine("piper")
    except SpeechError as e:
        assert "voicecoach[natural]" in str(e)
        assert default_engine_name() == "system"
    else:
        assert engine.name == "piper"
        assert default_engine_name() == "piper"
        engine.close()


def test_importing_speech_loads_no_speech_library_and_starts_nothing():
    code = (
        "import sys, voicecoach.speech\n"
        "svc = voicecoach.speech.open_speech('system', voice=None, rate_wpm=150)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('pyttsx3', 'espeakng_loader', 'piper', 'onnxruntime')]\n"
        "print(bad, svc.engine.worker_pids)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[] []"
