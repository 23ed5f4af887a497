"""Benchmark: the two speech engines side by side on this machine.

For each engine (``system``: eSpeak NG through pyttsx3; ``piper``: the joe
neural voice):
- model load: a fresh interpreter importing the engine and loading its
  voice (piper: ``PiperVoice.load``; system: ``pyttsx3.init``), median of runs;
- first utterance: from ``get_engine(name)`` to the first audio, through the
  worker process (start, load, synthesise);
- real-time factor: synthesis wall time / speech length over 40 instruction
  sentences, warm worker (smaller is faster; 0.05 is 20x real time);
- cold and warm ``voicecoach plan`` and ``voicecoach export`` (WAV) of
  ``benchmarks/session-30min.md`` through the CLI: cold with an empty speech
  cache, warm with the cache that cold run filled.

    .venv/bin/python benchmarks/bench_engines.py [--engines piper,system]
        [--repeat 3] [--skip-session] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SESSION = ROOT / "benchmarks" / "session-30min.md"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_intelligibility import FIXED_PHRASES  # noqa: E402

LOAD = {
    "piper": (
        "import time; t0 = time.perf_counter()\n"
        "from piper import PiperVoice\n"
        "from voicecoach.speech.piper import default_voice\n"
        "m = default_voice()\n"
        "PiperVoice.load(m.model_path, config_path=m.config_path)\n"
        "print(time.perf_counter() - t0)\n"
    ),
    "system": (
        "import time; t0 = time.perf_counter()\n"
        "try:\n"
        "    from voicecoach.speech.system_backend import SystemBackend\n"
        "except ImportError:\n"
        "    from voicecoach.speech.system import SystemBackend\n"
        "SystemBackend()\n"
        "print(time.perf_counter() - t0)\n"
    ),
}


def model_load_s(engine: str, repeat: int) -> list[float]:
    runs = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", LOAD[engine]], capture_output=True, text=True)
        if out.returncode != 0:
            lines = out.stderr.strip().splitlines()
            raise RuntimeError(lines[-1] if lines else f"exit code {out.returncode}")
        runs.append(float(out.stdout.strip().splitlines()[-1]))
    return runs


def synthesis_figures(engine_name: str) -> dict:
    from voicecoach.speech import get_engine

    t0 = time.perf_counter()
    engine = get_engine(engine_name)
    try:
        engine.synthesize("Breathe in.", voice=None, rate_wpm=150)
        first_s = time.perf_counter() - t0
        speech_s = 0.0
        t1 = time.perf_counter()
        for text in FIXED_PHRASES:
            speech_s += engine.synthesize(text, voice=None, rate_wpm=150).duration_s
        wall_s = time.perf_counter() - t1
    finally:
        engine.close()
    return {
        "first_utterance_s": first_s,
        "speech_s": speech_s,
        "synthesis_s": wall_s,
        "rtf": wall_s / speech_s,
    }


def timed(cmd: list[str], env: dict) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if out.returncode != 0:
        lines = (out.stderr or out.stdout).strip().splitlines()
        raise RuntimeError(lines[0] if lines else f"exit code {out.returncode}")
    return elapsed, out.stdout


def session_figures(engine: str, tmp: Path) -> dict:
    cli = [sys.executable, "-m", "voicecoach.cli"]
    env = dict(os.environ, VOICECOACH_CACHE_DIR=str(tmp / f"cache-{engine}"))
    wav = tmp / f"session-{engine}.wav"
    plan_cmd = [*cli, "plan", str(SESSION), "--engine", engine, "--json"]
    export_cmd = [*cli, "export", str(SESSION), "--engine", engine, "-o", str(wav)]
    cold_plan, plan_json = timed(plan_cmd, env)
    warm_plan, _ = timed(plan_cmd, env)
    warm_export, _ = timed(export_cmd, env)  # speech already cached by the plan runs
    env["VOICECOACH_CACHE_DIR"] = str(tmp / f"cache-{engine}-export")
    cold_export, _ = timed(export_cmd, env)
    wav.unlink(missing_ok=True)
    return {
        "session_s": json.loads(plan_json)["duration_s"],
        "cold_plan_s": cold_plan,
        "warm_plan_s": warm_plan,
        "cold_export_s": cold_export,
        "warm_export_s": warm_export,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--engines", default="piper,system")
    ap.add_argument("--repeat", type=int, default=3, help="runs of the model-load measurement")
    ap.add_argument(
        "--skip-session", action="store_true", help="skip the 30-minute plan/export part"
    )
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    load1, load5, load15 = os.getloadavg()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {load1:.1f} {load5:.1f} {load15:.1f}"
    )
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for engine in engines:
            r: dict = {}
            try:
                loads = model_load_s(engine, args.repeat)
            except RuntimeError as e:
                print(f"{engine:7s} model load: not measured ({e})")
                loads = [float("nan")]
            r["model_load_s"] = statistics.median(loads)
            r.update(synthesis_figures(engine))
            print(
                f"{engine:7s} model load {r['model_load_s']:.2f} s (runs: {', '.join(f'{x:.2f}' for x in loads)}); "
                f"first utterance {r['first_utterance_s']:.2f} s; "
                f"RTF {r['rtf']:.3f} ({1 / r['rtf']:.0f}x real time: "
                f"{r['speech_s']:.1f} s of speech in {r['synthesis_s']:.1f} s)"
            )
            if args.skip_session:
                print(f"{engine:7s} 30-minute session: skipped (--skip-session)")
            elif not SESSION.exists():
                print(f"{engine:7s} 30-minute session: skipped ({SESSION.name} does not exist yet)")
            else:
                try:
                    r.update(session_figures(engine, Path(tmp)))
                except RuntimeError as e:
                    print(f"{engine:7s} 30-minute session: skipped (the CLI failed: {e})")
                else:
                    print(
                        f"{engine:7s} {SESSION.name} ({r['session_s'] / 60:.1f} min): "
                        f"plan cold {r['cold_plan_s']:.1f} s, warm {r['warm_plan_s']:.2f} s; "
                        f"export cold {r['cold_export_s']:.1f} s, warm {r['warm_export_s']:.1f} s"
                    )
            results[engine] = r
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
