"""The live session's loudness gain: the export's, known before anything is rendered.

Play must sound exactly like a lossless export, so it uses the export's gain
and limiter: ``levels.session_gain_db`` (every phrase is at the speech level, so
the gain follows from the script's ``voice_volume`` alone) through the peak
limiter at ``MAX_TRUE_PEAK_DBTP``. Nothing is measured first, so a session can
start while its speech is still being synthesised.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from voicecoach.sound.levels import session_gain_db

if TYPE_CHECKING:
    from voicecoach.language.plan import Plan


class LiveGain:
    """The loudness decision play uses: a gain in dB and whether the peak limiter runs."""

    def __init__(self, gain_db: float, limit: bool) -> None:
        self.gain_db = float(gain_db)
        self.limit = bool(limit)

    @classmethod
    def of_plan(cls, plan: Plan) -> LiveGain:
        """The lossless export's decision for ``plan``: its session gain, through the limiter."""
        return cls(session_gain_db(plan.settings.voice_volume_db), True)
