"""Every phrase voicecoach says on its own (countdowns, breath guidance...).

Data in one place, so the wording can change without touching timing code.
Keep them short: a phrase must fit inside the second or the breath phase it
announces. ``{side}`` is replaced by ``left``/``right``.
"""

from __future__ import annotations

BREATHE_IN = "breathe in"
BREATHE_HOLD = "hold"
BREATHE_OUT = "and out"
BREATHE_HOLD_EMPTY = "hold"

HOLD_HALFWAY = "halfway"
HOLD_TEN_LEFT = "ten seconds"
HOLD_RELEASE = "and release"

WIPERS_FIRST = "knees over to the {side}"
WIPERS_NEXT = "and to the {side}"
WIPERS_END = "and back to the middle"

ROLL_UP = "roll up slowly"
ROLL_DOWN = "and back down"
ROLL_END = "and rest"

PAUSED = "paused"

_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def number_word(n: int) -> str:
    """0..99 as English words: ``21`` -> ``'twenty-one'``."""
    if not 0 <= n < 100:
        raise ValueError(f"number_word covers 0..99, not {n}")
    if n < 20:
        return _ONES[n]
    tens, ones = divmod(n, 10)
    return _TENS[tens] + ("" if ones == 0 else "-" + _ONES[ones])


def wiper_phrase(sweep_index: int, side: str) -> str:
    """The spoken cue of a guided wiper sweep (0-based index)."""
    template = WIPERS_FIRST if sweep_index == 0 else WIPERS_NEXT
    return template.format(side=side)


def all_fixed_phrases() -> tuple[str, ...]:
    """Every phrase the compiler may need besides prose and numbers."""
    return (
        BREATHE_IN,
        BREATHE_HOLD,
        BREATHE_OUT,
        BREATHE_HOLD_EMPTY,
        HOLD_HALFWAY,
        HOLD_TEN_LEFT,
        HOLD_RELEASE,
        wiper_phrase(0, "left"),
        wiper_phrase(1, "right"),
        wiper_phrase(0, "right"),
        wiper_phrase(1, "left"),
        WIPERS_END,
        ROLL_UP,
        ROLL_DOWN,
        ROLL_END,
    )
