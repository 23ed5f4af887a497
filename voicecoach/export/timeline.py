"""The plan as a picture: sections, one lane per kind of cue, a time axis in m:ss.

``draw(plan)`` returns a matplotlib ``Figure``; ``svg_text(plan)`` the SVG of it and
``write_svg(plan, path)`` writes that atomically. The same plan always gives the same
bytes: a fixed hash salt for the SVG's ids, no date in its metadata, and the fonts
matplotlib ships. matplotlib is imported here only, so ``voicecoach plan`` without
``--svg`` never pays for it.

Every mark that stands for one event carries an SVG id (its ``gid``) naming its lane's
mark and a running number, e.g. ``bell-0``, ``wipers-tick-11``, ``hold-count-4``.
"""

from __future__ import annotations

import io
import os
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING

from voicecoach.language.plan import Event, Plan
from voicecoach.units import format_clock, samples_to_seconds

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# Lanes from top to bottom; "recheck" and "other" appear only when the plan has them.
LANES = ("speech", "breath", "hold", "wipers", "roll", "place", "pause", "recheck", "bell", "other")
_ALWAYS_SHOWN = frozenset(LANES) - {"recheck", "other"}
# Where a tone is drawn (others go to "other"), and the lane of each directive's span.
_TONE_LANE = {
    "inhale": "breath",
    "exhale": "breath",
    "tick": "wipers",
    "stroke": "roll",
    "ready": "place",
    "bell": "bell",
}
_SPAN_LANE = {
    "breathe": "breath",
    "hold": "hold",
    "wipers": "wipers",
    "roll": "roll",
    "place": "place",
    "pause": "pause",
    "recheck": "recheck",
    "bell": "bell",
}

_COLOURS = {
    "speech": "#3b4a6b",
    "inhale": "#2a9d8f",
    "exhale": "#e07a3f",
    "breath-span": "#d8eeeb",
    "hold": "#b9a6d9",
    "count": "#3d2466",
    "wipers": "#e9dcc3",
    "tick": "#8a5a00",
    "roll": "#dbe7c5",
    "stroke": "#4f7a1d",
    "place": "#f3d9a4",
    "ready": "#b5651d",
    "pause": "#dcdcdc",
    "recheck": "#f2b8c6",
    "bell": "#c9a227",
    "other": "#9aa5b1",
    "section-a": "#f4f6fa",
    "section-b": "#e6ebf3",
    "text": "#222222",
    "muted": "#555555",
}

_SALT = "voicecoach-timeline"  # fixed: ids in the SVG are hashed with it
_FONT_PT = 11.0
_LANE_HEIGHT = 0.72  # of a lane's unit of height
_TITLE_LINES = 3  # a section title wraps to at most this many lines above its band


@dataclass(frozen=True)
class _Scale:
    """The figure's size, chosen from the session's length."""

    width_in: float
    seconds_per_major_tick: int
    seconds_per_minor_tick: int


def _scale(duration_s: float) -> _Scale:
    minutes = duration_s / 60
    width_in = min(22.0, max(12.0, 8.0 + 0.3 * minutes))
    if minutes <= 3:
        return _Scale(width_in, 15, 5)
    if minutes <= 8:
        return _Scale(width_in, 60, 15)
    if minutes <= 25:
        return _Scale(width_in, 60, 30)
    if minutes <= 50:
        return _Scale(width_in, 120, 60)
    return _Scale(width_in, 300, 60)


def _rc() -> dict:
    """Settings over matplotlib's defaults that make the picture readable and its SVG reproducible."""
    return {
        "svg.hashsalt": _SALT,
        "svg.fonttype": "none",  # text stays text: searchable, selectable, small
        "font.family": "sans-serif",
        "font.sans-serif": ["DejaVu Sans"],  # shipped with matplotlib: the same layout anywhere
        "font.size": _FONT_PT,
        "axes.edgecolor": "#888888",
        "axes.linewidth": 0.8,
        "xtick.color": _COLOURS["muted"],
        "ytick.color": _COLOURS["text"],
        "path.simplify": False,
    }


def _style():
    """matplotlib's default style plus ``_rc()``, whatever a matplotlibrc or the caller set."""
    import matplotlib.style

    return matplotlib.style.context(["default", _rc()])


def svg_text(plan: Plan) -> str:
    """The timeline of ``plan`` as SVG text (the same plan gives the same text)."""
    with _style():
        fig = draw(plan)
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Title": plan.title})
    return buf.getvalue()


def write_svg(plan: Plan, path: str | os.PathLike) -> None:
    """Write the timeline of ``plan`` to ``path`` as SVG, atomically (raises ExportError)."""
    from voicecoach.errors import ExportError, UsageError
    from voicecoach.storage.atomic import atomic_write_text

    if not os.fspath(path):
        raise UsageError("no file name given for the timeline picture")
    if os.path.isdir(path):
        raise ExportError(
            f"{path} is a folder: give a file name for the picture, like timeline.svg"
        )
    atomic_write_text(path, svg_text(plan))


def draw(plan: Plan) -> Figure:
    """A matplotlib ``Figure`` of ``plan``, not attached to pyplot (so no display).

    Draw and save inside ``_style()`` as ``svg_text`` does, for the same look everywhere.
    """
    from matplotlib.figure import Figure

    sr = plan.sample_rate
    duration_s = max(samples_to_seconds(plan.duration_samples, sr), 1.0)
    lanes = _lanes_used(plan)
    scale = _scale(duration_s)
    left_in, right_in = 0.95, 0.25
    plot_width_in = scale.width_in - left_in - right_in
    labels = _section_labels(plan, duration_s, plot_width_in)
    key_lines = _key_lines(labels, scale.width_in - left_in - right_in)

    lane_in = 0.42
    title_in = 0.25 + 0.2 * _TITLE_LINES
    head_in = 0.55
    key_in = 0.22 * len(key_lines)
    foot_in = 0.95 + key_in
    fig_h = head_in + title_in + lane_in * len(lanes) + foot_in
    fig = Figure(figsize=(scale.width_in, fig_h), layout=None)
    plot_left, plot_width = left_in / scale.width_in, plot_width_in / scale.width_in
    ax = fig.add_axes((plot_left, foot_in / fig_h, plot_width, lane_in * len(lanes) / fig_h))
    title_ax = fig.add_axes(
        (plot_left, (foot_in + lane_in * len(lanes)) / fig_h, plot_width, title_in / fig_h),
        sharex=ax,
    )
    title_ax.set_axis_off()
    title_ax.set_ylim(0, 1)

    ax.set_xlim(0, duration_s * 1.005)
    ax.set_ylim(len(lanes) - 0.5, -0.5)  # first lane on top
    ax.set_yticks(range(len(lanes)), lanes)
    ax.tick_params(axis="y", length=0, pad=8)
    for spine in ("top", "right", "left"):
        ax.spines[spine].set_visible(False)
    _time_axis(ax, scale)

    row = {name: i for i, name in enumerate(lanes)}
    _sections(ax, title_ax, labels, duration_s / plot_width_in)
    _events(ax, plan, row, duration_s / plot_width_in)

    level = plan.settings.level
    engine = f", engine {plan.engine}" if plan.engine else ""
    fig.text(
        left_in / scale.width_in,
        1 - 0.2 / fig_h,
        plan.title,
        fontsize=_FONT_PT + 4,
        fontweight="bold",
        va="top",
        color=_COLOURS["text"],
    )
    fig.text(
        1 - right_in / scale.width_in,
        1 - 0.24 / fig_h,
        f"{format_clock(duration_s)} at level {level}{engine}",
        ha="right",
        va="top",
        color=_COLOURS["muted"],
    )
    _legend(fig, fig_h, (0.02 + key_in) / fig_h)
    for i, line in enumerate(key_lines):
        fig.text(
            plot_left,
            (0.06 + 0.22 * (len(key_lines) - 1 - i)) / fig_h,
            line,
            color=_COLOURS["text"],
            fontsize=_FONT_PT - 1,
            gid=f"section-key-{i}",
        )
    return fig


# ---- pieces ----------------------------------------------------------------------


def _lane_of(e: Event) -> str:
    if e.kind == "speech":
        return "speech"
    if e.kind == "tone":
        return _TONE_LANE.get(e.tone, "other")
    return _SPAN_LANE.get(e.kind, "other")


def _lanes_used(plan: Plan) -> list[str]:
    used = {_lane_of(e) for e in plan.events}
    return [name for name in LANES if name in _ALWAYS_SHOWN or name in used]


def _time_axis(ax: Axes, scale: _Scale) -> None:
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    ax.xaxis.set_major_locator(MultipleLocator(scale.seconds_per_major_tick))
    ax.xaxis.set_minor_locator(MultipleLocator(scale.seconds_per_minor_tick))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: format_clock(max(x, 0.0))))
    ax.set_axisbelow(True)  # grid lines under the marks, over the section bands
    ax.grid(axis="x", which="major", color="#ffffff", linewidth=1.0)
    ax.set_xlabel("time (m:ss)", color=_COLOURS["muted"])


@dataclass(frozen=True)
class _SectionLabel:
    """A section's band, the words written above it, and whether the key under the picture names it."""

    number: int
    title: str
    start_s: float
    end_s: float
    text: str
    font_pt: float
    in_key: bool


def _chars(width_in: float, font_pt: float) -> int:
    """About how many characters of DejaVu Sans (0.58 em on average) fit in ``width_in``."""
    return int(width_in * 72 / (font_pt * 0.58))


def _text_width_in(text: str, font_pt: float, bold: bool = False) -> float:
    """The width of one line of ``text`` in DejaVu Sans, measured from its glyphs."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    props = FontProperties(family="DejaVu Sans", size=font_pt, weight="bold" if bold else "normal")
    width_pt, _h, _d = TextToPath().get_text_width_height_descent(text, props, ismath=False)
    return width_pt / 72


def _wrap(text: str, width_in: float, font_pt: float) -> list[str] | None:
    """``text`` in lines no wider than ``width_in``, breaking at spaces; None if a word is wider."""
    lines: list[str] = []
    for word in text.split():
        if _text_width_in(word, font_pt) > width_in:
            return None
        if lines and _text_width_in(f"{lines[-1]} {word}", font_pt) <= width_in:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


def _section_labels(plan: Plan, duration_s: float, width_in: float) -> list[_SectionLabel]:
    """Each title wrapped to its band; a band too narrow for its words shows its number instead."""
    sr = plan.sample_rate
    out = []
    for i, s in enumerate(plan.sections):
        x0 = samples_to_seconds(s.start_sample, sr)
        x1 = samples_to_seconds(s.end_sample, sr)
        band_in = (x1 - x0) / duration_s * width_in - 0.1  # 0.05 in of margin each side
        for font_pt in (_FONT_PT, _FONT_PT - 2):
            lines = _wrap(s.title, band_in, font_pt)
            if lines is not None and len(lines) <= _TITLE_LINES:
                text, in_key = "\n".join(lines), False
                break
        else:
            font_pt = _FONT_PT
            number = str(i + 1)
            fits = _text_width_in(number, font_pt, bold=True) <= band_in + 0.05  # no right margin
            text = number if fits else ""
            in_key = True
        out.append(_SectionLabel(i + 1, s.title, x0, x1, text, font_pt, in_key))
    return out


def _key_lines(labels: list[_SectionLabel], width_in: float) -> list[str]:
    """The sections named by number only, as lines of text for under the picture."""
    entries = [f"{s.number}: {s.title} ({format_clock(s.start_s)})" for s in labels if s.in_key]
    if not entries:
        return []
    text = "Sections: " + "   ".join(e.replace(" ", "\u00a0") for e in entries)
    return [
        line.replace("\u00a0", " ") for line in textwrap.wrap(text, _chars(width_in, _FONT_PT - 1))
    ]


def _sections(ax: Axes, title_ax: Axes, labels: list[_SectionLabel], seconds_per_in: float) -> None:
    """Shaded bands, one per section, with their titles (or numbers) above them."""
    for i, s in enumerate(labels):
        colour = _COLOURS["section-a" if i % 2 == 0 else "section-b"]
        for a in (ax, title_ax):
            a.axvspan(s.start_s, s.end_s, color=colour, zorder=0, linewidth=0)
        title_ax.text(
            s.start_s + seconds_per_in * 0.05,
            0.92,
            s.text,
            va="top",
            ha="left",
            color=_COLOURS["text"],
            fontsize=s.font_pt,
            fontweight="bold" if s.in_key else "normal",
            linespacing=1.1,
            gid=f"section-{i}",
        )
        if i:
            for a in (ax, title_ax):
                a.axvline(s.start_s, color="#9aa5b8", linewidth=0.8, zorder=1)


class _Marks:
    """Running numbers for the SVG ids of one kind of mark."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def gid(self, name: str) -> str:
        n = self.counts.get(name, 0)
        self.counts[name] = n + 1
        return f"{name}-{n}"


def _events(ax: Axes, plan: Plan, row: dict[str, int], seconds_per_in: float) -> None:
    from matplotlib.patches import Polygon, Rectangle

    sr = plan.sample_rate
    marks = _Marks()
    h = _LANE_HEIGHT
    min_w = seconds_per_in / 72  # one point: the shortest mark still drawn

    def sec(samples: int) -> float:
        return samples_to_seconds(samples, sr)

    def bar(lane: str, e: Event, colour: str, name: str, *, z: float = 2) -> None:
        x0, x1 = sec(e.start_sample), sec(e.end_sample)
        ax.add_patch(
            Rectangle(
                (x0, row[lane] - h / 2),
                max(x1 - x0, min_w),
                h,
                facecolor=colour,
                edgecolor="none",
                zorder=z,
                gid=marks.gid(name),
            )
        )

    def label(lane: str, e: Event, text: str, *, always: bool = False) -> None:
        """Write ``text`` from the start of the span: if it fits in its first half, or ``always``
        (in the sparse lanes, where saying what a mark is matters more than an overlap)."""
        x0, x1 = sec(e.start_sample), sec(e.end_sample)
        fits = (x1 - x0) / seconds_per_in * 72 / 2 >= len(text) * (_FONT_PT - 2) * 0.55 + 3
        if fits or always:
            ax.text(
                x0 + seconds_per_in * 3 / 72,
                row[lane],
                text,
                ha="left",
                va="center",
                fontsize=_FONT_PT - 2,
                color=_COLOURS["text"],
                zorder=4,
            )

    holds = [e for e in plan.events if e.kind == "hold"]
    for e in plan.events:
        lane = _lane_of(e)
        x0, x1 = sec(e.start_sample), sec(e.end_sample)
        y = row[lane]
        if e.kind == "speech":
            bar(lane, e, _COLOURS["speech"], "speech")
            if any(_is_count(e, hold) for hold in holds):
                ax.vlines(
                    x0,
                    row["hold"] - h / 2,
                    row["hold"] + h / 2,
                    colors=_COLOURS["count"],
                    linewidth=1.2,
                    zorder=3,
                    gid=marks.gid("hold-count"),
                )
        elif e.kind == "tone" and e.tone in ("inhale", "exhale"):
            top, bottom = y - h / 2, y + h / 2
            if e.tone == "inhale":  # rises through the phase
                corners = [(x0, bottom), (x1, top), (x1, bottom)]
            else:  # falls through the phase
                corners = [(x0, bottom), (x0, top), (x1, bottom)]
            ax.add_patch(
                Polygon(
                    corners,
                    closed=True,
                    facecolor=_COLOURS[e.tone],
                    edgecolor="none",
                    zorder=3,
                    gid=marks.gid(f"breath-{e.tone}"),
                )
            )
        elif e.kind == "tone" and e.tone == "tick":
            # left sweeps in the lower half, right sweeps in the upper half
            upper = e.variant == "right"
            ax.vlines(
                x0,
                y - (h / 2 if upper else 0),
                y + (0 if upper else h / 2),
                colors=_COLOURS["tick"],
                linewidth=1.4,
                zorder=3,
                gid=marks.gid("wipers-tick"),
            )
        elif e.kind == "tone" and e.tone == "stroke":
            top, bottom = y - h / 2, y + h / 2
            ys = (bottom, top) if e.variant != "down" else (top, bottom)
            ax.plot(
                (x0, x1),
                ys,
                color=_COLOURS["stroke"],
                linewidth=1.4,
                zorder=3,
                gid=marks.gid("roll-stroke"),
            )
        elif e.kind == "tone" and e.tone == "ready":
            ax.plot(
                x0,
                y,
                marker="o",
                markersize=5,
                color=_COLOURS["ready"],
                zorder=3,
                gid=marks.gid("place-ready"),
            )
        elif e.kind == "tone" and e.tone == "bell":
            bar(lane, e, _COLOURS["bell"], "bell-ring", z=2)
            ax.plot(
                x0,
                y,
                marker="v",
                markersize=9,
                color="#7a5c00",
                zorder=3,
                gid=marks.gid("bell"),
            )
        elif e.kind == "tone":
            bar(lane, e, _COLOURS["other"], "other")
            label(lane, e, e.tone, always=True)
        elif e.kind == "breathe":
            bar(lane, e, _COLOURS["breath-span"], "breathe", z=1.5)
        elif e.kind in ("hold", "wipers", "roll", "place", "pause"):
            bar(lane, e, _COLOURS[e.kind], e.kind, z=1.5)
            if e.kind in ("hold", "pause"):
                label(lane, e, f"{x1 - x0:.0f}s")
        elif e.kind == "recheck":
            bar(lane, e, _COLOURS["recheck"], "recheck", z=1.5)
            label(lane, e, e.text or "recheck", always=True)
        elif e.kind == "bell":
            continue  # the bell's tone draws it
        else:
            bar(lane, e, _COLOURS["other"], "other", z=1.5)
            label(lane, e, e.kind, always=True)


def _is_count(speech: Event, hold: Event) -> bool:
    """A cue the hold speaks during itself: its countdown, "ten seconds", "halfway"."""
    return (speech.file, speech.line, speech.col) == (
        hold.file,
        hold.line,
        hold.col,
    ) and hold.start_sample <= speech.start_sample < hold.end_sample


def _legend(fig: Figure, height_in: float, bottom: float) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [
        Patch(color=_COLOURS["speech"], label="speech"),
        Patch(color=_COLOURS["inhale"], label="inhale (rising)"),
        Patch(color=_COLOURS["exhale"], label="exhale (falling)"),
        Line2D([], [], color=_COLOURS["count"], linewidth=1.2, label="spoken count"),
        Line2D([], [], color=_COLOURS["tick"], linewidth=1.4, label="wiper tick (right: high)"),
        Line2D([], [], color=_COLOURS["stroke"], linewidth=1.4, label="roll stroke"),
        Line2D([], [], color=_COLOURS["ready"], marker="o", linestyle="none", label="ready tone"),
        Line2D([], [], color="#7a5c00", marker="v", linestyle="none", label="bell"),
    ]
    fig.legend(
        handles=handles,
        loc="lower center",
        bbox_to_anchor=(0.5, bottom),
        ncols=len(handles),
        frameon=False,
        fontsize=_FONT_PT - 1,
        handlelength=1.4,
        columnspacing=1.4,
    )
