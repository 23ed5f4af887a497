"""Sound: from a plan and its speech to stereo blocks at the target loudness.

One module per idea, in pipeline order:

- ``palette``: the sound palettes (tone parameters, ducking), read from JSON;
- ``levels``: decibels and linear gain, the loudness targets, the raised-cosine ramps;
- ``dsp``: the resampler (plain numpy, for a fast start);
- ``tones``: tone synthesis, each tone set to its palette loudness;
- ``render``: the streaming mixer (plan + speech -> stereo blocks), with the tone and
  prepared-speech caches;
- ``truepeak``, ``meter``: the 4x true-peak meter and the streaming BS.1770-4 meter;
- ``limiter``: the look-ahead peak limiter and the replay of its gain spans;
- ``decisions``: the cache of measurements and the normalisation decided from them;
- ``normalise``: render, measure and decide the gain (the only module here that
  uses ``render`` and the two-process block consumer);
- ``offload``: rendered blocks consumed in a second process (metering, writing), so
  rendering and metering use two cores;
- ``balance``: each tone type's loudness against the voice (tests and benchmarks).

The names below are loaded lazily: importing this package imports no numpy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from voicecoach._lazy import lazy_exports

_EXPORTS = {
    "DEFAULT_PALETTE": "voicecoach.sound.palette",
    "Palette": "voicecoach.sound.palette",
    "load_palette": "voicecoach.sound.palette",
    "palette_names": "voicecoach.sound.palette",
    "MAX_TRUE_PEAK_DBTP": "voicecoach.sound.levels",
    "TARGET_LUFS": "voicecoach.sound.levels",
    "db_to_gain": "voicecoach.sound.levels",
    "gain_to_db": "voicecoach.sound.levels",
    "TONES": "voicecoach.sound.tones",
    "synth_tone": "voicecoach.sound.tones",
    "render_blocks": "voicecoach.sound.render",
    "LoudnessMeter": "voicecoach.sound.meter",
    "TruePeakMeter": "voicecoach.sound.truepeak",
    "limited_blocks": "voicecoach.sound.limiter",
    "SPEECH_LUFS": "voicecoach.sound.levels",
    "session_gain_db": "voicecoach.sound.levels",
    "measure_balance": "voicecoach.sound.balance",
}

__all__ = [
    "DEFAULT_PALETTE",
    "MAX_TRUE_PEAK_DBTP",
    "SPEECH_LUFS",
    "TARGET_LUFS",
    "TONES",
    "LoudnessMeter",
    "Palette",
    "TruePeakMeter",
    "db_to_gain",
    "gain_to_db",
    "limited_blocks",
    "load_palette",
    "measure_balance",
    "session_gain_db",
    "palette_names",
    "render_blocks",
    "synth_tone",
]

if TYPE_CHECKING:
    from voicecoach.sound.balance import measure_balance
    from voicecoach.sound.levels import (
        MAX_TRUE_PEAK_DBTP,
        SPEECH_LUFS,
        TARGET_LUFS,
        db_to_gain,
        gain_to_db,
        session_gain_db,
    )
    from voicecoach.sound.limiter import limited_blocks
    from voicecoach.sound.meter import LoudnessMeter
    from voicecoach.sound.palette import DEFAULT_PALETTE, Palette, load_palette, palette_names
    from voicecoach.sound.render import render_blocks
    from voicecoach.sound.tones import TONES, synth_tone
    from voicecoach.sound.truepeak import TruePeakMeter


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
