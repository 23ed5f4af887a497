"""``feed.xml``: RSS 2.0 with the iTunes and Podcasting 2.0 namespaces, one item per episode.

Apple's required tags are all there (channel: title, description, language, itunes:image,
itunes:category, itunes:explicit; item: title, enclosure with its exact length in bytes and
its type), and the ones podcast apps use to show more: a stable guid per session and level or
dose (so an edited session replaces its episode instead of adding one), pubDate, itunes:duration,
podcast:transcript (WebVTT) and podcast:chapters (JSON). ElementTree escapes the text.
"""

from __future__ import annotations

import html
import uuid
import xml.etree.ElementTree as ET
from datetime import datetime
from email.utils import format_datetime

from voicecoach import __version__
from voicecoach.publish.chapters import CHAPTERS_MIME
from voicecoach.publish.model import Episode, SessionEntry, SiteInfo
from voicecoach.units import format_clock

ITUNES = "http://www.itunes.com/dtds/podcast-1.0.dtd"
PODCAST = "https://podcastindex.org/namespace/1.0"
ATOM = "http://www.w3.org/2005/Atom"
# podcast:guid is a UUIDv5 of the feed's URL (without its scheme) in this namespace
_PODCAST_GUID_NAMESPACE = uuid.UUID("ead4c236-bf58-58c6-a2c6-a6b28d128cb6")

FEED_NAME = "feed.xml"
PAGE_NAME = "index.html"


def episode_guid(e: Episode) -> str:
    """Stable across publishes: the session's name and level (or dose, like ``15min``), never
    a time."""
    return f"voicecoach:{e.name}:{e.level}"


def itunes_duration(duration_s: float) -> str:
    """``H:MM:SS`` (whole seconds, rounded), as Apple reads it."""
    total = round(duration_s)
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}"


def episode_title(session: SessionEntry, e: Episode, several_levels: bool) -> str:
    """The session's title, with the level and length when there are several; a dose always
    says its length (the teacher asked for it)."""
    if e.minutes is not None:
        return f"{session.title} ({e.label})"
    if not several_levels:
        return session.title
    return f"{session.title} ({e.level}, {format_clock(e.duration_s)})"


def _text(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrs)
    if text is not None:
        el.text = text
    return el


def feed_xml(site: SiteInfo) -> bytes:
    """The whole feed document, UTF-8 with its XML declaration."""
    ET.register_namespace("itunes", ITUNES)
    ET.register_namespace("podcast", PODCAST)
    ET.register_namespace("atom", ATOM)
    it = f"{{{ITUNES}}}"
    pc = f"{{{PODCAST}}}"
    rss = ET.Element("rss", {"version": "2.0"})
    ch = ET.SubElement(rss, "channel")
    _text(ch, "title", site.title)
    _text(ch, "link", site.url(PAGE_NAME))
    teacher = site.teacher or "voicecoach"
    about = (
        f"Guided bodywork sessions by voice, for practice with your eyes closed, by {teacher}: "
        + "; ".join(s.title for s in site.sessions)
        + "."
    )
    _text(ch, "description", html.escape(about, quote=False))
    _text(ch, "language", "en")
    _text(ch, "generator", f"voicecoach {__version__}")
    if site.base_url:
        ET.SubElement(
            ch,
            f"{{{ATOM}}}link",
            {"href": site.url(FEED_NAME), "rel": "self", "type": "application/rss+xml"},
        )
        without_scheme = site.url(FEED_NAME).split("://", 1)[-1].rstrip("/")
        _text(ch, f"{pc}guid", str(uuid.uuid5(_PODCAST_GUID_NAMESPACE, without_scheme)))
    _text(ch, f"{it}author", teacher)
    _text(ch, f"{it}summary", about)
    ET.SubElement(ch, f"{it}image", {"href": site.url(site.cover)})
    image = ET.SubElement(ch, "image")
    _text(image, "url", site.url(site.cover))
    _text(image, "title", site.title)
    _text(image, "link", site.url(PAGE_NAME))
    category = ET.SubElement(ch, f"{it}category", {"text": "Health & Fitness"})
    ET.SubElement(category, f"{it}category", {"text": "Fitness"})
    _text(ch, f"{it}explicit", "false")
    _text(ch, f"{it}type", "episodic")
    _text(ch, f"{pc}medium", "podcast")
    latest = max((e.published for e in site.episodes), default=None)
    if latest:
        _text(ch, "lastBuildDate", _rfc2822(latest))

    for session in site.sessions:
        several = len(session.episodes) > 1
        for e in session.episodes:
            item = ET.SubElement(ch, "item")
            title = episode_title(session, e, several)
            _text(item, "title", title)
            _text(item, f"{it}title", title)
            # apps read a description as HTML: the text is escaped as HTML, then as XML
            _text(item, "description", html.escape(_episode_description(session, e), quote=False))
            _text(item, "link", site.url(PAGE_NAME) + f"#{session.name}")
            _text(item, "guid", episode_guid(e), isPermaLink="false")
            _text(item, "pubDate", _rfc2822(e.published))
            ET.SubElement(
                item,
                "enclosure",
                {"url": site.url(e.audio), "length": str(e.audio_bytes), "type": e.mime},
            )
            _text(item, f"{it}duration", itunes_duration(e.duration_s))
            ET.SubElement(item, f"{it}image", {"href": site.url(site.cover)})
            _text(item, f"{it}explicit", "false")
            _text(item, f"{it}episodeType", "full")
            if session.teacher:
                _text(item, f"{it}author", session.teacher)
            ET.SubElement(
                item,
                f"{pc}transcript",
                {"url": site.url(e.transcript), "type": "text/vtt", "language": "en"},
            )
            ET.SubElement(
                item, f"{pc}chapters", {"url": site.url(e.chapters_json), "type": CHAPTERS_MIME}
            )
    ET.indent(rss, space=" ")
    return ET.tostring(rss, encoding="utf-8", xml_declaration=True) + b"\n"


def _episode_description(session: SessionEntry, e: Episode) -> str:
    parts = []
    if session.description:
        parts.append(session.description)
    if session.equipment:
        parts.append(f"Equipment: {session.equipment}.")
    if e.minutes is None:
        parts.append(f"Level: {e.level}, {format_clock(e.duration_s)}.")
    else:
        parts.append(
            f"Length: {e.minutes:g} minute{'s' * (e.minutes != 1)} "
            f"({format_clock(e.duration_s)}), every hold and pause set to fit."
        )
    if e.chapters:
        parts.append("Chapters: " + "; ".join(c.title for c in e.chapters) + ".")
    return " ".join(parts)


def _rfc2822(iso: str) -> str:
    return format_datetime(datetime.fromisoformat(iso), usegmt=True)
