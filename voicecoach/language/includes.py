"""Includes: finding, checking and reading the script an ``[include ...]`` names.

An include is looked up beside the including file, then in the built-in
library; it must stay inside the main script's folder, this file's folder or
the library (once links are followed), must not include itself (a cycle) and
nests at most ``MAX_INCLUDE_DEPTH`` deep. ``read_include`` returns the text to
parse; the parser parses it (``parser._include``), so includes expand in place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from voicecoach.errors import Diagnostic
from voicecoach.language.limits import MAX_INCLUDE_DEPTH
from voicecoach.language.lines import CueSeg, read_script
from voicecoach.language.report import Context, Reporter, did_you_mean


@dataclass(frozen=True)
class Frame:
    """One file on the include stack: resolved path (None for text) and how it is shown."""

    resolved: Path | None
    shown: str


@dataclass(frozen=True)
class Included:
    """An included script, found, checked and read; ``raw`` is the path as written."""

    raw: str
    path_col: int  # where ``raw`` starts on the include's line
    path: Path  # resolved
    shown: str  # how its diagnostics name it
    text: str
    suffix: str  # added to each of its diagnostics: where it was included from


def read_include(
    seg: CueSeg, line: int, rep: Reporter, ctx: Context, base_dir: Path, stack: tuple[Frame, ...]
) -> Included | None:
    """Find, check and read the script ``[include ...]`` names; None when reported why not."""
    if ctx.cue_limit_reported:
        return None
    raw = seg.content.strip()
    raw = raw[len("include") :].strip()
    path_col = seg.content_col + seg.content.find(raw) if raw else seg.col
    if not raw:
        rep.error(line, seg.col, "include needs a path, like [include upper-back.md]")
        return None
    roots = [base_dir, ctx.root_dir, ctx.builtin_dir]
    key = (base_dir, raw)
    if key not in ctx.include_lookups:
        ctx.include_lookups[key] = _look_up(raw, base_dir, ctx.builtin_dir)
    lookup = ctx.include_lookups[key]
    if isinstance(lookup, str):
        rep.error(line, path_col, f"cannot include '{raw}': {lookup}")
        return None
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
                + ("" if rep.full() else did_you_mean(raw, _includable_names(ctx, base_dir))),
            )
        return None
    if not any(is_inside(found, root) for root in roots):
        rep.error(
            line,
            path_col,
            f"include '{raw}' leads outside this script's folder and the built-in library",
        )
        return None
    shown = _display(found)
    chain = [f.shown for f in stack] + [shown]
    if any(f.resolved == found for f in stack):
        rep.error(line, path_col, f"include cycle: {' -> '.join(chain)}")
        return None
    if len(stack) > MAX_INCLUDE_DEPTH:
        rep.error(
            line,
            path_col,
            f"includes nest more than {MAX_INCLUDE_DEPTH} levels deep: {' -> '.join(chain)}",
        )
        return None
    text, diag = read_script(found, shown)
    suffix = f" (included from {rep.file}:{line})"
    if diag is not None:
        ctx.diagnostics.append(
            Diagnostic(diag.file, diag.line, diag.col, diag.severity, diag.message + suffix, None)
        )
        return None
    return Included(raw, path_col, found, shown, text, suffix)


def _display(path: Path) -> str:
    """A resolved path, shown relative to the current folder when it is inside it."""
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def is_inside(path: Path, folder: Path | None) -> bool:
    """True when resolved ``path`` lies inside ``folder`` once its links are followed."""
    if folder is None:
        return False
    try:
        return path.is_relative_to(folder.resolve())
    except (OSError, ValueError, RuntimeError):
        return False


def _includable_names(ctx: Context, base_dir: Path) -> list[str]:
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


def _look_up(
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
