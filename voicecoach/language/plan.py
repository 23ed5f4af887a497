"""The compiled plan: every cue at an exact integer sample.

A ``Plan`` is immutable and complete before a sample is played (time rule 5).
``to_json`` gives the spec's timeline schema; seconds appear only there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from voicecoach.language.script import Settings
from voicecoach.units import format_clock, samples_to_seconds

TONE_NAMES = ("inhale", "exhale", "ready", "tick", "bell", "stroke")  # what ``Event.tone`` names


@dataclass(frozen=True)
class Event:
    """One span of the plan, ``[start_sample, end_sample)``.

    kind: ``speech``, ``tone``, or a directive name for the span it covers.
    speech: ``text`` is what is said, ``speech_key`` finds its audio in the
      speech cache; ``truncated`` when it was cut to avoid overlapping later
      speech (the renderer fades it out at ``end_sample``).
    tone: ``tone`` names the sound; ``pan`` is -1 (left) .. +1 (right);
      ``variant`` refines it (``up``/``down`` for strokes, ``soft`` ...).
    """

    kind: str
    start_sample: int
    end_sample: int
    line: int
    file: str = ""
    text: str = ""
    speech_key: str = ""
    tone: str = ""
    pan: float = 0.0
    variant: str = ""
    truncated: bool = False
    col: int = 1

    @property
    def duration_samples(self) -> int:
        return self.end_sample - self.start_sample


@dataclass(frozen=True)
class Section:
    title: str
    start_sample: int
    end_sample: int
    line: int
    file: str = ""
    level: int = 1
    side: str | None = None


@dataclass(frozen=True)
class Plan:
    title: str
    sample_rate: int
    duration_samples: int
    sections: tuple[Section, ...]
    events: tuple[Event, ...]  # sorted by (start_sample, end_sample)
    settings: Settings
    engine: str = ""
    voice: str | None = None
    warnings: tuple = field(default=())  # tuple[Diagnostic, ...]
    source: str = ""

    def __repr__(self) -> str:
        return (
            f"<Plan {self.title!r} {format_clock(self.duration_s)}, {len(self.sections)} sections, "
            f"{len(self.events)} events at {self.sample_rate} Hz, level {self.settings.level}>"
        )

    @property
    def duration_s(self) -> float:
        return samples_to_seconds(self.duration_samples, self.sample_rate)

    def speech_events(self) -> tuple[Event, ...]:
        return tuple(e for e in self.events if e.kind == "speech")

    def tone_events(self) -> tuple[Event, ...]:
        return tuple(e for e in self.events if e.kind == "tone")

    def to_json(self) -> dict:
        sr = self.sample_rate

        def t(samples: int) -> float:
            return samples_to_seconds(samples, sr)

        events = []
        for e in self.events:
            d = {
                "kind": e.kind,
                "start_s": t(e.start_sample),
                "end_s": t(e.end_sample),
                "line": e.line,
            }
            if e.kind == "speech":
                d["text"] = e.text
            if e.kind == "tone":
                d["tone"] = e.tone
            events.append(d)
        return {
            "title": self.title,
            "duration_s": t(self.duration_samples),
            "sample_rate": sr,
            "sections": [
                {"title": s.title, "start_s": t(s.start_sample), "line": s.line}
                for s in self.sections
            ],
            "events": events,
            "warnings": [
                {"line": w.line, "col": w.col, "message": w.message} for w in self.warnings
            ],
        }
