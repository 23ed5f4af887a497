"""Benchmark: `voicecoach plan` of the 30-minute script, cold and warm.

Cold: an empty speech cache, so every unique utterance is synthesised.
Compared, in the same run, with the speech engine alone synthesising the same
unique utterances one by one (no cache, no compiler): target cold <= 1.2x.
Warm: the cache is full; the figure is the work after interpreter start
(`voicecoach plan` wall time minus the wall time of `python -c pass`, both
medians of several runs): target <= 0.3 s.

    .venv/bin/python benchmarks/bench_plan.py [--engine system] [--repeat 5]
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
SCRIPT = ROOT / "benchmarks" / "session-30min.md"

ENGINE_ALONE = r"""
import sys, time, json
t0 = time.perf_counter()
from voicecoach.speech import get_engine
texts = json.load(open(sys.argv[1]))
engine = get_engine(sys.argv[2])
for text in texts:
    engine.synthesize(text, voice=None, rate_wpm=150)
engine.close()
print(time.perf_counter() - t0)
"""


def run(cmd: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def unique_texts(engine: str) -> list[str]:
    from voicecoach.language.compiler import spoken_texts
    from voicecoach.session import load

    return spoken_texts(load(SCRIPT, engine=engine).script)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", default="system")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    py = sys.executable
    plan_cmd = [py, "-m", "voicecoach.cli", "plan", str(SCRIPT), "--engine", args.engine]
    texts = unique_texts(args.engine)
    with tempfile.TemporaryDirectory() as tmp:
        texts_file = Path(tmp) / "texts.json"
        texts_file.write_text(json.dumps(texts))
        colds, alones = [], []
        for i in range(max(1, args.repeat // 2)):
            env = dict(os.environ, VOICECOACH_CACHE_DIR=str(Path(tmp) / f"cache-{i}"))
            # interleave the two so that machine noise hits both alike
            alones.append(run([py, "-c", ENGINE_ALONE, str(texts_file), args.engine], env))
            colds.append(run(plan_cmd, env))
        env = dict(os.environ, VOICECOACH_CACHE_DIR=str(Path(tmp) / "cache-0"))
        warms, bares = [], []
        for _ in range(args.repeat):
            bares.append(run([py, "-c", "pass"], env))
            warms.append(run(plan_cmd, env))
        plan_json = subprocess.run(
            plan_cmd + ["--json"], env=env, check=True, capture_output=True, text=True
        ).stdout
    duration_s = json.loads(plan_json)["duration_s"]
    cold, alone = statistics.median(colds), statistics.median(alones)
    warm, bare = statistics.median(warms), statistics.median(bares)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(
        f"script: {SCRIPT.name}, {duration_s / 60:.1f} min, {len(texts)} unique utterances, engine {args.engine}"
    )
    print(
        f"cold plan (empty cache):        {cold:7.2f} s  (runs: {', '.join(f'{x:.2f}' for x in colds)})"
    )
    print(
        f"engine alone, same utterances:  {alone:7.2f} s  (runs: {', '.join(f'{x:.2f}' for x in alones)})"
    )
    print(f"cold / engine alone:            {cold / alone:7.2f}x  (target <= 1.2x)")
    print(f"warm plan wall time:            {warm:7.3f} s")
    print(f"python -c pass:                 {bare:7.3f} s")
    print(f"warm plan work after start:     {warm - bare:7.3f} s  (target <= 0.3 s)")


if __name__ == "__main__":
    main()
