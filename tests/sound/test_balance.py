"""Tone balance: the measure on hand-built plans, then the palettes in real exports of a real script."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pyloudnorm
import pytest
import soundfile

import voicecoach
from voicecoach.language.plan import Event, Plan
from voicecoach.language.script import Settings
from voicecoach.session import Session
from voicecoach.sound.balance import measure_balance
from voicecoach.sound.levels import SPEECH_LUFS
from voicecoach.sound.palette import load_palette
from voicecoach.sound.render import render_blocks
from voicecoach.speech.engine import SpeechAudio

SR = 44_100
WARM = load_palette("warm")


def _plan(events, duration_samples: int) -> Plan:
    return Plan(
        title="t",
        sample_rate=SR,
        duration_samples=duration_samples,
        sections=(),
        events=tuple(sorted(events, key=lambda e: (e.start_sample, e.end_sample))),
        settings=Settings(title="t"),
    )


def _voice(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def test_the_measure_reads_each_level_it_was_given_and_leaves_out_speech():
    voice = _voice(2.0)
    speech = Event("speech", 2 * SR, 4 * SR, 1, text="v", speech_key="v")
    inhale = Event("tone", 6 * SR, 10 * SR, 2, tone="inhale")  # clean
    exhale = Event("tone", 10 * SR, 16 * SR, 2, tone="exhale")  # clean
    tick = Event("tone", 17 * SR, 17 * SR + SR // 4, 3, tone="tick", variant="left", pan=-1.0)
    under = Event("tone", 2 * SR + SR // 4, 3 * SR, 4, tone="ready")  # under the speech only
    # a stroke that starts under the speech: no whole stroke, so its clean part counts
    stroke = Event("tone", 3 * SR, 5 * SR + SR // 2, 5, tone="stroke", variant="up")
    plan = _plan([speech, inhale, exhale, tick, under, stroke], 18 * SR)
    audio = np.concatenate(
        list(render_blocks(plan, lambda key: SpeechAudio(voice, SR), palette=WARM))
    )
    balance = measure_balance(plan, audio)

    # the voice over its span, by pyloudnorm (a steady sine: its gating changes nothing); the
    # mixer brought it to the speech level
    spoken = audio[speech.start_sample : speech.end_sample].astype(np.float64)
    assert balance.voice_lufs == pytest.approx(
        pyloudnorm.Meter(SR).integrated_loudness(spoken), abs=0.05
    )
    assert balance.voice_lufs == pytest.approx(SPEECH_LUFS, abs=0.1)
    tone_volume_db = plan.settings.tone_volume_db
    by_tone = {t.tone: t for t in balance.tones}
    for name in ("inhale", "exhale"):
        expected = getattr(WARM, name).loudness_lufs + tone_volume_db
        assert by_tone[name].lufs == pytest.approx(expected, abs=0.02)
        assert by_tone[name].events == 1
        assert balance.relative_db(name) == pytest.approx(expected - balance.voice_lufs)
    # a tick panned to one side: the far ear at 1 - pan_amount
    far = 1.0 - WARM.pan_amount
    panned_db = 10 * math.log10((1 + far**2) / 2)
    assert by_tone["tick"].lufs == pytest.approx(
        WARM.tick.loudness_lufs + tone_volume_db + panned_db, abs=0.02
    )
    assert by_tone["ready"].events == 0 and by_tone["ready"].lufs == -math.inf
    stroke_part = by_tone["stroke"]
    assert stroke_part.events == 1 and not stroke_part.whole
    assert by_tone["inhale"].whole
    assert stroke_part.measured_s == pytest.approx(1.0, abs=1e-3)  # 4.5 .. 5.5 s
    assert [t.tone for t in balance.tones] == ["inhale", "exhale", "ready", "tick", "stroke"]
    with pytest.raises(KeyError):
        balance.relative_db("bell")


# A real script (the compiler, the system engine, the exporter, a decoded WAV): breath
# cycles, a [place] chime, rolling strokes, wiper ticks and a bell, with prose in the
# proportion of the built-in sessions.
SCRIPT = """\
---
title: Tone balance
end_bell: no
---
# Breath
Lie on your back with the ball under the upper back, between the shoulder blade and the spine.
Cross your arms over your chest, and let the ball take your weight.
[place 3s]
[pause 2s]
Keep breathing slowly and deeply, and do not brace against the pressure.
If it feels too strong, lift the hips a little less.
Follow the breath tones.
[breathe 4-6 x4]
Good. Notice how the muscle feels now, softer or the same.

# Roll
Lift the hips slightly, and roll slowly along the muscle.
Up means toward the shoulders, down means toward the waist.
Let the ball sink in as you go.
[roll 24s stroke 4s]
Rest the hips on the floor for a moment, and breathe out slowly.

# Wipers
Keep the ball where it is, and bend your knees with your feet on the floor.
Now sway the knees slowly from side to side, like windshield wipers.
Let the upper back turn over the ball.
[wipers x6 3s]
Rest, and feel the upper back on the floor.
[pause 4s]
[bell]
"""


@pytest.fixture(scope="module")
def script_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("balance") / "balance.md"
    path.write_text(SCRIPT, encoding="utf-8")
    return path


@pytest.mark.parametrize("palette", ["warm", "bright"])
def test_every_tone_sits_under_the_voice_in_a_real_export(script_path, tmp_path, palette):
    with voicecoach.load(script_path, engine="system") as base:
        settings = dataclasses.replace(base.script.settings, palette=palette)
        session = Session(dataclasses.replace(base.script, settings=settings), base.path)
        try:
            assert session.palette.name == palette
            plan = session.plan()
            session.export(tmp_path / "balance.wav")
        finally:
            session.close()
    audio, rate = soundfile.read(tmp_path / "balance.wav", dtype="float64", always_2d=True)
    assert rate == plan.sample_rate and len(audio) == plan.duration_samples
    balance = measure_balance(plan, audio)
    levels = {t.tone: t for t in balance.tones}
    assert set(levels) == {"inhale", "exhale", "ready", "tick", "stroke", "bell"}
    for t in balance.tones:
        assert t.events >= 1 and t.whole, f"no {t.tone} clear of speech to measure"
    rel = {name: balance.relative_db(name) for name in levels}
    report = ", ".join(f"{k} {v:+.1f} dB" for k, v in rel.items())
    # every tone at least 10 dB under the voice (the export's limiter may move the
    # voice a few tenths: 0.5 dB of tolerance is kept on the safe side)
    assert all(v <= -10.5 for v in rel.values()), report
    # the breath tones and the rolling stroke within 3 dB of each other
    paced = [rel["inhale"], rel["exhale"], rel["stroke"]]
    assert max(paced) - min(paced) <= 3.0 - 0.5, report
    # the bell is the loudest tone; ticks and the ready chime are softer than the breath, yet
    # not lost (within 10 dB of it)
    assert rel["bell"] == max(rel.values()), report
    for soft in ("tick", "ready"):
        assert min(paced) - 10 < rel[soft] < min(paced), report
