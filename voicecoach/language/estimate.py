"""Plan lengths without waiting for synthesis: cached speech lengths, or an estimate.

``list`` and ``show`` must answer at once, also with an empty cache. A phrase
already in the speech cache has its real length (read from the entry's
header); a phrase not synthesised yet is estimated from its word count at the
script's rate, which the engines are calibrated to (``rate`` is words per
minute as heard). A plan compiled this way is marked as an estimate until
every phrase is cached.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from voicecoach.speech.pace import words
from voicecoach.units import seconds_to_samples

if TYPE_CHECKING:
    from voicecoach.speech import SpeechService

MIN_PHRASE_S = 0.35  # even "one" takes about this long


def estimated_speech_s(text: str, rate_wpm: int) -> float:
    """Seconds to say ``text`` at ``rate_wpm`` words per minute as heard."""
    return max(MIN_PHRASE_S, words(text) * 60.0 / rate_wpm)


class EstimatedSpeech:
    """The compiler's speech lengths from the cache where known, else estimated (never synthesises)."""

    def __init__(self, service: SpeechService) -> None:
        self.service = service
        self.estimated = 0  # phrases whose length is an estimate

    def key(self, text: str) -> str:
        return self.service.key(text)

    def prepare(self, texts: Iterable[str]) -> None:
        """Nothing to synthesise: that is the point."""

    def duration_samples(self, text: str, sample_rate: int) -> int:
        cache = self.service.cache
        info = cache.info(self.key(text)) if cache is not None else None
        if info is not None:
            return self.service.duration_samples(text, sample_rate)
        self.estimated += 1
        return seconds_to_samples(estimated_speech_s(text, self.service.rate_wpm), sample_rate)
