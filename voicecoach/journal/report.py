"""The journal shown: a sparkline for the terminal, a CSV file, an SVG picture (matplotlib)."""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Sequence
from datetime import datetime, timedelta

from voicecoach.errors import UsageError
from voicecoach.journal.entries import MAX_RATING, MIN_RATING, Practice, Trend

SPARKS = "▁▂▃▄▅▆▇█"
_SPAN = MAX_RATING - MIN_RATING  # a change runs from -4 to +4
_SINCE_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(h|d|w)", re.IGNORECASE)
_UNIT_S = {"h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, *, now: datetime) -> datetime:
    """``--since``: an age (``12h``, ``30d``, ``2w``) or a date (``2026-11-01``, local midnight)."""
    t = text.strip()
    m = _SINCE_RE.fullmatch(t)
    if m:
        return now - timedelta(seconds=float(m.group(1)) * _UNIT_S[m.group(2).lower()])
    try:
        day = datetime.fromisoformat(t)
    except ValueError:
        raise UsageError(
            f"--since needs an age like 30d, 2w or 12h, or a date like 2026-11-01 (not {text!r})"
        ) from None
    return day if day.tzinfo is not None else day.astimezone()


def relief_sparkline(trend: Trend) -> str:
    """One character per practice with both answers: how much freer the area felt after
    (``before - after``), on the same scale for every area (▁ 4 tighter ... █ 4 freer)."""
    return "".join(
        SPARKS[round((-c + _SPAN) / (2 * _SPAN) * (len(SPARKS) - 1))] for c in trend.changes()
    )


CSV_COLUMNS = (
    "started",
    "ended",
    "session",
    "title",
    "level",
    "minutes",
    "engine",
    "voice",
    "finished",
    "stopped_at_s",
    "stopped_section",
    "area",
    "before",
    "after",
)


def csv_text(practices: Sequence[Practice]) -> str:
    """One row per practice and area re-checked (one row with no area when none was)."""
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(CSV_COLUMNS)
    for p in practices:
        record = p.to_json()
        head = [record[k] for k in CSV_COLUMNS[:-3]]
        head = ["" if v is None else v for v in head]
        head[CSV_COLUMNS.index("finished")] = "yes" if p.finished else "no"
        for r in p.rechecks or [None]:
            tail = ["", "", ""] if r is None else [r.word, r.before or "", r.after or ""]
            out.writerow([*head, *tail])
    return buf.getvalue()


def svg_text(trends: Sequence[Trend]) -> str:
    """Each session and area re-checked: before and after over time (1 free at the bottom)."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    if not trends:
        raise UsageError("no re-check answers to draw yet")
    rows = len(trends)
    fig = Figure(figsize=(8, 1.0 + 2.2 * rows), layout="constrained")
    axes = fig.subplots(rows, 1, squeeze=False)[:, 0]
    for ax, trend in zip(axes, trends, strict=True):
        times = [p.started.astimezone() for p in trend.points]
        for which, marker, colour in (("before", "o", "#b45f06"), ("after", "s", "#2b6cb0")):
            pts = [
                (t, getattr(p, which))
                for t, p in zip(times, trend.points, strict=True)
                if getattr(p, which) is not None
            ]
            if pts:
                ax.plot(*zip(*pts, strict=True), marker=marker, color=colour, label=which)
        for t, p in zip(times, trend.points, strict=True):
            if p.before is not None and p.after is not None:
                ax.annotate(
                    "",
                    (t, p.after),
                    (t, p.before),
                    arrowprops={"arrowstyle": "->", "color": "#888"},
                )
        ax.set_ylim(MAX_RATING + 0.5, MIN_RATING - 0.5)
        ax.set_yticks(range(MIN_RATING, MAX_RATING + 1))
        ax.set_ylabel("1 free … 5 tight")
        ax.set_title(f"{trend.title}: {trend.word}", loc="left", fontsize=10)
        locator = AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


def write_atomically(path: str | os.PathLike, text: str, what: str) -> None:
    """Write ``text`` to ``path`` (temporary file, then rename; raises ExportError)."""
    from voicecoach.errors import ExportError
    from voicecoach.storage.atomic import atomic_write_text

    if not os.fspath(path):
        raise UsageError(f"no file name given for the {what}")
    if os.path.isdir(path):
        raise ExportError(f"{path} is a folder: give a file name for the {what}")
    atomic_write_text(path, text)
