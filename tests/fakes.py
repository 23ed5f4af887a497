"""Fakes for PURE compiler unit tests only (everything else uses the real engine)."""

from __future__ import annotations

from collections.abc import Iterable


class FakeSpeech:
    """Speech lengths proportional to text length: ``seconds_per_char`` each."""

    def __init__(self, seconds_per_char: float = 0.05, overrides: dict[str, float] | None = None):
        self.seconds_per_char = seconds_per_char
        self.overrides = overrides or {}
        self.prepared: list[str] = []

    def key(self, text: str) -> str:
        return "fake:" + text

    def prepare(self, texts: Iterable[str]) -> None:
        self.prepared.extend(texts)

    def duration_s(self, text: str) -> float:
        if text in self.overrides:
            return self.overrides[text]
        return max(0.1, len(text) * self.seconds_per_char)

    def duration_samples(self, text: str, sample_rate: int) -> int:
        return round(self.duration_s(text) * sample_rate)


class FakePalette:
    def __init__(self, ready_s: float = 0.5, tick_s: float = 0.12, bell_s: float = 6.0):
        self.lengths = {"ready": ready_s, "tick": tick_s, "bell": bell_s}

    def length_s(self, tone: str) -> float:
        return self.lengths[tone]
