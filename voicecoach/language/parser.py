"""Session script text -> ``Script``, exactly as SCRIPT_FORMAT.md (version 1) specifies.

The parser works in numbered stages, each reporting problems as Diagnostics
instead of stopping, so that one run shows every error in a script:

1. read the file (size limit, UTF-8) and split it into lines;
2. front matter (``---`` block at the very top) -> Settings;
3. comments (``// ...`` lines, ``<!-- ... -->``) are blanked out;
4. each line becomes a record: heading, blank, ``[sides]`` line, or content
   (prose pieces and parsed cues; includes are parsed and expanded here);
5. records are emitted as a flat tuple of items, repeating ``[sides]``
   sections once per side and replacing ``{side}``.

Only ``parse_text`` and ``parse_file`` are public. Both raise ``ScriptError``
with every diagnostic (sorted by file, line, column) when there is any error.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voicecoach.errors import Diagnostic, ScriptError
from voicecoach.language.phrases import all_names as all_phrase_names
from voicecoach.language.phrases import default_words, is_phrase_name
from voicecoach.language.script import (
    ENGINES,
    LEVELS,
    Bell,
    Breathe,
    DurationSpec,
    Heading,
    Hold,
    Item,
    Loc,
    ParagraphBreak,
    Pause,
    Place,
    Recheck,
    Roll,
    Script,
    Settings,
    Speech,
    Wipers,
)
from voicecoach.language.tokens import (
    MIN_PHASE_S,
    NAMED_PATTERNS,
    UNIT_WORDS,
    Token,
    classify,
    duration_text_s,
    format_seconds,
)

__all__ = ["parse_text", "parse_file", "MAX_SCRIPT_BYTES", "MAX_DIRECTIVE_S", "MAX_INCLUDE_DEPTH"]

MAX_SCRIPT_BYTES = 1024 * 1024  # a script (each file) is at most 1 MiB
MAX_DIRECTIVE_S = 3600.0  # any one directive lasts at most 1 hour
MAX_INCLUDE_DEPTH = 8  # includes nest at most 8 levels below the main script
MAX_ERRORS_PER_LINE = 10  # a line of garbage is not reported character by character
MAX_CUE_TOKENS = 64  # tokens of one cue that are read (see _cue)
MAX_ERRORS = 1000  # per run; beyond that one last error says so
MAX_CUES = 20_000  # items (spoken lines and cues) after include and sides are expanded

DEFAULT_PLACE_S = 5.0
DEFAULT_SWEEP_S = 3.0
DEFAULT_STROKE_S = 4.0
DEFAULT_SIDES = ("left", "right")
RATE_RANGE_WPM = (80, 450)
VOLUME_RANGE_DB = (-60.0, 20.0)

DIRECTIVES = (
    "pause",
    "place",
    "breathe",
    "hold",
    "wipers",
    "roll",
    "bell",
    "recheck",
    "sides",
    "include",
)

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

# Characters that are never valid in a script: C0 controls except tab, DEL, lone surrogates.
_BAD_CHAR_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")
_FM_LINE_RE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*:(.*)")
_DB_RE = re.compile(r"([+-]?(?:\d+(?:\.\d+)?|\.\d+))\s*(?:db)?", re.IGNORECASE)
_NUMBER_RE = re.compile(r"\d+(?:\.\d+)?|\.\d+")
_LIST_MARKER_RE = re.compile(r"\s*(?:[-*+]|\d{1,9}[.)])\s+")
# Emphasis marks around words: *a*, **a**, _a_, __a__, `a` (not inside a word, like snake_case).
# The text between two marks never holds the mark itself: a lazy ".*?" scanned to the end of
# the line from every opening mark ("*a " * 200000 took minutes).
_EMPHASIS_RE = re.compile(
    r"(?<![\w*`])(\*\*|\*|__|_|`)(?=[^\s*_`])((?:(?!\1).)*?[^\s*_`])??\1(?![\w*`])"
)
_MAX_EMPHASIS_PASSES = 4  # nested marks deeper than this are left to _STRAY_MARKS_RE
_STRAY_MARKS_RE = re.compile(r"[*`]+")
FENCE = "```"
_ESCAPABLE = "[]{}\\"
_BOOLS = {"yes": True, "true": True, "no": False, "false": False}


# ---- public API ------------------------------------------------------------


def parse_text(text: str, path: str = "<script>", *, builtin_dir: Path | None = None) -> Script:
    """Parse script ``text``; ``path`` names it in diagnostics and is the base for includes.

    ``builtin_dir`` is the built-in library folder that includes may also
    read from (default: the packaged ``scripts/``). Raises ScriptError.
    """
    ctx = _Context(_builtin_dir(builtin_dir))
    path = str(path)
    real = Path(path)
    pseudo = path.startswith("<")
    try:
        resolved = None if pseudo else real.resolve()
        base_dir = Path.cwd().resolve() if resolved is None else resolved.parent
    except (OSError, ValueError, RuntimeError):
        resolved, base_dir = None, Path.cwd()
    stack = (_Frame(resolved, path),) if resolved is not None else (_Frame(None, path),)
    ctx.root_dir = base_dir
    return _finish(ctx, path, text, base_dir, stack)


def parse_file(path: str | os.PathLike, *, builtin_dir: Path | None = None) -> Script:
    """Read and parse the script file at ``path``. Raises ScriptError (also for I/O problems)."""
    shown = os.fspath(path)
    text, diag = _read_script(Path(shown), shown)
    if diag is not None:
        raise ScriptError([diag])
    return parse_text(text, shown, builtin_dir=builtin_dir)


# ---- shared state and error reporting ---------------------------------------


@dataclass
class _Context:
    """State shared by the main script and its includes."""

    builtin_dir: Path | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    root_dir: Path | None = None
    errors: int = 0
    warnings: int = 0
    include_names: dict[tuple, list[str]] = field(default_factory=dict)  # see _includable_names
    include_lookups: dict[tuple[Path, str], tuple[Path | None, Path | None] | str] = field(
        default_factory=dict
    )  # see _look_up_include
    cues: int = 0  # spoken lines, cues and includes read so far, every include counted each time
    cue_limit_reported: bool = False

    def over_cue_limit(self, rep: _Reporter, line: int, col: int, count: int) -> bool:
        """True when ``count`` passed MAX_CUES (reported once, where it first passed)."""
        if count <= MAX_CUES and not self.cue_limit_reported:
            return False
        if not self.cue_limit_reported:
            self.cue_limit_reported = True
            rep.error(
                line,
                col,
                f"the session has more than {MAX_CUES:,} spoken lines and cues (the limit; "
                "headings count too) "
                "after includes and sides are expanded; split it into shorter sessions",
            )
        return True


@dataclass(frozen=True)
class _Frame:
    """One file on the include stack: resolved path (None for text) and how it is shown."""

    resolved: Path | None
    shown: str


class _Reporter:
    """Builds every diagnostic of one file, with its source line (the one helper for errors)."""

    def __init__(self, ctx: _Context, file: str, lines: list[str], suffix: str = ""):
        self.ctx = ctx
        self.file = file
        self.lines = lines
        self.suffix = suffix
        self.errors = 0
        self._per_line: dict[int, int] = {}

    def line_errors(self, line: int) -> int:
        return self._per_line.get(line, 0)

    def _add(self, severity: str, line: int, col: int, message: str) -> None:
        line = max(1, min(line, max(1, len(self.lines))))
        src = self.lines[line - 1] if line - 1 < len(self.lines) else ""
        col = max(1, min(col, len(src) + 1))
        self.ctx.diagnostics.append(
            Diagnostic(self.file, line, col, severity, message + self.suffix, src)
        )

    def error(self, line: int, col: int, message: str) -> None:
        self.errors += 1
        self._per_line[line] = self._per_line.get(line, 0) + 1
        self.ctx.errors += 1
        if self.ctx.errors == MAX_ERRORS + 1:
            message = f"more than {MAX_ERRORS} errors; stopping here (fix these first)"
        elif self.ctx.errors > MAX_ERRORS:
            return
        self._add("error", line, col, message)

    def warning(self, line: int, col: int, message: str) -> None:
        self.ctx.warnings += 1
        if self.ctx.warnings == MAX_ERRORS + 1:
            message = f"more than {MAX_ERRORS} warnings; stopping here (fix these first)"
        elif self.ctx.warnings > MAX_ERRORS:
            return
        self._add("warning", line, col, message)

    def full(self, severity: str = "error") -> bool:
        """True when another diagnostic of ``severity`` would not be shown: skip costly hints."""
        count = self.ctx.errors if severity == "error" else self.ctx.warnings
        return count >= MAX_ERRORS


def _builtin_dir(given: Path | None) -> Path | None:
    if given is not None:
        return Path(given)
    from voicecoach.storage.resources import builtin_scripts_dir

    return builtin_scripts_dir()


def _did_you_mean(word: str, choices: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _finish(
    ctx: _Context, path: str, text: str, base_dir: Path, stack: tuple[_Frame, ...]
) -> Script:
    settings_raw, items, rep = _parse_source(ctx, text, path, base_dir, stack, suffix="", root=True)
    settings = _settings(settings_raw, rep, _default_title(path))
    items = _tidy_breaks(items)
    seen: set[Diagnostic] = set()
    unique = []
    for d in ctx.diagnostics:
        if d not in seen:
            seen.add(d)
            unique.append(d)
    unique.sort(key=lambda d: (d.file, d.line, d.col))
    if any(d.is_error for d in unique):
        raise ScriptError(unique)
    return Script(path=path, settings=settings, items=tuple(items), warnings=tuple(unique))


def _default_title(path: str) -> str:
    if path.startswith("<"):
        return "Untitled"
    return Path(path).stem or "Untitled"


def _tidy_breaks(items: list[Item]) -> list[Item]:
    """One ParagraphBreak per run, none at the very start or end."""
    out: list[Item] = []
    for item in items:
        if isinstance(item, ParagraphBreak) and (not out or isinstance(out[-1], ParagraphBreak)):
            continue
        out.append(item)
    while out and isinstance(out[-1], ParagraphBreak):
        out.pop()
    return out


# ---- 1. reading ---------------------------------------------------------------


def _read_script(path: Path, shown: str) -> tuple[str, Diagnostic | None]:
    """The file's text, or a diagnostic saying why it cannot be read."""

    def fail(message: str) -> tuple[str, Diagnostic]:
        return "", Diagnostic(shown, 1, 1, "error", message, None)

    try:
        if path.is_dir():
            return fail(f"'{shown}' is a folder, not a script file")
        size = path.stat().st_size
        if size > MAX_SCRIPT_BYTES:
            return fail(
                f"script is too large ({size} bytes; the limit is 1 MiB): split it with [include]"
            )
        data = path.read_bytes()
    except FileNotFoundError:
        return fail(f"no such script file: '{shown}'")
    except PermissionError:
        return fail(f"cannot read '{shown}': permission denied")
    except (OSError, ValueError) as e:
        reason = getattr(e, "strerror", None) or str(e)
        return fail(f"cannot read '{shown}': {reason}")
    if len(data) > MAX_SCRIPT_BYTES:
        return fail(
            f"script is too large ({len(data)} bytes; the limit is 1 MiB): split it with [include]"
        )
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        line_start = data.rfind(b"\n", 0, e.start) + 1
        col = len(data[line_start : e.start].decode("utf-8", errors="replace")) + 1
        return fail(
            f"not UTF-8 text: byte 0x{data[e.start]:02x} at line {line}, column {col}; "
            "save the file as UTF-8"
        )


def _split_lines(text: str) -> list[str]:
    """Lines without their endings; CRLF and CR count as one line break; a BOM is dropped."""
    if text.startswith("\ufeff"):
        text = text[1:]
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


# ---- per-file driver ------------------------------------------------------------


def _parse_source(
    ctx: _Context,
    text: str,
    shown: str,
    base_dir: Path,
    stack: tuple[_Frame, ...],
    *,
    suffix: str,
    root: bool,
) -> tuple[dict[str, tuple[str, int, int]], list[Item], _Reporter]:
    """Stages 1-5 for one file; returns raw front matter, items and the file's reporter."""
    lines = _split_lines(text)
    rep = _Reporter(ctx, shown, lines, suffix)
    if (
        len(text) > MAX_SCRIPT_BYTES
        or len(text.encode("utf-8", "surrogatepass")) > MAX_SCRIPT_BYTES
    ):
        rep.error(1, 1, "script is too large (the limit is 1 MiB): split it with [include]")
        return {}, [], rep
    for i, line in enumerate(lines if _BAD_CHAR_RE.search(text) else ()):
        bad = _BAD_CHAR_RE.search(line)
        if bad:
            ch = bad.group(0)
            rep.error(
                i + 1,
                bad.start() + 1,
                f"character U+{ord(ch):04X} is not allowed in a script; remove it",
            )
            lines[i] = _BAD_CHAR_RE.sub(" ", line)
    front, body_start = _front_matter(lines, rep, validate=root)
    body = _strip_comments(lines, body_start, rep)
    records = _records(body, rep, ctx, base_dir, stack)
    items: list[Item] = []
    _emit(records, 0, len(records), None, 0, items, rep)
    return front, items, rep


# ---- 2. front matter -----------------------------------------------------------


def _front_matter(
    lines: list[str], rep: _Reporter, *, validate: bool
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
            hint = "" if rep.full("warning") else _did_you_mean(key, FRONT_MATTER_KEYS)
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


def _say_key(key: str, value: str, line: int, key_col: int, col: int, rep: _Reporter) -> bool:
    """Check a ``say.NAME`` line; False when it is reported and must be ignored."""
    name = key[len(SAY_PREFIX) :]
    if not is_phrase_name(name):
        hint = ("" if rep.full("warning") else _did_you_mean(name, all_phrase_names())) or (
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


def _settings(
    front: dict[str, tuple[str, int, int]], rep: _Reporter, default_title: str
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
            return f"{key} must be {', '.join(options[:-1])} or {options[-1]}{_did_you_mean(low, options)}"

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
        "rate must be a whole number of words per minute from 80 to 450, like 140",
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


# ---- 3. comments -----------------------------------------------------------------


@dataclass(frozen=True)
class _Line:
    """A body line after comments are blanked (same length, so columns stay true)."""

    number: int
    text: str
    dropped: bool  # a comment-only line: no item at all, not even a paragraph break


def _strip_comments(lines: list[str], start: int, rep: _Reporter) -> list[_Line]:
    out: list[_Line] = []
    open_at: tuple[int, int] | None = None  # (line, col) of an unclosed "<!--"
    for i in range(start, len(lines)):
        line = lines[i]
        if open_at is None and "<!--" not in line:  # most lines: no comment to blank
            if not line or line.isspace():
                if not (out and out[-1].text == "" and not out[-1].dropped):
                    out.append(_Line(i + 1, "", False))  # one per run: the rest add nothing
                continue
            out.append(
                _Line(i + 1, "", True)
                if line.lstrip().startswith("//")
                else _Line(i + 1, line, False)
            )
            continue
        if open_at is None and line.lstrip().startswith("//"):
            out.append(_Line(i + 1, "", True))
            continue
        chars = list(line)
        had_comment = open_at is not None
        pos = 0
        while pos <= len(line):
            if open_at is None:
                begin = line.find("<!--", pos)
                if begin < 0:
                    break
                open_at = (i + 1, begin + 1)
                had_comment = True
                pos = begin + 4
                chars[begin:pos] = " " * 4
            else:
                close = line.find("-->", pos)
                stop = len(line) if close < 0 else close + 3
                chars[pos:stop] = " " * (stop - pos)
                if close < 0:
                    break
                open_at = None
                pos = stop
        text = "".join(chars)
        out.append(_Line(i + 1, text, had_comment and not text.strip()))
    if open_at is not None:
        rep.error(open_at[0], open_at[1], "expected '-->' to close this comment")
    return out


# ---- 4. records: one per line ----------------------------------------------------


@dataclass(frozen=True)
class _SideRef:
    """A ``{side}`` placeholder in prose or a heading, at its column."""

    col: int


Parts = tuple  # tuple[str | _SideRef, ...]


@dataclass(frozen=True)
class _HeadingRec:
    line: int
    col: int
    level: int
    parts: Parts


@dataclass(frozen=True)
class _BlankRec:
    line: int


@dataclass(frozen=True)
class _SidesRec:
    line: int
    col: int
    sides: tuple[str, ...]


@dataclass(frozen=True)
class _SpeechPiece:
    line: int
    col: int
    parts: Parts


@dataclass(frozen=True)
class _ItemsPiece:
    """Items that do not depend on the side: a parsed cue, or an expanded include."""

    items: tuple[Item, ...]
    line: int
    col: int
    included: bool = False


@dataclass(frozen=True)
class _ContentRec:
    line: int
    pieces: tuple[_SpeechPiece | _ItemsPiece, ...]


_Record = _HeadingRec | _BlankRec | _SidesRec | _ContentRec


@dataclass(frozen=True)
class _TextSeg:
    col: int  # column of the first non-space character (0 if all spaces)
    parts: Parts


@dataclass(frozen=True)
class _CueSeg:
    col: int  # column of "["
    content: str
    content_col: int  # column of the first character after "["


def _records(
    body: list[_Line], rep: _Reporter, ctx: _Context, base_dir: Path, stack
) -> list[_Record]:
    records: list[_Record] = []
    for ln in body:
        if ln.dropped:
            continue
        stripped = ln.text.strip()
        if not stripped:
            if not records or not isinstance(records[-1], _BlankRec):  # one per run is enough
                records.append(_BlankRec(ln.number))
            continue
        if stripped.startswith("#"):
            ctx.cues += 1  # a heading is a section (a chapter): counted like a cue
            if ctx.over_cue_limit(rep, ln.number, 1, ctx.cues):
                break
            heading = _heading(ln, rep)
            if heading is not None:
                records.append(heading)
            continue
        if stripped.startswith(FENCE):
            rep.error(
                ln.number,
                ln.text.index(FENCE) + 1,
                "a script is spoken as written; remove the ``` fence",
            )
            continue
        if ctx.cue_limit_reported:
            break
        text = ln.text
        marker = _LIST_MARKER_RE.match(text)
        if marker:  # a list marker is not spoken: blank it, so columns stay true
            text = " " * marker.end() + text[marker.end() :]
        segs = _scan(text, 0, ln.number, rep)
        record = _content(ln, segs, rep, ctx, base_dir, stack)
        if record is not None:
            records.append(record)
    first = next((k for k, r in enumerate(records) if not isinstance(r, _BlankRec)), len(records))
    del records[:first]  # at once: pop(0) per leading blank line was quadratic (1M lines: minutes)
    while records and isinstance(records[-1], _BlankRec):
        records.pop()
    return records


def _heading(ln: _Line, rep: _Reporter) -> _HeadingRec | None:
    text = ln.text
    hash_at = len(text) - len(text.lstrip())
    level = len(text) - hash_at - len(text[hash_at:].lstrip("#"))
    col = hash_at + 1
    if level > 3:
        rep.error(ln.number, col, f"headings go down to ### only; this one has {level} '#'")
        return None
    rest_start = hash_at + level
    rest = _without_closing_hashes(text[rest_start:])
    if not rest.strip():
        rep.error(ln.number, col, "a heading needs text after the '#', like '# Finish'")
        return None
    segs = _scan(rest, rest_start, ln.number, rep)
    parts: list = []
    for seg in segs:
        if isinstance(seg, _CueSeg):
            rep.error(
                ln.number, seg.col, "a heading cannot hold a cue; put the cue on its own line below"
            )
            return None
        parts.extend(seg.parts)
    return _HeadingRec(ln.number, col, level, tuple(parts))


def _without_closing_hashes(text: str) -> str:
    """``Title ##`` -> ``Title``: an optional closing run of '#' after white space (linear time)."""
    body = text.rstrip()
    hashes = body.rstrip("#")
    if hashes != body and hashes[-1:].isspace():
        return hashes.rstrip()
    return text


def _scan(text: str, offset: int, line_no: int, rep: _Reporter) -> list[_TextSeg | _CueSeg]:
    """Split one line into prose and cue segments, resolving escapes and ``{side}``.

    ``offset`` is the index of ``text[0]`` in the line. A broken bracket or
    brace is reported and skipped, so the rest of the line is still checked.
    """
    segs: list[_TextSeg | _CueSeg] = []
    parts: list = []
    buf: list[str] = []
    first_col = 0

    def flush_buf() -> None:
        if buf:
            parts.append("".join(buf))
            buf.clear()

    def flush_text() -> None:
        nonlocal first_col
        flush_buf()
        if parts:
            segs.append(_TextSeg(first_col, tuple(parts)))
            parts.clear()
        first_col = 0

    i, n = 0, len(text)
    last_close = text.rfind("}")  # no search past it: keeps a line of "{{{{..." linear
    while i < n and rep.line_errors(line_no) < MAX_ERRORS_PER_LINE:
        c = text[i]
        col = offset + i + 1
        if c == "\\" and i + 1 < n and text[i + 1] in _ESCAPABLE:
            first_col = first_col or col
            buf.append(text[i + 1])
            i += 2
        elif c == "[":
            j = i + 1
            while j < n and text[j] not in "[]":
                j += 1
            if j >= n or text[j] == "[":
                rep.error(
                    line_no, col, "expected ']' to close the cue (write \\[ for a literal bracket)"
                )
                if j >= n:
                    break
                i = j  # go on from the inner "[": later cues are still checked
                continue
            flush_text()
            segs.append(_CueSeg(col, text[i + 1 : j], col + 1))
            i = j + 1
        elif c == "]":
            rep.error(line_no, col, "unexpected ']'; write \\] for a literal bracket")
            i += 1
        elif c == "{":
            j = text.find("}", i + 1) if i < last_close else -1
            if j < 0:
                rep.error(
                    line_no,
                    col,
                    "expected '}' to close the placeholder {side} (write \\{ for a literal brace)",
                )
                i += 1
                continue
            name = text[i + 1 : j]
            if name.strip() != "side":
                shown = name if len(name) <= 30 else name[:27] + "..."
                rep.error(
                    line_no, col, f"unknown placeholder {{{shown}}}; the only one is {{side}}"
                )
                i = j + 1
                continue
            first_col = first_col or col
            flush_buf()
            parts.append(_SideRef(col))
            i = j + 1
        elif c == "}":
            rep.error(line_no, col, "unexpected '}'; write \\} for a literal brace")
            i += 1
        else:
            if not first_col and not c.isspace():
                first_col = col
            buf.append(c)
            i += 1
    flush_text()
    return segs


def _content(
    ln: _Line, segs: list[_TextSeg | _CueSeg], rep: _Reporter, ctx: _Context, base_dir: Path, stack
) -> _ContentRec | _SidesRec | None:
    """A prose/cue line: speech pieces and parsed cues (includes expanded)."""
    meaningful = [
        s
        for s in segs
        if isinstance(s, _CueSeg) or any(isinstance(p, _SideRef) or p.strip() for p in s.parts)
    ]
    alone = len(meaningful) == 1
    pieces: list[_SpeechPiece | _ItemsPiece] = []
    for seg in meaningful:
        ctx.cues += 1
        if ctx.over_cue_limit(rep, ln.number, seg.col, ctx.cues):
            break
        if isinstance(seg, _TextSeg):
            pieces.append(_SpeechPiece(ln.number, seg.col, seg.parts))
            continue
        tokens = list(re.finditer(r"\S+", seg.content))
        keyword = tokens[0].group(0).lower() if tokens else ""
        if keyword in ("sides", "include"):
            if not alone:
                rep.error(ln.number, seg.col, f"[{keyword}] must be on a line of its own")
                continue
            if keyword == "sides":
                return _sides(seg, tokens, ln.number, rep)
            items = _include(seg, ln.number, rep, ctx, base_dir, stack)
            pieces.append(_ItemsPiece(tuple(items), ln.number, seg.col, included=True))
            continue
        item = _cue(seg, tokens, ln.number, rep)
        if item is not None:
            pieces.append(_ItemsPiece((item,), ln.number, seg.col))
    return _ContentRec(ln.number, tuple(pieces)) if pieces else None


def _sides(seg: _CueSeg, tokens: list[re.Match], line: int, rep: _Reporter) -> _SidesRec | None:
    names: list[str] = []
    ok = True
    for m in tokens[1:]:
        tok = classify(m.group(0), seg.content_col + m.start())
        if tok.kind != "word":
            rep.error(line, tok.col, f"a side is a name, like left or right (not '{tok.text}')")
            ok = False
        elif tok.text in names:
            rep.error(line, tok.col, f"side '{tok.text}' is listed twice")
            ok = False
        else:
            names.append(tok.text)
    if not ok:
        return None
    return _SidesRec(line, seg.col, tuple(names) or DEFAULT_SIDES)


# ---- cues -------------------------------------------------------------------------

_USAGE = {
    "pause": "[pause 5s]",
    "place": "[place 8s]",
    "breathe": "[breathe 4-2-6 x3] or [breathe box 2m], optionally with guide N",
    "hold": "[hold 45s], optionally with count N, quiet, breathe 4-6",
    "wipers": "[wipers x8 3s], optionally with guide N",
    "roll": "[roll 1m stroke 4s], optionally with guide N",
    "bell": "[bell]",
    "recheck": "[recheck shoulders]",
}
_OPTIONS = {
    "pause": (),
    "place": (),
    "breathe": ("guide", *NAMED_PATTERNS),
    "hold": ("count", "quiet", "breathe"),
    "wipers": ("guide",),
    "roll": ("stroke", "guide"),
    "bell": (),
    "recheck": (),
}
_KIND_NAMES = {
    "duration": "duration",
    "count": "count",
    "pattern": "breath pattern",
    "word": "word",
}


class _Cue:
    """Helpers shared by the directive parsers: token stream, errors at token columns."""

    def __init__(self, name: str, keyword_col: int, line: int, tokens: list[Token], rep: _Reporter):
        self.name = name
        self.keyword_col = keyword_col
        self.line = line
        self.tokens = tokens
        self.rep = rep
        self.failed = False
        self._pos = 0
        self._options: set[str] = set()  # option words given so far (see option_once)

    def __iter__(self) -> Iterator[Token]:
        # a cue of 300,000 bad words is not reported word by word (see MAX_ERRORS_PER_LINE)
        while (
            self._pos < len(self.tokens) and self.rep.line_errors(self.line) < MAX_ERRORS_PER_LINE
        ):
            tok = self.tokens[self._pos]
            self._pos += 1
            yield tok

    def next_raw(self) -> Token | None:
        if self._pos < len(self.tokens):
            tok = self.tokens[self._pos]
            self._pos += 1
            return tok
        return None

    def error(self, col: int, message: str) -> None:
        self.failed = True
        self.rep.error(self.line, col, message)

    def unexpected(self, tok: Token) -> None:
        if tok.kind == "bad":
            self.error(tok.col, str(tok.value))
        elif tok.kind == "word":
            options = _OPTIONS[self.name]
            hint = "" if self.rep.full() else _did_you_mean(str(tok.value), options)
            if not hint:
                hint = f"; write it like {_USAGE[self.name]}"
            self.error(tok.col, f"unknown option '{tok.text}' for {self.name}{hint}")
        elif tok.kind == "pattern" and self.name != "breathe":
            self.error(
                tok.col, f"'{tok.text}' has no unit: for a range of seconds write {tok.text}s"
            )
        else:
            kind = _KIND_NAMES[tok.kind]
            self.error(
                tok.col,
                f"unexpected {kind} '{tok.text}' in {self.name}; write it like {_USAGE[self.name]}",
            )

    def first(self, kept: Token | None, tok: Token, what: str) -> Token:
        """Keep the first token of its kind; a later one is reported as a second ``what``."""
        if kept is None:
            return tok
        self.duplicate(tok, what)
        return kept

    def option_once(self, tok: Token) -> None:
        """Note option word ``tok``; a second one of the same name is reported (the later counts)."""
        name = str(tok.value)
        if name in self._options:
            self.duplicate(tok, name)
        self._options.add(name)

    def duplicate(self, tok: Token, what: str) -> None:
        if tok.kind == "word" and tok.value == what:  # an option word given twice
            self.error(tok.col, f"'{tok.text}' is given twice in {self.name}")
        else:
            self.error(tok.col, f"{self.name} takes one {what}; '{tok.text}' is a second one")

    def missing(self, message: str) -> None:
        if not self.failed:  # a malformed token already explains what is missing
            self.error(self.keyword_col, message)

    def option_int(self, opt: Token, minimum: int, example: str) -> int | None:
        tok = self.next_raw()
        what = "a whole number" if minimum == 0 else f"a whole number of at least {minimum}"
        if tok is None or not (tok.text.isascii() and tok.text.isdigit() and len(tok.text) < 7):
            self.error(tok.col if tok else opt.col, f"{opt.text} needs {what}, like {example}")
            return None
        value = int(tok.text)
        if value < minimum:
            self.error(tok.col, f"{opt.text} needs {what}, like {example}")
            return None
        return value

    def option_duration(self, opt: Token, example: str) -> DurationSpec | None:
        tok = self.next_raw()
        if tok is None or tok.kind != "duration":
            if tok is not None and tok.kind == "bad":
                self.error(tok.col, str(tok.value))
            else:
                self.error(
                    tok.col if tok else opt.col, f"{opt.text} needs a duration, like {example}"
                )
            return None
        return tok.as_duration()

    def option_pattern(self, opt: Token, example: str) -> tuple[float, ...] | None:
        tok = self.next_raw()
        pattern = _pattern_of(tok) if tok is not None else None
        if pattern is None:
            if tok is not None and tok.kind == "bad":
                self.error(tok.col, str(tok.value))
            else:
                self.error(
                    tok.col if tok else opt.col,
                    f"{opt.text} needs a breath pattern, like {example}",
                )
        return pattern

    def too_long(self, tok_col: int, seconds: float) -> bool:
        if seconds > MAX_DIRECTIVE_S:
            self.error(
                tok_col,
                f"a directive lasts at most 1 hour; this {self.name} would last {format_seconds(seconds)}",
            )
            return True
        return False


def _pattern_of(tok: Token) -> tuple[float, ...] | None:
    if tok.kind == "pattern":
        return tok.as_pattern()
    if tok.kind == "word" and tok.value in NAMED_PATTERNS:
        return NAMED_PATTERNS[str(tok.value)]
    return None


def _join_spaced_units(tokens: list[Token]) -> list[Token]:
    """``30 sec``: one error at the number saying to drop the space, not two errors."""
    out: list[Token] = []
    for tok in tokens:
        prev = out[-1] if out else None
        if (
            prev is not None
            and prev.kind == "bad"
            and _NUMBER_RE.fullmatch(prev.text)
            and tok.kind == "word"
            and tok.text.lower() in UNIT_WORDS
        ):
            joined = prev.text + tok.text
            out[-1] = Token(
                joined, prev.col, "bad", f"write the unit right after the number: {joined}"
            )
            continue
        out.append(tok)
    return out


def _cue(seg: _CueSeg, matches: list[re.Match], line: int, rep: _Reporter) -> Item | None:
    """Parse one ``[ ... ]`` cue (not sides/include) into an item, or report why not."""
    loc = Loc(rep.file, line, seg.col)
    if not matches:
        rep.error(line, seg.col, "empty cue; write a directive like [pause 5s] or [bell]")
        return None
    # No directive takes more than 8 tokens, and a line stops at MAX_ERRORS_PER_LINE errors:
    # the rest of a 300,000-word cue is never looked at (classifying it all took seconds).
    tokens = _join_spaced_units(
        [classify(m.group(0), seg.content_col + m.start()) for m in matches[:MAX_CUE_TOKENS]]
    )
    head = tokens[0]
    if head.kind == "word" and head.value in _USAGE:
        cue = _Cue(str(head.value), head.col, line, tokens[1:], rep)
        item = _DIRECTIVE_PARSERS[cue.name](cue, loc)
        return None if cue.failed else item
    if head.kind == "duration":  # a bare [D] or [range] is a pause
        cue = _Cue("pause", head.col, line, tokens, rep)
        item = _parse_pause(cue, loc)
        return None if cue.failed else item
    if head.kind == "bad":
        rep.error(line, head.col, str(head.value))
    elif head.kind == "word":
        hint = "" if rep.full() else _did_you_mean(str(head.value), DIRECTIVES)
        if not hint:
            hint = f"; expected one of {', '.join(DIRECTIVES)}"
        rep.error(line, head.col, f"unknown directive '{head.text}'{hint}")
    elif head.kind == "pattern" and len(head.as_pattern()) == 2:
        rep.error(
            line, head.col, f"'{head.text}' has no unit: for a range of seconds write {head.text}s"
        )
    else:
        rep.error(
            line,
            head.col,
            f"a cue starts with a directive or a duration, like [breathe {head.text}] or [5s]"
            if head.kind == "pattern"
            else f"a cue starts with a directive or a duration, like [wipers {head.text}] or [5s]",
        )
    return None


def _parse_pause(cue: _Cue, loc: Loc) -> Item | None:
    duration: Token | None = None
    for tok in cue:
        if tok.kind == "duration":
            duration = cue.first(duration, tok, "duration")
        else:
            cue.unexpected(tok)
    if duration is None:
        cue.missing("pause needs a duration, like 5s")
        return None
    spec = duration.as_duration()
    cue.too_long(duration.col, spec.high_s)
    return Pause(loc, spec)


def _parse_place(cue: _Cue, loc: Loc) -> Item | None:
    duration: Token | None = None
    for tok in cue:
        if tok.kind == "duration":
            duration = cue.first(duration, tok, "duration")
        else:
            cue.unexpected(tok)
    if duration is None:
        return Place(loc, DurationSpec.fixed(DEFAULT_PLACE_S))
    spec = duration.as_duration()
    cue.too_long(duration.col, spec.high_s)
    return Place(loc, spec)


def _parse_breathe(cue: _Cue, loc: Loc) -> Item | None:
    pattern: tuple[float, ...] | None = None
    count: Token | None = None
    duration: Token | None = None
    guide: int | None = None
    for tok in cue:
        found = _pattern_of(tok)
        if found is not None:
            if pattern is not None:
                cue.duplicate(tok, "breath pattern")
            pattern = pattern or found
        elif tok.kind in ("count", "duration"):
            if count is not None or duration is not None:
                cue.error(
                    tok.col,
                    f"breathe takes either a count (x5) or a duration (2m), not both; '{tok.text}' is extra",
                )
            elif tok.kind == "count":
                count = tok
            else:
                duration = tok
        elif tok.is_word("guide"):
            cue.option_once(tok)
            guide = cue.option_int(tok, 0, "guide 2")
        else:
            cue.unexpected(tok)
    if pattern is None:
        cue.missing("breathe needs a breath pattern, like 4-2-6 or box")
        return None
    if count is None and duration is None:
        cue.missing("breathe needs a count or a duration, like x3 or 2m")
        return None
    cycle_s = sum(pattern)
    if count is not None:
        cue.too_long(count.col, cycle_s * count.as_count())
        return Breathe(loc, pattern, cycles=count.as_count(), guide=guide)
    assert duration is not None  # a count or a duration, checked above
    spec = duration.as_duration()
    cue.too_long(duration.col, max(spec.high_s, cycle_s))
    return Breathe(loc, pattern, duration=spec, guide=guide)


def _parse_hold(cue: _Cue, loc: Loc) -> Item | None:
    duration: Token | None = None
    count: int | None = None
    count_tok: Token | None = None
    quiet = False
    breathe: tuple[float, ...] | None = None
    for tok in cue:
        if tok.kind == "duration":
            duration = cue.first(duration, tok, "duration")
        elif tok.kind == "word" and tok.value in ("count", "quiet", "breathe"):
            cue.option_once(tok)
            if tok.is_word("count"):
                count_tok = tok
                count = cue.option_int(tok, 1, "count 5")
            elif tok.is_word("quiet"):
                quiet = True
            else:
                breathe = cue.option_pattern(tok, "4-6 or calm")
        else:
            cue.unexpected(tok)
    if duration is None:
        cue.missing("hold needs a duration, like 45s")
        return None
    spec = duration.as_duration()
    cue.too_long(duration.col, spec.high_s)
    if quiet and count_tok is not None:
        cue.error(count_tok.col, "a quiet hold has no countdown; remove 'quiet' or 'count'")
    elif count is not None and count_tok is not None and count > spec.low_s:
        cue.error(
            count_tok.col,
            f"count {count} is longer than the hold ({format_seconds(spec.low_s)})",
        )
    return Hold(loc, spec, count=count, quiet=quiet, breathe=breathe)


def _parse_wipers(cue: _Cue, loc: Loc) -> Item | None:
    count: Token | None = None
    sweep: Token | None = None
    guide: int | None = None
    for tok in cue:
        if tok.kind == "count":
            count = cue.first(count, tok, "count")
        elif tok.kind == "duration":
            sweep = cue.first(sweep, tok, "duration")
        elif tok.is_word("guide"):
            cue.option_once(tok)
            guide = cue.option_int(tok, 0, "guide 2")
        else:
            cue.unexpected(tok)
    if count is None:
        cue.missing("wipers needs a count of sweeps, like x8")
        return None
    spec = sweep.as_duration() if sweep is not None else DurationSpec.fixed(DEFAULT_SWEEP_S)
    if sweep is not None and spec.low_s < MIN_PHASE_S:
        cue.error(sweep.col, f"a wiper sweep lasts at least {MIN_PHASE_S:g}s, like 3s")
        return None
    n = count.as_count()
    cue.too_long(count.col, n * spec.high_s)
    return Wipers(loc, n, spec, guide=guide)


def _parse_roll(cue: _Cue, loc: Loc) -> Item | None:
    duration: Token | None = None
    stroke: DurationSpec | None = None
    stroke_tok: Token | None = None
    guide: int | None = None
    for tok in cue:
        if tok.kind == "duration":
            duration = cue.first(duration, tok, "duration")
        elif tok.is_word("stroke"):
            cue.option_once(tok)
            stroke_tok = tok
            stroke = cue.option_duration(tok, "stroke 4s")
        elif tok.is_word("guide"):
            cue.option_once(tok)
            guide = cue.option_int(tok, 0, "guide 2")
        else:
            cue.unexpected(tok)
    if duration is None:
        cue.missing("roll needs a duration, like 1m")
        return None
    spec = duration.as_duration()
    cue.too_long(duration.col, spec.high_s)
    stroke = stroke or DurationSpec.fixed(DEFAULT_STROKE_S)
    if stroke_tok is not None and stroke.low_s < MIN_PHASE_S:
        cue.error(
            stroke_tok.col, f"a rolling stroke lasts at least {MIN_PHASE_S:g}s, like stroke 4s"
        )
        return None
    if stroke.low_s > spec.low_s and stroke_tok is not None:
        cue.error(
            stroke_tok.col,
            f"a stroke ({format_seconds(stroke.low_s)}) cannot be longer than the roll "
            f"({format_seconds(spec.low_s)})",
        )
    return Roll(loc, spec, stroke, guide=guide)


def _parse_recheck(cue: _Cue, loc: Loc) -> Item | None:
    word: Token | None = None
    for tok in cue:
        if tok.kind == "word" and word is None:
            word = tok
        elif tok.kind == "word":
            cue.error(
                tok.col,
                f"recheck names one area, like [recheck shoulders]; join words with '-', "
                f"like {word.text if word else ''}-{tok.text}",
            )
        else:
            cue.unexpected(tok)
    if word is None:
        cue.missing("recheck needs the area to re-check, like [recheck shoulders]")
        return None
    return Recheck(loc, str(word.value))


def _parse_bell(cue: _Cue, loc: Loc) -> Item | None:
    for tok in cue:
        cue.error(tok.col, f"bell takes nothing; write [bell] (not '{tok.text}')")
    return Bell(loc)


_DIRECTIVE_PARSERS = {
    "pause": _parse_pause,
    "place": _parse_place,
    "breathe": _parse_breathe,
    "hold": _parse_hold,
    "wipers": _parse_wipers,
    "roll": _parse_roll,
    "bell": _parse_bell,
    "recheck": _parse_recheck,
}


# ---- includes ----------------------------------------------------------------------


def _display(path: Path) -> str:
    """A resolved path, shown relative to the current folder when it is inside it."""
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def _inside(path: Path, folder: Path | None) -> bool:
    if folder is None:
        return False
    try:
        return path.is_relative_to(folder.resolve())
    except (OSError, ValueError, RuntimeError):
        return False


def _includable_names(ctx: _Context, base_dir: Path) -> list[str]:
    """Scripts an include could name: ``name`` and ``parts/name`` beside this file and built in.

    Listed once per folder and run (30,000 missing includes each listing them took minutes).
    """
    key = (base_dir, ctx.builtin_dir)
    if key not in ctx.include_names:
        ctx.include_names[key] = _list_includable(base_dir, ctx.builtin_dir)
    return ctx.include_names[key]


def _list_includable(*folders: Path | None) -> list[str]:
    names: set[str] = set()
    for folder in folders:
        if folder is None:
            continue
        try:
            for pattern in ("*.md", "*/*.md"):
                for p in folder.glob(pattern):
                    names.add(p.relative_to(folder).with_suffix("").as_posix())
        except OSError:
            continue
        if len(names) > 2000:  # a huge folder: no hint rather than a slow one
            return []
    return sorted(names)


def _look_up_include(
    raw: str, base_dir: Path, builtin_dir: Path | None
) -> tuple[Path | None, Path | None] | str:
    """Where ``[include raw]`` leads: (the script, or None; a folder of that name, or None).

    A failure to look is returned as its reason. Looked up once per folder and name in a run:
    70,000 lines naming a missing script cost 4 path resolutions each (2.4 s) before.
    """
    candidates = [base_dir / raw, base_dir / (raw + ".md")]
    if builtin_dir is not None:
        candidates += [builtin_dir / raw, builtin_dir / (raw + ".md")]
    folder: Path | None = None
    try:
        for cand in candidates:
            resolved = cand.resolve()
            if resolved.is_file():
                return resolved, None
            if resolved.is_dir() and folder is None:
                folder = resolved
    except (OSError, ValueError, RuntimeError) as e:
        return str(getattr(e, "strerror", None) or e)
    return None, folder


def _include(
    seg: _CueSeg, line: int, rep: _Reporter, ctx: _Context, base_dir: Path, stack
) -> list[Item]:
    """Find, check and parse an included script; its items (already expanded)."""
    if ctx.cue_limit_reported:
        return []
    raw = seg.content.strip()
    raw = raw[len("include") :].strip()
    path_col = seg.content_col + seg.content.find(raw) if raw else seg.col
    if not raw:
        rep.error(line, seg.col, "include needs a path, like [include upper-back.md]")
        return []
    roots = [base_dir, ctx.root_dir, ctx.builtin_dir]
    key = (base_dir, raw)
    if key not in ctx.include_lookups:
        ctx.include_lookups[key] = _look_up_include(raw, base_dir, ctx.builtin_dir)
    lookup = ctx.include_lookups[key]
    if isinstance(lookup, str):
        rep.error(line, path_col, f"cannot include '{raw}': {lookup}")
        return []
    found, folder = lookup
    if found is None:
        if folder is not None:
            rep.error(line, path_col, f"cannot include '{raw}': it is a folder, not a script")
        else:
            rep.error(
                line,
                path_col,
                f"cannot find the script '{raw}' to include (looked next to this file"
                + (" and in the built-in library)" if ctx.builtin_dir is not None else ")")
                + ("" if rep.full() else _did_you_mean(raw, _includable_names(ctx, base_dir))),
            )
        return []
    if not any(_inside(found, root) for root in roots):
        rep.error(
            line,
            path_col,
            f"include '{raw}' leads outside this script's folder and the built-in library",
        )
        return []
    shown = _display(found)
    chain = [f.shown for f in stack] + [shown]
    if any(f.resolved == found for f in stack):
        rep.error(line, path_col, f"include cycle: {' -> '.join(chain)}")
        return []
    if len(stack) > MAX_INCLUDE_DEPTH:
        rep.error(
            line,
            path_col,
            f"includes nest more than {MAX_INCLUDE_DEPTH} levels deep: {' -> '.join(chain)}",
        )
        return []
    text, diag = _read_script(found, shown)
    suffix = f" (included from {rep.file}:{line})"
    if diag is not None:
        ctx.diagnostics.append(
            Diagnostic(diag.file, diag.line, diag.col, diag.severity, diag.message + suffix, None)
        )
        return []
    _, items, sub = _parse_source(
        ctx, text, shown, found.parent, (*stack, _Frame(found, shown)), suffix=suffix, root=False
    )
    if sub.errors:
        rep.error(line, path_col, f"the included script '{raw}' has errors (listed under {shown})")
    return items


# ---- 5. emitting items, with sides -------------------------------------------------------


def strip_markdown(text: str) -> str:
    """Emphasis marks around words (``*a*``, ``**a**``, ``_a_``, ``__a__``, `` `a` ``) removed."""
    for _ in range(_MAX_EMPHASIS_PASSES):
        plain = _EMPHASIS_RE.sub(lambda m: m.group(2) or "", text)
        if plain == text:
            break
        text = plain
    return _STRAY_MARKS_RE.sub(" ", text)


def _fill(parts: Parts, side: str | None, rep: _Reporter, line: int) -> str:
    """Join text parts, replacing ``{side}``; drop Markdown marks; collapse runs of white space."""
    out: list[str] = []
    for p in parts:
        if isinstance(p, _SideRef):
            if side is None:
                rep.error(line, p.col, "{side} is only allowed inside a [sides] section")
            else:
                out.append(side)
        else:
            out.append(p)
    return " ".join(strip_markdown("".join(out)).split())


def _heading_item(rec: _HeadingRec, side: str | None, rep: _Reporter) -> Heading:
    title = _fill(rec.parts, side, rep, rec.line)
    if side is not None and not any(isinstance(p, _SideRef) for p in rec.parts):
        title = f"{title} ({side})"
    return Heading(Loc(rep.file, rec.line, rec.col), title, rec.level, side)


def _emit(
    records: list[_Record],
    start: int,
    end: int,
    side: str | None,
    sides_line: int,
    out: list[Item],
    rep: _Reporter,
    skip: int | None = None,
) -> None:
    """Append the items of ``records[start:end]``; ``side`` is set inside a sides section."""
    i = start
    while i < end:
        rec = records[i]
        if i == skip:
            i += 1
            continue
        if isinstance(rec, _HeadingRec):
            section_end = i + 1
            while section_end < end and not (
                isinstance(following := records[section_end], _HeadingRec)
                and following.level <= rec.level
            ):
                section_end += 1
            first = next(
                (k for k in range(i + 1, section_end) if not isinstance(records[k], _BlankRec)),
                None,
            )
            sides = records[first] if first is not None else None
            if isinstance(sides, _SidesRec):
                if side is not None:
                    rep.error(
                        sides.line,
                        sides.col,
                        f"[sides] cannot be nested: this section is already repeated for each side "
                        f"by the [sides] on line {sides_line}",
                    )
                    out.append(_heading_item(rec, side, rep))
                    _emit(records, i + 1, section_end, side, sides_line, out, rep, skip=first)
                    i = section_end
                    continue
                else:
                    for name in sides.sides:
                        if rep.ctx.cue_limit_reported:
                            return
                        out.append(_heading_item(rec, name, rep))
                        _emit(records, i + 1, section_end, name, sides.line, out, rep, skip=first)
                    i = section_end
                    continue
            out.append(_heading_item(rec, side, rep))
        elif isinstance(rec, _BlankRec):
            out.append(ParagraphBreak(Loc(rep.file, rec.line, 1)))
        elif isinstance(rec, _SidesRec):
            rep.error(rec.line, rec.col, "[sides] must come right after a heading")
        else:
            for piece in rec.pieces:
                size = len(piece.items) if isinstance(piece, _ItemsPiece) else 1
                if rep.ctx.over_cue_limit(rep, piece.line, piece.col, len(out) + size):
                    return
                if isinstance(piece, _ItemsPiece):
                    if (
                        side is not None
                        and piece.included
                        and any(
                            isinstance(it, Heading) and it.side is not None for it in piece.items
                        )
                    ):
                        rep.error(
                            piece.line,
                            piece.col,
                            "[sides] cannot be nested: the included script has its own [sides] "
                            f"section, and this one is already repeated by the [sides] on line {sides_line}",
                        )
                    out.extend(piece.items)
                else:
                    text = _fill(piece.parts, side, rep, piece.line)
                    if text:
                        out.append(Speech(Loc(rep.file, piece.line, piece.col), text))
        i += 1
