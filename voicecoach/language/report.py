"""The state one parse run shares, and the one helper that builds every diagnostic.

A run is the main script with all its includes: ``Context`` holds what they
share (the diagnostics, the error and cue counts, the include look-ups made so
far); a ``Reporter`` per file turns "line, column, message" into a
``Diagnostic`` quoting that file's line, and stops at ``MAX_ERRORS``.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

from voicecoach.errors import Diagnostic
from voicecoach.language.limits import MAX_CUES, MAX_ERRORS


@dataclass
class Context:
    """State shared by the main script and its includes."""

    builtin_dir: Path | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    root_dir: Path | None = None
    errors: int = 0
    warnings: int = 0
    include_names: dict[tuple, list[str]] = field(
        default_factory=dict
    )  # see includes._includable_names
    include_lookups: dict[tuple[Path, str], tuple[Path | None, Path | None] | str] = field(
        default_factory=dict
    )  # see includes._look_up
    cues: int = 0  # spoken lines, cues and includes read so far, every include counted each time
    cue_limit_reported: bool = False

    def over_cue_limit(self, rep: Reporter, line: int, col: int, count: int) -> bool:
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


class Reporter:
    """Builds every diagnostic of one file, with its source line (the one helper for errors)."""

    def __init__(self, ctx: Context, file: str, lines: list[str], suffix: str = ""):
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


def did_you_mean(word: str, choices: tuple[str, ...] | list[str]) -> str:
    """A hint naming the choice closest to ``word`` ("; did you mean 'x'?"), or "" if none is."""
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""
