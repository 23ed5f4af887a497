"""Podcasting 2.0 JSON chapters: the same chapters, to the millisecond, as the ID3 CHAP frames.

Both come from ``voicecoach.export.tags.tags_for(plan)``: one chapter per section, times in whole
milliseconds. The JSON gives seconds with three decimals, which are exactly those
milliseconds (``start_ms / 1000``).
"""

from __future__ import annotations

import json

from voicecoach.export.tags import Chapter

CHAPTERS_MIME = "application/json+chapters"
CHAPTERS_VERSION = "1.2.0"


def chapters_document(chapters: tuple[Chapter, ...], *, title: str | None = None) -> dict:
    """The JSON chapters document (https://github.com/Podcastindex-org/podcast-namespace)."""
    doc: dict = {"version": CHAPTERS_VERSION}
    if title:
        doc["title"] = title
    doc["chapters"] = [
        {"startTime": c.start_ms / 1000, "endTime": c.end_ms / 1000, "title": c.title}
        for c in chapters
    ]
    return doc


def chapters_json(chapters: tuple[Chapter, ...], *, title: str | None = None) -> str:
    return json.dumps(chapters_document(chapters, title=title), indent=1, ensure_ascii=False) + "\n"
