"""Writing and checking scripts: ``check``, ``plan``, ``new``."""

from __future__ import annotations

import bisect
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from voicecoach.cli.common import (
    _echo,
    _minutes_option,
    _overrides,
    _print_diagnostics,
    _session_options,
    cli,
)
from voicecoach.cli.progress import speech_progress
from voicecoach.errors import Diagnostic, ScriptError, VoicecoachError
from voicecoach.printable import printable, printable_json
from voicecoach.units import DEFAULT_SAMPLE_RATE, format_clock

if TYPE_CHECKING:
    from voicecoach.language.plan import Plan
    from voicecoach.session import Session


def _estimate_option(help_text: str):
    """--estimate: answer at once, with speech lengths estimated where speech is not cached."""
    return click.option("--estimate", is_flag=True, help=help_text)


def _plan_of(
    session: Session,
    *,
    estimate: bool,
    as_json: bool,
    doing: str = "",
    sample_rate: int | None = None,
) -> tuple[Plan, bool]:
    """``(plan, estimated)``: exact (synthesising what is missing, with progress on a
    terminal), or with ``estimate`` at once (``Session.estimate``)."""
    rate = {} if sample_rate is None else {"sample_rate": sample_rate}
    if estimate:
        plan, exact = session.estimate(**rate)
        return plan, not exact
    with speech_progress(session, f"{doing}synthesising speech", as_json=as_json):
        return session.plan(**rate), False


# ---- check ------------------------------------------------------------------


@cli.command()
@click.argument("scripts", nargs=-1, required=True)
@_session_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable diagnostics (for editors).")
@_estimate_option(
    "Check at once, without synthesising speech: timing warnings then come from estimated "
    "speech lengths, and a phrase the engine cannot speak is not found."
)
def check(scripts, level, voice, rate_wpm, engine, as_json, estimate) -> None:
    """Check scripts: every error and warning, with line and column.

    Speech not synthesised yet is synthesised first (timing warnings need its real
    lengths; it is cached for plan, play and export), with progress on a terminal;
    --estimate answers at once instead. Exit status 1 if any script has an error,
    0 when there are only warnings.
    """
    from voicecoach.session import load

    results = []
    any_error = False
    for name in scripts:
        diags: list[Diagnostic] = []
        fatal = None
        estimated = False
        try:
            with load(name, **_overrides(level, voice, rate_wpm, engine)) as session:
                plan, estimated = _plan_of(
                    session,
                    estimate=estimate,
                    as_json=as_json,
                    doing=f"checking {Path(name).name}: " if len(scripts) > 1 else "",
                )
                diags = list(plan.warnings)
        except ScriptError as e:
            diags = list(e.diagnostics)
        except VoicecoachError as e:
            fatal = str(e)
        errors = sum(d.is_error for d in diags) + (1 if fatal else 0)
        any_error = any_error or errors > 0
        results.append((name, diags, fatal, estimated))
    if as_json:
        out = []
        for name, diags, fatal, estimated in results:
            items = [d.to_json() for d in diags]
            if fatal:
                items.append(
                    {"file": name, "line": 0, "col": 0, "severity": "error", "message": fatal}
                )
            out.append(
                {
                    "script": name,
                    "ok": not any(i["severity"] == "error" for i in items),
                    "diagnostics": items,
                    "estimated": estimated,
                }
            )
        click.echo(json.dumps(out, indent=2))
    else:
        for name, diags, fatal, estimated in results:
            _print_diagnostics(diags, stream_err=False)
            if fatal:
                _echo(f"{name}: error: {fatal}")
            n_err = sum(d.is_error for d in diags) + (1 if fatal else 0)
            n_warn = sum(not d.is_error for d in diags)
            status = "ok" if n_err == 0 else "FAILED"
            timing = "; timing estimated: speech not synthesised yet" if estimated else ""
            _echo(
                f"{name}: {status} ({n_err} error{'s' * (n_err != 1)}, "
                f"{n_warn} warning{'s' * (n_warn != 1)}{timing})"
            )
    sys.exit(1 if any_error else 0)


# ---- plan -------------------------------------------------------------------


@cli.command()
@click.argument("script")
@_session_options
@click.option(
    "--sample-rate",
    type=int,
    default=DEFAULT_SAMPLE_RATE,
    show_default=True,
    help="Sample rate of the plan's times.",
)
@click.option("--json", "as_json", is_flag=True, help="The timeline as JSON (the spec's schema).")
@click.option(
    "--svg",
    "svg_path",
    metavar="OUT.svg",
    help="Also draw the timeline as a picture (SVG): sections, a lane per kind of cue, m:ss.",
)
@_minutes_option
@_estimate_option(
    "Print at once, without synthesising speech: lengths of speech not synthesised yet "
    'are estimated from the speaking rate, and marked ~ (JSON: "estimated": true).'
)
def plan(
    script, level, voice, rate_wpm, engine, sample_rate, as_json, svg_path, minutes, estimate
) -> None:
    """Show the timed plan of a script: every cue, section lengths, total.

    Speech not synthesised yet is synthesised first (with progress on a terminal), so
    every time is exact; --estimate prints at once instead. With --svg alone, only the
    picture is written (no table); with --json too, the JSON still goes to standard output.
    """
    from voicecoach.session import load

    with load(script, **_overrides(level, voice, rate_wpm, engine, minutes=minutes)) as session:
        p, estimated = _plan_of(
            session, estimate=estimate, as_json=as_json, sample_rate=sample_rate
        )
    mark = "~" if estimated else ""
    if svg_path is not None:
        from voicecoach.export.timeline import write_svg

        write_svg(p, svg_path)
        how = ", estimated" if estimated else ""
        click.echo(f"wrote {svg_path} ({mark}{format_clock(p.duration_s)}{how})", err=as_json)
    if as_json:
        timeline = {**p.to_json(), "estimated": estimated}
        click.echo(printable_json(json.dumps(timeline, indent=1, ensure_ascii=False)))
        return
    if svg_path is not None:
        _print_diagnostics(p.warnings)
        return
    _print_plan_table(p, mark)
    _print_diagnostics(p.warnings)
    if estimated:
        _echo(
            "~ estimated from the speaking rate: that speech is not synthesised yet "
            "(`voicecoach plan` without --estimate makes every time exact)"
        )


def _print_plan_table(p, mark: str = "") -> None:
    """The plan as a table; ``mark`` (``~``) before every time when the times are estimates."""
    sr = p.sample_rate
    point = p.settings.range_point
    how = f"level {p.settings.level}" if point is None else f"ranges at {point.fraction:.0%}"
    estimated = ", estimated" if mark else ""
    _echo(f"{p.title}  ({mark}{format_clock(p.duration_s)}{estimated}, {how}, engine {p.engine})")
    w = len(mark)  # the columns widen by the mark
    _echo(f"{'time':>{8 + w}}  {'section':<34} {'cue':<8} text")
    starts = [s.start_sample for s in p.sections]
    for e in p.events:
        # the section an event belongs to: the last one starting at or before it
        current = p.sections[max(0, bisect.bisect_right(starts, e.start_sample) - 1)].title
        current = printable(current)  # escaped before it is cut and padded to its column
        if e.kind == "speech":
            what = e.text
        elif e.kind == "tone":
            what = e.tone + (f" ({e.variant})" if e.variant else "")
        else:
            what = f"{(e.end_sample - e.start_sample) / sr:.2f} s"
        t = e.start_sample / sr
        stamp = f"{mark}{int(t // 60)}:{t % 60:06.3f}"
        _echo(f"{stamp:>{8 + w}}  {current[:34]:<34} {e.kind:<8} {what}")
    _echo("")
    _echo("sections:")
    for s in p.sections:
        start = mark + format_clock(s.start_sample / sr)
        length = mark + format_clock((s.end_sample - s.start_sample) / sr)
        _echo(f"  {start:>{7 + w}}  {length:>{6 + w}}  {s.title}")
    _echo(f"total: {mark}{format_clock(p.duration_s)} ({mark}{p.duration_s:.3f} s)")


# ---- export -----------------------------------------------------------------


@cli.command()
@click.argument("name")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def new(name, force) -> None:
    """Write a commented starting script NAME.md that shows every directive."""
    from voicecoach.library import write_new_script

    path = write_new_script(name, force=force)
    _echo(f"wrote {path}; edit it, then run: voicecoach check {path}")
