"""Play with an empty speech cache: the session starts at once and speech is synthesised ahead.

Real parts: eSpeak NG through pyttsx3, the PulseAudio null sink, the WAV an
export writes read back. The recording of a cold play must be the export's
audio sample for sample; when synthesis is held back (each batch waits), the
player stops only where the export is silent and goes on where it stopped.
"""

# ruff: noqa: F811  (pytest fixtures imported from tests/pulse.py are redefined as arguments)
from __future__ import annotations

import time

import numpy as np
import pytest
import soundfile as sf

from voicecoach.speech.service import SpeechService

from ..pulse import Recorder, pulse_server  # noqa: F401
from .test_playback import RIG_START_LOSS_S, first_sound, locate, mono

COLD_SCRIPT = """---
title: Cold start
lead_in: 1s
---

# Arrive
Lie down and let the floor hold you.
Place the ball between your shoulder blades.

# Breathe
Breathe in through your nose.
[breathe 2-1-2 x2]
Let the ball sink in.
[hold 6s]

# End
Roll off the ball slowly.
"""

SILENT = 1e-3


def _cold_session(tmp_path, monkeypatch, text: str = COLD_SCRIPT):
    from voicecoach.session import load

    monkeypatch.setenv("VOICECOACH_CACHE_DIR", str(tmp_path / "empty-cache"))
    script = tmp_path / "cold.md"
    script.write_text(text, encoding="utf-8")
    return load(script, engine="system")


def _sound_runs(x: np.ndarray, min_gap: int) -> list[tuple[int, int]]:
    """Spans of sound separated by at least ``min_gap`` silent frames."""
    loud = np.flatnonzero(np.abs(mono(x)) > SILENT)
    if not len(loud):
        return []
    breaks = np.flatnonzero(np.diff(loud) > min_gap)
    starts = [int(loud[0]), *(int(loud[i + 1]) for i in breaks)]
    ends = [*(int(loud[i]) + 1 for i in breaks), int(loud[-1]) + 1]
    return list(zip(starts, ends, strict=True))


@pytest.mark.slow
def test_a_cold_play_starts_on_time_and_is_the_export(pulse_server, tmp_path, monkeypatch):
    with _cold_session(tmp_path, monkeypatch) as session:
        assert not session.estimate()[1], "the cache should be empty"
        with Recorder(pulse_server) as rec:
            t_call = time.monotonic()
            report = session.play(interactive=False, quiet=True, record=False)
            time.sleep(0.2)
        plan = session.plan()  # every phrase is synthesised now: the final plan
        exported = session.export(tmp_path / "cold.wav")
    assert report.completed and report.underruns == 0
    assert report.synthesis_wait_s == 0.0, "play waited for synthesis"
    ref, _ = sf.read(str(exported.path), dtype="float32", always_2d=True)
    x = rec.audio()
    at, score = locate(x, ref)
    skip = int(RIG_START_LOSS_S * plan.sample_rate)
    err = np.abs(x[at + skip : at + len(ref)] - ref[skip : len(x) - at]).max(axis=1)
    bad = np.flatnonzero(err > 2e-3)
    assert score > 0.99 and not len(bad), (
        f"the cold play differs from the export (ncc {score:.6f}; {len(bad)} frames differ, "
        f"first at {bad[:1] / plan.sample_rate} s)"
    )
    first = rec.time_of_frame(first_sound(x)) - t_call
    lead_in = plan.settings.lead_in_s
    assert lead_in <= first < lead_in + 0.5 + 0.5  # the lead-in, the stream's start, 0.5 s


@pytest.mark.slow
def test_when_synthesis_falls_behind_play_waits_between_sounds(pulse_server, tmp_path, monkeypatch):
    """Each synthesis batch waits 1.5 s: play must stop and go on, cutting nothing."""
    real_prepare = SpeechService.prepare

    def slow_prepare(self, texts):
        texts = list(texts)
        if any(not self.is_ready(t) for t in texts):
            time.sleep(1.5)
        return real_prepare(self, texts)

    monkeypatch.setattr(SpeechService, "prepare", slow_prepare)
    with _cold_session(tmp_path, monkeypatch) as session:
        with Recorder(pulse_server) as rec:
            report = session.play(interactive=False, quiet=True, record=False)
            time.sleep(0.2)
        monkeypatch.setattr(SpeechService, "prepare", real_prepare)
        plan = session.plan()
        exported = session.export(tmp_path / "cold.wav")
    assert report.completed
    assert report.synthesis_wait_s > 0.5, "synthesis never fell behind: the test tests nothing"
    assert report.ring_starvations == 0  # the silence was a wait, not a dropout
    assert report.device_underflows == 0, "the device underflowed (a loaded machine?): cannot judge"
    ref, _ = sf.read(str(exported.path), dtype="float32", always_2d=True)
    x = rec.audio()
    rate = plan.sample_rate
    gap = int(0.05 * rate)
    ref_runs = _sound_runs(ref, gap)
    rec_runs = _sound_runs(x, gap)
    # every sound of the export is heard whole, in order: a wait only lengthens a silence
    assert len(rec_runs) == len(ref_runs), (
        f"{len(rec_runs)} sounds heard, {len(ref_runs)} exported: "
        f"heard lengths {[d - c for c, d in rec_runs]}, exported {[b - a for a, b in ref_runs]}"
    )
    skip = int(RIG_START_LOSS_S * rate)
    for (a, b), (c, _) in zip(ref_runs, rec_runs, strict=True):
        # the whole exported sound, from where it was heard to start: a wait inside it would
        # have put silence in the middle (a slow fade may cross the silence threshold a few
        # frames apart in the two, so the runs' own ends are not compared)
        piece = ref[a:b]
        heard = x[c : c + len(piece)]
        lo = skip if c == rec_runs[0][0] else 0
        assert len(heard) == len(piece), "the recording ends inside a sound"
        assert np.abs(heard[lo:] - piece[lo:]).max() < 2e-3, (
            f"the sound at {a / rate:.2f} s differs"
        )
