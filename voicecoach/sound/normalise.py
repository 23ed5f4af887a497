"""Normalisation: a plan rendered at its gain through the limiter, and measured.

Every export and ``play`` is at ``TARGET_LUFS`` with a true peak of at most
``MAX_TRUE_PEAK_DBTP`` (``levels``): the gain is ``levels.session_gain_db`` (every
phrase is at the speech level, so nothing needs measuring first) and the
peak limiter holds the ceiling. ``plan_blocks`` renders a plan that way (replaying
the limiter's gain spans from the cache when it can); ``measure_blocks`` measures
blocks (the loudness meter in a second process, the true peak here). What an
export decided is kept in the decision cache (``decisions``) under ``cache_path``,
whose digest covers the code that renders and meters.

This module sits above the mixer (``render``) and the two-process block
consumer (``sound.offload``): the meter, limiter and decision cache below it
import neither.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from voicecoach import units
from voicecoach.language.ahead import PlanAhead
from voicecoach.sound import decisions, dsp, levels, limiter, meter, render, tones, truepeak
from voicecoach.sound.decisions import CACHE_VERSION
from voicecoach.sound.levels import MAX_TRUE_PEAK_DBTP, TARGET_LUFS
from voicecoach.sound.limiter import (
    SpanWriter,
    limited_blocks,
    limiter_spans_path,
    open_spans,
    recorded_blocks,
    replayed_blocks,
)
from voicecoach.sound.meter import LoudnessMeter
from voicecoach.sound.render import render_blocks, settling_blocks
from voicecoach.sound.truepeak import TruePeakMeter
from voicecoach.storage.diskcache import code_digest
from voicecoach.storage.resources import cache_root

# the modules whose source a loudness entry's digest covers (with this one's): what renders,
# meters, limits and decides
_RENDER_AND_METER_CODE = (dsp, levels, tones, units, render, truepeak, meter, limiter, decisions)


def measure_blocks(
    blocks: Iterable[np.ndarray],
    sample_rate: int,
    progress: Callable[[int], None] | None = None,
    *,
    block_frames: int,
):
    """Feed every block to a fresh meter; returns ``(integrated_lufs, true_peak_dbtp)``.

    The loudness meter runs in a second process (``offload.consume_blocks``)
    while this one renders and tracks the true peak, so the two use two
    cores; the result is the same as metering here. Blocks are float32 stereo of at most ``block_frames``
    frames. ``progress(samples)`` counts the blocks handed over.
    """
    from voicecoach.sound.offload import consume_blocks

    # Loudness in the other process, true peak in this one (it renders faster than the
    # loudness meter meters), so both are busy. The meter is made here: the child inherits
    # what it imports (scipy), imported once.
    loudness = LoudnessMeter(sample_rate, true_peak=False)
    peak = TruePeakMeter()

    def peaked() -> Iterator[np.ndarray]:
        for block in blocks:
            peak.feed(block)
            yield block

    lufs = consume_blocks(
        peaked(),
        lambda: (loudness.feed, loudness.integrated_lufs),
        block_frames=block_frames,
        progress=progress,
    )
    return lufs, peak.dbtp()


def plan_blocks(
    plan,
    speech,
    *,
    palette,
    gain_db: float = 0.0,
    limit: bool = False,
    ceiling_dbtp: float = MAX_TRUE_PEAK_DBTP,
    block_frames: int = 8192,
    spans_cache: Path | None = None,
):
    """The plan's rendered blocks at ``gain_db``, through the peak limiter (at ``ceiling_dbtp``) when ``limit``.

    ``plan`` may be a ``language.ahead.PlanAhead`` still settling: then each
    block comes once it is final (``render.settling_blocks``).

    With ``spans_cache`` (this audio's ``cache_path``), the limiter's gain
    spans are replayed from an earlier render of the same audio when there is
    one (the same samples, without running the limiter), and recorded otherwise.
    """
    if isinstance(plan, PlanAhead):  # still settling: no spans are kept for a plan not final
        blocks = settling_blocks(
            plan, speech, palette=palette, block_frames=block_frames, gain_db=gain_db
        )
        if not limit:
            return blocks
        return limited_blocks(blocks, ceiling_dbtp, plan.plan.sample_rate)
    blocks = render_blocks(
        plan, speech, palette=palette, block_frames=block_frames, gain_db=gain_db
    )
    if not limit:
        return blocks
    where = limiter_spans_path(spans_cache, gain_db, ceiling_dbtp, block_frames)
    if where is None:
        return limited_blocks(blocks, ceiling_dbtp, plan.sample_rate)
    opened = open_spans(*where)
    if opened is not None:
        return replayed_blocks(blocks, *opened)
    writer = SpanWriter(*where)
    return recorded_blocks(
        limited_blocks(blocks, ceiling_dbtp, plan.sample_rate, record=writer), writer
    )


def cache_path(plan, palette) -> Path | None:
    """``<cache>/loudness/<digest>.json`` for this plan and palette (``None`` if no cache folder).

    The digest also covers the code that renders, meters, limits and decides
    (a changed mix, such as other ducking, is other audio, so never an old
    measurement): module objects, so a moved module cannot switch the cache off.
    """
    try:
        events = tuple(
            (
                e.kind,
                e.start_sample,
                e.end_sample,
                e.speech_key,
                e.tone,
                e.pan,
                e.variant,
                e.truncated,
            )
            for e in plan.events
            if e.kind in ("speech", "tone")
        )
        s = plan.settings
        blob = repr(
            (
                CACHE_VERSION,
                code_digest(*_RENDER_AND_METER_CODE, sys.modules[__name__]),
                TARGET_LUFS,
                MAX_TRUE_PEAK_DBTP,
                plan.sample_rate,
                plan.duration_samples,
                s.voice_volume_db,
                s.tone_volume_db,
                palette,
                events,
            )
        )
        digest = hashlib.sha256(blob.encode("utf-8")).hexdigest()
        return cache_root() / "loudness" / f"{digest}.json"
    except Exception:  # no cache is only slower
        return None
