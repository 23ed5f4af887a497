"""The generic speech worker (real child processes) and the shared silence trimmer."""

from __future__ import annotations

import numpy as np
import pytest

from voicecoach.errors import SpeechError
from voicecoach.speech.trim import trim_silence
from voicecoach.speech.worker import Worker

# -- worker: a real child process running a trivial stdlib "backend" -----------


def test_worker_runs_backend_methods_in_a_child_and_keeps_it():
    worker = Worker("builtins:dict", {"a": 1}, label="test")
    try:
        assert worker.call("get", "a") == 1
        first_pid = worker.pid
        assert first_pid is not None
        worker.call("__setitem__", "b", [1, 2, 3])
        assert worker.call("get", "b") == [1, 2, 3]
        assert worker.pid == first_pid  # one process for many calls
        assert worker.restarts == 0
    finally:
        worker.close()
    assert worker.pid is None


def test_backend_exception_becomes_speech_error_without_restart():
    worker = Worker("builtins:dict", {}, label="test")
    try:
        with pytest.raises(
            SpeechError, match=r"the test speech engine failed: KeyError: 'missing'"
        ):
            worker.call("pop", "missing")
        pid = worker.pid
        assert worker.call("get", "x", None) is None
        assert worker.pid == pid and worker.restarts == 0
    finally:
        worker.close()


def test_unimportable_backend_reports_start_error_with_install_hint():
    worker = Worker(
        "voicecoach_no_such_module:Backend", {}, label="test", install_hint="pip install it"
    )
    with pytest.raises(SpeechError) as info:
        worker.call("anything")
    message = str(info.value)
    assert "the test speech engine could not start" in message
    assert "ModuleNotFoundError" in message and "voicecoach_no_such_module" in message
    assert "pip install it" in message
    assert worker.pid is None


def test_child_dying_during_start_is_reported():
    # os.abort() kills the child with SIGABRT while it builds its backend,
    # like eSpeak's exit(1) would.
    worker = Worker("os:abort", {}, label="test", start_timeout_s=20)
    with pytest.raises(SpeechError, match=r"stopped while starting \(killed by SIGABRT\)"):
        worker.call("anything")


# -- trimming --------------------------------------------------------------


def _tone_with_silence(rate: int, lead_s: float, tone_s: float, tail_s: float) -> np.ndarray:
    t = np.arange(int(tone_s * rate)) / rate
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    return np.concatenate(
        [np.zeros(int(lead_s * rate)), tone, np.zeros(int(tail_s * rate))]
    ).astype(np.float32)


def test_trim_keeps_a_margin_and_fades_both_ends():
    rate = 22_050
    x = _tone_with_silence(rate, 0.5, 1.0, 0.8)
    y = trim_silence(x, rate, margin_s=0.015, fade_s=0.010)
    # the tone plus 15 ms each side, to the sample
    assert abs(len(y) - (rate + 2 * round(0.015 * rate))) <= 3
    assert y[0] == 0.0 and abs(y[-1]) < 1e-3
    assert y.dtype == np.float32
    assert np.max(np.abs(np.diff(y))) < 0.1  # no step anywhere: no click


def test_trim_of_silence_is_empty_and_input_is_untouched():
    rate = 16_000
    assert trim_silence(np.zeros(1000, dtype=np.float32), rate).size == 0
    assert trim_silence(np.zeros(0, dtype=np.float32), rate).size == 0
    x = _tone_with_silence(rate, 0.1, 0.2, 0.1)
    before = x.copy()
    trim_silence(x, rate)
    assert np.array_equal(x, before)


def test_trim_threshold_is_relative_to_peak():
    rate = 8_000
    quiet = _tone_with_silence(rate, 0.2, 0.5, 0.2) * 0.01  # peak 0.005: still a signal
    y = trim_silence(quiet, rate)
    assert abs(len(y) - (0.5 + 2 * 0.015) * rate) <= 3
