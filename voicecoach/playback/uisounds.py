"""The UI sounds: what a person hears when they press a key (pause, resume, jump, volume, stop).

Made from the palette's own tones (and the word "paused" in the session's
voice when the session gives it), played over or between the session's audio
by the audio callback. "UI sound" here, never "cue": a cue is a script's
bracketed directive.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np

from voicecoach.sound.levels import apply_fades, db_to_gain
from voicecoach.units import seconds_to_samples

if TYPE_CHECKING:
    from voicecoach.language.plan import Plan
    from voicecoach.sound.palette import Palette
    from voicecoach.speech.engine import SpeechAudio

UI_SOUND_NAMES = ("paused", "resume", "jump", "edge", "volume", "bell", "answer")
ANSWER_LEVEL_DB = -14.0  # the answer chime, like the two-note "paused": soft, under the voice
STOP_BELL_S = 4.0  # the stop bell is cut to this (fading over its second half)


def ui_sounds(
    palette: Palette,
    sample_rate: int,
    *,
    paused_speech: SpeechAudio | None = None,
    intro_speech: SpeechAudio | None = None,
    level_db: float = 0.0,
) -> dict[str, np.ndarray]:
    """The UI sounds as ``(frames, 2)`` float32 arrays, from the palette's own tones.

    ``paused`` is the word "paused" when ``paused_speech`` is given (the
    session layer synthesises it with the session's voice), else two soft
    falling notes; ``resume`` a soft chime; ``jump`` a tick; ``edge`` (no
    section that way) a low double tick; ``volume`` a tick; ``bell`` the bell;
    ``answer`` (a re-check's answer was taken) two short soft notes rising a
    fifth, the mirror of the falling "paused" and unlike the ticks.
    ``intro`` (only when ``intro_speech`` is given) is a sentence said before the
    session starts. ``level_db`` shifts them all (the session's tone volume and loudness gain).
    """
    from voicecoach.sound.tones import synth_tone

    def tone(name: str, variant: str = "", length_s: float | None = None) -> np.ndarray:
        n = seconds_to_samples(length_s or palette.length_s(name), sample_rate)
        return synth_tone(palette, name, n, sample_rate, variant=variant)

    from voicecoach.sound.render import at_speech_level  # speech as the mixer has it

    tick = tone("tick")
    low_tick = tone("tick", "left")
    gap = np.zeros(seconds_to_samples(0.12, sample_rate), dtype=np.float32)

    def spoken(audio: SpeechAudio) -> np.ndarray:
        rate = audio.sample_rate
        return _resampled(at_speech_level(_mono(audio.samples), rate), rate, sample_rate)

    if paused_speech is not None:
        paused = spoken(paused_speech)
    else:
        paused = np.concatenate(
            [_note(660.0, 0.16, sample_rate), _note(440.0, 0.3, sample_rate)]
        ) * db_to_gain(-14.0)
    bell_s = min(palette.length_s("bell"), STOP_BELL_S)
    bell = apply_fades(
        tone("bell", length_s=bell_s).copy(), 0, seconds_to_samples(bell_s / 2, sample_rate)
    )
    sounds = {
        "paused": paused,
        "resume": tone("ready", "soft"),
        "jump": tick,
        "edge": np.concatenate([low_tick, gap, low_tick]),
        "volume": tick,
        "bell": bell,
        "answer": answer_chime(sample_rate),
    }
    if intro_speech is not None:
        sounds["intro"] = spoken(intro_speech)
    g = db_to_gain(level_db)
    return {k: stereo(v * g) for k, v in sounds.items()}


def answer_chime(sample_rate: int) -> np.ndarray:
    """The "answer" UI sound (mono): 587 Hz then 880 Hz, 0.35 s in all, at ``ANSWER_LEVEL_DB``."""
    notes = [_note(587.33, 0.12, sample_rate), _note(880.0, 0.23, sample_rate)]
    return np.concatenate(notes) * np.float32(db_to_gain(ANSWER_LEVEL_DB))


def ui_sound_levels_db(
    plan: Plan,
    ui: Mapping[str, np.ndarray] | None,
    paused_speech: SpeechAudio | None,
    intro_speech: SpeechAudio | None = None,
) -> dict[str, float]:
    """Level of each UI sound before the loudness gain: tones at the tone volume, the spoken word at the voice's."""
    levels = {name: plan.settings.tone_volume_db for name in UI_SOUND_NAMES}
    if paused_speech is not None:
        levels["paused"] = plan.settings.voice_volume_db
    if intro_speech is not None:
        levels["intro"] = plan.settings.voice_volume_db
    for name in ui or {}:
        levels[name] = 0.0  # the caller's own sounds are played as given
    return levels


class UISoundBank:
    """The UI sounds at their levels plus the session's loudness gain, as the callback plays them.

    ``sounds`` is swapped in whole (never changed in place): the audio
    callback reads it without a lock. Given a factory, the sounds are made
    on the first ``refresh`` (tone synthesis is not free: it waits until the
    stream runs); ``refresh`` rescales them once the loudness gain is known.
    """

    def __init__(
        self,
        sounds: Mapping[str, np.ndarray] | Callable[[], Mapping[str, np.ndarray]],
        levels_db: Mapping[str, float] | Callable[[], Mapping[str, float]] | None = None,
    ):
        self._factory = sounds if callable(sounds) else None
        self._remake = self._factory
        self._raw = {} if callable(sounds) else {k: stereo(v) for k, v in sounds.items()}
        self._levels_factory = levels_db if callable(levels_db) else None
        self._levels_db = {} if callable(levels_db) else dict(levels_db or {})
        self._gain_db = 0.0
        self.sounds: dict[str, np.ndarray] = {}
        self._scale(0.0)

    def _scale(self, gain_db: float) -> None:
        self._gain_db = gain_db
        self.sounds = {
            k: stereo(v * db_to_gain(self._levels_db.get(k, 0.0) + gain_db))
            for k, v in self._raw.items()
        }

    def remake(self) -> None:
        """Make the sounds again from their factory (at the next ``refresh``): what they are made
        of has changed (the word "paused" synthesised after the session started)."""
        self._factory = self._remake

    def refresh(self, gain_db: float | None) -> None:
        """Make the sounds if not made yet; rescale them to ``gain_db`` (None: not known yet)."""
        if self._factory is not None:
            factory, self._factory = self._factory, None
            if self._levels_factory is not None:
                self._levels_db = dict(self._levels_factory())
            self._raw = {k: stereo(v) for k, v in factory().items()}
            self._scale(self._gain_db)
        if gain_db is not None and self._gain_db != gain_db:
            self._scale(gain_db)


def stereo(x: np.ndarray) -> np.ndarray:
    """``x`` as C-contiguous ``(frames, 2)`` float32 in -1..1 (mono is copied to both sides)."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = np.repeat(x[:, None], 2, axis=1)
    return np.ascontiguousarray(np.clip(x, -1.0, 1.0), dtype=np.float32)


def _note(freq_hz: float, length_s: float, sample_rate: int) -> np.ndarray:
    """A soft sine note with raised-cosine ends."""
    n = seconds_to_samples(length_s, sample_rate)
    x = np.sin(2 * np.pi * freq_hz * np.arange(n) / sample_rate)
    return apply_fades(x, n // 4, n // 2).astype(np.float32)


def _mono(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x.mean(axis=1) if x.ndim == 2 else x


def _resampled(x: np.ndarray, rate_from: int, rate_to: int) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if rate_from != rate_to and len(x):
        from math import gcd

        from voicecoach.sound.dsp import resample_poly

        g = gcd(rate_from, rate_to)
        x = resample_poly(x, rate_to // g, rate_from // g)
    return x.astype(np.float32)
