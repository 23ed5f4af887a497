"""What a published site holds: sessions, each at some levels or doses (episodes), as plain
frozen data.

The manifest (``publish-manifest.json`` in the site) is these objects as JSON, with the key
of every episode's inputs, so the next publish knows what it may keep.
"""

from __future__ import annotations

from dataclasses import dataclass

from voicecoach.export.tags import Chapter

MANIFEST_NAME = "publish-manifest.json"
MANIFEST_VERSION = 1

MIME_TYPES = {"mp3": "audio/mpeg", "opus": "audio/ogg", "m4a": "audio/x-m4a"}


def dose_id(minutes: float) -> str:
    """A dose's id in guids, file names and the manifest: 15 -> ``"15min"``, 12.5 -> ``"12.5min"``."""
    return f"{minutes:g}min"


def dose_label(minutes: float) -> str:
    """A dose as the page and the feed name it: ``"15 min"``."""
    return f"{minutes:g} min"


@dataclass(frozen=True)
class Episode:
    """One session at one level, or at one dose (``--minutes``): its files (paths relative to
    the site) and what the feed says."""

    name: str  # the session's name (its script's file name without .md)
    level: str  # gentle, standard or deep; for a dose its id (``dose_id``), like "15min"
    key: str  # hash of everything the files were made from (see ``site.episode_key``)
    audio: str
    audio_bytes: int
    mime: str
    duration_s: float
    transcript: str
    chapters_json: str
    timeline: str  # "" except at the level the page shows first (one picture per session)
    chapters: tuple[Chapter, ...]
    published: str  # ISO 8601, UTC: when these files were made
    minutes: float | None = None  # a dose: every range resolved so it lasts this long

    @property
    def label(self) -> str:
        """What the page's switch and the feed call it: ``"standard"`` or ``"15 min"``."""
        return self.level if self.minutes is None else dose_label(self.minutes)

    @property
    def files(self) -> tuple[str, ...]:
        files = (self.audio, self.transcript, self.chapters_json, self.timeline)
        return tuple(f for f in files if f)

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "level": self.level,
            "key": self.key,
            "audio": self.audio,
            "audio_bytes": self.audio_bytes,
            "mime": self.mime,
            "duration_s": self.duration_s,
            "transcript": self.transcript,
            "chapters_json": self.chapters_json,
            "timeline": self.timeline,
            "chapters": [[c.title, c.start_ms, c.end_ms] for c in self.chapters],
            "published": self.published,
            "minutes": self.minutes,
        }

    @classmethod
    def from_json(cls, d: dict) -> Episode:
        chapters = tuple(Chapter(str(t), int(s), int(e)) for t, s, e in d["chapters"])
        return cls(
            name=str(d["name"]),
            level=str(d["level"]),
            key=str(d["key"]),
            audio=str(d["audio"]),
            audio_bytes=int(d["audio_bytes"]),
            mime=str(d["mime"]),
            duration_s=float(d["duration_s"]),
            transcript=str(d["transcript"]),
            chapters_json=str(d["chapters_json"]),
            timeline=str(d.get("timeline") or ""),
            chapters=chapters,
            published=str(d["published"]),
            minutes=None if d.get("minutes") is None else float(d["minutes"]),
        )


def first_shown(episodes: tuple[Episode, ...] | list[Episode]) -> Episode:
    """The episode a session's page shows first: standard, else the first level published,
    else the shortest dose."""
    return next((e for e in episodes if e.level == "standard"), episodes[0])


@dataclass(frozen=True)
class SessionEntry:
    """A session as the page and the feed show it, with its episodes in level order, then its
    doses from the shortest."""

    name: str
    title: str
    teacher: str | None
    description: str | None
    equipment: str | None
    muscles: str | None
    episodes: tuple[Episode, ...]


@dataclass(frozen=True)
class SiteInfo:
    """The whole class: its title, where it will be served, its sessions."""

    title: str
    base_url: str | None  # absolute, ending in "/"; None: the feed's links are relative
    format: str
    sessions: tuple[SessionEntry, ...]
    teacher: str | None = None
    cover: str = "cover.png"
    icon: str = "icon.png"

    @property
    def episodes(self) -> tuple[Episode, ...]:
        return tuple(e for s in self.sessions for e in s.episodes)

    def url(self, relative: str) -> str:
        """A file's URL: absolute under ``base_url``, else relative to the site."""
        from urllib.parse import quote

        path = quote(relative)
        return (self.base_url or "") + path
