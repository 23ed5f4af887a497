"""Benchmark (issue 14): what --minutes and the practice journal cost.

- **dose**: for every built-in session (system engine, speech cached first),
  the warm compile of one level against ``--minutes`` at the middle of its
  reach: wall time and how many plans the search compiled.
- **journal**: a play's writes (start, two answers, end: four transactions)
  on a journal already holding N practices, and reading them all back
  (``history --json``'s query), for N = 0, 1000, 10000.

    PYTHONPATH=. python benchmarks/bench_dose_journal.py
"""

from __future__ import annotations

import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from voicecoach.journal import Journal
from voicecoach.language import dose
from voicecoach.library import builtin_names
from voicecoach.session import load


def bench_dose() -> None:
    print(
        f"{'session':<18} {'reach':>13} {'level ms':>9} {'minutes':>8} {'fit ms':>7} {'plans':>6}"
    )
    for name in builtin_names():
        with load(name, engine="system") as base:
            base.plan()  # synthesise and cache the speech once
            low = base.with_level("gentle").plan().duration_s
            high = base.with_level("deep").plan().duration_s
            t = time.perf_counter()
            base.with_level("standard").plan()
            level_ms = (time.perf_counter() - t) * 1000
            minutes = round((low + high) / 2 / 60, 1)
            compiles = 0
            original = dose.at_point

            def counting(*args, original=original, **kwargs):
                nonlocal compiles
                compiles += 1
                return original(*args, **kwargs)

            dose.at_point = counting
            try:
                t = time.perf_counter()
                plan = base.with_minutes(minutes).plan()
                fit_ms = (time.perf_counter() - t) * 1000
            finally:
                dose.at_point = original
            assert abs(plan.duration_s - minutes * 60) <= dose.TOLERANCE_S
            reach = f"{low / 60:.1f}-{high / 60:.1f} m"
            print(
                f"{name:<18} {reach:>13} {level_ms:>9.1f} {minutes:>8} {fit_ms:>7.1f} {compiles:>6}"
            )


def bench_journal() -> None:
    print(f"\n{'practices':>9} {'play writes ms (median of 50)':>30} {'read all ms':>12}")
    for n in (0, 1000, 10_000):
        with tempfile.TemporaryDirectory() as folder:
            j = Journal(Path(folder) / "journal.sqlite3")
            j.start(session="s", title="t", script_sha256="", level="gentle", engine="system")
            j.forget()  # the file made, with its schema, and empty
            with sqlite3.connect(j.path) as conn:  # filled in one transaction: fast
                conn.executemany(
                    "INSERT INTO practice (id, session, title, script_sha256, level, engine,"
                    " started, ended, finished) VALUES (?, ?, 't', ?, 'standard', 'system',"
                    " '2026-01-01T00:00:00.000000+00:00', '2026-01-01T00:20:00.000000+00:00', 1)",
                    [(k + 1, f"s{k % 9}", "x" * 64) for k in range(n)],
                )
                conn.executemany(
                    "INSERT INTO answer VALUES (?, 'area', ?, 3, 1.0)",
                    [(k + 1, w) for k in range(n) for w in ("before", "after")],
                )
            times = []
            for _ in range(50):
                t = time.perf_counter()
                pid = j.start(
                    session="s",
                    title="t",
                    script_sha256="x" * 64,
                    level="standard",
                    engine="system",
                )
                j.record_answer(pid, "area", 3, at_s=1.0, which="before")
                j.record_answer(pid, "area", 2, at_s=2.0, which="after")
                j.end(pid, finished=True)
                times.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            got = j.practices()
            read_ms = (time.perf_counter() - t) * 1000
            assert len(got) == n + 50
            print(f"{n:>9} {statistics.median(times):>30.2f} {read_ms:>12.1f}")


if __name__ == "__main__":
    bench_dose()
    bench_journal()
