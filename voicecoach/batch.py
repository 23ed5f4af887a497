"""Exporting several scripts at once, in parallel processes, with one progress bar.

Each task runs in its own process (``spawn``: the speech engine's own worker
processes must not inherit a forked state). Results come back in task order;
errors from the voicecoach tree come back as values, never as tracebacks.

Workers die with the parent: on Linux the kernel sends them SIGTERM when it
dies (``PR_SET_PDEATHSIG``, also after kill -9), elsewhere a watchdog thread
notices; a SIGTERM in a worker unwinds its export (temporary files removed).
When the parent stops early (Ctrl-C, SIGTERM, an error) it terminates the
workers at once instead of waiting for their exports to finish.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from voicecoach._children import safe_import_path
from voicecoach.errors import VoicecoachError

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

    from voicecoach.export.writer import ExportResult

# (multiprocessing, concurrent.futures and ctypes are imported where used: the CLI imports this
# module at start-up for MAX_JOBS)

MAX_JOBS = 64  # the most ``voicecoach export --jobs`` accepts


@dataclass(frozen=True)
class ExportTask:
    script: str
    output: str | None
    fmt: str | None
    captions: bool
    sample_rate: int | None
    overrides: dict


_PR_SET_PDEATHSIG = 1  # linux/prctl.h
PARENT_POLL_S = 0.5


class _ParentGone(SystemExit):
    """Raised in a worker whose parent died: unwinds the export, then the worker exits."""


UNWIND_S = 5.0  # after SIGTERM a worker has this long to unwind, then it exits regardless


def _on_sigterm(signum, frame) -> None:
    # The pool's worker loop would go on waiting for tasks from a parent that is gone.
    timer = threading.Timer(UNWIND_S, os._exit, args=(128 + signum,))
    timer.daemon = True
    timer.start()
    raise _ParentGone(128 + signum)


def _die_with_parent(parent_pid: int) -> None:
    """Pool initializer: end this worker when the process that started it ends."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent_pid:  # it died before the request took effect
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL_S)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """In the parent, SIGTERM stops the run like Ctrl-C (where SIGTERM is at its default)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous is not signal.SIG_DFL:
        yield
        return

    def interrupt(signum, frame) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second one is not caught
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _terminate(pool: ProcessPoolExecutor) -> None:
    """Stop the workers now (``shutdown`` alone would wait for their exports to finish)."""
    # The executor keeps no public handle on its processes (_processes, stable since 3.8);
    # take them before shutdown() forgets them.
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(Exception):
            process.terminate()
    for process in processes:
        with contextlib.suppress(Exception):
            process.join(timeout=UNWIND_S + 2)


def _run_one(task: ExportTask, index: int, progress_queue) -> ExportResult | VoicecoachError:
    from voicecoach.session import load

    def progress(done: int, total: int) -> None:
        if progress_queue is not None:
            progress_queue.put((index, done, total))

    def speech_progress(done: int, total: int) -> None:
        progress_queue.put((index, done, total, "speech"))

    try:
        with load(task.script, **task.overrides) as session:
            if progress_queue is not None:  # a cold export synthesises first: say so
                session.speech.progress = speech_progress
            return session.export(
                task.output,
                fmt=task.fmt,
                captions=task.captions,
                sample_rate=task.sample_rate,
                progress=progress,
            )
    except VoicecoachError as e:
        return e


class _Bar:
    """A one-line progress bar on stderr (only used on a terminal).

    While speech is synthesised (a cold cache) the line says so, with the phrases
    done: ``exporting: synthesising speech 12/74``. ``hide`` clears its line (and
    keeps it cleared) while the caller prints a result, so no line starts after
    the bar ("100.0%wrote ..."); ``show`` draws it again.
    """

    def __init__(self, n_tasks: int):
        self.done = [0] * n_tasks
        self.total = [0] * n_tasks
        self.speech = [(0, 0)] * n_tasks  # (phrases synthesised, phrases to synthesise)
        self._lock = threading.Lock()  # the drawing thread and the caller
        self._hidden = False
        self._drawn = False

    def update(self, index: int, done: int, total: int, phase: str = "audio") -> None:
        with self._lock:
            if phase == "speech":
                self.speech[index] = (done, total)
            else:
                self.done[index], self.total[index] = done, total
            if not self._hidden:
                self._draw()

    def _draw(self) -> None:
        frac = min(1.0, sum(self.done) / (sum(self.total) or 1))
        width = 30
        filled = int(frac * width)
        line = f"exporting [{'#' * filled}{'.' * (width - filled)}] {frac * 100:5.1f}%"
        speaking = [(done, total) for done, total in self.speech if done < total]
        if speaking:
            said, to_say = (sum(n) for n in zip(*speaking, strict=True))
            speech = f"synthesising speech {said}/{to_say}"
            line = f"{line} · {speech}" if any(self.total) else f"exporting: {speech}"
        sys.stderr.write(f"\r{line}\x1b[K")
        sys.stderr.flush()
        self._drawn = True

    def hide(self) -> None:
        with self._lock:
            self._hidden = True
            if self._drawn:
                sys.stderr.write("\r\x1b[K")
                sys.stderr.flush()
                self._drawn = False

    def show(self) -> None:
        with self._lock:
            self._hidden = False
            if any(self.total) or any(total for _, total in self.speech):
                self._draw()

    def close(self) -> None:
        self.hide()


def run(
    tasks: list[ExportTask], *, jobs: int | None = None, progress: bool = False
) -> Iterator[tuple[ExportTask, ExportResult | VoicecoachError]]:
    """Export every task; yield ``(task, ExportResult or VoicecoachError)`` in order."""
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(tasks)))
    bar = _Bar(len(tasks)) if progress else None
    if jobs == 1:
        direct = _DirectQueue(bar) if bar else None
        try:
            for i, task in enumerate(tasks):
                result = _run_one(task, i, direct)
                yield from _between_bars(bar, task, result)
        finally:
            if bar:
                bar.close()
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    ctx = mp.get_context("spawn")
    manager = None
    pool = None
    stop = threading.Event()
    drawer = None
    finished = False
    try:
        with _sigterm_as_interrupt():
            # spawn children start as `python -c`: keep the working folder off their path
            with safe_import_path():
                manager = ctx.Manager() if bar else None
                pq = manager.Queue() if manager else None
                pool = ProcessPoolExecutor(
                    max_workers=jobs,
                    mp_context=ctx,
                    initializer=_die_with_parent,
                    initargs=(os.getpid(),),
                )
                futures = [pool.submit(_run_one, t, i, pq) for i, t in enumerate(tasks)]
            if bar and pq is not None:
                drawer = _start_drawer(bar, pq, stop)
            for task, fut in zip(tasks, futures, strict=True):
                yield from _between_bars(bar, task, fut.result())
            finished = True
    finally:
        if pool is not None:
            if finished:
                pool.shutdown(wait=True)
            else:
                _terminate(pool)
        stop.set()
        if drawer:
            drawer.join(timeout=1)
        if bar:
            bar.close()
        if manager:
            manager.shutdown()


def _between_bars(bar: _Bar | None, task: ExportTask, result):
    """Yield one result with the bar's line cleared while the caller prints it."""
    if bar is None:
        yield task, result
        return
    bar.hide()
    yield task, result
    bar.show()


def _start_drawer(bar: _Bar, pq, stop: threading.Event) -> threading.Thread:
    """A thread that draws the progress the children put on ``pq`` until ``stop``."""

    def draw() -> None:
        while not stop.is_set():
            try:
                bar.update(*pq.get(timeout=0.2))
            except queue.Empty:
                continue
            except (EOFError, OSError):
                return

    drawer = threading.Thread(target=draw, daemon=True)
    drawer.start()
    return drawer


class _DirectQueue:
    """Same interface as a queue, drawing straight away (single-process exports)."""

    def __init__(self, bar: _Bar):
        self.bar = bar

    def put(self, item) -> None:
        self.bar.update(*item)
