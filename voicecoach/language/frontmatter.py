"""Front matter: the ``---`` block at the top of a script, checked into ``Settings``.

``front_matter`` reads ``key: value`` lines (unknown keys are warnings, a key
set twice an error); ``settings_of`` checks each value against the language's
limits and keeps the default, reporting why, when one is invalid.
"""

from __future__ import annotations

import re
from typing import Any

from voicecoach.language.limits import MAX_DIRECTIVE_S, RATE_RANGE_WPM, VOLUME_RANGE_DB
from voicecoach.language.phrases import all_names as all_phrase_names
from voicecoach.language.phrases import default_words, is_phrase_name
from voicecoach.language.report import Reporter, did_you_mean
from voicecoach.language.script import ENGINES, LEVELS, Settings
from voicecoach.language.tokens import duration_text_s

FRONT_MATTER_KEYS = (
    "title",
    "teacher",
    "description",
    "equipment",
    "muscles",
    "engine",
    "voice",
    "rate",
    "level",
    "lead_in",
    "line_pause",
    "paragraph_pause",
    "end_quiet",
    "guide",
    "announce",
    "end_bell",
    "voice_volume",
    "tone_volume",
    "palette",
    "say.NAME",
)
SAY_PREFIX = "say."

_FM_LINE_RE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*:(.*)")
_DB_RE = re.compile(r"([+-]?(?:\d+(?:\.\d+)?|\.\d+))\s*(?:db)?", re.IGNORECASE)
_BOOLS = {"yes": True, "true": True, "no": False, "false": False}


def front_matter(
    lines: list[str], rep: Reporter, *, validate: bool
) -> tuple[dict[str, tuple[str, int, int]], int]:
    """``key -> (value, line, col)`` from a ``---`` block at the very top, and the body's first index."""
    if not lines or lines[0].rstrip() != "---":
        return {}, 0
    end = next((i for i in range(1, len(lines)) if lines[i].rstrip() in ("---", "...")), None)
    if end is None:
        rep.error(1, 1, "front matter is not closed: add a line '---' after the settings")
        return {}, len(lines)
    values: dict[str, tuple[str, int, int]] = {}
    if not validate:  # an included file's front matter is ignored
        return values, end + 1
    for i in range(1, end):
        line = lines[i]
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        m = _FM_LINE_RE.fullmatch(line)
        if not m:
            col = len(line) - len(line.lstrip()) + 1
            rep.error(i + 1, col, "expected 'key: value' in the front matter, like 'rate: 140'")
            continue
        key = m.group(1).lower()
        raw = m.group(2)
        value = raw.strip()
        col = m.start(2) + 1 + (len(raw) - len(raw.lstrip())) if value else m.start(1) + 1
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1].strip()
        if key.startswith(SAY_PREFIX):
            if not _say_key(key, value, i + 1, m.start(1) + 1, col, rep):
                continue
        elif key not in FRONT_MATTER_KEYS:
            known = ", ".join(FRONT_MATTER_KEYS)
            hint = "" if rep.full("warning") else did_you_mean(key, FRONT_MATTER_KEYS)
            hint = hint or f"; known keys: {known}"
            rep.warning(i + 1, m.start(1) + 1, f"unknown front-matter key '{key}' is ignored{hint}")
            continue
        if key in values:
            rep.error(
                i + 1,
                m.start(1) + 1,
                f"'{key}' is set twice (first at line {values[key][1]}); keep one",
            )
            continue
        values[key] = (value, i + 1, col)
    return values, end + 1


def _say_key(key: str, value: str, line: int, key_col: int, col: int, rep: Reporter) -> bool:
    """Check a ``say.NAME`` line; False when it is reported and must be ignored."""
    name = key[len(SAY_PREFIX) :]
    if not is_phrase_name(name):
        hint = ("" if rep.full("warning") else did_you_mean(name, all_phrase_names())) or (
            "; the names are listed in the docs (docs/script-format.md), like say.wipers_left"
        )
        rep.warning(line, key_col, f"unknown phrase name '{name}' in '{key}' is ignored{hint}")
        return False
    if not value:
        rep.error(
            line, key_col, f"{key} needs the words to say, like '{key}: {default_words(name)}'"
        )
        return False
    allowed = ("word",) if name == "recheck" else ()
    for m in re.finditer(r"\{([^{}]*)\}|[{}]", value):
        if m.group(1) not in allowed:
            what = "{word}" if allowed else "no placeholder"
            rep.error(
                line, col + m.start(), f"{key} may hold {what}; '{m.group(0)}' cannot be filled in"
            )
            return False
    return True


def settings_of(
    front: dict[str, tuple[str, int, int]], rep: Reporter, default_title: str
) -> Settings:
    """Validate the front matter values; an invalid value is reported and its default kept."""
    kw: dict[str, Any] = {}

    for key in ("teacher", "description", "equipment", "muscles", "voice", "palette"):
        if key in front and front[key][0]:
            kw[key] = front[key][0]
    title = front.get("title", ("", 0, 0))[0]
    kw["title"] = title or default_title

    def check(key: str, convert, message: str, target: str | None = None) -> None:
        if key not in front:
            return
        value, line, col = front[key]
        result = convert(value)
        if isinstance(result, str):  # a specific message
            rep.error(line, col, result)
        elif result is None:
            rep.error(line, col, message)
        else:
            kw[target or key] = result[0]

    def rate(v: str):
        lo, hi = RATE_RANGE_WPM
        ok = v.isascii() and v.isdigit() and len(v) < 6  # 5000 digits: too long for int()
        return (int(v),) if ok and lo <= int(v) <= hi else None

    def choice(options: tuple[str, ...], key: str):
        def convert(v: str):
            low = v.lower()
            if low in options:
                return (low,)
            return f"{key} must be {', '.join(options[:-1])} or {options[-1]}{did_you_mean(low, options)}"

        return convert

    def duration(key: str):
        def convert(v: str):
            seconds = duration_text_s(v)
            if seconds is None:
                if re.fullmatch(r"\d+(?:\.\d+)?", v):
                    return f"add a unit: {v}s"
                return None
            if seconds > MAX_DIRECTIVE_S:
                return f"{key} can be at most 1 hour"
            return (seconds,)

        return convert

    def guide(v: str):
        return (int(v),) if v.isascii() and v.isdigit() and len(v) < 6 else None

    def boolean(v: str):
        low = v.lower()
        return (_BOOLS[low],) if low in _BOOLS else None

    def volume(key: str):
        def convert(v: str):
            m = _DB_RE.fullmatch(v.strip())
            if not m:
                return None
            db = float(m.group(1))
            lo, hi = VOLUME_RANGE_DB
            if not lo <= db <= hi:
                return f"{key} must be between {lo:g} dB and +{hi:g} dB"
            return (db,)

        return convert

    check(
        "rate",
        rate,
        "rate must be a whole number of words per minute from "
        f"{RATE_RANGE_WPM[0]} to {RATE_RANGE_WPM[1]}, like 140",
        "rate_wpm",
    )
    check("level", choice(LEVELS, "level"), "")
    check("engine", choice(ENGINES, "engine"), "")
    check(
        "lead_in", duration("lead_in"), "lead_in needs a duration with a unit, like 3s", "lead_in_s"
    )
    for key, example in (("line_pause", "0.8s"), ("paragraph_pause", "1.6s"), ("end_quiet", "6s")):
        check(key, duration(key), f"{key} needs a duration with a unit, like {example}", f"{key}_s")
    kw["where"] = tuple((k, line, col) for k, (_v, line, col) in front.items())
    say = [(k[len(SAY_PREFIX) :], v[0]) for k, v in front.items() if k.startswith(SAY_PREFIX)]
    if say:
        kw["say"] = tuple(say)
    check("guide", guide, "guide must be a whole number, 0 or more, like 2")
    check("announce", boolean, "announce must be yes or no")
    check("end_bell", boolean, "end_bell must be yes or no")
    check(
        "voice_volume",
        volume("voice_volume"),
        "voice_volume must be in dB, like 0 or -3dB",
        "voice_volume_db",
    )
    check(
        "tone_volume",
        volume("tone_volume"),
        "tone_volume must be in dB, like -6 or -6dB",
        "tone_volume_db",
    )
    return Settings(**kw)
