"""``voicecoach history``: what the practice journal holds, shown, exported or forgotten."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from voicecoach.cli.common import _echo
from voicecoach.errors import LibraryError, UsageError
from voicecoach.printable import printable_json
from voicecoach.units import format_clock

RECENT = 10  # practices listed in the text view


def journal_session(name: str, known: set[str]) -> str:
    """The journal's key for ``name``: itself when the journal knows it, else the session it
    names (a built-in, a file, words of a title), else ``name`` unchanged."""
    if name in known:
        return name
    from voicecoach.journal.recorder import session_key
    from voicecoach.library import resolve_script

    try:
        return session_key(resolve_script(name))
    except (LibraryError, UsageError):
        return name


def _shown(session: str) -> str:
    """A built-in's name as is; a file as its name (the full path is in --json)."""
    return Path(session).name if "/" in session else session


@click.command()
@click.argument("session", required=False)
@click.option("--json", "as_json", is_flag=True, help="The practices as JSON, newest first.")
@click.option(
    "--since", metavar="AGE|DATE", help="Only practices since: 30d, 2w, 12h or 2026-11-01."
)
@click.option("--svg", "svg_path", metavar="OUT.svg", help="Draw before and after over time.")
@click.option(
    "--export", "csv_path", metavar="OUT.csv", help="Write the practices as CSV ('-': stdout)."
)
@click.option("--forget", is_flag=True, help="Delete the practices (of SESSION, or all) for good.")
@click.option("--yes", is_flag=True, help="With --forget: do not ask.")
def history(session, as_json, since, svg_path, csv_path, forget, yes) -> None:
    """Your practices: how many, minutes this week, streak, and how each area felt before and
    after. The journal stays on this computer (see docs/journal.md)."""
    from voicecoach.journal import Journal, stats, trends
    from voicecoach.journal.report import (
        csv_text,
        parse_since,
        relief_sparkline,
        svg_text,
        write_atomically,
    )

    journal = Journal()
    now = datetime.now(UTC)
    key = journal_session(session, set(journal.last_practised())) if session else None
    if forget:
        _forget(journal, key, yes)
        return
    start = parse_since(since, now=now) if since else None
    practices = journal.practices(since=start, session=key)
    if csv_path is not None:
        text = csv_text(practices)
        if csv_path == "-":
            click.echo(text, nl=False)
        else:
            write_atomically(csv_path, text, "CSV file")
            _echo(f"wrote {csv_path} ({len(practices)} practices)", err=True)
    if svg_path is not None:
        write_atomically(svg_path, svg_text(trends(practices)), "picture")
        _echo(f"wrote {svg_path}", err=True)
    if as_json:
        records = [p.to_json() for p in practices]
        click.echo(printable_json(json.dumps(records, indent=1, ensure_ascii=False)))
        return
    if csv_path is not None or svg_path is not None:
        return
    if not practices:
        which = f" of {session}" if session else ""
        when = f" since {since}" if since else ""
        _echo(f"no practices{which}{when} in the journal yet ({journal.path})")
        return
    s = stats(practices, now=now)
    _echo(
        f"{s.practices} practice{'s' * (s.practices != 1)}"
        f" · {s.minutes_this_week:.0f} min this week"
        f" · streak {s.streak_days} day{'s' * (s.streak_days != 1)}"
    )
    shown_trends = trends(practices)
    if shown_trends:
        _echo("")
        _echo("how each area felt, 1 free ... 5 tight (bars: how much freer after, oldest first):")
    for t in shown_trends:
        last = t.points[-1]
        latest = f"last {_rating(last.before)} → {_rating(last.after)}"
        _echo(f"  {_shown(t.session)} · {t.word:<14} {relief_sparkline(t) or '-':<12} {latest}")
    _echo("")
    _echo("recent:")
    for p in practices[:RECENT]:
        when = p.started.astimezone().strftime("%a %d %b %H:%M")
        level = f"{p.minutes:g} min" if p.minutes is not None else p.level
        if p.finished:
            how = "finished"
        elif p.ended is None:
            how = "ended unexpectedly"
        elif p.stopped_at_s is not None:
            where = f" in {p.stopped_section!r}" if p.stopped_section else ""
            how = f"stopped at {format_clock(p.stopped_at_s)}{where}"
        else:
            how = "stopped"
        felt = "  ".join(f"{r.word} {_rating(r.before)}→{_rating(r.after)}" for r in p.rechecks)
        _echo(f"  {when}  {_shown(p.session):<18} {level:<9} {how}  {felt}".rstrip())
    if len(practices) > RECENT:
        _echo(f"  ... and {len(practices) - RECENT} more (--json or --export for all)")


def _rating(value: int | None) -> str:
    return "?" if value is None else str(value)


def _forget(journal, key: str | None, yes: bool) -> None:
    count = len(journal.practices(session=key))
    what = f"the {count} practice{'s' * (count != 1)}" + (f" of {key}" if key else "")
    if count == 0:
        _echo("nothing to forget" + (f": no practices of {key}" if key else ""))
        return
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError(
                f"--forget would delete {what}; add --yes to do it without being asked"
            )
        if not click.confirm(f"Forget {what} for good?", default=False):
            _echo("nothing forgotten")
            return
    n = journal.forget(key)
    _echo(f"forgot {n} practice{'s' * (n != 1)}" + (f" of {key}" if key else ""))
