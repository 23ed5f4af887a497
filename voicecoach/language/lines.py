"""Lines: a script file read and split into lines, comments blanked, each line scanned.

Stages 1, 3 and the scanning half of 4 of the parser (see ``parser``): read a
file (size limit, UTF-8), split it into lines, blank characters a script may
not hold and comments (same length, so columns stay true), and split a line
into prose and ``[...]`` cue segments, resolving escapes and ``{side}``.
The records a line becomes are defined here too; Markdown emphasis marks are
dropped from the spoken text by ``strip_markdown``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from voicecoach.errors import Diagnostic
from voicecoach.language.limits import MAX_ERRORS_PER_LINE, MAX_SCRIPT_BYTES
from voicecoach.language.report import Reporter
from voicecoach.language.script import Item

# Characters that are never valid in a script: C0 controls except tab, DEL, lone surrogates.
_BAD_CHAR_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")
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


# ---- 1. reading ---------------------------------------------------------------


def read_script(path: Path, shown: str) -> tuple[str, Diagnostic | None]:
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


def split_lines(text: str) -> list[str]:
    """Lines without their endings; CRLF and CR count as one line break; a BOM is dropped."""
    if text.startswith("\ufeff"):
        text = text[1:]
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def blank_bad_chars(text: str, lines: list[str], rep: Reporter) -> None:
    """Report each character a script may not hold and blank it in ``lines`` (a space)."""
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


# ---- 3. comments -----------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """A body line after comments are blanked (same length, so columns stay true)."""

    number: int
    text: str
    dropped: bool  # a comment-only line: no item at all, not even a paragraph break


def strip_comments(lines: list[str], start: int, rep: Reporter) -> list[Line]:
    """The body from ``lines[start]`` on, ``// ...`` lines and ``<!-- ... -->`` blanked."""
    out: list[Line] = []
    open_at: tuple[int, int] | None = None  # (line, col) of an unclosed "<!--"
    for i in range(start, len(lines)):
        line = lines[i]
        if open_at is None and "<!--" not in line:  # most lines: no comment to blank
            if not line or line.isspace():
                if not (out and out[-1].text == "" and not out[-1].dropped):
                    out.append(Line(i + 1, "", False))  # one per run: the rest add nothing
                continue
            out.append(
                Line(i + 1, "", True)
                if line.lstrip().startswith("//")
                else Line(i + 1, line, False)
            )
            continue
        if open_at is None and line.lstrip().startswith("//"):
            out.append(Line(i + 1, "", True))
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
        out.append(Line(i + 1, text, had_comment and not text.strip()))
    if open_at is not None:
        rep.error(open_at[0], open_at[1], "expected '-->' to close this comment")
    return out


# ---- 4. records: one per line ----------------------------------------------------


@dataclass(frozen=True)
class SideRef:
    """A ``{side}`` placeholder in prose or a heading, at its column."""

    col: int


Parts = tuple  # tuple[str | SideRef, ...]


@dataclass(frozen=True)
class HeadingRec:
    line: int
    col: int
    level: int
    parts: Parts


@dataclass(frozen=True)
class BlankRec:
    line: int


@dataclass(frozen=True)
class SidesRec:
    line: int
    col: int
    sides: tuple[str, ...]


@dataclass(frozen=True)
class SpeechPiece:
    line: int
    col: int
    parts: Parts


@dataclass(frozen=True)
class ItemsPiece:
    """Items that do not depend on the side: a parsed cue, or an expanded include."""

    items: tuple[Item, ...]
    line: int
    col: int
    included: bool = False


@dataclass(frozen=True)
class ContentRec:
    line: int
    pieces: tuple[SpeechPiece | ItemsPiece, ...]


Record = HeadingRec | BlankRec | SidesRec | ContentRec


@dataclass(frozen=True)
class TextSeg:
    col: int  # column of the first non-space character (0 if all spaces)
    parts: Parts


@dataclass(frozen=True)
class CueSeg:
    col: int  # column of "["
    content: str
    content_col: int  # column of the first character after "["


def blank_list_marker(text: str) -> str:
    """A list marker (``- ``, ``1. ``) is not spoken: blanked, so columns stay true."""
    marker = _LIST_MARKER_RE.match(text)
    return " " * marker.end() + text[marker.end() :] if marker else text


def heading_record(ln: Line, rep: Reporter) -> HeadingRec | None:
    """A ``#`` / ``##`` / ``###`` line as a record, or None when it is reported as wrong."""
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
    segs = scan(rest, rest_start, ln.number, rep)
    parts: list = []
    for seg in segs:
        if isinstance(seg, CueSeg):
            rep.error(
                ln.number, seg.col, "a heading cannot hold a cue; put the cue on its own line below"
            )
            return None
        parts.extend(seg.parts)
    return HeadingRec(ln.number, col, level, tuple(parts))


def _without_closing_hashes(text: str) -> str:
    """``Title ##`` -> ``Title``: an optional closing run of '#' after white space (linear time)."""
    body = text.rstrip()
    hashes = body.rstrip("#")
    if hashes != body and hashes[-1:].isspace():
        return hashes.rstrip()
    return text


def scan(text: str, offset: int, line_no: int, rep: Reporter) -> list[TextSeg | CueSeg]:
    """Split one line into prose and cue segments, resolving escapes and ``{side}``.

    ``offset`` is the index of ``text[0]`` in the line. A broken bracket or
    brace is reported and skipped, so the rest of the line is still checked.
    """
    segs: list[TextSeg | CueSeg] = []
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
            segs.append(TextSeg(first_col, tuple(parts)))
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
            segs.append(CueSeg(col, text[i + 1 : j], col + 1))
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
            parts.append(SideRef(col))
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


def strip_markdown(text: str) -> str:
    """Emphasis marks around words (``*a*``, ``**a**``, ``_a_``, ``__a__``, `` `a` ``) removed."""
    for _ in range(_MAX_EMPHASIS_PASSES):
        plain = _EMPHASIS_RE.sub(lambda m: m.group(2) or "", text)
        if plain == text:
            break
        text = plain
    return _STRAY_MARKS_RE.sub(" ", text)
