"""The file sink: a plan rendered, normalised and written atomically as an audio file, with
tags, chapters, captions, and the plan's timeline picture.

Modules: ``formats`` (which formats, and the format a path names), ``writer``
(the orchestration: measure, decide the gain, write, check, commit),
``encoder`` (libsndfile's side), ``tags`` and ``captions`` (what goes with
the audio), ``timeline`` (the plan as SVG). The second process that meters and
writes is ``sound.offload``; several scripts at once, ``voicecoach.batch``.

Importing this package imports none of them (no numpy, no soundfile): the
names below load their module on first use, like ``voicecoach.speech``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from voicecoach._lazy import lazy_exports

_EXPORTS = {
    "FORMATS": "voicecoach.export.formats",
    "LOSSY_FORMATS": "voicecoach.export.formats",
    "OPUS_SAMPLE_RATE": "voicecoach.export.formats",
    "OPUS_SAMPLE_RATES": "voicecoach.export.formats",
    "format_for": "voicecoach.export.formats",
    "names_audio_file": "voicecoach.export.formats",
    "ExportResult": "voicecoach.export.writer",
    "export_plan": "voicecoach.export.writer",
    "Chapter": "voicecoach.export.tags",
    "Tags": "voicecoach.export.tags",
    "tags_for": "voicecoach.export.tags",
    "write_tags": "voicecoach.export.tags",
    "captions_path_for": "voicecoach.export.captions",
    "webvtt_text": "voicecoach.export.captions",
    "svg_text": "voicecoach.export.timeline",
    "write_svg": "voicecoach.export.timeline",
}

__all__ = [
    "FORMATS",
    "LOSSY_FORMATS",
    "OPUS_SAMPLE_RATE",
    "OPUS_SAMPLE_RATES",
    "Chapter",
    "ExportResult",
    "Tags",
    "captions_path_for",
    "export_plan",
    "format_for",
    "names_audio_file",
    "svg_text",
    "tags_for",
    "webvtt_text",
    "write_svg",
    "write_tags",
]

if TYPE_CHECKING:
    from voicecoach.export.captions import captions_path_for, webvtt_text
    from voicecoach.export.formats import (
        FORMATS,
        LOSSY_FORMATS,
        OPUS_SAMPLE_RATE,
        OPUS_SAMPLE_RATES,
        format_for,
        names_audio_file,
    )
    from voicecoach.export.tags import Chapter, Tags, tags_for, write_tags
    from voicecoach.export.timeline import svg_text, write_svg
    from voicecoach.export.writer import ExportResult, export_plan


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
