"""The live session's loudness gain: the export's decision, known now or measured in the background.

Play must sound exactly like the export, so it uses the export's gain and
limiter decision. Measuring it takes one or two full renders (about 1 s per
1-2 minutes of session on two busy cores), far beyond a 0.5 s start: the
decision comes from the loudness cache shared with ``export`` (instant when
warm), otherwise it is measured on a background thread while the plan's
leading silence plays (silence is the same at any gain).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from voicecoach.sound.decisions import LOSSLESS_DECISION, PLAY_DECISION

if TYPE_CHECKING:
    from voicecoach.language.plan import Plan
    from voicecoach.sound.palette import Palette
    from voicecoach.speech.engine import SpeechAudio

# an export's own decision first (then play sounds exactly like the file), else play's
PLAY_DECISION_ORDER = (LOSSLESS_DECISION, PLAY_DECISION)


class LiveGain:
    """The export's loudness decision (gain and limiter), known now or being measured.

    ``measure`` first looks in the loudness cache (``sound.normalise.cache_path``,
    shared with ``export``), else runs ``normalisation_gain_db`` on a
    background thread and stores the result there.
    """

    def __init__(self) -> None:
        self.gain_db: float | None = None
        self.limit = False
        self.error: BaseException | None = None
        self.cached = False
        self._done = threading.Event()

    @classmethod
    def known(cls, gain_db: float, limit: bool) -> LiveGain:
        self = cls()
        self._set(gain_db, limit)
        return self

    @classmethod
    def measure(
        cls, plan: Plan, speech: Callable[[str], SpeechAudio], palette: Palette
    ) -> LiveGain:
        """Start finding the gain on a background thread (importing the DSP stack takes a while too)."""
        self = cls()

        def work() -> None:
            try:
                from voicecoach.sound.decisions import cached_decision, update_cache
                from voicecoach.sound.normalise import cache_path, normalisation_gain_db

                path = cache_path(plan, palette)
                for name in PLAY_DECISION_ORDER:
                    cached = cached_decision(path, name)
                    if cached is not None:
                        self.cached = True
                        self._set(float(cached["gain_db"]), bool(cached["limiter"]))
                        return
                report = normalisation_gain_db(plan, speech, palette=palette)
            except BaseException as e:  # handed to the render thread, which reports it
                self.error = e
                self._done.set()
                return
            update_cache(
                path,
                decision=(PLAY_DECISION, {"gain_db": report.gain_db, "limiter": report.limiter}),
            )
            self._set(report.gain_db, report.limiter)

        threading.Thread(target=work, name="voicecoach-loudness", daemon=True).start()
        return self

    def _set(self, gain_db: float, limit: bool) -> None:
        self.gain_db = float(gain_db)
        self.limit = bool(limit)
        self._done.set()

    @property
    def ready(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout_s: float) -> bool:
        return self._done.wait(timeout_s)
