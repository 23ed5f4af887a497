"""The ``publish`` and ``serve`` commands (registered in ``voicecoach.cli``)."""

from __future__ import annotations

import click
from click.core import ParameterSource

from voicecoach.language.dose import MAX_MINUTES
from voicecoach.language.script import ENGINES
from voicecoach.units import format_clock


@click.command()
@click.argument("scripts", nargs=-1, required=True)
@click.option("-o", "--output", "out", required=True, type=click.Path(), help="The site's folder.")
@click.option(
    "--base-url",
    metavar="URL",
    help="Where the site will be served, like http://192.168.1.20:8765/ (the feed's links "
    "need it; without it podcast apps cannot use the feed).",
)
@click.option(
    "--levels",
    default="gentle,standard,deep",
    show_default=True,
    help="The levels to publish, separated by commas.",
)
@click.option(
    "--minutes",
    type=click.FloatRange(0, MAX_MINUTES, min_open=True),
    metavar="N",
    multiple=True,
    help="Publish each session lasting N minutes (within 5 s): every range (holds, "
    "pauses...) is resolved to fit. Repeat for several lengths. Replaces the levels "
    "unless --levels is given too.",
)
@click.option("--title", help="The class's title (default: from the sessions).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["mp3", "opus", "m4a"]),
    default="mp3",
    show_default=True,
    help="Audio format: mp3 plays in every podcast app; m4a (AAC) is encoded by ffmpeg.",
)
@click.option("--engine", type=click.Choice(ENGINES), help="Speech engine (default: the script's).")
@click.option("--voice", help="Voice name or id of the speech engine.")
@click.option("--rate", type=click.IntRange(80, 450), help="Words per minute as heard.")
def publish(scripts, out, base_url, levels, minutes, title, fmt, engine, voice, rate) -> None:
    """Publish sessions as a class: audio per level (or per length, with --minutes),
    transcripts, chapters, a podcast feed (feed.xml) and a page for phones (index.html),
    in the folder -o.

    A second publish into the same folder re-renders only what changed, and the folder
    is replaced whole at the end. Serve it with `voicecoach serve SITE`.
    """
    from voicecoach.publish.site import PublishOptions, parse_levels, publish

    # --minutes alone: the lengths asked for, not three levels beside them
    levels_given = click.get_current_context().get_parameter_source("levels") not in (
        ParameterSource.DEFAULT,
        None,
    )
    options = PublishOptions(
        base_url=base_url,
        levels=parse_levels(levels) if levels_given or not minutes else (),
        minutes=tuple(minutes),
        title=title,
        format=fmt,
        engine=engine,
        voice=voice,
        rate=rate,
    )
    report = publish(scripts, out, options, progress=lambda m: click.echo(m, err=True))
    info = report.info
    for session in info.sessions:
        lengths = ", ".join(f"{e.label} {format_clock(e.duration_s)}" for e in session.episodes)
        click.echo(f"{session.name}: {session.title} ({lengths})")
    click.echo(
        f"published {len(info.episodes)} episode{'s' * (len(info.episodes) != 1)} in {report.site} "
        f"({len(report.rendered)} rendered, {len(report.kept)} kept"
        + (f", {len(report.removed)} removed" if report.removed else "")
        + ")"
    )
    if info.base_url:
        click.echo(f"feed: {info.url('feed.xml')}")
    else:
        click.echo(
            "note: no --base-url, so the feed's links are relative and podcast apps cannot use "
            "it; publish again with --base-url http://ADDRESS:PORT/"
        )
    click.echo(f"serve it with: voicecoach serve {out}")


@click.command()
@click.argument("site", type=click.Path())
@click.option(
    "--host",
    default="0.0.0.0",
    show_default=True,
    help="Address to listen on (0.0.0.0: every network of this machine, for phones nearby).",
)
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True)
def serve(site, host, port) -> None:
    """Serve a published site to phones on the same network (read-only; Ctrl-C stops)."""
    from voicecoach.publish.serve import serve as serve_site

    serve_site(site, host=host, port=port)
