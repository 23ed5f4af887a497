"""What every command shares: the command group, choices read from the core, options, output."""

from __future__ import annotations

import contextlib
import math
import sys

import click

from voicecoach import __version__
from voicecoach.errors import UsageError
from voicecoach.language.limits import RATE_RANGE_WPM
from voicecoach.language.script import LEVELS
from voicecoach.printable import printable
from voicecoach.speech.service import ENGINE_NAMES

LEVEL_CHOICE = click.Choice(LEVELS)
PLAY_LEVEL_CHOICE = click.Choice([*LEVELS, "auto"])
ENGINE_CHOICE = click.Choice(ENGINE_NAMES)


def _echo(message: str = "", **kwargs) -> None:
    """``click.echo`` for text that may hold a script's words: control characters escaped."""
    click.echo(printable(message), **kwargs)


def _err(message: str) -> None:
    _echo(f"voicecoach: error: {message}", err=True)


def _notice(message: str) -> None:
    """A one-line notice that does not stop anything (``voicecoach: the journal could not ...``)."""
    with contextlib.suppress(OSError):
        _echo(f"voicecoach: {message}", err=True)


def _session_options(f, *, levels: click.Choice = LEVEL_CHOICE):
    """--level/--voice/--rate/--engine: override the script's front matter."""
    f = click.option(
        "--engine",
        type=ENGINE_CHOICE,
        help="Speech engine (default: the script's, else piper when installed, else system).",
    )(f)
    f = click.option(
        "--rate",
        "rate_wpm",
        type=click.IntRange(*RATE_RANGE_WPM),
        help="Speaking rate in words per minute as heard (default: the script's, else 140).",
    )(f)
    f = click.option(
        "--voice", help="Voice name or id of the speech engine (see `voicecoach voices`)."
    )(f)
    f = click.option(
        "--level",
        type=levels,
        help="gentle, standard or deep: how ranges like 30-60s resolve"
        + ("; auto: chosen from your journal." if "auto" in levels.choices else "."),
    )(f)
    return f


def _minutes_option(f):
    """--minutes N: a dose (voicecoach.language.dose)."""
    return click.option(
        "--minutes",
        type=click.FloatRange(0, 240, min_open=True),
        metavar="N",
        help="Last N minutes (within 5 s): every range (holds, pauses...) is resolved to fit, "
        "instead of by --level.",
    )(f)


def _overrides(level, voice, rate_wpm, engine, lead_in_s=None, minutes=None) -> dict:
    return {
        "level": level,
        "voice": voice,
        "rate": rate_wpm,
        "engine": engine,
        "lead_in": lead_in_s,
        "minutes": minutes,
    }


def _announce_speech(session, *, always: bool) -> None:
    """Tell the person what a first run waits for: synthesising speech (cached afterwards).

    On a terminal a counter updates in place; elsewhere (``always``) one line says it once.
    """
    tty = sys.stderr.isatty()
    if not (tty or always):
        return

    def progress(done: int, total: int) -> None:
        if tty:
            click.echo(f"\rpreparing speech: {done}/{total} phrases", err=True, nl=done == total)
        elif done == 0:
            _echo(
                f"voicecoach: preparing speech for {total} phrase{'s' * (total != 1)} (once; later runs use the cache)",
                err=True,
            )

    session.speech.progress = progress


def _print_diagnostics(diags, *, stream_err: bool = True) -> None:
    for d in diags:
        _echo(d.format(), err=stream_err)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="voicecoach")
def cli() -> None:
    """Guided bodywork sessions by voice, for practice with your eyes closed.

    \b
    Practise:   voicecoach play upper-back
    Export:     voicecoach export upper-back -o upper-back.mp3
    Write:      voicecoach new my-session; voicecoach check my-session.md
    """


def _duration_option(value: str | None, what: str) -> float | None:
    """A duration given on the command line (``15m``, ``90s``, ``1:30``), in seconds."""
    if value is None:
        return None
    from voicecoach.language.tokens import duration_text_s

    seconds = duration_text_s(value)
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        raise UsageError(f"{what} needs a duration, like 15m or 90s (not {value!r})")
    return seconds
