"""Benchmark: how far a session's loudness lands from the target with the constant session gain.

Speech is brought to ``levels.SPEECH_LUFS`` phrase by phrase, so play and export
use one gain known before synthesis (``levels.session_gain_db``). This measures,
for every built-in session at every level, the integrated loudness (BS.1770) of
the mix at gain 0 less the speech level (and the script's ``voice_volume``): the
``MIX_OFFSET_LU`` the constant should be, and the spread around it (how far an
export then lands from -16 LUFS before the limiter).

    .venv/bin/python benchmarks/bench_session_gain.py [--engine system|piper] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

import voicecoach
from voicecoach.language.script import LEVELS
from voicecoach.library import builtin_names
from voicecoach.sound import levels
from voicecoach.sound.meter import LoudnessMeter
from voicecoach.sound.normalise import plan_blocks
from voicecoach.sound.offload import consume_blocks


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", default="system")
    ap.add_argument("--json")
    args = ap.parse_args()
    rows = []
    for name in builtin_names():
        base = voicecoach.load(name, engine=args.engine)
        try:
            for level in LEVELS:
                s = base.with_level(level)
                plan = s.plan()
                meter = LoudnessMeter(plan.sample_rate)  # fed in a second process
                lufs, peak = consume_blocks(
                    plan_blocks(plan, s.speech.audio, palette=s.palette, block_frames=32768),
                    lambda meter=meter: (meter.feed, meter.result),
                    block_frames=32768,
                )
                offset = lufs - levels.SPEECH_LUFS - plan.settings.voice_volume_db
                rows.append(
                    {
                        "session": name,
                        "level": level,
                        "lufs_at_0": lufs,
                        "offset_lu": offset,
                        "true_peak_dbtp_at_0": peak,
                    }
                )
                print(
                    f"{name:28s} {level:9s} {lufs:7.2f} LUFS  offset {offset:+.2f} LU  peak {peak:+.2f}"
                )
        finally:
            base.close()
    offsets = [r["offset_lu"] for r in rows]
    med = statistics.median(offsets)
    print(f"offset: median {med:+.2f} LU, min {min(offsets):+.2f}, max {max(offsets):+.2f}")
    print(
        f"with MIX_OFFSET_LU = {levels.MIX_OFFSET_LU:+.2f}: exports land "
        f"{min(offsets) - levels.MIX_OFFSET_LU:+.2f} to {max(offsets) - levels.MIX_OFFSET_LU:+.2f} LU "
        "from the target (before the limiter)"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"engine": args.engine, "rows": rows, "median_offset_lu": med}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
