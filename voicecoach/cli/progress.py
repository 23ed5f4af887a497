"""Progress on a terminal: one line on stderr while a command works, erased when it is done.

Shown only where a person watches: standard error is a terminal (not a dumb
one), ``CI`` is not set, and the command's machine-readable output (``--json``) is not going to a
pipe. Elsewhere nothing at all is written. Work that ends within
``SHOW_AFTER_S`` shows nothing either (a warm cache never flickers).

The line is drawn by rich (a transient ``Progress``): it stays within the
terminal's width, counts the time left from the pace so far, and is erased
when the work ends, so what the command prints next starts on a clean line.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from voicecoach.session import Session

SHOW_AFTER_S = 0.3  # the line appears only for work that lasts longer than this
REFRESHES_PER_S = 4  # the time left ticks on between phrases


def wanted(*, as_json: bool = False) -> bool:
    """True where a person watches standard error (see the module's docstring)."""
    if os.environ.get("CI") or os.environ.get("TERM") == "dumb":  # dumb: no erasing a line
        return False
    if as_json and not _isatty(sys.stdout):
        return False
    return _isatty(sys.stderr)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # closed, or not a real file
        return False


class ProgressLine:
    """``description ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━ 12/65 · 0:08 left`` on stderr.

    Fed by ``update(done, total)`` from any thread (the speech workers call it); drawn
    only once the work has lasted ``show_after_s``, and erased by ``close``. rich is
    imported only then: a command that ends sooner never loads it.
    """

    def __init__(self, description: str, *, show_after_s: float = SHOW_AFTER_S) -> None:
        self._description = description
        self._done = 0
        self._total: int | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._shown: Any = None  # (rich Progress, its task id) once drawn
        self._timer = threading.Timer(show_after_s, self._show)
        self._timer.daemon = True
        self._timer.start()

    def update(self, done: int, total: int | None) -> None:
        with self._lock:
            self._done, self._total = done, total
            if self._shown is not None:
                bar, task = self._shown
                bar.update(task, completed=done, total=total)

    def describe(self, description: str) -> None:
        """A new description (``check`` of several scripts names the one it is at)."""
        with self._lock:
            self._description = description
            if self._shown is not None:
                bar, task = self._shown
                bar.update(task, description=description)

    def _show(self) -> None:
        bar = _rich_progress()  # the import (about 60 ms) outside the lock
        with self._lock:
            if self._closed:
                return
            task = bar.add_task(self._description, completed=self._done, total=self._total)
            bar.start()
            self._shown = (bar, task)

    def close(self) -> None:
        self._timer.cancel()
        with self._lock:
            self._closed = True
            if self._shown is not None:
                self._shown[0].stop()
                self._shown = None

    def __enter__(self) -> ProgressLine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Unseen:
    """What ``progress_line`` gives where no one watches: takes the calls, writes nothing."""

    def update(self, done: int, total: int | None) -> None:
        pass

    def describe(self, description: str) -> None:
        pass

    def __enter__(self) -> _Unseen:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def progress_line(description: str, *, as_json: bool = False) -> ProgressLine | _Unseen:
    """A ``ProgressLine`` where a person watches (``wanted``), else one that writes nothing."""
    return ProgressLine(description) if wanted(as_json=as_json) else _Unseen()


def _rich_progress():
    """rich's transient ``Progress`` on stderr, in the columns of ``ProgressLine``."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn
    from rich.text import Text

    from voicecoach.units import format_clock

    class StderrConsole(Console):
        def show_cursor(self, show: bool = True) -> bool:
            """The cursor is left alone: a process killed while the line shows would
            otherwise leave the terminal without one."""
            return False

    class TimeLeft(ProgressColumn):
        """``0:08 left`` once the pace is known (after the first step)."""

        def render(self, task) -> Text:
            left_s = task.time_remaining
            shown = "starting" if left_s is None else f"{format_clock(left_s)} left"
            return Text(shown, style="progress.remaining")

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(bar_width=30),
        MofNCompleteColumn(),
        TextColumn("·"),
        TimeLeft(),
        console=StderrConsole(stderr=True),
        transient=True,
        redirect_stdout=False,  # the command's own output never passes through the line
        refresh_per_second=REFRESHES_PER_S,
    )


@contextlib.contextmanager
def speech_progress(
    session: Session, description: str = "synthesising speech", *, as_json: bool = False
) -> Iterator[None]:
    """While the block runs, speech the session synthesises shows as a progress line.

    Only where a person watches (``wanted``), and only once there is speech to
    synthesise: a warm cache shows nothing and loads nothing.
    """
    if not wanted(as_json=as_json):
        yield
        return
    speech = session.speech
    line: ProgressLine | None = None
    made = threading.Lock()

    def report(done: int, total: int) -> None:
        nonlocal line
        with made:
            if line is None:
                line = ProgressLine(description)
        line.update(done, total)

    speech.progress = report
    try:
        yield
    finally:
        speech.progress = None
        if line is not None:
            line.close()
