"""Tone balance: each tone type's loudness against the voice's, measured on rendered audio.

The measure is the one a palette's ``loudness_lufs`` is set by (``tones.tone_loudness_lufs``):
BS.1770 loudness (K-weighted mean square over the channels, in LUFS) over a
span, not gated, and over at least one 400 ms gating block. Here it is taken
on a whole rendered or decoded session:

- the voice: over every speech event of the plan;
- each tone type (``inhale``, ``exhale``, ``stroke``, ``tick``, ``ready``, ``bell``):
  over its own events that overlap neither speech (widened by ``margin_s`` on
  both sides: the duck's lead and ramps) nor another tone event, each over
  ``max(its length, 400 ms)``. Only when no event of a type is clean are the
  clean parts of its events used instead (those of at least 400 ms): a part
  of a swelling or fading tone is not a fair measure of it.

``measure_balance`` works on an array in memory (a session of 15 minutes at
44.1 kHz stereo is about 300 MB as float64 energies): it is for tests and
benchmarks, not for the play or export paths.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from voicecoach.language.plan import TONE_NAMES, Plan
from voicecoach.sound.meter import LUFS_OFFSET, k_weighting_sos
from voicecoach.units import seconds_to_samples

MARGIN_S = 0.5  # left out around speech: covers the duck's lead (0.03 s) and ramps (<= 0.5 s)
MIN_WINDOW_S = 0.4  # one BS.1770 gating block


@dataclass(frozen=True)
class ToneLevel:
    """One tone type's loudness in a session, and how much of it was measured."""

    tone: str
    lufs: float  # -inf when nothing of it could be measured
    events: int  # events that counted
    measured_s: float  # seconds of audio that counted
    whole: bool = True  # False: no event was clear of speech, so clean parts were measured


@dataclass(frozen=True)
class Balance:
    """The voice's loudness and each tone type's, all over their own spans (see the module)."""

    voice_lufs: float
    tones: tuple[ToneLevel, ...]  # in ``TONE_NAMES`` order; only the types the plan has

    def relative_db(self, tone: str) -> float:
        """``tone``'s loudness minus the voice's, in dB (``-inf`` if not measured)."""
        for level in self.tones:
            if level.tone == tone:
                return level.lufs - self.voice_lufs
        raise KeyError(f"the plan has no {tone!r} tone")

    def table(self) -> str:
        """A plain-text table: tone, LUFS, dB relative to the voice, events, seconds."""
        rows = [f"{'voice':8s} {self.voice_lufs:7.1f} LUFS"]
        for t in self.tones:
            what = "events" if t.whole else "parts of events"
            rows.append(
                f"{t.tone:8s} {t.lufs:7.1f} LUFS  {t.lufs - self.voice_lufs:+6.1f} dB"
                f"  ({t.events} {what}, {t.measured_s:.1f} s)"
            )
        return "\n".join(rows)


def k_weighted_power(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Per-frame K-weighted power summed over the channels (BS.1770 weights 1 for L and R).

    ``audio`` is ``(frames,)`` or ``(frames, channels)`` with at most two channels.
    """
    from scipy import signal

    x = np.asarray(audio, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.shape[1] > 2:
        raise ValueError("balance is measured on mono or stereo audio")
    y = signal.sosfilt(k_weighting_sos(sample_rate), x, axis=0)
    return np.sum(y * y, axis=1)


def _lufs(energy: float, window_samples: int) -> float:
    if window_samples <= 0 or energy <= 0:
        return -math.inf
    return LUFS_OFFSET + 10.0 * math.log10(energy / window_samples)


class _Sum:
    """Energy, measuring window and samples of the events that count for one tone type."""

    def __init__(self) -> None:
        self.energy = 0.0
        self.window = 0
        self.samples = 0
        self.events = 0

    def add(self, energy: float, window: int, samples: int) -> None:
        self.energy += energy
        self.window += window
        self.samples += samples
        self.events += 1


def measure_balance(plan: Plan, audio: np.ndarray, *, margin_s: float = MARGIN_S) -> Balance:
    """The balance of ``audio``, a render or decoded export of ``plan`` (same rate, same start)."""
    rate = plan.sample_rate
    power = k_weighted_power(audio, rate)
    n = len(power)
    cumulative = np.concatenate([[0.0], np.cumsum(power)])
    speech = [e for e in plan.events if e.kind == "speech" and e.end_sample > e.start_sample]
    tones = [e for e in plan.events if e.kind == "tone" and e.end_sample > e.start_sample]

    voice_energy = 0.0
    voice_samples = 0
    for e in speech:
        a, b = min(e.start_sample, n), min(e.end_sample, n)
        voice_energy += float(cumulative[b] - cumulative[a])
        voice_samples += b - a
    voice_lufs = _lufs(voice_energy, voice_samples)

    # +1 where speech (with its margin) or a tone event covers a sample; a tone event's own
    # span counts once, so "only this tone sounds" is busy == 1 plus not near speech
    margin = seconds_to_samples(margin_s, rate)
    near_speech = np.zeros(n + 1, dtype=np.int32)
    for e in speech:
        near_speech[max(0, e.start_sample - margin)] += 1
        near_speech[min(n, e.end_sample + margin)] -= 1
    busy = np.zeros(n + 1, dtype=np.int32)
    for e in tones:
        busy[min(e.start_sample, n)] += 1
        busy[min(e.end_sample, n)] -= 1
    clean = (np.cumsum(near_speech)[:n] == 0) & (np.cumsum(busy)[:n] == 1)

    min_window = seconds_to_samples(MIN_WINDOW_S, rate)
    levels = []
    for name in TONE_NAMES:
        whole = _Sum()  # events with nothing left out
        parts = _Sum()  # clean parts (>= 400 ms) of the others
        own = [e for e in tones if e.tone == name]
        if not own:
            continue
        for e in own:
            a, b = min(e.start_sample, n), min(e.end_sample, n)
            keep = clean[a:b]
            kept = int(np.count_nonzero(keep))
            if kept == b - a and kept > 0:
                whole.add(float(cumulative[b] - cumulative[a]), max(kept, min_window), kept)
            elif kept >= min_window:
                parts.add(float(np.sum(power[a:b][keep])), kept, kept)
        used = whole if whole.events else parts
        lufs = _lufs(used.energy, used.window)
        levels.append(ToneLevel(name, lufs, used.events, used.samples / rate, whole=used is whole))
    return Balance(voice_lufs, tuple(levels))
