"""Eyes-closed controls: single keys from the terminal, and the status line.

``KeyReader`` puts the terminal in cbreak mode (keys arrive one by one, not
echoed; Ctrl-C still raises KeyboardInterrupt) and always restores it, also
on exceptions. ``StatusLine`` rewrites one line in place for a sighted
teacher; on a non-terminal it prints only when the text changes meaningfully.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import threading
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from voicecoach.printable import printable

KEYS = ("space", "right", "left", "up", "down", "n", "p", "q", "esc", "ctrl-c")
ESC_WAIT_S = 0.05  # after ESC, how long to wait for the rest of an arrow-key sequence

_SEQUENCES = {
    b"\x1b[A": "up",
    b"\x1b[B": "down",
    b"\x1b[C": "right",
    b"\x1b[D": "left",
    b"\x1bOA": "up",
    b"\x1bOB": "down",
    b"\x1bOC": "right",
    b"\x1bOD": "left",
}
_SINGLE = {
    b" ": "space",
    b"n": "n",
    b"N": "n",
    b"p": "p",
    b"P": "p",
    b"q": "q",
    b"Q": "q",
    b"\x03": "ctrl-c",
}


def parse_keys(data: bytes) -> tuple[list[str], bytes]:
    """Key names found in ``data``, and an unfinished escape sequence left over.

    A lone ESC at the end is returned as left-over so the caller can wait
    briefly for the rest of an arrow key; unknown bytes are ignored.
    """
    keys: list[str] = []
    i = 0
    while i < len(data):
        b = data[i : i + 1]
        if b == b"\x1b":
            rest = data[i : i + 3]
            if rest in _SEQUENCES:
                keys.append(_SEQUENCES[rest])
                i += 3
                continue
            if len(rest) < 3 and rest[1:2] in (b"", b"[", b"O"):
                return keys, data[i:]  # maybe the start of an arrow key
            if rest[1:2] in (b"[", b"O"):
                i += _csi_length(data, i)  # some other sequence (F-keys, Home...): skip it
                continue
            keys.append("esc")
            i += 1
            continue
        if b in _SINGLE:
            keys.append(_SINGLE[b])
        i += 1
    return keys, b""


def _csi_length(data: bytes, i: int) -> int:
    """Length of the escape sequence at ``data[i]``: ESC, [ or O, parameters, one final byte."""
    j = i + 2
    while j < len(data) and 0x30 <= data[j] <= 0x3F:  # parameter bytes: digits ; ? ...
        j += 1
    return j + 1 - i


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP while playing: raised like Ctrl-C's ``KeyboardInterrupt``, so the same
    clean-up runs (terminal restored, sound faded, where to resume said)."""

    def __init__(self, signum: int):
        self.signum = signum
        self.name = signal.Signals(signum).name
        super().__init__(self.name)


STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n))


@contextlib.contextmanager
def signals_stop_like_ctrl_c() -> Iterator[None]:
    """While inside, SIGTERM and SIGHUP raise ``Terminated`` in the main thread (once).

    Only signals still at their default action are taken over (not one that
    ``nohup`` ignores or a caller handles); they are given back on the way out.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    raised = False

    def handler(signum: int, frame: Any) -> None:
        nonlocal raised
        if not raised:  # a second signal must not break the clean-up of the first
            raised = True
            raise Terminated(signum)

    taken = []
    for signum in STOP_SIGNALS:
        if signal.getsignal(signum) is signal.SIG_DFL:
            signal.signal(signum, handler)
            taken.append(signum)
    try:
        yield
    finally:
        for signum in taken:
            signal.signal(signum, signal.SIG_DFL)


class KeyReader:
    """Reads single keys from a terminal file descriptor (a context manager).

    When ``enabled`` is false (standard input is not a terminal, or keys are
    not wanted) ``read`` just waits for the timeout and returns nothing.
    """

    def __init__(self, fd: int | None = None, *, enabled: bool = True):
        self.fd = -1 if not enabled else (sys.stdin.fileno() if fd is None else fd)
        self.enabled = enabled
        self._saved: list | None = None
        self._pending = b""

    def __enter__(self) -> KeyReader:
        if self.enabled:
            try:
                import termios
                import tty
            except ImportError:  # no POSIX terminal (Windows): play through without keys
                self.enabled = False
                return self
            try:
                self._saved = termios.tcgetattr(self.fd)
            except termios.error:  # not a terminal after all
                self.enabled = False
                return self
            tty.setcbreak(self.fd, termios.TCSANOW)
        return self

    def __exit__(self, *exc) -> None:
        self.restore()

    def restore(self) -> None:
        """Put the terminal back as it was (safe to call twice)."""
        if self._saved is not None:
            import termios

            with contextlib.suppress(termios.error):  # gone (SIGHUP): nothing to restore
                termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
            self._saved = None

    def read(self, timeout_s: float) -> list[str]:
        """Keys pressed, waiting at most ``timeout_s`` for the first one."""
        if not self.enabled:
            time.sleep(timeout_s)
            return []
        ready, _, _ = select.select([self.fd], [], [], timeout_s)
        if not ready:
            if self._pending:  # a lone ESC that no sequence followed
                self._pending = b""
                return ["esc"]
            return []
        data = self._pending + self._read_available()
        keys, self._pending = parse_keys(data)
        if self._pending:
            more, _, _ = select.select([self.fd], [], [], ESC_WAIT_S)
            if more:
                extra, self._pending = parse_keys(self._pending + self._read_available())
                keys.extend(extra)
            if self._pending == b"\x1b":
                keys.append("esc")
                self._pending = b""
        return keys

    def _read_available(self) -> bytes:
        try:
            data = os.read(self.fd, 64)
        except OSError:
            return b""
        if not data:  # end of file: the terminal went away; behave as if no keys
            self.enabled = False
        return data


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
