"""Benchmark: what synthesising a session's phrases costs in voicecoach's piper worker and in piper's own voice.

The phrases of SCRIPT's plan (distinct texts, cleaned as the engine cleans
them) are synthesised in one process, one after another, at the length scale
voicecoach uses, three ways, each in a fresh process, interleaved, --repeat
times:

  ours      ``PiperBackend`` as a worker runs it: the noise seeded from the text
            (``piper_noise``), one onnxruntime thread, no memory arena, heap reuse;
  plain1    piper-tts's ``PiperVoice`` on the same model, one onnxruntime thread;
  plain     the same on onnxruntime's default threads (one per core: what the
            ``piper`` command line uses).

Reported: the CPU time of loading the voice and of synthesising (user + system,
``getrusage`` of the process), and the wall time of synthesising. It tells
whether voicecoach's workers do more work per phrase than piper itself.

    .venv/bin/python benchmarks/bench_piper_synthesis.py [--script upper-back] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, resource, sys, time

def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

variant, texts_file, length_scale = sys.argv[1], sys.argv[2], float(sys.argv[3])
texts = json.load(open(texts_file))
from voicecoach.speech.piper import PiperBackend, _clean_text, default_voice

model = default_voice()
c0 = cpu()
if variant == "ours":
    backend = PiperBackend(str(model.model_path), str(model.config_path), 1)

    def say(text):
        backend.synthesize(text, length_scale)
else:
    import onnxruntime
    from piper import PiperVoice, SynthesisConfig
    from piper.config import PiperConfig

    options = onnxruntime.SessionOptions()
    if variant == "plain1":
        options.intra_op_num_threads = 1
    config = PiperConfig.from_dict(json.load(open(model.config_path)))
    session = onnxruntime.InferenceSession(
        str(model.model_path), sess_options=options, providers=["CPUExecutionProvider"]
    )
    voice = PiperVoice(config=config, session=session)
    syn = SynthesisConfig(length_scale=length_scale, noise_w_scale=0.0, normalize_audio=False)

    def say(text):
        for chunk in voice.synthesize(text, syn_config=syn):
            chunk.audio_float_array
c1 = cpu()
t = time.perf_counter()
for text in texts:
    say(_clean_text(text))
print(json.dumps({"load_cpu_s": c1 - c0, "synth_cpu_s": cpu() - c1,
                  "synth_wall_s": time.perf_counter() - t}))
"""

VARIANTS = ("ours", "plain1", "plain")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--script", default="upper-back")
    ap.add_argument("--repeat", type=int, default=3)
    opts = ap.parse_args()

    import os

    from voicecoach.session import load
    from voicecoach.speech import piper

    # the phrases the plan says, found with a scratch cache (as bench_piper_cold.py does)
    os.environ["VOICECOACH_CACHE_DIR"] = tempfile.mkdtemp(prefix="vc-phrases-")
    with load(opts.script, engine="piper") as session:
        plan = session.plan()
        texts = list(dict.fromkeys(e.text for e in plan.events if e.kind == "speech"))
        rate_wpm = session.settings.rate_wpm
    scale = piper.length_scale_for(rate_wpm / piper.PiperEngine().pace_factor(None))
    with tempfile.TemporaryDirectory() as tmp:
        texts_file = Path(tmp) / "texts.json"
        texts_file.write_text(json.dumps(texts), encoding="utf-8")
        runs: dict[str, list[dict]] = {v: [] for v in VARIANTS}
        for _ in range(opts.repeat):
            for v in VARIANTS:
                out = subprocess.run(
                    [sys.executable, "-c", CHILD, v, str(texts_file), repr(scale)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                runs[v].append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"machine: {platform.machine()}, Python {platform.python_version()}")
    print(
        f"{len(texts)} phrases of {opts.script}, length scale {scale:.4f}, medians of {opts.repeat}"
    )
    for v in VARIANTS:
        med = {k: statistics.median(r[k] for r in runs[v]) for k in runs[v][0]}
        print(
            f"{v:7s} load {med['load_cpu_s']:.2f} s CPU; synthesis {med['synth_cpu_s']:.2f} s CPU "
            f"in {med['synth_wall_s']:.2f} s (runs: "
            + ", ".join(f"{r['synth_cpu_s']:.2f}" for r in runs[v])
            + ")"
        )


if __name__ == "__main__":
    main()
