"""Benchmark: a cold natural-voice plan and export against the ``piper`` command line (issue 15).

In one run, interleaved (a, b, c, d, then again), each a fresh process:

  (a) ``voicecoach plan SCRIPT --engine piper``, cold: a new, empty
      ``VOICECOACH_CACHE_DIR`` for every run;
  (b) ``voicecoach export SCRIPT --engine piper -o X.wav``, cold the same way;
  (c) the ``piper`` command line of piper-tts given exactly the phrases
      voicecoach synthesises (the distinct texts of the plan's speech, found
      once beforehand with a scratch cache, cleaned as the piper engine cleans them), one a line, in ONE process
      (``piper -m MODEL -i phrases.txt -d OUT``), with the same model file,
      the ``--length-scale`` voicecoach uses at the session's rate, and
      voicecoach's ``--noise-w-scale 0 --no-normalize``;
  (d) the same command line run once per phrase (text on stdin, ``-f OUT.wav``):
      what a shell script around it would do.

With ``--compare-tree DIR`` (a checkout of another commit), (a) and (b) also
run with that tree's voicecoach (``PYTHONPATH=DIR``) in each round, as
(a0) and (b0): before and after measured under the same load.

Each run's wall time and CPU time (user + system of the process and every
process it waited for, from ``wait4``) is listed; the figures are medians.
Targets: (b)/(c) <= 1.0x and (b)/(d) <= 0.5x. A cold run's speech cache must
end up holding as many entries as (c) is given phrases (else they do not do
the same work, and the benchmark stops).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_piper_cold.py [--repeat 3] [--json out.json]
        [--script upper-back] [--no-per-phrase] [--compare-tree DIR]
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


def timed(cmd: list[str], *, env: dict[str, str], cwd: Path, stdin_text: str | None = None) -> dict:
    """Run ``cmd`` to its end: wall time and CPU time of it and the processes it waited for.

    ``cwd`` holds no voicecoach: ``python -m`` puts it before ``PYTHONPATH``.
    """
    t0 = time.perf_counter()
    process = subprocess.Popen(
        cmd,
        env=env,
        cwd=cwd,
        stdin=subprocess.PIPE if stdin_text is not None else subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    if stdin_text is not None:
        assert process.stdin is not None
        process.stdin.write(stdin_text.encode())
        process.stdin.close()
    assert process.stderr is not None
    err = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)  # (so Popen does not wait again)
    wall_s = time.perf_counter() - t0
    if process.returncode != 0:
        sys.exit(f"failed ({process.returncode}): {' '.join(cmd)}\n{err.decode(errors='replace')}")
    return {"wall_s": wall_s, "cpu_s": usage.ru_utime + usage.ru_stime}


def phrases_of(script: str) -> tuple[list[str], float, Path, Path, str]:
    """(cleaned phrases, length scale, model, config, paused word) as voicecoach's piper engine uses them."""
    import tempfile

    from voicecoach.library import resolve_script
    from voicecoach.session import load
    from voicecoach.speech import piper

    # the phrases the plan says (a plan synthesises those, not every phrase a script could
    # say): found with a scratch cache, before the timed runs
    os.environ["VOICECOACH_CACHE_DIR"] = tempfile.mkdtemp(prefix="vc-phrases-")
    with load(resolve_script(script), engine="piper") as session:
        plan = session.plan()
        texts = list(dict.fromkeys(e.text for e in plan.events if e.kind == "speech"))
        rate_wpm = session.settings.rate_wpm
        paused = session.script.settings.wording()("paused")
        longest = session.speech.max_piece_chars
    if any(len(t) > longest for t in texts):
        sys.exit("a phrase is spoken in pieces: the command line would not get the same text")
    model = piper.default_voice()
    scale = piper.length_scale_for(rate_wpm / piper.PiperEngine().pace_factor(None))
    cleaned = [piper._clean_text(t) for t in texts]
    return [t for t in cleaned if t], scale, model.model_path, model.config_path, paused


def cache_entries(cache_dir: Path) -> int:
    return sum(1 for _ in (cache_dir / "speech").rglob("*.vcs"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--script", default="upper-back")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path, help="write every run and the medians here")
    ap.add_argument(
        "--no-per-phrase", action="store_true", help="leave out (d) (74 model loads a round)"
    )
    ap.add_argument(
        "--compare-tree", type=Path, help="also run (a) and (b) with the voicecoach in this folder"
    )
    ap.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="also run (a) with the voicecoach in DIR, as (a:NAME); repeatable",
    )
    args = ap.parse_args()
    py = sys.executable
    piper_cli = shutil.which("piper", path=str(Path(py).parent)) or shutil.which("piper")
    if piper_cli is None:
        sys.exit("the piper command line (piper-tts) is not installed")
    phrases, scale, model, config, paused = phrases_of(args.script)
    cli = [py, "-m", "voicecoach.cli"]
    piper_args = [
        *("-m", str(model), "-c", str(config)),
        *("--length-scale", f"{scale:g}", "--noise-w-scale", "0", "--no-normalize"),
    ]
    runs: dict[str, list[dict]] = {"a": [], "b": [], "c": [], "d": []}
    trees = {"a": ROOT, "b": ROOT}
    if args.compare_tree is not None:
        runs = {"a0": [], "b0": [], **runs}
        trees.update({"a0": args.compare_tree.resolve(), "b0": args.compare_tree.resolve()})
    for variant in args.variant:
        name, _, folder = variant.partition("=")
        runs = {f"a:{name}": [], **runs}
        trees[f"a:{name}"] = Path(folder).resolve()
    loads: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-piper-") as tmp_name:
        tmp = Path(tmp_name)
        base_env = dict(os.environ)
        for i in range(args.repeat):
            loads.append(os.getloadavg()[0])
            for kind in [k for k in runs if k in trees]:
                cache = tmp / f"cache-{kind}{i}"
                env = dict(base_env, VOICECOACH_CACHE_DIR=str(cache), PYTHONPATH=str(trees[kind]))
                cmd = [*cli, "plan", args.script, "--engine", "piper"]
                if kind.startswith("b"):
                    cmd = [*cli, "export", args.script, "--engine", "piper"]
                    cmd += ["-o", str(tmp / f"out-{i}.wav")]
                run = timed(cmd, env=env, cwd=tmp)
                run["cache_entries"] = cache_entries(cache)
                if run["cache_entries"] == len(phrases) + 1 and paused not in phrases:
                    phrases.append(paused)  # voicecoach synthesises "paused" too: so does (c)
                if run["cache_entries"] != len(phrases):
                    sys.exit(
                        f"({kind}) made {run['cache_entries']} speech entries, "
                        f"but {len(phrases)} phrases were expected"
                    )
                shutil.rmtree(cache)
                runs[kind].append(run)
            text_file = tmp / "phrases.txt"
            text_file.write_text("\n".join(phrases) + "\n", encoding="utf-8")
            out = tmp / f"cli-{i}"
            run = timed(
                [piper_cli, *piper_args, "-i", str(text_file), "-d", str(out)],
                env=base_env,
                cwd=tmp,
            )
            run["files"] = len(list(out.glob("*.wav")))
            shutil.rmtree(out)
            runs["c"].append(run)
            if not args.no_per_phrase:
                out.mkdir()
                wall_s = cpu_s = 0.0
                for n, phrase in enumerate(phrases):
                    one = timed(
                        [piper_cli, *piper_args, "-f", str(out / f"{n}.wav")],
                        env=base_env,
                        cwd=tmp,
                        stdin_text=phrase + "\n",
                    )
                    wall_s += one["wall_s"]
                    cpu_s += one["cpu_s"]
                runs["d"].append({"wall_s": wall_s, "cpu_s": cpu_s, "files": len(phrases)})
                shutil.rmtree(out)
            loads.append(os.getloadavg()[0])
            print(f"round {i + 1}: " + json.dumps({k: v[-1] for k, v in runs.items() if v}))

    def median(kind: str, field: str) -> float:
        if not runs.get(kind):
            return float("nan")
        return statistics.median(r[field] for r in runs[kind])

    names = {
        **{k: f"({k}) as (a), voicecoach of {trees[k]}" for k in runs if k.startswith("a:")},
        "a0": f"(a0) as (a), voicecoach of {args.compare_tree}",
        "b0": f"(b0) as (b), voicecoach of {args.compare_tree}",
        "a": f"(a) voicecoach plan {args.script} --engine piper, cold",
        "b": f"(b) voicecoach export {args.script} --engine piper, cold",
        "c": f"(c) piper command line, {len(phrases)} phrases in one process",
        "d": "(d) piper command line once per phrase",
    }
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"load average (1 min) during the runs {min(loads):.1f}-{max(loads):.1f}"
    )
    print(f"{len(phrases)} phrases, length scale {scale:g}, model {model.name}")
    for kind, name in names.items():
        if runs.get(kind):
            walls = ", ".join(f"{r['wall_s']:.2f}" for r in runs[kind])
            cpus = ", ".join(f"{r['cpu_s']:.1f}" for r in runs[kind])
            print(
                f"{name}: {median(kind, 'wall_s'):.2f} s wall (runs {walls}), "
                f"{median(kind, 'cpu_s'):.1f} s CPU (runs {cpus})"
            )
    ratios = {
        "a/c": median("a", "wall_s") / median("c", "wall_s"),
        "b/c": median("b", "wall_s") / median("c", "wall_s"),
        "b/d": median("b", "wall_s") / median("d", "wall_s"),
    }
    targets = {"a/c": "", "b/c": " (target <= 1.0x)", "b/d": " (target <= 0.5x)"}
    for kind in [k for k in runs if k.startswith("a:")]:
        ratios[f"{kind}/c"] = median(kind, "wall_s") / median("c", "wall_s")
        targets[f"{kind}/c"] = ""
    if runs.get("a0"):
        ratios.update(
            {
                "a0/c": median("a0", "wall_s") / median("c", "wall_s"),
                "b0/c": median("b0", "wall_s") / median("c", "wall_s"),
            }
        )
        targets.update({"a0/c": " (before)", "b0/c": " (before)"})
    for name, value in ratios.items():
        print(f"{name}: {value:.2f}x{targets[name]}")
    if args.json is not None:
        report = {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "cores": os.cpu_count(),
            "load_average_1min": loads,
            "script": args.script,
            "phrases": phrases,
            "length_scale": scale,
            "model": str(model),
            "runs": runs,
            "medians": {
                k: {"wall_s": median(k, "wall_s"), "cpu_s": median(k, "cpu_s")} for k in runs
            },
            "ratios": ratios,
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
