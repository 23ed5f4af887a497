"""One error tree for every stage, and the diagnostics that scripts produce.

The CLI turns any ``VoicecoachError`` into plain messages and an exit code; it
never shows a traceback for one.
"""

from __future__ import annotations

from dataclasses import dataclass

from .printable import printable


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
        """The headline, then the source line and a caret under the column (all safe to print)."""
        out = [self.headline()]
        if self.source_line is not None:
            src, col = _window(self.source_line, self.col)
            src = src.expandtabs(1)
            before = printable(src[: max(0, col - 1)])  # what the caret must pass
            out.append(f"    {printable(src)}")
            out.append("    " + " " * len(before) + "^")
        return "\n".join(out)

    def to_json(self) -> dict:
        return {
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "severity": self.severity,
            "message": self.message,
        }


SOURCE_WINDOW = 100  # characters of a long source line shown each side of the caret


def _window(src: str, col: int) -> tuple[str, int]:
    """A long line cut to the part around ``col`` ('...' where cut), and the column in it.

    A 600 KB line with 1000 errors printed whole was 600 MB of output.
    """
    if len(src) <= 2 * SOURCE_WINDOW:
        return src, col
    start = max(0, col - 1 - SOURCE_WINDOW)
    end = col - 1 + SOURCE_WINDOW
    head = "..." if start > 0 else ""
    tail = "..." if end < len(src) else ""
    return head + src[start:end] + tail, col - start + len(head)


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


class RenderError(VoicecoachError):
    """Audio could not be rendered (bad palette, bad sample rate...)."""


class ExportError(VoicecoachError):
    """An audio file could not be written."""


class PlaybackError(VoicecoachError):
    """Live playback failed (no PortAudio, no device, device lost...)."""
