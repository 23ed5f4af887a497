"""Render speed and memory of the streaming renderer on a synthetic session.

Builds a plan by hand (no parser, no speech engine): spoken cues between
paced breathing, wiper ticks, rolling strokes, holds and bells, the mix of a
real session. Speech comes from a fake lookup returning a synthetic voice at
eSpeak's 22050 Hz, so resampling is measured too. Prints CPU time, speed as a
multiple of real time, and peak RSS.

    .venv/bin/python benchmarks/bench_render.py [--minutes 30] [--rate 44100] [--palette warm]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from voicecoach.language.plan import Event, Plan
from voicecoach.language.script import Settings
from voicecoach.sound.palette import load_palette
from voicecoach.sound.render import render_blocks
from voicecoach.speech.engine import SpeechAudio

VOICE_RATE = 22_050


def fake_voice(seconds: float, seed: int) -> np.ndarray:
    """A buzzy stand-in for an utterance: harmonics under a syllable envelope."""
    t = np.arange(int(seconds * VOICE_RATE)) / VOICE_RATE
    f0 = 110.0 + 7.0 * (seed % 10)
    x = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 10))
    env = 0.6 + 0.4 * np.sin(2 * np.pi * 4.0 * t)
    return (0.4 * x / np.max(np.abs(x)) * env).astype(np.float32)


def build_plan(minutes: float, rate: int, palette_name: str) -> tuple[Plan, dict[str, np.ndarray]]:
    """A session of repeating blocks until ``minutes`` are filled; every utterance distinct."""
    palette = load_palette(palette_name)
    total = int(minutes * 60 * rate)
    voices: dict[str, np.ndarray] = {}
    events: list[Event] = []
    t = 3 * rate

    def say(seconds: float) -> None:
        nonlocal t
        key = f"u{len(voices)}"
        voices[key] = fake_voice(seconds, len(voices))
        n = int(round(len(voices[key]) * rate / VOICE_RATE))
        events.append(Event("speech", t, t + n, 1, text=key, speech_key=key))
        t += n + int(0.8 * rate)

    def tone(name: str, n: int, **kw) -> None:
        nonlocal t
        events.append(Event("tone", t, t + n, 1, tone=name, **kw))
        t += n

    tick = int(round(palette.length_s("tick") * rate))
    ready = int(round(palette.length_s("ready") * rate))
    bell = int(round(palette.length_s("bell") * rate))
    while t < total - 60 * rate:
        say(4.0)
        say(2.5)
        t += 5 * rate - ready
        tone("ready", ready)
        for _ in range(6):  # box breathing, 4-4-4-4
            tone("inhale", 4 * rate)
            t += 4 * rate
            tone("exhale", 4 * rate)
            t += 4 * rate
        say(3.0)
        for i in range(8):  # wipers, 3 s per sweep
            side = "left" if i % 2 == 0 else "right"
            events.append(
                Event(
                    "tone",
                    t,
                    t + tick,
                    1,
                    tone="tick",
                    variant=side,
                    pan=-1.0 if side == "left" else 1.0,
                )
            )
            t += 3 * rate
        say(2.0)
        for i in range(10):  # rolling, 4 s per stroke
            tone("stroke", 4 * rate, variant="up" if i % 2 == 0 else "down")
        say(3.5)
        t += 45 * rate  # a quiet hold
        say(1.0)
        tone("bell", bell)
    plan = Plan(
        title="bench",
        sample_rate=rate,
        duration_samples=max(t, total),
        sections=(),
        events=tuple(sorted(events, key=lambda e: (e.start_sample, e.end_sample))),
        settings=Settings(title="bench"),
    )
    return plan, voices


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--rate", type=int, default=44_100)
    ap.add_argument("--palette", default="warm")
    ap.add_argument("--block-frames", type=int, default=8192)
    args = ap.parse_args()

    plan, voices = build_plan(args.minutes, args.rate, args.palette)
    palette = load_palette(args.palette)
    n_speech = sum(1 for e in plan.events if e.kind == "speech")
    n_tone = sum(1 for e in plan.events if e.kind == "tone")

    def lookup(key: str) -> SpeechAudio:
        return SpeechAudio(voices[key], VOICE_RATE)

    rss_before_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    audio_s = plan.duration_samples / plan.sample_rate
    print(
        f"plan: {audio_s / 60:.1f} min at {plan.sample_rate} Hz stereo, "
        f"{n_speech} utterances, {n_tone} tones"
    )
    # first pass: tones synthesised, speech resampled; second pass (an export's
    # write after its loudness measurement): tones come from the process cache
    for label in ("cold", "warm"):
        wall0, cpu0 = time.perf_counter(), time.process_time()
        frames = 0
        for block in render_blocks(plan, lookup, palette=palette, block_frames=args.block_frames):
            frames += len(block)
        wall_s, cpu_s = time.perf_counter() - wall0, time.process_time() - cpu0
        assert frames == plan.duration_samples
        print(
            f"{label} render: {cpu_s:.3f} s CPU, {wall_s:.3f} s wall = "
            f"{audio_s / cpu_s:.0f}x real time (CPU)"
        )
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss_mb:.0f} MB (before rendering {rss_before_mb:.0f} MB)")


if __name__ == "__main__":
    main()
