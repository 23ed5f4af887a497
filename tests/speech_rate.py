"""Measuring a speech engine's pace as heard, for the engine tests."""

from __future__ import annotations

import statistics

from voicecoach.speech.pace import syllables, words

# Prose lines of the built-in library (scripts/*.md), none of them among the lines
# other voices are calibrated on (pace.CALIBRATION_LINES).
PROSE = (
    "Stand near a wall, with the ball in your hand.",
    "It should not touch the bone of the collarbone.",
    "Stand with your feet hip width apart, near a wall or a chair.",
    "Move the ball just behind the ball of the foot.",
    "Now come down to the floor, and lie on your back.",
    "Keep it off the sit bone at the bottom, and off the tailbone in the middle.",
    "Now we roll slowly along the muscle.",
    "When you are ready, roll to your side, and come up slowly to sitting.",
    "Notice the left side of your neck.",
    "The soft muscle between the shoulder blade and the spine is where the ball goes.",
    "Let your head be heavy on the floor.",
    "Now the knees will sway slowly side to side, like windshield wipers.",
    "Stay, and breathe into the spot.",
    "Let the tongue rest, and the jaw soften.",
    "Breathe slowly, in through the nose, and out through the mouth.",
    "Lie on your back, somewhere you can rest for five minutes.",
)


def median_wpm(engine, lines, rate_wpm: int, voice: str | None = None) -> float:
    """Median over ``lines`` of words per minute of the engine's returned (trimmed) audio."""
    return statistics.median(
        words(line) / engine.synthesize(line, voice=voice, rate_wpm=rate_wpm).duration_s * 60
        for line in lines
    )


def cue_and_prose_seconds_per_syllable(engine, cues, lines, rate_wpm: int) -> tuple[dict, float]:
    """Seconds per syllable of each cue alone, and of the prose ``lines`` together."""
    prose_s = sum(
        engine.synthesize(line, voice=None, rate_wpm=rate_wpm).duration_s for line in lines
    )
    prose = prose_s / sum(syllables(line) for line in lines)
    cue_s = {
        cue: engine.synthesize(cue, voice=None, rate_wpm=rate_wpm).duration_s / syllables(cue)
        for cue in cues
    }
    return cue_s, prose
