"""Normalisation: a plan rendered at its gain through the limiter, and measured.

Every export and ``play`` is at ``TARGET_LUFS`` with a true peak of at most
``MAX_TRUE_PEAK_DBTP`` (``levels``): the gain is ``levels.session_gain_db`` (every
phrase is at the speech level, so nothing needs measuring first) and the
peak limiter holds the ceiling. ``plan_blocks`` renders a plan that way (replaying
the limiter's gain spans from the cache when it can). What an export decided is
kept in the decision cache (``decisions``) under ``cache_path``, whose digest
covers the code that renders and meters.

This module sits above the mixer (``render``): the meter, limiter and decision
cache below it do not import it.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

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
from voicecoach.sound.render import render_blocks, settling_blocks
from voicecoach.storage.diskcache import code_digest
from voicecoach.storage.resources import cache_root

# the modules whose source a loudness entry's digest covers (with this one's): what renders,
# meters, limits and decides
_RENDER_AND_METER_CODE = (dsp, levels, tones, units, render, truepeak, meter, limiter, decisions)


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
