"""Where play goes in the plan: the resume point after a pause, section starts, next/back keys.

Pure functions of the plan (integer samples in, integer samples out): no
sound, no threads, testable without a sound server.
"""

from __future__ import annotations

import bisect
import math

from voicecoach.language.plan import Plan
from voicecoach.units import format_clock

SECTION_DOUBLE_PRESS_S = 1.5  # left twice within this: previous section


def resume_sample(plan: Plan, position_sample: int) -> int:
    """Where resuming after a pause at ``position_sample`` continues.

    The start of the spoken phrase that was cut, or of the breath cycle that
    was cut (an ``inhale`` tone up to the next inhale or the end of its
    breathe/hold span), whichever is earlier; else the position itself.
    """
    best = position_sample
    cycle_spans = [e for e in plan.events if e.kind in ("breathe", "hold")]
    inhales = [e for e in plan.events if e.kind == "tone" and e.tone == "inhale"]
    for e in plan.events:
        if e.start_sample > position_sample:
            break
        if e.kind == "speech" and e.start_sample <= position_sample < e.end_sample:
            best = min(best, e.start_sample)
    for i, inhale in enumerate(inhales):
        if inhale.start_sample > position_sample:
            break
        span = next(
            (s for s in cycle_spans if s.start_sample <= inhale.start_sample < s.end_sample), None
        )
        cycle_end = span.end_sample if span is not None else inhale.end_sample
        if i + 1 < len(inhales):
            cycle_end = (
                min(cycle_end, inhales[i + 1].start_sample) if span else inhales[i + 1].start_sample
            )
        if inhale.start_sample <= position_sample < cycle_end:
            best = min(best, inhale.start_sample)
    return best


def section_starts(plan: Plan) -> list[int]:
    """The sample where each section starts (and 0), sorted, without duplicates."""
    return sorted(
        {0, *(s.start_sample for s in plan.sections if s.start_sample < plan.duration_samples)}
    )


class SectionNavigator:
    """Where the next/back keys go, counting presses against the section last moved to.

    Right after a jump the heard position still lags by the device latency (it
    reports the new start minus the latency, inside the section before), so
    each press starts from ``max(heard, last start)``: two quick presses move
    two sections, whatever the latency.
    """

    def __init__(self, starts: list[int], double_press_s: float = SECTION_DOUBLE_PRESS_S):
        self.starts = starts
        self.double_press_s = double_press_s
        self._moved_to = 0
        self._last_back = -math.inf

    def moved_to(self, start_sample: int) -> None:
        """Playback (re)starts at ``start_sample`` (a jump, a resume, the first play)."""
        self._moved_to = start_sample

    def _index(self, heard_sample: int) -> int:
        base = max(heard_sample, self._moved_to)
        return max(0, bisect.bisect_right(self.starts, base) - 1)

    def next(self, heard_sample: int) -> int | None:
        """The next section's start, or None at the last section."""
        i = self._index(heard_sample) + 1
        return self.starts[i] if i < len(self.starts) else None

    def back(self, heard_sample: int, now_s: float) -> int:
        """The start of this section; pressed again within ``double_press_s``: the one before."""
        i = self._index(heard_sample)
        if now_s - self._last_back <= self.double_press_s:
            i = max(0, i - 1)
        self._last_back = now_s
        return self.starts[i]


def section_at(plan: Plan, position_sample: int) -> str:
    """The title of the section playing at ``position_sample`` ("" before the first)."""
    title = ""
    for s in plan.sections:
        if s.start_sample <= position_sample:
            title = s.title
        else:
            break
    return title


def where(plan: Plan, position_sample: int) -> str:
    """``12:31 in 'Right side'`` (or just the time before the first section)."""
    clock = format_clock(position_sample / plan.sample_rate)
    section = section_at(plan, position_sample)
    return f"{clock} in {section!r}" if section else clock
