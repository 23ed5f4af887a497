"""What play shows and says: the status line for a sighted teacher, and where a session stopped.

``Status`` holds the line's parts so it can be fitted to the terminal without
cutting a number; ``StatusLine`` rewrites it in place on a terminal (off a
terminal it prints only when the section changes); ``player_status`` builds
it from the plan and the position; ``reason_text`` is the sentence that says
where a stopped session stopped and how to resume it.
"""

from __future__ import annotations

import os
import sys
import unicodedata
from dataclasses import dataclass
from typing import TextIO

from voicecoach.language.plan import Plan
from voicecoach.playback.navigation import section_at, where
from voicecoach.printable import printable
from voicecoach.units import format_clock


@dataclass(frozen=True)
class Status:
    """The status line's parts, so it can be fitted to the terminal without cutting a number.

    ``head`` (state and clock) and ``left`` (time left) always show; on a
    narrow terminal the section and the cue are shortened (with "…") and then
    dropped, and ``extras`` (volume, notes) are dropped last first.
    """

    head: str
    section: str
    cue: str
    left: str
    extras: tuple[str, ...] = ()

    def text(self, width: int | None = None) -> str:
        """The line, at most ``width - 1`` columns when ``width`` is given (escaped for printing)."""
        section, cue = printable(self.section), printable(self.cue)
        extras = tuple(printable(e) for e in self.extras)
        full = self._join(section, cue, extras)
        if width is None or _columns(full) <= width - 1:
            return full
        limit = max(1, width - 1)
        # the section and the cue, shortened, before the extras; then the section alone; then none
        for words in ("both", "section", "none"):
            for n_extras in range(len(extras), -1, -1):
                kept = extras[:n_extras]
                if words == "both":
                    room = limit - _columns(self._join("", "", kept))
                    if room >= 2 * _MIN_WORDS:
                        sec = max(_MIN_WORDS, room * 2 // 5, room - _columns(cue))
                        sec = min(_columns(section), sec)  # the cue has the rest
                        return self._join(_shorten(section, sec), _shorten(cue, room - sec), kept)
                elif words == "section":
                    room = limit - _columns(self._join("", None, kept))
                    if room >= _MIN_WORDS:
                        return self._join(_shorten(section, room), None, kept)
                elif _columns(self._join(None, None, kept)) <= limit:
                    return self._join(None, None, kept)
        return _shorten(self._join(None, None, ()), limit, mark="")  # not even the numbers fit

    def _join(self, section: str | None, cue: str | None, extras: tuple[str, ...]) -> str:
        line = self.head
        if section is not None:
            line += f"  {section}"
        if cue is not None:
            line += f"  | {cue} |"
        elif section is not None:
            line += "  |"
        line += f" {self.left}"
        return line + "".join(f"  {e}" for e in extras)


_MIN_WORDS = 10  # columns below which a section or cue is dropped rather than shortened


def _columns(text: str) -> int:
    """Terminal columns of ``text``: East Asian wide characters take two."""
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _shorten(text: str, columns: int, *, mark: str = "…") -> str:
    """``text`` in at most ``columns`` columns, ending in ``mark`` when it was cut."""
    if _columns(text) <= columns:
        return text
    out, used = [], _columns(mark)
    for c in text:
        w = _columns(c)
        if used + w > columns:
            break
        out.append(c)
        used += w
    return "".join(out) + mark


class StatusLine:
    """One line of status, rewritten in place on a terminal, hidden when ``quiet``."""

    def __init__(self, out: TextIO | None = None, *, quiet: bool = False):
        self.out = sys.stderr if out is None else out
        self.quiet = quiet
        try:
            self.in_place = self.out.isatty()
        except (AttributeError, ValueError):
            self.in_place = False
        self._last = ""
        self._last_key = ""

    def show(self, status: str | Status, *, key: str = "") -> None:
        """Show ``status``, fitted to the terminal's width.

        Off a terminal, print it whole, and only when ``key`` (say, the section) changes.
        """
        if self.quiet:
            return
        if self.in_place:
            width = _terminal_width(self.out)
            if isinstance(status, Status):
                text = status.text(width)
            else:  # section titles and phrases come from the script
                text = _shorten(printable(status), width - 1, mark="")
            if text != self._last:
                self._write("\r" + text + "\x1b[K")
                self._last = text
            return
        text = status.text() if isinstance(status, Status) else printable(status)
        if key != self._last_key:
            self._write(text + "\n")
            self._last_key = key

    def clear(self) -> None:
        """Remove the line, leaving the cursor at the start of an empty line."""
        if not self.quiet and self.in_place and self._last:
            self._write("\r\x1b[K")
            self._last = ""

    def message(self, text: str) -> None:
        """A line of its own above the status line."""
        if self.quiet:
            return
        self.clear()
        self._write(printable(text) + "\n")

    def _write(self, s: str) -> None:
        try:
            self.out.write(s)
            self.out.flush()
        except (OSError, ValueError):
            self.quiet = True  # the terminal went away: keep playing, stop drawing


def _terminal_width(out: TextIO) -> int:
    try:
        columns = os.get_terminal_size(out.fileno()).columns
    except (OSError, AttributeError, ValueError):
        columns = 0
    return columns or 80  # a fresh pseudo-terminal reports 0 columns


def player_status(
    plan: Plan, position_sample: int, state: str, *, volume_db: float, measuring: bool
) -> Status:
    """The status line at ``position_sample``: state, clock, section, what is said, time left.

    ``volume_db`` (the person's volume change) shows when not 0; ``measuring``
    notes that play waits for speech still being synthesised.
    """
    pos = position_sample
    sr = plan.sample_rate
    total = plan.duration_samples
    section = section_at(plan, pos) or plan.title
    cue = cue_at(plan, pos)
    left = format_clock(max(0, total - pos) / sr)
    extras: tuple[str, ...] = (f"vol {volume_db:+.0f} dB",) if volume_db else ()
    if measuring:
        extras += ("(waiting for speech synthesis: nothing is lost)",)
    clock = f"{format_clock(pos / sr)}/{format_clock(total / sr)}"
    return Status(f"{state} {clock}", section, cue, f"{left} left", extras)


def cue_at(plan: Plan, position_sample: int) -> str:
    """What is happening at ``position_sample``: the phrase being said, else the directive."""
    said = ""
    directive = ""
    for e in plan.events:
        if e.start_sample > position_sample:
            break
        if e.end_sample <= position_sample:
            continue
        if e.kind == "speech":
            said = e.text
        elif e.kind != "tone":
            directive = f"{e.kind} {format_clock(e.duration_samples / plan.sample_rate)}"
    text = f'"{said}"' if said else directive
    return text if len(text) <= 48 else text[:45] + '..."'


def reason_text(plan: Plan, ended_by: str, at_sample: int) -> str:
    """``stopped at 12:31 in 'Right side'; resume with --from 12:31`` (with why, when it was not a stop key)."""
    clock = format_clock(at_sample / plan.sample_rate)
    what = {
        "stopped": "stopped",
        "interrupted": "interrupted (Ctrl-C)",
        "lost": "the sound device was lost; stopped",
    }
    said = f"stopped by {ended_by}" if ended_by.startswith("SIG") else what.get(ended_by, ended_by)
    return f"{said} at {where(plan, at_sample)}; resume with --from {clock}"
