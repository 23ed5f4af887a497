"""Benchmark: `export` of the 30-minute session against eSpeak NG + SoX, warm speed, and 2-hour memory.

Side by side, on the same machine and in the same run:
- cold export (`voicecoach export --engine system`, empty cache: every utterance synthesised) of
  benchmarks/session-30min.md to WAV,
  against benchmarks/alt_espeak_sox.sh rendering the same plan's cues one process per cue
  (target: voicecoach <= 0.5x the alternative's time);
- warm export of the same session to WAV (target: <= 1 s), two ways: "warm" is a repeat export
  (speech and loudness cached: one render straight into the file), "warm, loudness not cached"
  deletes <cache>/loudness first (speech cached; measure, then write);
- peak memory of a process exporting benchmarks/session-2h.md to WAV (target: <= 200 MB): its own
  peak RSS, and (sampled every 20 ms) the peaks of the summed RSS and summed PSS of it and the
  process it forks to meter and write.
Both voicecoach runs use the system engine (eSpeak NG), like the alternative. Every timed run
starts after an os.sync(), so no earlier run's disk writeback competes with it. Each figure is the
median of --repeat runs (cold runs and alternative runs interleaved, each cold run with a new
empty cache); every run's value is kept in the JSON.

    .venv/bin/python benchmarks/bench_export.py [--repeat N] [--skip-2h] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT_30 = ROOT / "benchmarks" / "session-30min.md"
SCRIPT_2H = ROOT / "benchmarks" / "session-2h.md"
ALT = ROOT / "benchmarks" / "alt_espeak_sox.sh"

# Runs in a child: times loading + planning and the export call separately, prints JSON.
EXPORT_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import voicecoach.session as vs
with vs.load(sys.argv[1], engine="system") as session:
    plan = session.plan()
    t1 = time.perf_counter()
    result = session.export(sys.argv[2])
    t2 = time.perf_counter()
print(json.dumps({"plan_s": t1 - t0, "export_s": t2 - t1, "duration_s": plan.duration_s,
                  "lufs": result.integrated_lufs, "true_peak_dbtp": result.true_peak_dbtp,
                  "limiter": result.limiter}))
"""


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (Linux /proc)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            continue
    return out


def _tree_memory_kib(pid: int) -> tuple[int, int]:
    """(sum of RSS, sum of PSS) in KiB over ``pid`` and its descendants, now."""
    rss = pss = 0
    for p in _tree(pid):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            continue
    return rss, pss


class TreeMemory:
    """Samples a process tree's memory every 20 ms: the peaks of its summed RSS and summed PSS.

    An export forks a second process (the consumer of the rendered blocks), so
    the process's own peak RSS (wait4) is not the whole story: summed RSS
    counts the pages the two share twice (an upper bound); summed PSS splits
    them (what the export really occupies).
    """

    def __init__(self, pid: int):
        import threading

        self.pid, self.peak_rss_kib, self.peak_pss_kib = pid, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            rss, pss = _tree_memory_kib(self.pid)
            self.peak_rss_kib = max(self.peak_rss_kib, rss)
            self.peak_pss_kib = max(self.peak_pss_kib, pss)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def run_measured(
    args: list[str], env: dict, tree: list | None = None
) -> tuple[dict | None, float, int]:
    """Run a child; returns (its JSON output or None, wall seconds, its own peak RSS in KiB via wait4).

    With ``tree`` (a list), a ``TreeMemory`` sampler of the child's process tree is appended to it.
    """
    os.sync()  # no earlier run's writeback going on during this one
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=err, text=True)
        sampler = TreeMemory(proc.pid) if tree is not None else None
        _, status, usage = os.wait4(proc.pid, 0)
        if sampler is not None:
            sampler.stop()
            tree.append(sampler)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        text = out.read()
        if proc.returncode != 0:
            raise SystemExit(f"failed: {' '.join(args)}\n{err.read()}")
    lines = [x for x in text.strip().splitlines() if x.startswith("{")]
    return (json.loads(lines[-1]) if lines else None), wall, usage.ru_maxrss


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-2h", action="store_true", help="skip the 2-hour memory run")
    ap.add_argument(
        "--repeat", type=int, default=3, help="runs per figure (the median is reported)"
    )
    ap.add_argument("--json", type=Path, help="also write the figures here")
    opts = ap.parse_args()
    for tool in ("espeak-ng", "sox", "jq"):
        if shutil.which(tool) is None:
            raise SystemExit(
                f"{tool} is needed for the alternative: apt-get install espeak-ng sox jq"
            )
    py = sys.executable
    figures: dict = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    }
    with tempfile.TemporaryDirectory(prefix="vc-bench-export-") as tmp_name:
        tmp = Path(tmp_name)
        env = dict(os.environ)

        # the plan the alternative renders (its own cache: not part of any timing)
        env["VOICECOACH_CACHE_DIR"] = str(tmp / "prep-cache")
        plan_json = tmp / "plan.json"
        with open(plan_json, "w") as f:
            subprocess.run(
                [
                    str(Path(py).parent / "voicecoach"),
                    "plan",
                    "--json",
                    "--engine",
                    "system",
                    str(SCRIPT_30),
                ],
                env=env,
                stdout=f,
                check=True,
            )

        # cold: an empty cache each time, interleaved with the alternative
        colds, alts = [], []
        for i in range(opts.repeat):
            env["VOICECOACH_CACHE_DIR"] = str(tmp / f"cache-{i}")
            # the command a user types (it plans, synthesising every utterance, then exports)
            _, cold_wall, _ = run_measured(
                [
                    str(Path(py).parent / "voicecoach"),
                    "export",
                    "--engine",
                    "system",
                    str(SCRIPT_30),
                    "-o",
                    str(tmp / "cold.wav"),
                ],
                env,
            )
            colds.append(cold_wall)
            os.sync()
            t0 = time.perf_counter()
            subprocess.run(
                ["bash", str(ALT), str(plan_json), str(tmp / "alt.wav")],
                check=True,
                capture_output=True,
            )
            alts.append(time.perf_counter() - t0)
        # warm: speech and loudness cached by the cold runs (a repeat export)
        warms = []
        for _ in range(opts.repeat):
            warm, warm_wall, warm_rss = run_measured(
                [py, "-c", EXPORT_CHILD, str(SCRIPT_30), str(tmp / "warm.wav")], env
            )
            warms.append((warm["export_s"], warm_wall, warm_rss, warm))
        # warm speech, but the loudness measured again (measure pass, then write)
        remeasured = []
        for _ in range(opts.repeat):
            shutil.rmtree(Path(env["VOICECOACH_CACHE_DIR"]) / "loudness", ignore_errors=True)
            again, again_wall, _ = run_measured(
                [py, "-c", EXPORT_CHILD, str(SCRIPT_30), str(tmp / "warm2.wav")], env
            )
            remeasured.append(again["export_s"])
        med = statistics.median
        warm_call = med(w[0] for w in warms)
        warm = warms[0][3]
        figures.update(
            {
                "runs_per_figure": opts.repeat,
                "session_duration_s": warm["duration_s"],
                "cold_export_wall_s": med(colds),
                "alt_espeak_sox_wall_s": med(alts),
                "cold_over_alt": med(colds) / med(alts),
                "warm_export_wall_s": med(w[1] for w in warms),
                "warm_export_call_s": warm_call,
                "warm_plan_s": warm["plan_s"],
                "warm_realtime_factor": warm["duration_s"] / warm_call,
                "warm_peak_rss_mb": max(w[2] for w in warms) / 1024,
                "warm_remeasured_call_s": med(remeasured),
                "lufs": warm["lufs"],
                "true_peak_dbtp": warm["true_peak_dbtp"],
                "limiter": warm["limiter"],
                "all_cold_wall_s": colds,
                "all_alt_wall_s": alts,
                "all_warm_call_s": [w[0] for w in warms],
                "all_warm_remeasured_call_s": remeasured,
            }
        )
        if not opts.skip_2h:
            samplers: list[TreeMemory] = []
            long, long_wall, long_rss = run_measured(
                [py, "-c", EXPORT_CHILD, str(SCRIPT_2H), str(tmp / "2h.wav")], env, samplers
            )
            figures.update(
                {
                    "2h_duration_s": long["duration_s"],
                    "2h_export_wall_s": long_wall,
                    "2h_peak_rss_mb": long_rss / 1024,
                    "2h_peak_tree_rss_sum_mb": samplers[0].peak_rss_kib / 1024,
                    "2h_peak_tree_pss_mb": samplers[0].peak_pss_kib / 1024,
                }
            )
    for key, value in figures.items():
        if isinstance(value, list):
            value = "[" + ", ".join(f"{v:.3f}" for v in value) + "]"
        print(f"{key:>26}: {value:.3f}" if isinstance(value, float) else f"{key:>26}: {value}")
    if opts.json:
        opts.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
