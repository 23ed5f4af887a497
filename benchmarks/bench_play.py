"""Live playback figures: time to first sound, underruns (idle and with both cores busy), CPU use.

Plays to a PulseAudio null sink (tools/pulse-up.sh starts one) and records its
monitor with parec, so "first sound" is measured on the audio that really
came out, not on a callback.

    .venv/bin/python benchmarks/bench_play.py [--script upper-back] [--seconds 20]

1. ``voicecoach play SCRIPT`` as a command: spawn to first recorded sound,
   with ``--lead-in 0``: an empty cache (the first phrase synthesised first,
   the rest while it plays), then a warm one; with the default 3 s lead-in,
   all cached. (A cold play with the default lead-in: bench_cold_play.py.)
2. In process: SECONDS of the script on an idle machine and with two busy
   processes (one per core); underruns and CPU use (process time over wall
   time, all threads) while playing.
"""

from __future__ import annotations

import _thread
import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.pulse import Recorder, start_pulse  # noqa: E402

VOICECOACH = [sys.executable, "-m", "voicecoach.cli"]
SILENCE = 1e-3


def first_sound_after(rec: Recorder, t_start: float, timeout_s: float = 120.0) -> float:
    """Seconds from ``t_start`` until the recording holds sound."""
    start_frame = rec.frame_at_time(t_start)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        x = rec.audio()[start_frame:]
        loud = np.flatnonzero(np.abs(x).max(axis=1) > SILENCE)
        if len(loud):
            return rec.time_of_frame(start_frame + int(loud[0])) - t_start
        time.sleep(0.01)
    raise RuntimeError("no sound")


def command_first_sound(
    server, cache_dir: str, script: str, *extra: str, wait_synthesis: bool = False
) -> float:
    """Spawn ``voicecoach play``; seconds to its first sound; then stop it with Ctrl-C (SIGINT).

    ``wait_synthesis``: before stopping, wait until the speech cache has stopped
    growing for 3 s (play synthesises while it plays: the next run finds it all).
    """
    env = {**server.environ(), "VOICECOACH_CACHE_DIR": cache_dir}
    with Recorder(server) as rec:
        t = time.monotonic()
        proc = subprocess.Popen(
            [*VOICECOACH, "play", script, "--quiet", *extra],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            cwd=REPO,
        )
        try:
            first = first_sound_after(rec, t)
            if wait_synthesis:  # let synthesis finish so the next run finds it all cached
                deadline = time.monotonic() + 300
                last, since = len(_cached(cache_dir)), time.monotonic()
                while time.monotonic() - since < 3.0 and time.monotonic() < deadline:
                    time.sleep(0.2)
                    now = len(_cached(cache_dir))
                    if now != last:
                        last, since = now, time.monotonic()
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
    return first


def _cached(cache_dir: str) -> list[Path]:
    return [p for p in Path(cache_dir).rglob("*") if p.is_file()]


def play_in_process(script: str, seconds: float, cache_dir: str, settle_s: float = 3.0) -> dict:
    """Play ``seconds`` of ``script`` here; underruns, and CPU use after the first ``settle_s``."""
    os.environ["VOICECOACH_CACHE_DIR"] = cache_dir
    from voicecoach.session import load

    marks: list[tuple[float, os.times_result]] = []
    with load(script) as session:
        session.plan()
        stopper = threading.Timer(seconds, _thread.interrupt_main)  # Ctrl-C after `seconds`
        settled = threading.Timer(settle_s, lambda: marks.append((time.monotonic(), os.times())))
        t0, c0 = time.monotonic(), os.times()
        stopper.start()
        settled.start()
        report = session.play(interactive=False, quiet=True)
        t1, c1 = time.monotonic(), os.times()
        stopper.cancel()
    ts, cs = marks[0]

    def cpu(a: os.times_result, b: os.times_result) -> float:
        return (b.user - a.user) + (b.system - a.system)

    return {
        "played_s": round(t1 - t0, 2),
        "underruns": report.underruns,
        "device_underflows": report.device_underflows,
        "ring_starvations": report.ring_starvations,
        "cpu_first_s_percent": round(100.0 * cpu(c0, cs) / (ts - t0), 1),
        "cpu_steady_percent": round(100.0 * cpu(cs, c1) / (t1 - ts), 1),
        "ended_by": report.ended_by,
    }


def busy_processes(n: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--script", default="upper-back")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument(
        "--cache",
        help="a speech cache folder already filled (skips the empty-cache figure)",
    )
    args = ap.parse_args()

    server = start_pulse(tempfile.mkdtemp(prefix="vc-bench-"))
    os.environ.update(server.env)
    try:
        cache = args.cache or tempfile.mkdtemp(prefix="vc-bench-cache-")
        print(
            f"script {args.script}; {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}"
        )
        cold = command_first_sound(
            server, cache, args.script, "--lead-in", "0", wait_synthesis=True
        )
        if not args.cache:
            print(
                f"command to first sound, empty cache (the first phrase synthesised first): {cold:.2f} s"
            )
        warm = [command_first_sound(server, cache, args.script, "--lead-in", "0") for _ in range(3)]
        print(f"command to first sound, warm cache: {', '.join(f'{w:.2f}' for w in warm)} s")
        lead = command_first_sound(server, cache, args.script)
        print(
            f"command to first sound, default 3 s lead-in, all cached: {lead:.2f} s (stream start {lead - 3:.2f} s)"
        )
        play_in_process(args.script, 4.0, cache)  # load modules, fill the tone cache
        idle = play_in_process(args.script, args.seconds, cache)
        print(f"idle: {idle}")
        hogs = busy_processes(2)
        try:
            time.sleep(0.5)
            busy = play_in_process(args.script, args.seconds, cache)
        finally:
            for p in hogs:
                p.kill()
                p.wait()
        print(f"both cores busy (2 spinning processes): {busy}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
