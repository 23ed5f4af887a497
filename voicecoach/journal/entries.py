"""What the journal holds, as plain frozen dataclasses (times are timezone-aware ``datetime``s)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

WHICH = ("before", "after")  # the first re-check of an area in a session, and a later one
MIN_RATING, MAX_RATING = 1, 5  # 1 free ... 5 very tight


@dataclass(frozen=True)
class Rating:
    """The answers to the re-checks of one area (``word``) in one practice: 1 free ... 5 very tight."""

    word: str
    before: int | None = None
    after: int | None = None

    @property
    def change(self) -> int | None:
        """``after - before`` (negative: the area feels freer after), None unless both were given."""
        if self.before is None or self.after is None:
            return None
        return self.after - self.before


@dataclass(frozen=True)
class Practice:
    """One play of a session, from its start to where it ended.

    ``session`` is a built-in session's name, or the absolute path of a script
    file. ``script_sha256`` is the SHA-256 of the script's text and every file
    it includes (so a changed script can be told apart). ``ended`` is None when
    the process died before it could say (then ``finished`` is False and
    nothing is known of where it stopped). ``stopped_at_s`` and
    ``stopped_section`` say where an unfinished play stopped, in session time.
    ``minutes`` is the dose asked for with ``--minutes`` (None: the level chose).
    """

    id: int
    session: str
    title: str
    script_sha256: str
    level: str
    engine: str
    voice: str | None
    started: datetime
    ended: datetime | None
    finished: bool
    stopped_at_s: float | None = None
    stopped_section: str | None = None
    minutes: float | None = None
    rechecks: tuple[Rating, ...] = ()

    @property
    def duration_s(self) -> float | None:
        """Wall-clock seconds from start to end (pauses included), None when the end is unknown."""
        if self.ended is None:
            return None
        return max(0.0, (self.ended - self.started).total_seconds())

    def rating(self, word: str) -> Rating | None:
        return next((r for r in self.rechecks if r.word == word), None)

    def to_json(self) -> dict:
        """The ``history --json`` record: times in ISO 8601 with the local UTC offset."""
        return {
            "session": self.session,
            "title": self.title,
            "level": self.level,
            "minutes": self.minutes,
            "engine": self.engine,
            "voice": self.voice,
            "script_sha256": self.script_sha256,
            "started": _iso(self.started),
            "ended": None if self.ended is None else _iso(self.ended),
            "finished": self.finished,
            "stopped_at_s": self.stopped_at_s,
            "stopped_section": self.stopped_section,
            "rechecks": {r.word: {"before": r.before, "after": r.after} for r in self.rechecks},
        }


def _iso(t: datetime) -> str:
    return t.astimezone().isoformat(timespec="seconds")


@dataclass(frozen=True)
class Stats:
    """``practices`` counted; ``minutes_this_week`` of practice since Monday 00:00 (local time);
    ``streak_days``: days in a row, up to today, with at least one practice (a day without one
    yet today does not break it)."""

    practices: int
    minutes_this_week: float
    streak_days: int


@dataclass(frozen=True)
class TrendPoint:
    started: datetime
    before: int | None
    after: int | None

    @property
    def change(self) -> int | None:
        return None if self.before is None or self.after is None else self.after - self.before


@dataclass(frozen=True)
class Trend:
    """The re-checks of one area of one session over time, oldest first."""

    session: str
    title: str
    word: str
    points: tuple[TrendPoint, ...]

    def changes(self) -> tuple[int, ...]:
        """The before-to-after changes of the practices that have both (negative: freer after)."""
        return tuple(p.change for p in self.points if p.change is not None)
