"""Cold play (issue 15): the first sound at the end of the lead-in with an empty speech cache.

Plays SCRIPT (default upper-back, the default engine: piper when installed)
into a PulseAudio null sink and records its monitor with parec, from the
spawn of a process that loads the session and plays it (``Session.play``, as
``voicecoach play`` does), with an empty speech cache each run, then once more
warm (everything cached). Per run: seconds from spawn to the first recorded
sound; ``waited_s``, the silence the player added because speech was not
synthesised in time (0: the first word came exactly at the end of the lead-in);
underruns. Then the first --seconds of the cold recording are compared sample
for sample with a warm WAV export of the same plan.

    .venv/bin/python benchmarks/bench_cold_play.py [--script upper-back] [--repeat 3] [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.processes import stop_signals_at_default  # noqa: E402
from tests.pulse import Recorder, start_pulse  # noqa: E402

SILENCE = 1e-3
DRIVER = """
import json, sys, time
import voicecoach
t0 = time.monotonic()
with voicecoach.load(sys.argv[1]) as s:
    r = s.play(interactive=False, quiet=True, record=False)
    out = {"report": r.__dict__, "engine": s.engine_name, "lead_in_s": s.settings.lead_in_s}
json.dump(out, open(sys.argv[2], "w"))
"""


def first_sound(x: np.ndarray) -> int | None:
    loud = np.flatnonzero(np.abs(x).max(axis=1) > SILENCE)
    return int(loud[0]) if len(loud) else None


def run_play(server, cache: str, script: str, seconds: float, report: Path) -> dict:
    env = {**os.environ, **server.environ(), "VOICECOACH_CACHE_DIR": cache}
    with Recorder(server) as rec:
        t = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-c", DRIVER, script, str(report)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            cwd=REPO,
            # stopped with SIGINT below: run as a background job, this process ignores it
            preexec_fn=stop_signals_at_default,
        )
        start = rec.frame_at_time(t)
        first_s = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            x = rec.audio()[start:]
            f = first_sound(x)
            if f is not None and first_s is None:
                first_s = rec.time_of_frame(start + f) - t
            if first_s is not None and len(x) >= (first_s + seconds) * 44100:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        audio = rec.audio()[start:]
    data = json.loads(report.read_text()) if report.exists() else {}
    r = data.get("report", {})
    return {
        "first_sound_s": first_s,
        "waited_s": r.get("synthesis_wait_s"),
        "underruns": r.get("underruns"),
        "engine": data.get("engine"),
        "audio": audio,
    }


def compare(audio: np.ndarray, ref: np.ndarray, seconds: float, rate: int) -> dict:
    from scipy.signal import correlate

    a = first_sound(audio)
    b = first_sound(ref)
    n = int(seconds * rate)
    rec = audio[a : a + n]
    exp = ref[b : b + len(rec)]
    # the recording may start a few frames early or late (the monitor's start): align exactly
    c = correlate(rec[:rate, 0], exp[:rate, 0], mode="full", method="fft")
    shift = int(np.argmax(c)) - (rate - 1)
    rec = audio[a + shift : a + shift + len(exp)]
    diff = np.abs(rec - exp[: len(rec)]).max(axis=1)
    return {
        "compared_s": len(rec) / rate,
        "max_abs_diff": float(diff.max()),
        "frames_over_2e-3": int((diff > 2e-3).sum()),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--script", default="upper-back")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--json")
    args = ap.parse_args()
    runtime = tempfile.mkdtemp(prefix="vc-pulse-")
    server = start_pulse(runtime)
    try:
        warm_cache = tempfile.mkdtemp(prefix="vc-warm-")
        cold = []
        for i in range(args.repeat):
            cache = tempfile.mkdtemp(prefix="vc-cold-")
            r = run_play(server, cache, args.script, args.seconds, Path(cache) / "report.json")
            cold.append(r)
            print(
                f"cold {i + 1}: first sound {r['first_sound_s']:.2f} s after spawn, waited "
                f"{r['waited_s']} s, underruns {r['underruns']} ({r['engine']})",
                flush=True,
            )
            if i == 0:
                os.rmdir(warm_cache)
                os.rename(cache, warm_cache)  # the first cold run's cache serves the warm run
        warm = run_play(server, warm_cache, args.script, 5, Path(warm_cache) / "report-w.json")
        print(
            f"warm: first sound {warm['first_sound_s']:.2f} s after spawn, waited {warm['waited_s']} s"
        )
        os.environ["VOICECOACH_CACHE_DIR"] = warm_cache
        import soundfile as sf

        import voicecoach

        with voicecoach.load(args.script) as s:
            out = Path(warm_cache) / "ref.wav"
            s.export(out)
        ref, rate = sf.read(str(out), dtype="float32", always_2d=True)
        for i, r in enumerate(cold):
            c = compare(r["audio"], ref, args.seconds, rate)
            r.update(c)
            print(f"cold {i + 1} vs warm export: {c}")
        firsts = [r["first_sound_s"] for r in cold]
        summary = {
            "date": time.strftime("%Y-%m-%d %H:%M"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "load_average_at_end": os.getloadavg(),
            "script": args.script,
            "cold_first_sound_s": firsts,
            "cold_first_sound_median_s": statistics.median(firsts),
            "cold_waited_s": [r["waited_s"] for r in cold],
            "warm_first_sound_s": warm["first_sound_s"],
            "cold_minus_warm_median_s": statistics.median(firsts) - warm["first_sound_s"],
            "comparisons": [
                {k: r[k] for k in ("compared_s", "max_abs_diff", "frames_over_2e-3")} for r in cold
            ],
        }
        print(json.dumps(summary, indent=1))
        if args.json:
            Path(args.json).write_text(json.dumps(summary, indent=1))
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
