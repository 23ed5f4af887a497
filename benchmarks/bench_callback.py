"""The audio callback's own cost: microseconds per period, with no sound server.

The PortAudio callback (``playback.transport.Transport.callback``) must fill
each period well within it (512 frames at 44.1 kHz: 11.6 ms). This drives it
directly from a pre-filled ring: plain playback, a period with a UI sound
mixed in and the volume changed, and a paused period (which only drops stale
slots), reporting the best of ``--repeats`` rounds.

    .venv/bin/python benchmarks/bench_callback.py [--frames 512] [--repeats 7]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from voicecoach.playback.ring import Renderer, Ring  # noqa: E402
from voicecoach.playback.transport import Pause, SetGain, Transport  # noqa: E402
from voicecoach.playback.uisounds import UISoundBank  # noqa: E402

RATE = 44_100
SLOT_FRAMES = 4096
OK = SimpleNamespace(output_underflow=False)


class _Idle:
    """A source that is never asked for audio here: the ring is filled by hand."""

    waiting = False

    def __call__(self, start_sample: int):
        return iter(())

    def cancel(self) -> None:
        pass


def _transport(volume: bool) -> Transport:
    ring = Ring(33, SLOT_FRAMES)
    source = _Idle()
    tick = np.full((2000, 2), 0.05, dtype=np.float32)
    t = Transport(
        ring,
        Renderer(ring, source, RATE),
        UISoundBank({"volume": tick}),
        source,
        sample_rate=RATE,
        latency_s=0.2,
    )
    t.callback_stop = StopIteration
    if volume:
        t.cmd = SetGain(1.41, "volume")
    return t


def per_period_us(frames: int, mode: str, rounds: int = 100) -> float:
    """Mean callback time over ``rounds`` ring fills of 4 slots each."""
    t = _transport(volume=mode == "volume")
    block = np.full((SLOT_FRAMES, 2), 0.1, dtype=np.float32)
    out = np.zeros((frames, 2), dtype=np.float32)
    if mode == "paused":
        t.ring.put(0, 0, block, last=False)
        t.callback(out, frames, None, OK)
        t.cmd = Pause()
        t.callback(out, frames, None, OK)
    spent, calls, pos = 0.0, 0, 0
    for _ in range(rounds):
        for _ in range(4):
            t.ring.put(0, pos, block, last=False)
            pos += SLOT_FRAMES
        start = time.perf_counter()
        for _ in range(4 * SLOT_FRAMES // frames):
            t.callback(out, frames, None, OK)
            calls += 1
        spent += time.perf_counter() - start
        if mode == "paused":
            t.ring.drop_older(1)
    return spent / calls * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=512, help="frames per period")
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    period_ms = args.frames / RATE * 1000
    print(f"callback cost per {args.frames}-frame period ({period_ms:.1f} ms of audio)")
    for mode in ("playing", "volume", "paused"):
        best = min(per_period_us(args.frames, mode) for _ in range(args.repeats))
        print(f"  {mode:8s} {best:6.2f} us  ({best / 10 / period_ms:.3f} % of the period)")


if __name__ == "__main__":
    main()
