"""Levels and ramps: decibels to and from linear gain, the loudness every sink aims at, the fades.

The one home of these small ideas: the tone synthesiser, the mixer, the
loudness meter and limiter, and the live player's UI sounds and fades all use
them from here. Plain numpy, cheap to import.
"""

from __future__ import annotations

import math

import numpy as np

TARGET_LUFS = -16.0  # integrated loudness of every export and of play
MAX_TRUE_PEAK_DBTP = -1.0  # the true-peak ceiling (lossy exports aim lower, see export)
# Every utterance is brought to this loudness over its own span (``render``), before the
# script's ``voice_volume`` and the session gain: about the voices' own median level.
SPEECH_LUFS = -17.0
# The integrated loudness of a mix whose speech is at SPEECH_LUFS, less SPEECH_LUFS: the pauses
# between phrases and the quiet tones under the gate's threshold. Measured over the built-in
# sessions (benchmarks/bench_session_gain.py); docs/benchmarks.md has the spread.
MIX_OFFSET_LU = -0.1


def session_gain_db(voice_volume_db: float = 0.0) -> float:
    """The gain that brings a session to ``TARGET_LUFS``: known before any speech is synthesised.

    Speech is at ``SPEECH_LUFS`` phrase by phrase, so the gain is a constant
    (less the script's ``voice_volume``, which then only sets the tones
    against the voice, as before). Play and export use the same gain: a live
    session sounds exactly like the file, with nothing measured first.
    """
    return TARGET_LUFS - SPEECH_LUFS - MIX_OFFSET_LU - voice_volume_db


def db_to_gain(db: float) -> float:
    """Decibels to a linear amplitude factor."""
    return float(10.0 ** (db / 20.0))


def gain_to_db(gain: float) -> float:
    """Linear amplitude factor to decibels (``-inf`` for 0)."""
    return 20.0 * math.log10(gain) if gain > 0 else -math.inf


def raised_cosine(n: int, *, falling: bool = False) -> np.ndarray:
    """A raised-cosine ramp of ``n`` samples (float64), rising smoothly from 0 to 1, both exclusive.

    ``falling`` gives the fade from 1 to 0 instead, computed as such (not the
    rising ramp reversed, which differs in the last bit).
    """
    if n <= 0:
        return np.zeros(0)
    phase = np.pi * (np.arange(n) + 0.5) / n
    return 0.5 + 0.5 * np.cos(phase) if falling else 0.5 - 0.5 * np.cos(phase)


def apply_fades(x: np.ndarray, fade_in_samples: int, fade_out_samples: int) -> np.ndarray:
    """Raised-cosine fade-in and fade-out, in place; each clamped to half the length."""
    half = len(x) // 2
    a = min(fade_in_samples, half)
    b = min(fade_out_samples, half)
    if a:
        x[:a] *= raised_cosine(a)
    if b:
        x[len(x) - b :] *= raised_cosine(b)[::-1]
    return x
