"""Work done while something else waits: a session's tones made during a fast engine's synthesis."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from voicecoach.language.plan import Plan
from voicecoach.sound.palette import Palette
from voicecoach.sound.render import cached_tone


@contextlib.contextmanager
def tones_meanwhile(plan: Plan, palette: Palette) -> Iterator[None]:
    """Synthesise ``plan``'s tones into the caches on a thread while the body runs.

    For a wait that leaves a core idle: eSpeak NG synthesises a 30-minute
    session's speech in about 0.6 s using about one core, and the same
    session's tones take about 0.6 s to make the first time (the bell alone
    0.27 s). ``plan`` may be the plan compiled with estimated speech lengths:
    a tone it has at another length is simply made when it is rendered. At
    the end of the body the thread stops after the tone in hand, so nothing
    runs beside what follows (an export forks). A tone that fails here is
    left to the render, which reports it at its line.
    """
    stop = threading.Event()
    rate = plan.sample_rate

    def make() -> None:
        seen: set[tuple[str, str, int]] = set()
        for e in plan.events:
            if stop.is_set():
                return
            key = (e.tone, e.variant, e.duration_samples)
            if e.kind != "tone" or e.end_sample <= e.start_sample or key in seen:
                continue
            seen.add(key)
            with contextlib.suppress(Exception):
                cached_tone(palette, e.tone, e.duration_samples, rate, e.variant)

    thread = threading.Thread(target=make, name="voicecoach-tones", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
