"""Where the live audio comes from: ``start_sample -> blocks``, the export's chain from any point.

``BlockSource`` is the contract the player's render thread relies on;
``PlanSource`` fulfils it with the renderer, the loudness gain and the peak
limiter, exactly as ``export`` uses them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Protocol

import numpy as np

from voicecoach.playback.gain import LiveGain

if TYPE_CHECKING:
    from voicecoach.language.plan import Plan
    from voicecoach.sound.palette import Palette
    from voicecoach.speech.engine import SpeechAudio

BLOCK_FRAMES = 4096  # render block: small enough that the first one is ready fast


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
    """``start_sample -> blocks``: the export chain (render at the loudness gain, limiter, clip).

    It yields the plan's leading silence straight away (zeros at any gain,
    exactly what the renderer would give), so the lead-in plays while the
    DSP modules load and the loudness is measured; then it waits
    (``waiting`` is true) until the gain is known. ``cancel`` ends a wait.
    """

    def __init__(
        self,
        plan: Plan,
        speech: Callable[[str], SpeechAudio],
        palette: Palette,
        loudness: LiveGain,
        *,
        block_frames: int = BLOCK_FRAMES,
    ):
        self.plan = plan
        self.speech = speech
        self.palette = palette
        self.loudness = loudness
        self.block_frames = block_frames
        self.waiting = False
        self._cancelled = False
        sounding = [
            e.start_sample
            for e in plan.events
            if e.kind in ("speech", "tone") and e.end_sample > e.start_sample
        ]
        self.first_sound_sample = min(sounding, default=plan.duration_samples)

    def cancel(self) -> None:
        self._cancelled = True

    def __call__(self, start_sample: int) -> Iterator[np.ndarray]:
        return self._blocks(start_sample)

    def _blocks(self, start_sample: int) -> Iterator[np.ndarray]:
        pos = start_sample
        silence = np.zeros((self.block_frames, 2), dtype=np.float32)
        while pos < self.first_sound_sample:  # zeros at any gain: no renderer needed yet
            n = min(self.block_frames, self.first_sound_sample - pos)
            yield silence[:n]
            pos += n
        self.waiting = True
        while not self.loudness.wait(0.05):
            if self._cancelled:
                return
        self.waiting = False
        if self.loudness.error is not None:
            raise self.loudness.error
        if pos >= self.plan.duration_samples:
            return
        yield from self._chain(pos)

    def _chain(self, start_sample: int) -> Iterator[np.ndarray]:
        from voicecoach.sound.levels import MAX_TRUE_PEAK_DBTP
        from voicecoach.sound.limiter import limited_blocks
        from voicecoach.sound.render import render_blocks

        assert self.loudness.gain_db is not None
        blocks = render_blocks(
            self.plan,
            self.speech,
            palette=self.palette,
            block_frames=self.block_frames,
            start_sample=start_sample,
            gain_db=self.loudness.gain_db,
        )
        if self.loudness.limit:
            blocks = limited_blocks(blocks, MAX_TRUE_PEAK_DBTP, self.plan.sample_rate)
        for block in blocks:
            if float(np.abs(block).max(initial=0.0)) > 1.0:  # as export does
                block = np.clip(block, -1.0, 1.0)
            yield block
