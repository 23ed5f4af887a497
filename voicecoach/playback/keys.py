"""Eyes-closed controls: single keys from the terminal, and SIGTERM/SIGHUP stopping like Ctrl-C.

``KeyReader`` puts the terminal in cbreak mode (keys arrive one by one, not
echoed; Ctrl-C still raises KeyboardInterrupt) and always restores it, also
on exceptions. The status line drawn for a sighted teacher is in ``status``.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

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
    **{str(n).encode(): str(n) for n in range(1, 6)},  # a re-check's answer
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
