"""What ``history`` tells from the practices: counts, minutes this week, streak, trends.

Pure functions of the practices and ``now`` (local calendar days and weeks).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from voicecoach.journal.entries import Practice, Stats, Trend, TrendPoint


def stats(practices: Sequence[Practice], *, now: datetime) -> Stats:
    """Practices counted, minutes of practice since Monday 00:00, days in a row practised."""
    local_now = now.astimezone()
    monday = (local_now - timedelta(days=local_now.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    minutes = (
        sum((p.duration_s or 0.0) for p in practices if p.started.astimezone() >= monday) / 60.0
    )
    days = {p.started.astimezone().date() for p in practices}
    day = local_now.date()
    if day not in days:  # not yet today: the streak up to yesterday still counts
        day -= timedelta(days=1)
    streak = 0
    while day in days:
        streak += 1
        day -= timedelta(days=1)
    return Stats(practices=len(practices), minutes_this_week=minutes, streak_days=streak)


def trends(practices: Sequence[Practice]) -> tuple[Trend, ...]:
    """Per session and area, the re-check answers over time (oldest first), sessions by name."""
    points: dict[tuple[str, str], list[TrendPoint]] = {}
    titles: dict[str, str] = {}
    for p in sorted(practices, key=lambda p: (p.started, p.id)):
        titles[p.session] = p.title  # the latest title
        for r in p.rechecks:
            points.setdefault((p.session, r.word), []).append(
                TrendPoint(p.started, r.before, r.after)
            )
    return tuple(
        Trend(session, titles[session], word, tuple(pts))
        for (session, word), pts in sorted(points.items())
    )
