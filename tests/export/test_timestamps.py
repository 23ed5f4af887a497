"""One time stamp for captions and chapters: ``units.samples_to_ms`` and ``units.format_timestamp_ms``."""

from __future__ import annotations

from voicecoach.export.captions import webvtt_text
from voicecoach.export.tags import tags_for, vorbis_comments
from voicecoach.language.plan import Event, Plan, Section
from voicecoach.language.script import Settings
from voicecoach.units import format_timestamp_ms, samples_to_ms


def test_samples_to_ms_rounds_half_up_exactly():
    assert samples_to_ms(22, 44_100) == 0  # 0.4989 ms
    assert samples_to_ms(23, 44_100) == 1  # 0.5215 ms
    assert samples_to_ms(24, 48_000) == 1  # exactly 0.5 ms: up
    assert samples_to_ms(10 * 3600 * 44_100 + 44, 44_100) == 36_000_001  # ten hours, no float


def test_format_timestamp_ms():
    assert format_timestamp_ms(0) == "00:00:00.000"
    assert format_timestamp_ms(3_723_004) == "01:02:03.004"
    assert format_timestamp_ms(100 * 3_600_000) == "100:00:00.000"


def test_captions_and_chapters_stamp_the_same_sample_alike():
    sr = 44_100
    start = 61 * sr + 23  # 1:01.000522 -> .001
    events = (Event("speech", start, start + sr, 1, text="hello", speech_key="k"),)
    sections = (Section("One", start, start + sr, 1),)
    plan = Plan(
        title="T",
        settings=Settings(title="T"),
        sample_rate=sr,
        events=events,
        sections=sections,
        duration_samples=start + sr,
    )
    assert "00:01:01.001 --> 00:01:02.001" in webvtt_text(plan)
    assert ("CHAPTER001", "00:01:01.001") in vorbis_comments(tags_for(plan))
