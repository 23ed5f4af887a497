"""Cue tokens recognised by their shape: durations, ranges, counts, breath patterns, words.

``classify`` never raises: a malformed token comes back as kind ``"bad"`` with
the message to show, so the parser can report it at the token's column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import cast

from voicecoach.language.limits import MIN_PHASE_S
from voicecoach.language.script import DurationSpec

_NUM = r"(?:\d+(?:\.\d+)?|\.\d+)"
_SEC_UNITS = ("s", "sec", "secs", "second", "seconds")
_MIN_UNITS = ("m", "min", "mins", "minute", "minutes")
UNIT_WORDS = _SEC_UNITS + _MIN_UNITS
_UNIT = "|".join(sorted(_SEC_UNITS + _MIN_UNITS, key=len, reverse=True))

_NUM_RE = re.compile(_NUM)
_SIMPLE_RE = re.compile(rf"({_NUM})({_UNIT})")
_COMPOUND_RE = re.compile(rf"({_NUM})(?:{'|'.join(_MIN_UNITS)})({_NUM})(?:{'|'.join(_SEC_UNITS)})")
_CLOCK_RE = re.compile(r"(\d+):(\d\d(?:\.\d+)?)")
_NUM_WITH_LETTERS_RE = re.compile(rf"{_NUM}[a-z]+")
_WORD_RE = re.compile(r"[a-z][a-z0-9_'./-]*")

#: Named breath patterns, phase lengths in seconds (in-hold-out[-hold] or in-out).
NAMED_PATTERNS: dict[str, tuple[float, ...]] = {
    "box": (4.0, 4.0, 4.0, 4.0),
    "relax": (4.0, 7.0, 8.0),
    "calm": (4.0, 6.0),
    "resonance": (5.5, 5.5),
}


@dataclass(frozen=True)
class Token:
    """One whitespace-separated token of a cue.

    ``kind`` is ``duration`` (value: DurationSpec, fixed or range), ``count``
    (int), ``pattern`` (tuple of phase seconds), ``word`` (lower-cased str) or
    ``bad`` (value: the message saying what was expected).
    """

    text: str
    col: int
    kind: str
    value: object

    def is_word(self, word: str) -> bool:
        return self.kind == "word" and self.value == word

    # The value of a token whose ``kind`` the caller has checked, with its type.

    def as_duration(self) -> DurationSpec:
        return cast(DurationSpec, self.value)

    def as_count(self) -> int:
        return cast(int, self.value)

    def as_pattern(self) -> tuple[float, ...]:
        return cast(tuple[float, ...], self.value)


class _Bad(ValueError):
    """A token that has a recognisable shape but a wrong value."""


def _unit_factor(unit: str) -> float:
    return 60.0 if unit.startswith("m") else 1.0


def parse_single_duration_s(text: str) -> float | None:
    """``45s``/``2min``/``1m30s``/``1:30`` -> seconds; None when not a duration shape.

    Raises ``_Bad`` for a clock time whose seconds are 60 or more.
    """
    t = text.lower()
    m = _SIMPLE_RE.fullmatch(t)
    if m:
        return float(m.group(1)) * _unit_factor(m.group(2))
    m = _COMPOUND_RE.fullmatch(t)
    if m:
        return float(m.group(1)) * 60.0 + float(m.group(2))
    m = _CLOCK_RE.fullmatch(t)
    if m:
        secs = float(m.group(2))
        if secs >= 60:
            raise _Bad(f"the seconds after ':' must be below 60, like 1:30 (not {text})")
        return int(m.group(1)) * 60.0 + secs
    return None


def duration_text_s(text: str) -> float | None:
    """Seconds of a duration a person typed (``90s``, ``2m``, ``1:30``); None when it is not one."""
    try:
        return parse_single_duration_s(text.strip())
    except ValueError:  # a duration's shape with a wrong value, like 1:75
        return None


def _check_positive(seconds: float, text: str) -> float:
    if seconds <= 0:
        raise _Bad(f"a duration must be longer than 0s (not {text})")
    return seconds


def _classify_range(text: str) -> DurationSpec:
    low_text, _, high_text = text.partition("-")
    high = parse_single_duration_s(high_text)
    if high is None:
        raise _Bad(f"'{text}' is not a range; write it like 30-60s or 1-2m")
    low = parse_single_duration_s(low_text)
    if low is None:
        if not _NUM_RE.fullmatch(low_text):
            raise _Bad(f"'{text}' is not a range; write it like 30-60s or 1-2m")
        simple = _SIMPLE_RE.fullmatch(high_text.lower())
        if simple is None:
            raise _Bad(f"give both ends of '{text}' a unit, like 1m-1m30s")
        low = float(low_text) * _unit_factor(simple.group(2))
    _check_positive(low, text)
    if low >= high:
        raise _Bad(f"a range goes from low to high, like 30-60s (not {text})")
    return DurationSpec(low, high)


def _classify_pattern(parts: list[str], text: str) -> tuple[float, ...]:
    if not 2 <= len(parts) <= 4:
        raise _Bad(f"a breath pattern has 2 to 4 phases, like 4-2-6 (not {text})")
    phases = tuple(float(p) for p in parts)
    breaths = (phases[0], phases[1] if len(phases) == 2 else phases[2])
    if any(p <= 0 for p in breaths):
        raise _Bad(
            f"breathing in and out must each last longer than 0 seconds, like 4-2-6 or 4-0-6 (not {text})"
        )
    if any(0 < p < MIN_PHASE_S for p in phases):
        raise _Bad(
            f"each breath phase lasts at least {MIN_PHASE_S:g}s (a hold may be 0: no hold), like 4-2-6 (not {text})"
        )
    return phases


def _classify_numeric(t: str, text: str) -> tuple[str, object]:
    if "-" in t:
        parts = t.split("-")
        if all(_NUM_RE.fullmatch(p) for p in parts):
            return "pattern", _classify_pattern(parts, text)
        return "duration", _classify_range(text)
    seconds = parse_single_duration_s(t)
    if seconds is not None:
        return "duration", DurationSpec.fixed(_check_positive(seconds, text))
    if _NUM_RE.fullmatch(t):
        return "bad", f"add a unit: {text}s"
    if re.fullmatch(r"\d+x", t):
        return "bad", f"a count is written with the x first: x{t[:-1]} (not {text})"
    if _NUM_WITH_LETTERS_RE.fullmatch(t):
        return "bad", f"unknown unit in '{text}'; use s or m, like 45s or 2m"
    raise _Bad(unrecognised(text))


def unrecognised(text: str) -> str:
    return (
        f"'{text}' is not a token voicecoach knows; expected a duration (45s), "
        "a range (30-60s), a count (x5), a breath pattern (4-2-6) or a word"
    )


def classify(text: str, col: int) -> Token:
    """Recognise one token by its shape (see the spec's token table)."""
    t = text.lower()
    try:
        if t[0].isalpha():
            if t[0] == "x" and len(t) > 1 and (t[1].isdigit() or t[1] in ".-"):
                if t[1:].isdigit() and int(t[1:]) >= 1:
                    return Token(text, col, "count", int(t[1:]))
                raise _Bad(f"a count is a whole number of at least 1, like x5 (not {text})")
            if _WORD_RE.fullmatch(t):
                return Token(text, col, "word", t)
            raise _Bad(unrecognised(text))
        if t[0].isdigit() or t[0] == ".":
            kind, value = _classify_numeric(t, text)
            return Token(text, col, kind, value)
        raise _Bad(unrecognised(text))
    except _Bad as e:
        return Token(text, col, "bad", str(e))
    except ValueError:  # e.g. a digit string too long for int(): still a clean error
        return Token(text, col, "bad", unrecognised(text))


def format_seconds(seconds: float) -> str:
    """``5400`` -> ``'1h 30m'``; ``95`` -> ``'1m 35s'``; ``4.5`` -> ``'4.5s'`` (for messages)."""
    if seconds < 60:
        return f"{seconds:g}s"
    if not seconds < 1e7:  # absurd or infinite values: keep the message short
        return f"{seconds:.3g}s"
    whole = int(round(seconds))
    h, rem = divmod(whole, 3600)
    m, s = divmod(rem, 60)
    out = []
    if h:
        out.append(f"{h}h")
    if m:
        out.append(f"{m}m")
    if s:
        out.append(f"{s}s")
    return " ".join(out)
