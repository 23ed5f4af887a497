"""The built-in library: ``list`` and ``show``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import click

from voicecoach.cli.common import (
    ENGINE_CHOICE,
    LEVEL_CHOICE,
    _duration_option,
    _echo,
    _notice,
    cli,
)
from voicecoach.cli.progress import progress_line
from voicecoach.units import format_clock


def _lengths_text(info, marker: str) -> str:
    return " / ".join(
        "?" if d is None else marker + format_clock(d) for d in info.duration_s_by_level.values()
    )


_ESTIMATE_NOTE = (
    "~ estimated from the speaking rate: that speech is not synthesised yet "
    "(`voicecoach plan NAME` makes it exact)"
)


@cli.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--engine", type=ENGINE_CHOICE, help="Engine whose speech lengths to use.")
@click.option(
    "--max",
    "max_length",
    metavar="DURATION",
    help="Only sessions at most this long at --level (like 15m).",
)
@click.option(
    "--level",
    type=LEVEL_CHOICE,
    default="standard",
    show_default=True,
    help="The level --max looks at.",
)
def list_(as_json, engine, max_length, level) -> None:
    """The built-in sessions: title, description, length at each level, equipment, muscles.

    Lengths show at once; where the speech is not synthesised yet they are estimated
    from the speaking rate and marked with ~.
    """
    from voicecoach.library import builtin_names
    from voicecoach.session import session_info

    limit_s = _duration_option(max_length, "--max")
    names = builtin_names()
    infos = []
    with progress_line("timing the sessions", as_json=as_json) as line:
        for done, name in enumerate(names):
            line.update(done, len(names))
            infos.append(session_info(name, engine=engine))
    if limit_s is not None:
        infos = [
            i
            for i in infos
            if i.duration_s_by_level.get(level) is not None
            and i.duration_s_by_level[level] <= limit_s
        ]
    last = _last_practised()
    if as_json:
        records = [{**i.to_json(), "last_practised": _iso(last.get(i.name))} for i in infos]
        click.echo(json.dumps(records, indent=1))
        return
    if not infos:
        _echo(f"no built-in session is at most {max_length} long at level {level}")
        return
    for i in infos:
        _echo(f"{i.name:<20} {i.title}{_practised_mark(last.get(i.name))}")
        if i.description:
            _echo(f"{'':<20} {i.description}")
        marker = "~" if i.estimated else ""
        _echo(f"{'':<20} length (gentle / standard / deep): {_lengths_text(i, marker)}")
        if i.equipment:
            _echo(f"{'':<20} equipment: {i.equipment}")
        if i.muscles:
            _echo(f"{'':<20} muscles: {i.muscles}")
    if any(i.estimated for i in infos):
        _echo(_ESTIMATE_NOTE)


NOT_FOR_A_WEEK = timedelta(days=7)


def _last_practised() -> dict:
    """When each session was last played, from the journal ({} when it cannot be read: said once)."""
    from voicecoach.errors import JournalError
    from voicecoach.journal import Journal

    try:
        return Journal().last_practised()
    except JournalError as e:
        _notice(f"the journal could not be read: {e}")
        return {}


def _practised_mark(last: datetime | None, now: datetime | None = None) -> str:
    """``  (never practised)``, ``  (not practised for 9 days)``, or nothing within a week."""
    if last is None:
        return "  (never practised)"
    ago = (now or datetime.now(UTC)) - last
    return f"  (not practised for {ago.days} days)" if ago >= NOT_FOR_A_WEEK else ""


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone().isoformat(timespec="seconds")


@cli.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@click.option("--engine", type=ENGINE_CHOICE, help="Engine whose speech lengths to use.")
def show(name, as_json, engine) -> None:
    """One session: what it is for, its sections, its length at each level, equipment."""
    from voicecoach.session import session_info

    info = session_info(name, engine=engine)
    if as_json:
        click.echo(json.dumps(info.to_json(), indent=1))
        return
    marker = "~" if info.estimated else ""
    _echo(info.title + (f"  (by {info.teacher})" if info.teacher else ""))
    if info.description:
        _echo(info.description)
    _echo(f"length (gentle / standard / deep): {_lengths_text(info, marker)}")
    for label, value in (("equipment", info.equipment), ("muscles", info.muscles)):
        if value:
            _echo(f"{label}: {value}")
    if info.sections:
        _echo("sections:")
        for title, start_s in info.sections:
            _echo(f"  {marker + format_clock(start_s):>7}  {title}")
    _echo(f"file: {info.path}")
    if info.estimated:
        _echo(_ESTIMATE_NOTE)
