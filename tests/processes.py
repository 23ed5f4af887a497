"""Processes below a test's subprocess, read from /proc (Linux)."""

from __future__ import annotations

import signal
from pathlib import Path


def stop_signals_at_default() -> None:
    """For ``preexec_fn``: the stop signals back at their default action in the child.

    As for a program started from a terminal: run under ``nohup`` or as a background
    job (bash then ignores SIGINT and SIGQUIT for it), the tests' own process ignores
    them, a child would inherit that, and voicecoach rightly leaves an ignored signal
    ignored: a test that stops a child with Ctrl-C's signal would wait for ever.
    """
    for signum in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGQUIT):
        signal.signal(signum, signal.SIG_DFL)


def descendants(pid: int) -> set[int]:
    """Every living process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    found = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            found.add(pid)
    return found
