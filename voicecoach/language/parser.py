"""Session script text -> ``Script``, exactly as SCRIPT_FORMAT.md (version 1.1) specifies.

The parser works in numbered stages, each reporting problems as Diagnostics
instead of stopping, so that one run shows every error in a script:

1. read the file (size limit, UTF-8) and split it into lines (``lines``);
2. front matter (``---`` block at the very top) -> Settings (``frontmatter``);
3. comments (``// ...`` lines, ``<!-- ... -->``) are blanked out (``lines``);
4. each line becomes a record: heading, blank, ``[sides]`` line, or content
   (prose pieces and cues parsed by ``directives``; includes are found by
   ``includes``, then parsed and expanded here);
5. records are emitted as a flat tuple of items, repeating ``[sides]``
   sections once per side and replacing ``{side}``.

This module is the orchestration: the stages above for one file, includes
parsed in place, and the sides expansion. Every diagnostic is built by a
``report.Reporter``; the limits are in ``limits``.

Only ``parse_text`` and ``parse_file`` are public. Both raise ``ScriptError``
with every diagnostic (sorted by file, line, column) when there is any error.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from voicecoach.errors import Diagnostic, ScriptError
from voicecoach.language.directives import parse_cue, parse_sides
from voicecoach.language.frontmatter import front_matter, settings_of
from voicecoach.language.includes import Frame, read_include
from voicecoach.language.limits import MAX_SCRIPT_BYTES
from voicecoach.language.lines import (
    FENCE,
    BlankRec,
    ContentRec,
    CueSeg,
    HeadingRec,
    ItemsPiece,
    Line,
    Parts,
    Record,
    SideRef,
    SidesRec,
    SpeechPiece,
    TextSeg,
    blank_bad_chars,
    blank_list_marker,
    heading_record,
    read_script,
    scan,
    split_lines,
    strip_comments,
    strip_markdown,
)
from voicecoach.language.report import Context, Reporter
from voicecoach.language.script import Heading, Item, Loc, ParagraphBreak, Script, Speech

__all__ = ["parse_text", "parse_file"]


# ---- public API ------------------------------------------------------------


def parse_text(text: str, path: str = "<script>", *, builtin_dir: Path | None = None) -> Script:
    """Parse script ``text``; ``path`` names it in diagnostics and is the base for includes.

    ``builtin_dir`` is the built-in library folder that includes may also
    read from (default: the packaged ``scripts/``). Raises ScriptError.
    """
    ctx = Context(_builtin_dir(builtin_dir))
    path = str(path)
    real = Path(path)
    pseudo = path.startswith("<")
    try:
        resolved = None if pseudo else real.resolve()
        base_dir = Path.cwd().resolve() if resolved is None else resolved.parent
    except (OSError, ValueError, RuntimeError):
        resolved, base_dir = None, Path.cwd()
    stack = (Frame(resolved, path),) if resolved is not None else (Frame(None, path),)
    ctx.root_dir = base_dir
    return _finish(ctx, path, text, base_dir, stack)


def parse_file(path: str | os.PathLike, *, builtin_dir: Path | None = None) -> Script:
    """Read and parse the script file at ``path``. Raises ScriptError (also for I/O problems)."""
    shown = os.fspath(path)
    text, diag = read_script(Path(shown), shown)
    if diag is not None:
        raise ScriptError([diag])
    return parse_text(text, shown, builtin_dir=builtin_dir)


def _builtin_dir(given: Path | None) -> Path | None:
    if given is not None:
        return Path(given)
    from voicecoach.storage.resources import builtin_scripts_dir

    return builtin_scripts_dir()


def _finish(ctx: Context, path: str, text: str, base_dir: Path, stack: tuple[Frame, ...]) -> Script:
    settings_raw, items, rep = _parse_source(ctx, text, path, base_dir, stack, suffix="", root=True)
    settings = settings_of(settings_raw, rep, _default_title(path))
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


# ---- per-file driver ------------------------------------------------------------


def _parse_source(
    ctx: Context,
    text: str,
    shown: str,
    base_dir: Path,
    stack: tuple[Frame, ...],
    *,
    suffix: str,
    root: bool,
) -> tuple[dict[str, tuple[str, int, int]], list[Item], Reporter]:
    """Stages 1-5 for one file; returns raw front matter, items and the file's reporter."""
    lines = split_lines(text)
    rep = Reporter(ctx, shown, lines, suffix)
    if (
        len(text) > MAX_SCRIPT_BYTES
        or len(text.encode("utf-8", "surrogatepass")) > MAX_SCRIPT_BYTES
    ):
        rep.error(1, 1, "script is too large (the limit is 1 MiB): split it with [include]")
        return {}, [], rep
    blank_bad_chars(text, lines, rep)
    front, body_start = front_matter(lines, rep, validate=root)
    body = strip_comments(lines, body_start, rep)
    records = _records(body, rep, ctx, base_dir, stack)
    items: list[Item] = []
    _emit(records, 0, len(records), None, 0, items, rep)
    return front, items, rep


# ---- 4. records: one per line ----------------------------------------------------


def _records(body: list[Line], rep: Reporter, ctx: Context, base_dir: Path, stack) -> list[Record]:
    records: list[Record] = []
    for ln in body:
        if ln.dropped:
            continue
        stripped = ln.text.strip()
        if not stripped:
            if not records or not isinstance(records[-1], BlankRec):  # one per run is enough
                records.append(BlankRec(ln.number))
            continue
        if stripped.startswith("#"):
            ctx.cues += 1  # a heading is a section (a chapter): counted like a cue
            if ctx.over_cue_limit(rep, ln.number, 1, ctx.cues):
                break
            heading = heading_record(ln, rep)
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
        segs = scan(blank_list_marker(ln.text), 0, ln.number, rep)
        record = _content(ln, segs, rep, ctx, base_dir, stack)
        if record is not None:
            records.append(record)
    first = next((k for k, r in enumerate(records) if not isinstance(r, BlankRec)), len(records))
    del records[:first]  # at once: pop(0) per leading blank line was quadratic (1M lines: minutes)
    while records and isinstance(records[-1], BlankRec):
        records.pop()
    return records


def _content(
    ln: Line, segs: list[TextSeg | CueSeg], rep: Reporter, ctx: Context, base_dir: Path, stack
) -> ContentRec | SidesRec | None:
    """A prose/cue line: speech pieces and parsed cues (includes expanded)."""
    meaningful = [
        s
        for s in segs
        if isinstance(s, CueSeg) or any(isinstance(p, SideRef) or p.strip() for p in s.parts)
    ]
    alone = len(meaningful) == 1
    pieces: list[SpeechPiece | ItemsPiece] = []
    for seg in meaningful:
        ctx.cues += 1
        if ctx.over_cue_limit(rep, ln.number, seg.col, ctx.cues):
            break
        if isinstance(seg, TextSeg):
            pieces.append(SpeechPiece(ln.number, seg.col, seg.parts))
            continue
        tokens = list(re.finditer(r"\S+", seg.content))
        keyword = tokens[0].group(0).lower() if tokens else ""
        if keyword in ("sides", "include"):
            if not alone:
                rep.error(ln.number, seg.col, f"[{keyword}] must be on a line of its own")
                continue
            if keyword == "sides":
                return parse_sides(seg, tokens, ln.number, rep)
            items = _include(seg, ln.number, rep, ctx, base_dir, stack)
            pieces.append(ItemsPiece(tuple(items), ln.number, seg.col, included=True))
            continue
        item = parse_cue(seg, tokens, ln.number, rep)
        if item is not None:
            pieces.append(ItemsPiece((item,), ln.number, seg.col))
    return ContentRec(ln.number, tuple(pieces)) if pieces else None


def _include(
    seg: CueSeg, line: int, rep: Reporter, ctx: Context, base_dir: Path, stack
) -> list[Item]:
    """Find, check and parse an included script; its items (already expanded)."""
    inc = read_include(seg, line, rep, ctx, base_dir, stack)
    if inc is None:
        return []
    _, items, sub = _parse_source(
        ctx,
        inc.text,
        inc.shown,
        inc.path.parent,
        (*stack, Frame(inc.path, inc.shown)),
        suffix=inc.suffix,
        root=False,
    )
    if sub.errors:
        rep.error(
            line,
            inc.path_col,
            f"the included script '{inc.raw}' has errors (listed under {inc.shown})",
        )
    return items


# ---- 5. emitting items, with sides -------------------------------------------------------


def _fill(parts: Parts, side: str | None, rep: Reporter, line: int) -> str:
    """Join text parts, replacing ``{side}``; drop Markdown marks; collapse runs of white space."""
    out: list[str] = []
    for p in parts:
        if isinstance(p, SideRef):
            if side is None:
                rep.error(line, p.col, "{side} is only allowed inside a [sides] section")
            else:
                out.append(side)
        else:
            out.append(p)
    return " ".join(strip_markdown("".join(out)).split())


def _heading_item(rec: HeadingRec, side: str | None, rep: Reporter) -> Heading:
    title = _fill(rec.parts, side, rep, rec.line)
    if side is not None and not any(isinstance(p, SideRef) for p in rec.parts):
        title = f"{title} ({side})"
    return Heading(Loc(rep.file, rec.line, rec.col), title, rec.level, side)


def _emit(
    records: list[Record],
    start: int,
    end: int,
    side: str | None,
    sides_line: int,
    out: list[Item],
    rep: Reporter,
    skip: int | None = None,
) -> None:
    """Append the items of ``records[start:end]``; ``side`` is set inside a sides section."""
    i = start
    while i < end:
        rec = records[i]
        if i == skip:
            i += 1
            continue
        if isinstance(rec, HeadingRec):
            section_end = i + 1
            while section_end < end and not (
                isinstance(following := records[section_end], HeadingRec)
                and following.level <= rec.level
            ):
                section_end += 1
            first = next(
                (k for k in range(i + 1, section_end) if not isinstance(records[k], BlankRec)),
                None,
            )
            sides = records[first] if first is not None else None
            if isinstance(sides, SidesRec):
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
        elif isinstance(rec, BlankRec):
            out.append(ParagraphBreak(Loc(rep.file, rec.line, 1)))
        elif isinstance(rec, SidesRec):
            rep.error(rec.line, rec.col, "[sides] must come right after a heading")
        else:
            for piece in rec.pieces:
                size = len(piece.items) if isinstance(piece, ItemsPiece) else 1
                if rep.ctx.over_cue_limit(rep, piece.line, piece.col, len(out) + size):
                    return
                if isinstance(piece, ItemsPiece):
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
