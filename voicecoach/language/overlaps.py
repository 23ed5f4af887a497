"""Time rule 3: speech never overlaps speech. A spoken cue that cannot finish before the next is
due leaves the next one out, with a warning at its line saying how much time is missing and
what would fix it; no boundary ever moves.

Also the compiler's diagnostics: made at a script location, sorted as a person reads them.
"""

from __future__ import annotations

import linecache

from voicecoach.errors import Diagnostic
from voicecoach.language import phrases
from voicecoach.language.plan import Event
from voicecoach.language.script import Loc
from voicecoach.units import format_clock


def diagnostic_order(d: Diagnostic) -> tuple:
    """Diagnostics sorted as a person reads them: by file, line, column."""
    return (d.file, d.line, d.col)


def diagnostic_at(loc: Loc, severity: str, message: str) -> Diagnostic:
    """A compiler diagnostic at a script location, with its source line for the caret."""
    source = linecache.getline(loc.file, loc.line).rstrip("\r\n") or None
    return Diagnostic(loc.file, loc.line, loc.col, severity, message, source)


def resolve_speech_overlaps(
    events: list[Event], warnings: list[Diagnostic], sample_rate: int, words: phrases.Wording
) -> list[Event]:
    """Drop each spoken cue that would start before the previous one finished (time rule 3)."""
    advice: dict[str, str] = {}

    def remedy(text: str) -> str:
        if text not in advice:
            name = words.name_of(text)
            advice[text] = (
                f"give it shorter words with say.{name} in the front matter, or lengthen the cue"
                if name is not None
                else "shorten the words or lengthen the cue"
            )
        return advice[text]

    speech = sorted(
        (e for e in events if e.kind == "speech"), key=lambda e: (e.start_sample, e.end_sample)
    )
    dropped: set[int] = set()
    last: Event | None = None
    for e in speech:
        if last is not None and e.start_sample < last.end_sample:
            dropped.add(id(e))
            warnings.append(
                diagnostic_at(
                    Loc(last.file, last.line, last.col),
                    "warning",
                    f"'{last.text}' cannot finish before '{e.text}' (line {e.line}) is due at "
                    f"{format_clock(e.start_sample / sample_rate)}"
                    f" (it needs {(last.end_sample - e.start_sample) / sample_rate:.2f} s more);"
                    f" '{e.text}' will be left out: {remedy(last.text)}",
                )
            )
            continue
        last = e
    return [e for e in events if id(e) not in dropped]
