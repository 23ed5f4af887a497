"""A session heard: ``export`` to a file, ``play`` live."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import signal
import sys
from pathlib import Path

import click

from voicecoach.batch import MAX_JOBS
from voicecoach.cli.common import (
    PLAY_LEVEL_CHOICE,
    _announce_speech,
    _echo,
    _err,
    _minutes_option,
    _notice,
    _overrides,
    _print_diagnostics,
    _session_options,
    cli,
)
from voicecoach.errors import ScriptError, UsageError, VoicecoachError
from voicecoach.export.formats import FORMATS, OPUS_SAMPLE_RATE
from voicecoach.session import LEAD_IN_RANGE_S
from voicecoach.units import DEFAULT_SAMPLE_RATE, format_clock, seconds_to_samples

# ---- export -----------------------------------------------------------------


@cli.command()
@click.argument("scripts", nargs=-1, required=True)
@click.option(
    "-o",
    "--output",
    type=click.Path(),
    help="Output file (one script) or folder (made if missing). Default: <script>.wav here.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    help="Audio format (default: from the file extension, else wav).",
)
@click.option(
    "--captions", is_flag=True, help="Also write WebVTT captions (<name>.vtt) beside the audio."
)
@click.option(
    "--sample-rate",
    type=int,
    help=f"Output sample rate in Hz (default {DEFAULT_SAMPLE_RATE}; opus is always {OPUS_SAMPLE_RATE}).",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1, MAX_JOBS),
    default=None,
    help="Scripts rendered in parallel (default: number of cores).",
)
@_session_options
@_minutes_option
def export(
    scripts, output, fmt, captions, sample_rate, jobs, level, voice, rate_wpm, engine, minutes
) -> None:
    """Export sessions to audio files (WAV, FLAC, OGG, MP3, Opus) with tags and chapters."""
    from voicecoach import batch as export_jobs
    from voicecoach.export.formats import format_for, names_audio_file

    if output and fmt and len(scripts) == 1 and not Path(output).is_dir():
        format_for(output, fmt)  # a format that contradicts the name: refused before any work
    if len(scripts) > 1 and output:
        folder = Path(output)
        if folder.exists() and not folder.is_dir():
            raise UsageError(f"with several scripts, -o must be a folder, and {output} is a file")
        if not folder.exists() and names_audio_file(folder):
            raise UsageError(
                f"with several scripts, -o must be a folder, and {output} is named like a file"
            )
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UsageError(f"cannot make the folder {output}: {e.strerror or e}") from e
    tasks = [
        export_jobs.ExportTask(
            s,
            output,
            fmt,
            captions,
            sample_rate,
            _overrides(level, voice, rate_wpm, engine, minutes=minutes),
        )
        for s in scripts
    ]
    show_progress = sys.stderr.isatty() and not os.environ.get("CI")
    failures = 0
    for task, result in export_jobs.run(tasks, jobs=jobs, progress=show_progress):
        if isinstance(result, ScriptError):
            _print_diagnostics(result.diagnostics)
            failures += 1
        elif isinstance(result, VoicecoachError):
            _err(f"{task.script}: {result}")
            failures += 1
        else:
            extra = f", captions {result.captions_path}" if result.captions_path else ""
            _echo(
                f"wrote {result.path} ({format_clock(result.duration_s)}, {result.format}, "
                f"{result.integrated_lufs:.1f} LUFS, true peak {result.true_peak_dbtp:.1f} dBTP{extra})"
            )
    sys.exit(1 if failures else 0)


# ---- play -------------------------------------------------------------------


def _parse_from(value: str | None, plan) -> int:
    """``--from``: a time or a section title (prefix, any case).

    Times: seconds (``120``, ``1.5``), a duration as in scripts (``90s``,
    ``2m``, ``2m30s``), or a clock time (``1:30``, ``1:02:05``: minutes and
    seconds below 60, as ``play`` prints them).
    """
    if not value:
        return 0
    v = value.strip()
    seconds = _parse_time(v)
    if seconds is not None:
        start = seconds_to_samples(seconds, plan.sample_rate)
        if start >= plan.duration_samples:
            raise UsageError(
                f"--from {value}: the session lasts only {format_clock(plan.duration_s)}"
            )
        return start
    matches = [s for s in plan.sections if s.title.lower().startswith(v.lower())]
    if not matches:
        titles = ", ".join(repr(s.title) for s in plan.sections)
        raise UsageError(
            f"--from {value!r}: no time and no section of that name (sections: {titles}); "
            "a time is written like 120, 2m, 2m30s or 2:30"
        )
    return matches[0].start_sample


_SECONDS_RE = re.compile(r"\d+(?:\.\d+)?|\.\d+")
_CLOCK_FROM_RE = re.compile(r"(?:(\d+):)?(\d+):(\d+(?:\.\d+)?)")


def _parse_time(v: str) -> float | None:
    """Seconds from ``120``, ``2m30s`` or ``1:02:05``; None when ``v`` is not shaped like a time."""
    from voicecoach.language.tokens import parse_single_duration_s

    if _SECONDS_RE.fullmatch(v):
        return float(v)
    clock = _CLOCK_FROM_RE.fullmatch(v)
    if clock:
        hours, minutes, secs = clock.groups()
        if hours is not None and len(minutes) != 2:
            raise UsageError(f"--from {v}: write the minutes of a clock time with two digits")
        if len(secs.split(".")[0]) != 2 or float(secs) >= 60 or (hours and int(minutes) >= 60):
            raise UsageError(
                f"--from {v}: not a clock time; minutes and seconds run from 00 to 59, like 1:30"
            )
        return int(hours or 0) * 3600 + int(minutes) * 60 + float(secs)
    try:
        return parse_single_duration_s(v.replace(" ", ""))
    except ValueError as e:  # a duration's shape with a wrong value
        raise UsageError(f"--from {v}: {e}") from e


@cli.command()
@click.argument("script")
@functools.partial(_session_options, levels=PLAY_LEVEL_CHOICE)
@click.option(
    "--lead-in",
    "lead_in_s",
    type=click.FloatRange(*LEAD_IN_RANGE_S),
    help="Seconds of silence before the first cue, to lie down.",
)
@click.option(
    "--from",
    "from_",
    metavar="TIME|SECTION",
    help="Start part-way: a time (120, 2m, 2m30s, 12:31) or a section title.",
)
@click.option("--device", help="Output device name or index (see `voicecoach devices`).")
@click.option("-q", "--quiet", is_flag=True, help="No status line.")
@_minutes_option
def play(script, level, voice, rate_wpm, engine, lead_in_s, from_, device, quiet, minutes) -> None:
    """Play a session live. Keys: space pause, n/right next, p/left back, up/down volume, q quit;
    in a re-check's 8 s window, 1-5 (or that many taps of space) answer it."""
    from voicecoach.session import load

    dev: str | int | None = int(device) if device is not None and device.isdigit() else device
    from voicecoach.playback.devices import resolve_device

    said = None  # --level auto: why, said before the lead-in
    if level == "auto":
        if minutes is not None:
            raise UsageError("--minutes chooses the point in every range itself; leave out --level")
        level, said = _auto_level(script)

    with load(script, **_overrides(level, voice, rate_wpm, engine, lead_in_s, minutes)) as session:
        resolve_device(dev)  # no sound device: say so before synthesising speech
        start = 0
        if from_ is not None:  # a time or a section of the final plan: all its speech first
            _announce_speech(session, always=True)
            session.prepare_speech()
            start = _parse_from(from_, session.plan())
        # else the session starts at once and its speech is synthesised while it plays
        report = session.play(
            start_sample=start, device=dev, quiet=quiet, notice=_notice, intro=said
        )
    with contextlib.suppress(OSError):  # after SIGHUP the terminal may be gone
        if report.underruns:
            _echo(f"voicecoach: {report.underruns} buffer underrun(s) during playback", err=True)
        if not report.completed and report.reason:
            _echo(f"voicecoach: {report.reason}", err=True)
    if report.ended_by == "interrupted":
        sys.exit(130)
    if report.ended_by.startswith("SIG"):  # stopped by SIGTERM or SIGHUP
        sys.exit(128 + signal.Signals[report.ended_by])


def _auto_level(script: str) -> tuple[str | None, str]:
    """``--level auto``: the level from the journal and its reason, said on the terminal too."""
    from voicecoach.journal.auto_level import auto_level
    from voicecoach.journal.recorder import session_key
    from voicecoach.library import resolve_script

    choice = auto_level(session_key(resolve_script(script)), notice=_notice)
    _notice(f"level {choice.level or 'as the script says'}: {choice.reason}")
    return choice.level, choice.reason
