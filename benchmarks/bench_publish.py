"""Benchmark: `voicecoach publish` of every built-in session at three levels, cold and warm, and a
republish after editing one script against that script's exports alone.

- cold: an empty speech cache and no site (every utterance synthesised, every episode rendered);
- warm, new site: the speech and loudness cached, an empty site folder (every episode rendered);
- warm, unchanged: the same publish again into the same site (nothing rendered: hard links);
- edit one script: one sentence of ``--edit`` changed (a new sentence to synthesise), then
  (a) its three exports alone (mp3 + captions, through the library in one process: the smallest
      cost of making those files) and (b) ``voicecoach publish`` of everything into the site,
  each with its own new sentence, alternated ``--repeat`` times. Target: (b) <= (a) + 1 s.

All runs are real subprocesses, with --engine (default system: eSpeak NG) and a private cache
folder. The built-in scripts are copied (with parts/) so the edit never touches the library.

    .venv/bin/python benchmarks/bench_publish.py [--engine system|piper] [--repeat N] [--json FILE]
        [--only-edit]
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
SCRIPTS = ROOT / "scripts"

EXPORTS_CHILD = r"""
import sys, voicecoach
script, out, engine = sys.argv[1], sys.argv[2], sys.argv[3]
with voicecoach.load(script, engine=engine) as base:
    for level in ("gentle", "standard", "deep"):
        base.with_level(level).export(f"{out}/{level}.mp3", fmt="mp3", captions=True)
"""


def _run(args: list[str], env: dict) -> float:
    os.sync()
    t0 = time.perf_counter()
    proc = subprocess.run(args, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(args)}\n{proc.stderr}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine", default="system", choices=["system", "piper"])
    ap.add_argument("--edit", default="wind-down", help="the built-in session edited")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--json", help="write every figure to this file")
    ap.add_argument(
        "--only-edit",
        action="store_true",
        help="skip the cold and warm figures: publish once (untimed), then the edit comparison",
    )
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-publish-"))
    try:
        scripts = work / "scripts"
        shutil.copytree(SCRIPTS, scripts)
        names = sorted(p for p in scripts.glob("*.md"))
        env = dict(os.environ, VOICECOACH_CACHE_DIR=str(work / "cache"))
        site = work / "site"
        publish = [sys.executable, "-m", "voicecoach.cli", "publish", *map(str, names)]
        publish += [
            "-o",
            str(site),
            "--engine",
            args.engine,
            "--base-url",
            "http://127.0.0.1:8765/",
        ]
        figures: dict = {"engine": args.engine, "sessions": len(names), "levels": 3}

        cold_s = _run(publish, env)
        manifest = json.loads((site / "publish-manifest.json").read_text())
        figures["episodes"] = len(manifest["episodes"])
        figures["audio_s"] = sum(e["duration_s"] for e in manifest["episodes"])
        figures["site_mb"] = sum(p.stat().st_size for p in site.rglob("*") if p.is_file()) / 1e6
        if not args.only_edit:
            figures["cold_s"] = cold_s
            shutil.rmtree(site)
            figures["warm_new_site_s"] = _run(publish, env)
            figures["warm_unchanged_s"] = [_run(publish, env) for _ in range(args.repeat)]

        edited = scripts / f"{args.edit}.md"
        original = edited.read_text(encoding="utf-8")
        first_line = next(line for line in original.splitlines()[8:] if line and line[0].isalpha())
        exports, republish = [], []
        for i in range(args.repeat):
            for kind in ("exports", "republish"):
                # a sentence never synthesised before, so both pay for one new utterance
                edited.write_text(
                    original.replace(first_line, f"{first_line} Edit {kind} number {i}.", 1),
                    encoding="utf-8",
                )
                if kind == "exports":
                    out = work / f"exports-{i}"
                    out.mkdir()
                    child = [sys.executable, "-c", EXPORTS_CHILD, str(edited), str(out)]
                    exports.append(_run(child + [args.engine], env))
                else:
                    republish.append(_run(publish, env))
        figures["edit_exports_alone_s"] = exports
        figures["edit_republish_s"] = republish
        figures["edit_overhead_s"] = statistics.median(
            r - e for r, e in zip(republish, exports, strict=True)
        )
        figures["machine"] = {
            "date": time.strftime("%Y-%m-%d"),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(json.dumps(figures, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
