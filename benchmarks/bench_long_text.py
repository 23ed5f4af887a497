"""Benchmark: peak memory and time of one very long line (issue 11, item 6).

For each engine, one line of ``--chars`` characters (default 5000) with no
full stop and no comma is given to a fresh ``SpeechService`` (no disk cache)
and synthesised. Reported per engine: the wall time, the speech length and
the peak resident memory (VmHWM from /proc) of the speech worker processes
and of this process. A watchdog samples the workers every 0.2 s and kills
one that passes ``--cap-gib`` (so measuring the old code cannot starve the
machine); a run stopped that way is reported as "over the cap".

Measures whichever voicecoach is first on the import path, so the same
script measures an older tree too:

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_long_text.py
    git archive e730e3a | tar -x -C /tmp/before
    PYTHONPATH=/tmp/before .venv/bin/python benchmarks/bench_long_text.py
        [--engines system,piper] [--chars 5000] [--rate 140] [--cap-gib 8] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import sys
import threading
import time

PROSE = (
    "let your shoulders soften and your breath move slowly through the back of the ribs "
    "while the ball rests under the muscle and the floor holds you "
)


def line(chars: int) -> str:
    """Words without punctuation, ``chars`` characters long."""
    return (PROSE * (chars // len(PROSE) + 1))[:chars].rstrip()


def peak_rss_mib(pid: int | str) -> float | None:
    """VmHWM (peak resident set) of a process in MiB, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for row in f:
                if row.startswith("VmHWM:"):
                    return int(row.split()[1]) / 1024
    except OSError:
        return None
    return None


class Watchdog(threading.Thread):
    """Samples the engine's workers' peak memory; kills a worker over ``cap_mib``."""

    def __init__(self, engine, cap_mib: float) -> None:
        super().__init__(daemon=True)
        self.engine, self.cap_mib = engine, cap_mib
        self.peaks: dict[int, float] = {}
        self.capped = False
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.2):
            self.sample()

    def sample(self) -> None:
        for pid in list(self.engine.worker_pids):
            mib = peak_rss_mib(pid)
            if mib is None:
                continue
            self.peaks[pid] = max(self.peaks.get(pid, 0.0), mib)
            if mib > self.cap_mib:
                self.capped = True
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)


def measure(engine_name: str, chars: int, rate_wpm: int, cap_mib: float) -> dict:
    from voicecoach.errors import SpeechError
    from voicecoach.speech.service import SpeechService, get_engine

    if engine_name == "piper":
        from voicecoach.speech.piper import PiperEngine

        engine = PiperEngine(max_attempts=1)  # a failure is a result here, not retried
    else:
        engine = get_engine(engine_name)
    service = SpeechService(engine, voice=None, rate_wpm=rate_wpm, cache=None)
    text = line(chars)
    service.prepare(["Rest."])  # start the worker and load the voice: not part of the figure
    watchdog = Watchdog(engine, cap_mib)
    watchdog.sample()
    start_mib = max(watchdog.peaks.values(), default=0.0)
    watchdog.start()
    error = None
    t0 = time.perf_counter()
    try:
        service.prepare([text])
        duration_s = service.duration_s(text)
    except SpeechError as e:
        error, duration_s = str(e).splitlines()[0], None
    wall_s = time.perf_counter() - t0
    watchdog.sample()
    watchdog.done.set()
    watchdog.join()
    service.close()
    return {
        "engine": engine_name,
        "chars": chars,
        "rate_wpm": rate_wpm,
        "wall_s": round(wall_s, 2),
        "speech_s": None if duration_s is None else round(duration_s, 1),
        "worker_peak_mib": round(max(watchdog.peaks.values(), default=0.0)),
        "worker_after_start_mib": round(start_mib),
        "workers": len(watchdog.peaks),
        "this_process_peak_mib": round(peak_rss_mib("self") or 0.0),
        "over_cap": watchdog.capped,
        "error": error,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="system,piper")
    parser.add_argument("--chars", type=int, default=5000)
    parser.add_argument("--rate", type=int, default=140)
    parser.add_argument("--cap-gib", type=float, default=8.0)
    parser.add_argument("--json")
    args = parser.parse_args()
    import voicecoach

    results = []
    print(
        f"voicecoach from {os.path.dirname(voicecoach.__file__)}; "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    for name in args.engines.split(","):
        if name == "piper":
            from voicecoach.speech import piper

            if not piper.is_installed():
                print("piper: not installed, skipped")
                continue
        result = measure(name, args.chars, args.rate, args.cap_gib * 1024)
        results.append(result)
        print(json.dumps(result), flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
