"""Normalisation: a plan rendered and measured, and the gain that brings it to the target.

Every export and ``play`` is normalised to ``TARGET_LUFS`` integrated with a
true peak of at most ``MAX_TRUE_PEAK_DBTP`` (``levels``): ``normalisation_gain_db``
renders the plan (``plan_blocks``), measures it (``measure_blocks``: the
loudness meter in a second process, the true peak here) and decides the gain,
with the peak limiter when a plain gain would pass the ceiling. The
measurement and the decisions are kept in the decision cache (``decisions``)
under ``cache_path``, whose digest covers the code that renders and meters.

This module sits above the mixer (``render``) and the two-process block
consumer (``sound.offload``): the meter, limiter and decision cache below it
import neither.
"""

from __future__ import annotations

import hashlib
import math
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voicecoach import units
from voicecoach.sound import decisions, dsp, levels, limiter, meter, render, tones, truepeak
from voicecoach.sound.decisions import CACHE_VERSION, cached_measurement, update_cache
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
from voicecoach.sound.render import render_blocks
from voicecoach.sound.truepeak import TruePeakMeter
from voicecoach.storage.diskcache import code_digest
from voicecoach.storage.resources import cache_root

# the modules whose source a loudness entry's digest covers (with this one's): what renders,
# meters, limits and decides
_RENDER_AND_METER_CODE = (dsp, levels, tones, units, render, truepeak, meter, limiter, decisions)


@dataclass(frozen=True)
class LoudnessReport:
    """What normalisation decided: the gain, what was measured, and the expected result.

    ``limiter`` says whether the peak limiter is needed to reach the target;
    when it is, ``final_*`` were measured on the limited audio, otherwise they
    are the measured values plus the gain (exact for a plain gain).
    """

    gain_db: float
    measured_lufs: float
    true_peak_dbtp: float
    final_lufs: float
    final_true_peak_dbtp: float
    limiter: bool = False


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

    With ``spans_cache`` (this audio's ``cache_path``), the limiter's gain
    spans are replayed from an earlier render of the same audio when there is
    one (the same samples, without running the limiter), and recorded otherwise.
    """
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


def normalisation_gain_db(
    plan,
    speech,
    *,
    palette,
    ceiling_dbtp: float = MAX_TRUE_PEAK_DBTP,
    block_frames: int = 8192,
    progress: Callable[[int], None] | None = None,
    measured: tuple[float, float] | None = None,
) -> LoudnessReport:
    """The gain that brings the plan to ``TARGET_LUFS`` with true peak at most ``ceiling_dbtp``.

    ``ceiling_dbtp`` defaults to ``MAX_TRUE_PEAK_DBTP``; lossy exports ask for
    a lower one, as headroom for the codec's own overshoot.

    Renders once at gain 0 and measures. When the gain would push the true
    peak over the ceiling, renders again with that gain through the limiter,
    measures what the limiter cost in loudness, and adds that back (the
    limiter still holds the ceiling). ``progress(done_samples)`` counts the
    samples rendered across these passes. The first pass is skipped when
    ``measured`` (``(lufs, true_peak_dbtp)`` at gain 0) is given or in the
    loudness cache (an earlier export or play of the same audio), and its
    result is stored there.
    """
    rate = plan.sample_rate
    done = 0
    path = cache_path(plan, palette)
    if measured is None:
        measured = cached_measurement(path)

    def tick(base: int) -> Callable[[int], None] | None:
        if progress is None:
            return None
        return lambda n: progress(base + n)

    if measured is None:
        lufs, peak = measure_blocks(
            plan_blocks(plan, speech, palette=palette, block_frames=block_frames),
            rate,
            tick(done),
            block_frames=block_frames,
        )
        done += plan.duration_samples
        update_cache(path, measured=(lufs, peak))
    else:
        lufs, peak = measured
    if not math.isfinite(lufs):
        return LoudnessReport(0.0, lufs, peak, lufs, peak)
    gain = TARGET_LUFS - lufs
    if peak + gain <= ceiling_dbtp:
        return LoudnessReport(gain, lufs, peak, lufs + gain, peak + gain)
    limited_lufs, limited_peak = measure_blocks(
        plan_blocks(
            plan,
            speech,
            palette=palette,
            gain_db=gain,
            limit=True,
            ceiling_dbtp=ceiling_dbtp,
            block_frames=block_frames,
        ),
        rate,
        tick(done),
        block_frames=block_frames,
    )
    correction = TARGET_LUFS - limited_lufs if math.isfinite(limited_lufs) else 0.0
    return LoudnessReport(
        gain + correction, lufs, peak, limited_lufs + correction, limited_peak, limiter=True
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
