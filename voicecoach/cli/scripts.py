"""Writing and checking scripts: ``check``, ``plan``, ``new``."""

from __future__ import annotations

import bisect
import json
import sys

import click

from voicecoach.cli.common import (
    _announce_speech,
    _echo,
    _minutes_option,
    _overrides,
    _print_diagnostics,
    _session_options,
    cli,
)
from voicecoach.errors import Diagnostic, ScriptError, VoicecoachError
from voicecoach.printable import printable, printable_json
from voicecoach.units import DEFAULT_SAMPLE_RATE, format_clock

# ---- check ------------------------------------------------------------------


@cli.command()
@click.argument("scripts", nargs=-1, required=True)
@_session_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable diagnostics (for editors).")
def check(scripts, level, voice, rate_wpm, engine, as_json) -> None:
    """Check scripts: every error and warning, with line and column.

    Exit status 1 if any script has an error, 0 when there are only warnings.
    """
    from voicecoach.session import load

    results = []
    any_error = False
    for name in scripts:
        diags: list[Diagnostic] = []
        fatal = None
        try:
            with load(name, **_overrides(level, voice, rate_wpm, engine)) as session:
                _announce_speech(session, always=False)
                plan = session.plan()
                diags = list(plan.warnings)
        except ScriptError as e:
            diags = list(e.diagnostics)
        except VoicecoachError as e:
            fatal = str(e)
        errors = sum(d.is_error for d in diags) + (1 if fatal else 0)
        any_error = any_error or errors > 0
        results.append((name, diags, fatal))
    if as_json:
        out = []
        for name, diags, fatal in results:
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
                }
            )
        click.echo(json.dumps(out, indent=2))
    else:
        for name, diags, fatal in results:
            _print_diagnostics(diags, stream_err=False)
            if fatal:
                _echo(f"{name}: error: {fatal}")
            n_err = sum(d.is_error for d in diags) + (1 if fatal else 0)
            n_warn = sum(not d.is_error for d in diags)
            status = "ok" if n_err == 0 else "FAILED"
            _echo(
                f"{name}: {status} ({n_err} error{'s' * (n_err != 1)}, {n_warn} warning{'s' * (n_warn != 1)})"
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
def plan(script, level, voice, rate_wpm, engine, sample_rate, as_json, svg_path, minutes) -> None:
    """Show the timed plan of a script: every cue, section lengths, total.

    With --svg alone, only the picture is written (no table); with --json too, the JSON
    still goes to standard output.
    """
    from voicecoach.session import load

    with load(script, **_overrides(level, voice, rate_wpm, engine, minutes=minutes)) as session:
        _announce_speech(session, always=False)
        p = session.plan(sample_rate=sample_rate)
    if svg_path is not None:
        from voicecoach.export.timeline import write_svg

        write_svg(p, svg_path)
        click.echo(f"wrote {svg_path} ({format_clock(p.duration_s)})", err=as_json)
    if as_json:
        click.echo(printable_json(json.dumps(p.to_json(), indent=1, ensure_ascii=False)))
        return
    if svg_path is not None:
        _print_diagnostics(p.warnings)
        return
    _print_plan_table(p)
    _print_diagnostics(p.warnings)


def _print_plan_table(p) -> None:
    sr = p.sample_rate
    point = p.settings.range_point
    how = f"level {p.settings.level}" if point is None else f"ranges at {point.fraction:.0%}"
    _echo(f"{p.title}  ({format_clock(p.duration_s)}, {how}, engine {p.engine})")
    _echo(f"{'time':>8}  {'section':<34} {'cue':<8} text")
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
        stamp = f"{int(t // 60)}:{t % 60:06.3f}"
        _echo(f"{stamp:>8}  {current[:34]:<34} {e.kind:<8} {what}")
    _echo("")
    _echo("sections:")
    for s in p.sections:
        _echo(
            f"  {format_clock(s.start_sample / sr):>7}  {format_clock((s.end_sample - s.start_sample) / sr):>6}  {s.title}"
        )
    _echo(f"total: {format_clock(p.duration_s)} ({p.duration_s:.3f} s)")


# ---- export -----------------------------------------------------------------


@cli.command()
@click.argument("name")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def new(name, force) -> None:
    """Write a commented starting script NAME.md that shows every directive."""
    from voicecoach.library import write_new_script

    path = write_new_script(name, force=force)
    _echo(f"wrote {path}; edit it, then run: voicecoach check {path}")
