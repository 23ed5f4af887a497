"""Speaking rate as heard: each engine's own setting for a rate in words per minute.

A script's ``rate`` is words per minute of the speech audio an engine returns
(trimmed by ``trim.py``): words of a prose line divided by its seconds. The
engines' own numbers mean something else: eSpeak NG at its "150 wpm" speaks
199 words per minute of audio, and Piper's ``length_scale`` has no unit. So
each engine's setting comes from a table of measured points, interpolated
(linearly between neighbours, held at the ends).

The points are medians over 30 prose lines of the built-in library
(``benchmarks/bench_rate.py --raw`` measures them again), for each engine's
default voice. Any other voice is measured once, on its first synthesis in a
process: the median rate of ``CALIBRATION_LINES`` at a reference setting,
against the default voice's (``voice_factor``); the request is divided by that
factor before the table is read. Synthesis is reproducible, so the factor is a
function of the engine and the voice, which the cache key already holds.
Changing a table, the lines or a reference changes the engine's identity, so
cached speech at the old pace is not reused.
"""

from __future__ import annotations

import hashlib
import re
import statistics
from collections.abc import Sequence

# eSpeak NG 1.52 (espeakng-loader), voice gmw/en-us: (heard wpm, eSpeak rate, word gap in
# 10 ms). eSpeak's slowest rate is 80 (heard 110); slower comes from its gap between words.
# Other voices differ by a few percent (English ones measured 2-8% faster: en, en-029,
# en-gb-scotland), more than a 10% budget allows: they get a measured factor.
ESPEAK_TABLE_VOICE = "gmw/en-us"
ESPEAK_POINTS: tuple[tuple[float, int, int], ...] = (
    (42.7, 80, 30),
    (52.8, 80, 20),
    (60.2, 80, 15),
    (70.1, 80, 10),
    (80.7, 80, 6),
    (91.0, 80, 3),
    (110.2, 80, 0),
    (117.4, 90, 0),
    (130.8, 100, 0),
    (144.8, 110, 0),
    (158.6, 120, 0),
    (173.0, 130, 0),
    (186.9, 140, 0),
    (199.3, 150, 0),
    (213.8, 160, 0),
    (228.3, 170, 0),
    (240.4, 180, 0),
    (267.7, 200, 0),
    (299.7, 225, 0),
    (332.9, 250, 0),
    (398.7, 300, 0),
    (460.3, 350, 0),
    (527.6, 400, 0),
    (576.8, 450, 0),
)

# Piper, the joe voice (en_US-joe-medium), noise_w 0: (heard wpm, length_scale). Above
# ~250 wpm the fixed pauses between sentences (and inside the model) keep it slower than 1/x.
PIPER_POINTS: tuple[tuple[float, float], ...] = (
    (77.6, 4.0),
    (94.3, 3.2),
    (115.3, 2.6),
    (132.6, 2.2),
    (141.8, 2.05),
    (152.5, 1.9),
    (160.6, 1.75),
    (174.3, 1.6),
    (192.0, 1.45),
    (213.7, 1.3),
    (235.3, 1.15),
    (251.5, 1.0),
    (269.6, 0.85),
    (326.8, 0.7),
    (394.8, 0.5),
    (436.7, 0.4),
)


# Prose lines of the library (none of them in the tests' own lines) that a voice other
# than the default is measured on.
CALIBRATION_LINES = (
    "Notice where your shoulders rest.",
    "Let your arms hang, and take three slow breaths into your chest.",
    "Keep it off the back of the heel bone.",
    "Then come up slowly to sitting.",
    "For more pressure, lift your hands off the floor, and let more weight come down.",
    "Stand facing a wall, an arm's length away.",
    "The bony ridge at the back of your head rests on top of the balls.",
    "If you find a tender spot, stay with it.",
    "Bring your knees back to the middle.",
    "This area is sensitive. Use soft balls, and less pressure than you think.",
    "Breathe in slowly through your nose, and out through your mouth.",
    "You should feel strong, welcome pressure, never sharp pain.",
)
# The settings other voices are measured at, and the default voice's median rate
# over CALIBRATION_LINES there (so the default voice's factor is 1).
ESPEAK_REFERENCE = (100, 0)  # eSpeak rate, word gap
ESPEAK_REFERENCE_WPM = 123.22  # gmw/en-us
PIPER_REFERENCE_SCALE = 1.0
PIPER_REFERENCE_WPM = 233.26  # joe
_WORD = re.compile(r"[A-Za-z0-9]+(?:['’-][A-Za-z0-9]+)*")


def words(text: str) -> int:
    """Words as a listener counts them ("arm's" and "twenty-one" are one each)."""
    return len(_WORD.findall(text))


def syllables(text: str) -> int:
    """Vowel groups per word, a silent final e dropped: rough, but the same for cues and prose."""
    count = 0
    for word in re.findall(r"[a-z]+", text.lower()):
        groups = len(re.findall(r"[aeiouy]+", word))
        if word.endswith("e") and not word.endswith("le") and groups > 1:
            groups -= 1
        count += max(1, groups)
    return count


def voice_factor(durations_s: Sequence[float], reference_wpm: float) -> float:
    """How much faster a voice speaks than the default one, from its ``CALIBRATION_LINES`` seconds.

    ``durations_s[i]`` is the trimmed length of ``CALIBRATION_LINES[i]`` at the
    engine's reference setting. Rounded, so that it is the same number every time.
    """
    if len(durations_s) != len(CALIBRATION_LINES) or min(durations_s) <= 0:
        raise ValueError("one positive duration per calibration line is needed")
    rates = [words(t) / d * 60 for t, d in zip(CALIBRATION_LINES, durations_s, strict=True)]
    return round(statistics.median(rates) / reference_wpm, 3)


def interpolate(points: Sequence[Sequence[float]], rate_wpm: float) -> tuple[float, ...]:
    """The settings for ``rate_wpm`` from rows ``(heard_wpm, setting, ...)`` sorted by heard wpm.

    Linear between the two rows around ``rate_wpm``; the first or last row's
    settings beyond the table's ends.
    """
    if not points:
        raise ValueError("no calibration points")
    if rate_wpm <= points[0][0]:
        return tuple(float(v) for v in points[0][1:])
    for low, high in zip(points, points[1:], strict=False):
        if rate_wpm <= high[0]:
            t = (rate_wpm - low[0]) / (high[0] - low[0])
            return tuple(a + t * (b - a) for a, b in zip(low[1:], high[1:], strict=True))
    return tuple(float(v) for v in points[-1][1:])


def espeak_settings(rate_wpm: float) -> tuple[int, int]:
    """eSpeak NG's (rate, word gap in 10 ms units) for ``rate_wpm`` words per minute as heard."""
    rate, gap = interpolate(ESPEAK_POINTS, rate_wpm)
    return int(round(rate)), int(round(gap))


def piper_length_scale(rate_wpm: float) -> float:
    """Piper's length_scale for ``rate_wpm`` words per minute as heard (joe voice's table)."""
    (scale,) = interpolate(PIPER_POINTS, rate_wpm)
    return round(scale, 4)


def _digest(points: object) -> str:
    return hashlib.sha256(repr(points).encode()).hexdigest()[:10]


# In the engines' identities (so in every speech cache key).
ESPEAK_PACE = (
    f"pace-{_digest((ESPEAK_POINTS, CALIBRATION_LINES, ESPEAK_REFERENCE, ESPEAK_REFERENCE_WPM))}"
)
PIPER_PACE = (
    f"pace-{_digest((PIPER_POINTS, CALIBRATION_LINES, PIPER_REFERENCE_SCALE, PIPER_REFERENCE_WPM))}"
)
