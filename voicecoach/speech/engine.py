"""The speech engine interface, and the audio it returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:  # numpy only for the annotation: a warm `plan` never imports numpy
    import numpy as np


@dataclass(frozen=True)
class SpeechAudio:
    """One utterance: mono float32 samples in -1..1, silence trimmed at both ends."""

    samples: np.ndarray
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate

    def duration_samples_at(self, sample_rate: int) -> int:
        """Length after resampling to ``sample_rate`` (what the plan uses)."""
        return int(round(len(self.samples) * sample_rate / self.sample_rate))


@dataclass(frozen=True)
class VoiceInfo:
    engine: str
    id: str
    name: str
    languages: tuple[str, ...] = ()
    default: bool = False


class SpeechEngine(Protocol):
    """What every engine (``system``, ``piper``) provides.

    ``identity`` goes into the speech-cache key: it must change whenever the
    same text could sound different (engine version, model file...).
    ``parallelism`` is how many utterances it may synthesise at once (its
    worker processes); ``SpeechService.prepare`` uses that many for a batch.
    ``slow`` says synthesis is the long part of an export (piper: seconds for
    a session's phrases), so the export writes while it synthesises; a fast
    engine (eSpeak NG: about a second for 30 minutes of speech) synthesises
    first, and the export then renders in two processes.
    """

    name: str
    parallelism: int
    slow: bool

    def identity(self) -> str: ...

    def voices(self) -> list[VoiceInfo]: ...

    def synthesize(self, text: str, *, voice: str | None, rate_wpm: int) -> SpeechAudio: ...

    def close(self) -> None: ...


@runtime_checkable
class PerVoiceIdentity(Protocol):
    """An engine whose voices are separate models (``piper``): each voice has its own identity.

    ``voice_identity(voice)`` then goes into the speech-cache key instead of
    ``identity()``, so replacing one voice's model does not re-key the others.
    """

    def voice_identity(self, voice: str | None) -> str: ...
