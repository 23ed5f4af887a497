"""Benchmark: `voicecoach check` of hostile scripts and of valid scripts of growing size (issue 11).

Targets: `check` of a 1 MiB hostile script <= 2 s (each kind), the include fan-out
(10 includes per level, depth 5) bounded, and checking linear in size (a valid
script of 10 KB, 100 KB and 1 MiB). Each figure is the median wall time of
`voicecoach check --engine system` as a real subprocess, with a warm speech cache
(the spoken text is a few words, so synthesis is not what is measured).
With ``--compare REV`` the same scripts also run against the tree of git
revision REV (``git archive``), with a time limit, in the same run.

    .venv/bin/python benchmarks/bench_hostile.py [--repeat 3] [--compare HEAD~3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MiB = 1024 * 1024


def hostile(size: int) -> dict[str, str]:
    """Hostile scripts of about ``size`` bytes, one per kind."""
    return {
        "blank lines": "\n" * size,
        "heading of spaces": "#" + " " * (size - 8) + "x\n",
        "headings": "# a\n" * (size // 4),
        "spoken lines": "Rest.\n" * (size // 6),
        "empty cues": "[]" * (size // 2 - 1) + "\n",
        "emphasis marks": "*a " * (size // 3 - 1) + "\n",
        "bad tokens": "[hold " + "x " * (size // 2 - 4) + "]\n",
        "unknown keys": "---\n"
        + "".join(f"k{i}: v\n" for i in range(size // 10))[: size - 20]
        + "---\nRest.\n",
        "missing includes": "[include nope]\n" * (size // 15),
        "one-hour wipers": "[wipers x7200 0.5s]\n" * (size // 20),
    }


def valid(size: int) -> str:
    """A valid script of about ``size`` bytes: sections with a line, a pause and a long note."""
    note = "<!-- " + "a teacher's note about this part, " * 14 + "-->\n"
    unit = "# Part {k}\nRest your shoulders.\n[pause 1s]\n" + note
    out, k = [], 0
    while sum(map(len, out)) < size:
        out.append(unit.format(k=k))
        k += 1
    return "".join(out)[:size]


def fanout(folder: Path) -> Path:
    for level in range(5):
        (folder / f"l{level}.md").write_text(f"[include l{level + 1}]\n" * 10)
    (folder / "l5.md").write_text("Rest.\n[pause 1s]\n")
    (folder / "main.md").write_text("[include l0]\n")
    return folder / "main.md"


def run_check(tree: Path, script: Path, timeout_s: float) -> float | None:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cmd = [sys.executable, "-m", "voicecoach.cli", "check", "--engine", "system", str(script)]
    start = time.perf_counter()
    try:
        subprocess.run(
            cmd,
            env=env,
            cwd=tree,  # "python -m" puts the working folder first on the import path
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None
    return time.perf_counter() - start


def median_check(tree: Path, script: Path, repeat: int, timeout_s: float) -> float | None:
    times = []
    for _ in range(repeat):
        t = run_check(tree, script, timeout_s)
        if t is None:
            return None
        times.append(t)
    return statistics.median(times)


def show(t: float | None, timeout_s: float) -> str:
    return f">{timeout_s:.0f}" if t is None else f"{t:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--compare", metavar="REV", help="also run the tree of this git revision")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per run (default 60)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        os.environ["VOICECOACH_CACHE_DIR"] = str(tmp / "cache")
        trees = {"this tree": ROOT}
        if args.compare:
            old = tmp / "old"
            old.mkdir()
            archive = subprocess.run(
                ["git", "-C", str(ROOT), "archive", args.compare], capture_output=True, check=True
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
            trees[args.compare] = old
        warm = tmp / "warm.md"
        warm.write_text("Rest.\nRest your shoulders.\n[pause 1s]\n")
        for tree in trees.values():
            run_check(tree, warm, 600)

        cases: list[tuple[str, Path]] = []
        for kind, text in hostile(MiB).items():
            path = tmp / f"hostile-{kind.replace(' ', '-')}.md"
            path.write_text(text[:MiB])
            cases.append((f"1 MiB hostile: {kind}", path))
        (tmp / "fan").mkdir()
        cases.append(("include fan-out 10^5 (depth 5)", fanout(tmp / "fan")))
        for label, size in (("10 KB", 10_000), ("100 KB", 100_000), ("1 MiB", MiB)):
            path = tmp / f"valid-{size}.md"
            path.write_text(valid(size))
            cases.append((f"valid {label}", path))

        print(
            f"# {time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}; median of {args.repeat}, seconds"
        )
        print("| script | bytes | " + " | ".join(trees) + " |")
        print("|---|---|" + "---|" * len(trees))
        for label, path in cases:
            size = path.stat().st_size
            cells = [
                show(median_check(tree, path, args.repeat, args.timeout), args.timeout)
                for tree in trees.values()
            ]
            print(f"| {label} | {size:,} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
