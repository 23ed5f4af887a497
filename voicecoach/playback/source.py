"""Where the live audio comes from: ``start_sample -> blocks``, the export's chain from any point.

``BlockSource`` is the contract the player's render thread relies on;
``PlanSource`` fulfils it with the renderer, the session gain and the peak
limiter, exactly as ``export`` uses them, over a plan that may still be
settling (``language.ahead.PlanAhead``: speech synthesised ahead of the
playhead). It renders only what is final; when synthesis is behind it stops at
a point where nothing sounds (or at least between phrases), says it is
waiting, and goes on from that very sample: nothing is cut and nothing lost.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Protocol

import numpy as np

from voicecoach.language.ahead import PlanAhead
from voicecoach.playback.gain import LiveGain

if TYPE_CHECKING:
    from voicecoach.language.plan import Plan
    from voicecoach.sound.palette import Palette
    from voicecoach.speech.engine import SpeechAudio

BLOCK_FRAMES = 4096  # render block: small enough that the first one is ready fast
WAIT_POLL_S = 0.05


class BlockSource(Protocol):
    """What the player plays: ``source(start_sample)`` yields ``(frames, 2)`` float32 blocks.

    ``waiting`` is true while the source holds back audio it cannot make yet
    (the silence the device then plays is not a dropout); ``cancel`` ends such
    a wait when the session ends.
    """

    @property
    def waiting(self) -> bool: ...

    def __call__(self, start_sample: int) -> Iterator[np.ndarray]: ...

    def cancel(self) -> None: ...


class PlanSource:
    """``start_sample -> blocks``: the export chain (render at the session gain, limiter, clip).

    The plan's leading silence is yielded straight away (zeros at any gain,
    exactly what the renderer would give), so the lead-in plays while the DSP
    modules load and the first phrases are synthesised.
    """

    def __init__(
        self,
        plan: Plan | PlanAhead,
        speech: Callable[[str], SpeechAudio],
        palette: Palette,
        loudness: LiveGain,
        *,
        block_frames: int = BLOCK_FRAMES,
    ):
        from voicecoach.language.ahead import fixed

        self.ahead = plan if isinstance(plan, PlanAhead) else fixed(plan)
        self.speech = speech
        self.palette = palette
        self.loudness = loudness
        self.block_frames = block_frames
        self.waiting = False
        self.waited = False  # some wait for synthesis happened (the status line says so)
        self._cancelled = False

    @property
    def plan(self) -> Plan:
        return self.ahead.plan

    def cancel(self) -> None:
        self._cancelled = True

    def __call__(self, start_sample: int) -> Iterator[np.ndarray]:
        return self._blocks(start_sample)

    def _blocks(self, start_sample: int) -> Iterator[np.ndarray]:
        pos = start_sample
        first_sound = self._first_sound_sample()
        silence = np.zeros((self.block_frames, 2), dtype=np.float32)
        while pos < first_sound:  # zeros at any gain: no renderer needed yet
            n = min(self.block_frames, first_sound - pos)
            yield silence[:n]
            pos += n
        if pos >= self.plan.duration_samples and self.ahead.done:
            return
        yield from self._chain(pos)

    def _first_sound_sample(self) -> int:
        a = self.ahead
        plan = a.plan
        sounding = [
            e.start_sample
            for e in plan.events
            if e.kind in ("speech", "tone") and e.end_sample > e.start_sample
        ]
        return min(min(sounding, default=plan.duration_samples), a.settled_sample)

    def _chain(self, start_sample: int) -> Iterator[np.ndarray]:
        from voicecoach.sound.levels import MAX_TRUE_PEAK_DBTP
        from voicecoach.sound.limiter import limited_blocks

        blocks = self._rendered(start_sample)
        if self.loudness.limit:
            blocks = limited_blocks(blocks, MAX_TRUE_PEAK_DBTP, self.plan.sample_rate)
        for block in blocks:
            if float(np.abs(block).max(initial=0.0)) > 1.0:  # as export does
                block = np.clip(block, -1.0, 1.0)
            yield block
            # asked for the next one: the consumer holds this block, so the device has audio
            # again after a wait (cleared any earlier, a dry ring would count as a dropout)
            self.waiting = False

    def _rendered(self, start_sample: int) -> Iterator[np.ndarray]:
        """The render at the session gain from ``start_sample``, each part once it is final."""
        from voicecoach.sound.limiter import limiter_latency_samples
        from voicecoach.sound.render import render_blocks

        a = self.ahead
        rate = self.plan.sample_rate
        # past a stop, the limiter needs this much more before it lets the last block go
        tail = limiter_latency_samples(rate) if self.loudness.limit else 0
        pos = start_sample
        while True:
            if a.error is not None:
                raise a.error
            done, plan = a.done, a.plan
            end = plan.duration_samples
            if pos >= end and done:
                return
            upto = end if done else self._stop_point(plan, pos, a.render_bound - tail)
            if upto <= pos:
                self.waiting = self.waited = True
                a.wait_changed(WAIT_POLL_S)
                if self._cancelled:
                    return
                continue
            if not done:
                upto += tail  # final too (the stop point is ``tail`` under the bound)
            yield from render_blocks(
                plan,
                self.speech,
                palette=self.palette,
                block_frames=self.block_frames,
                start_sample=pos,
                end_sample=min(upto, end),
                gain_db=self.loudness.gain_db,
            )
            pos = min(upto, end)

    @staticmethod
    def _stop_point(plan: Plan, pos: int, bound: int) -> int:
        """Where to stop before ``bound`` while synthesis goes on: where nothing sounds, else between
        phrases, else ``pos`` (wait): the device may run dry there, and must never cut a phrase."""
        if bound <= pos:
            return pos
        sounds = [
            (e.start_sample, e.end_sample, e.kind == "speech")
            for e in plan.events
            if e.kind in ("speech", "tone") and e.start_sample < bound and e.end_sample > pos
        ]
        for speech_only in (False, True):
            spans = sorted((s, t) for s, t, is_speech in sounds if is_speech or not speech_only)
            at = _latest_free(spans, pos, bound)
            if at > pos:
                return at
        return pos


def _latest_free(spans: list[tuple[int, int]], pos: int, bound: int) -> int:
    """The latest sample in ``(pos, bound]`` inside none of ``spans`` (sorted), else ``pos``."""
    merged: list[list[int]] = []
    for s, t in spans:
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], t)
        else:
            merged.append([s, t])
    starts = [m[0] for m in merged]
    i = bisect.bisect_right(starts, bound - 1) - 1  # the last span starting before bound
    if i < 0 or merged[i][1] <= bound:
        return bound  # bound is in a gap (or after every span)
    at = merged[i][0]  # bound is inside span i: stop where it starts
    return at if at > pos else pos
