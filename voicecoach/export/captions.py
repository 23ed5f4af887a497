"""WebVTT captions: one cue per spoken phrase, at the plan's exact times."""

from __future__ import annotations

import os
from pathlib import Path

from voicecoach.units import format_timestamp_ms, samples_to_ms


def vtt_timestamp(samples: int, sample_rate: int) -> str:
    """``HH:MM:SS.mmm`` for a sample position (milliseconds rounded half up)."""
    return format_timestamp_ms(samples_to_ms(samples, sample_rate))


def _cue_text(text: str) -> str:
    """Cue payload: escaped as WebVTT requires, on one line, never containing ``-->``."""
    text = " ".join(text.split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text


def webvtt_text(plan) -> str:
    """The whole WebVTT document for a plan's speech events."""
    sr = plan.sample_rate
    lines = ["WEBVTT", ""]
    if plan.title:
        lines[0] = "WEBVTT - " + " ".join(plan.title.replace("-->", "->").split())
    for number, event in enumerate(plan.speech_events(), start=1):
        end = max(event.end_sample, event.start_sample + 1)
        lines += [
            str(number),
            f"{vtt_timestamp(event.start_sample, sr)} --> {vtt_timestamp(end, sr)}",
            _cue_text(event.text),
            "",
        ]
    return "\n".join(lines)


def captions_path_for(audio_path: str | os.PathLike) -> Path:
    """The captions file beside an audio file: same stem, ``.vtt``."""
    return Path(audio_path).with_suffix(".vtt")
