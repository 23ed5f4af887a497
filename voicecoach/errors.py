"""One error tree for every stage, and the diagnostics that scripts produce.

The CLI turns any ``VoicecoachError`` into plain messages and an exit code; it
never shows a traceback for one.
"""

from __future__ import annotations

from dataclasses import dataclass

from voicecoach.printable import printable


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in a script, located to the character.

    ``line`` and ``col`` are 1-based. ``source_line`` is the text of the
    offending line (without its newline), used to draw the caret.
    """

    file: str
    line: int
    col: int
    severity: str  # "error" or "warning"
    message: str
    source_line: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def headline(self) -> str:
        """``FILE:LINE:COL: severity: message``, control characters shown escaped (``\\x1b``)."""
        return printable(f"{self.file}:{self.line}:{self.col}: {self.severity}: {self.message}")

    def format(self) -> str:
        """The headline, then the source line and a caret under the column (all safe to print).

        A long source line is cut to about ``SOURCE_WINDOW`` printed
        characters around the column, with ``...`` where it was cut.
        """
        out = [self.headline()]
        if self.source_line is not None:
            shown, caret_at = source_excerpt(self.source_line, self.col - 1)
            out.append(f"    {shown}")
            out.append("    " + " " * caret_at + "^")
        return "\n".join(out)

    def to_json(self) -> dict:
        return {
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "severity": self.severity,
            "message": self.message,
        }


SOURCE_WINDOW = 200  # printed characters of a source line shown around the caret, at most
_CUT = "..."


def source_excerpt(src: str, index: int) -> tuple[str, int]:
    """``src`` made printable and cut to ``SOURCE_WINDOW`` printed characters around ``index``.

    Returns the text to show and the offset of the character at ``index``
    in it (where the caret goes; an escape such as ``\\x1b`` counts as the
    four characters it prints). A tab is shown as one space, so the caret lines
    up. Only the characters near ``index`` are looked at, so a line of 100,000
    characters costs no more than a short one (1000 errors on a 1 MiB line
    each expanding its tabs took 0.8 s).
    """
    index = min(max(index, 0), len(src))
    start = end = index
    width = 0

    def fits(ch: str) -> bool:
        nonlocal width
        w = len(_shown(ch))
        if width + w > SOURCE_WINDOW:
            return False
        width += w
        return True

    while start > 0 and width < SOURCE_WINDOW // 2 and fits(src[start - 1]):
        start -= 1
    while end < len(src) and fits(src[end]):
        end += 1
    while start > 0 and fits(src[start - 1]):  # the line ended first: show more before
        start -= 1
    head = _CUT if start > 0 else ""
    tail = _CUT if end < len(src) else ""
    caret_at = len(head) + len(_shown(src[start:index]))
    return head + _shown(src[start:end]) + tail, caret_at


def _shown(text: str) -> str:
    return printable(text.replace("\t", " "))


class VoicecoachError(Exception):
    """Base of every error voicecoach reports to a person."""

    exit_code = 1


class UsageError(VoicecoachError):
    """Bad command-line usage or API arguments."""

    exit_code = 2


class ScriptError(VoicecoachError):
    """A script could not be parsed or compiled; carries every diagnostic."""

    def __init__(self, diagnostics: tuple[Diagnostic, ...] | list[Diagnostic]):
        self.diagnostics = tuple(diagnostics)
        errors = [d for d in self.diagnostics if d.is_error]
        first = errors[0].headline() if errors else "script has errors"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(first + more)

    def __reduce__(self):  # keep the diagnostics across process boundaries (export --jobs)
        return (ScriptError, (self.diagnostics,))


class LibraryError(VoicecoachError):
    """A built-in session or palette name that does not exist."""


class SpeechError(VoicecoachError):
    """The speech engine is missing, failed or hung."""


class VoiceError(SpeechError):
    """The voice a script or option names does not exist for its engine."""


class EngineStartError(SpeechError):
    """The speech engine's worker could not start (a problem of the engine, not of a phrase)."""


class PhraseError(SpeechError):
    """Synthesising one phrase failed (the engine crashed, hung or refused it); ``text`` is the phrase.

    The compiler reports it at the script line that says the phrase.
    """

    def __init__(self, message: str, text: str):
        super().__init__(message)
        self.text = text

    def __reduce__(self):  # keep the phrase across process boundaries (export --jobs)
        return (PhraseError, (str(self), self.text))


class RenderError(VoicecoachError):
    """Audio could not be rendered (bad palette, bad sample rate...)."""


class ExportError(VoicecoachError):
    """An audio file could not be written."""


class PlaybackError(VoicecoachError):
    """Live playback failed (no PortAudio, no device, device lost...)."""


class JournalError(VoicecoachError):
    """The practice journal could not be read or written (damaged, locked, read-only folder).

    A session never stops for it: ``play`` says so in one line and goes on.
    """
