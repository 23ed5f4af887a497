"""Every phrase voicecoach says on its own (countdowns, breath guidance...).

One table, ``PHRASES``: a name (what a teacher writes after ``say.`` in the
front matter to replace the words), the default words and when they are
spoken. The user docs' list of names is generated from this table
(``phrase_table_markdown``), so the two cannot drift. Keep phrases short: a
phrase must fit inside the second or the breath phase it announces.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Phrase:
    name: str
    words: str
    when: str


_TABLE = (
    Phrase("breathe_in", "breathe in", "a guided inhale"),
    Phrase("breathe_hold", "hold", "a guided hold after the inhale (`4-2-6`)"),
    Phrase("breathe_out", "and out", "a guided exhale"),
    Phrase("breathe_hold_empty", "hold", "a guided hold after the exhale (`4-4-4-4`)"),
    Phrase("hold_halfway", "halfway", "half-way through a hold of 30 s or more"),
    Phrase("hold_ten_left", "ten seconds", "10 s before the end of a hold of 20 s or more"),
    Phrase("hold_release", "and release", "the end of a hold"),
    Phrase("wipers_left", "knees over to the left", "each guided wiper sweep to the left"),
    Phrase("wipers_right", "knees over to the right", "each guided wiper sweep to the right"),
    Phrase("wipers_end", "and back to the middle", "after the last wiper sweep"),
    Phrase("roll_up", "roll up slowly", "each guided rolling stroke up"),
    Phrase("roll_down", "and back down", "each guided rolling stroke down"),
    Phrase("roll_end", "and rest", "the end of a roll"),
    Phrase(
        "recheck",
        "notice your {word}: one is free, five is very tight",
        "a re-check; `{word}` is the re-check's word (8 s of quiet follow)",
    ),
    Phrase("paused", "paused", "live play, when paused"),
)

#: name -> default words, in the table's order.
PHRASES: dict[str, str] = {p.name: p.words for p in _TABLE}

MAX_COUNT = 99  # a countdown counts at most the last 99 seconds
COUNT_PREFIX = "count_"  # count_1 .. count_99: the countdown's numbers

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
_COUNT_NAME_RE = re.compile(r"count_([1-9]\d?)")


def number_word(n: int) -> str:
    """0..99 as English words: ``21`` -> ``'twenty-one'``."""
    if not 0 <= n < 100:
        raise ValueError(f"number_word covers 0..99, not {n}")
    if n < 20:
        return _ONES[n]
    tens, ones = divmod(n, 10)
    return _TENS[tens] + ("" if ones == 0 else "-" + _ONES[ones])


def is_phrase_name(name: str) -> bool:
    """A name ``say.NAME`` may replace: a table entry or ``count_1`` .. ``count_99``."""
    return name in PHRASES or _COUNT_NAME_RE.fullmatch(name) is not None


def all_names() -> tuple[str, ...]:
    """Every replaceable name (for "did you mean" hints)."""
    return (*PHRASES, *(f"{COUNT_PREFIX}{k}" for k in range(1, MAX_COUNT + 1)))


def default_words(name: str) -> str:
    if name in PHRASES:
        return PHRASES[name]
    m = _COUNT_NAME_RE.fullmatch(name)
    if m is None:
        raise KeyError(name)
    return number_word(int(m.group(1)))


def recheck_word(word: str) -> str:
    """A re-check's WORD as spoken: ``upper-back`` -> ``upper back``."""
    return " ".join(re.split(r"[-_]+", word)).strip()


class Wording:
    """The words of every built-in phrase, with a script's ``say.NAME`` overrides applied."""

    def __init__(self, overrides: Mapping[str, str] | None = None) -> None:
        self._overrides = dict(overrides or {})

    def __call__(self, name: str, **fields: str) -> str:
        words = self._overrides.get(name)
        if words is None:
            words = default_words(name)
        return words.format(**fields) if fields else words

    def count(self, n: int) -> str:
        return self(f"{COUNT_PREFIX}{n}")

    def wipers(self, side: str) -> str:
        """The words of a guided sweep to ``side`` (``left``/``right``)."""
        return self(f"wipers_{side}")

    def recheck(self, word: str) -> str:
        return self("recheck", word=recheck_word(word))

    def name_of(self, text: str) -> str | None:
        """The phrase name whose words are ``text`` (countdown numbers included), if any."""
        for name in all_names():
            if name != "recheck" and self(name) == text:
                return name
        return None

    def fixed(self) -> tuple[str, ...]:
        """Every fixed phrase a plan may say, besides prose, numbers and re-checks."""
        names = [n for n in PHRASES if n not in ("recheck", "paused")]
        return tuple(self(n) for n in names)


def phrase_table_markdown() -> str:
    """The docs' table of phrase names (docs/script-format.md embeds it verbatim)."""
    rows = ["| name | default words | spoken at |", "| --- | --- | --- |"]
    for p in _TABLE:
        rows.append(f"| `{p.name}` | {p.words} | {p.when} |")
    rows.append(
        f"| `{COUNT_PREFIX}1` ... `{COUNT_PREFIX}{MAX_COUNT}` | one ... ninety-nine "
        "| the numbers of a hold's countdown |"
    )
    return "\n".join(rows) + "\n"
