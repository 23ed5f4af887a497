"""The ``voicecoach`` command: a thin layer over ``voicecoach.session``.

Exit codes: 0 ok; 1 an error in a script or at run time; 2 bad usage;
130 interrupted (Ctrl-C); 143 or 129 when ``play`` is stopped by SIGTERM or
SIGHUP (it restores the terminal and says where to resume, as for Ctrl-C). No input prints a traceback: a ``VoicecoachError`` becomes
its message, and an internal bug becomes one line naming the file that holds
the full report.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import math
import os
import re
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

import click

from . import __version__
from .errors import Diagnostic, ScriptError, UsageError, VoicecoachError
from .printable import printable, printable_json
from .units import format_clock

LEVEL_CHOICE = click.Choice(["gentle", "standard", "deep"])
ENGINE_CHOICE = click.Choice(["system", "piper"])


def _echo(message: str = "", **kwargs) -> None:
    """``click.echo`` for text that may hold a script's words: control characters escaped."""
    click.echo(printable(message), **kwargs)


def _err(message: str) -> None:
    _echo(f"voicecoach: error: {message}", err=True)


def _session_options(f):
    """--level/--voice/--rate/--engine: override the script's front matter."""
    f = click.option(
        "--engine",
        type=ENGINE_CHOICE,
        help="Speech engine (default: the script's, else piper when installed, else system).",
    )(f)
    f = click.option(
        "--rate",
        "rate_wpm",
        type=click.IntRange(80, 450),
        help="Speaking rate in words per minute as heard (default: the script's, else 140).",
    )(f)
    f = click.option(
        "--voice", help="Voice name or id of the speech engine (see `voicecoach voices`)."
    )(f)
    f = click.option(
        "--level",
        type=LEVEL_CHOICE,
        help="gentle, standard or deep: how ranges like 30-60s resolve.",
    )(f)
    return f


def _overrides(level, voice, rate_wpm, engine, lead_in_s=None) -> dict:
    return {
        "level": level,
        "voice": voice,
        "rate": rate_wpm,
        "engine": engine,
        "lead_in": lead_in_s,
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


# ---- check ------------------------------------------------------------------


@cli.command()
@click.argument("scripts", nargs=-1, required=True)
@_session_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable diagnostics (for editors).")
def check(scripts, level, voice, rate_wpm, engine, as_json) -> None:
    """Check scripts: every error and warning, with line and column.

    Exit status 1 if any script has an error, 0 when there are only warnings.
    """
    from .session import load

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
    default=44100,
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
def plan(script, level, voice, rate_wpm, engine, sample_rate, as_json, svg_path) -> None:
    """Show the timed plan of a script: every cue, section lengths, total.

    With --svg alone, only the picture is written (no table); with --json too, the JSON
    still goes to standard output.
    """
    from .session import load

    with load(script, **_overrides(level, voice, rate_wpm, engine)) as session:
        _announce_speech(session, always=False)
        p = session.plan(sample_rate=sample_rate)
    if svg_path is not None:
        from .timeline import write_svg

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
    _echo(f"{p.title}  ({format_clock(p.duration_s)}, level {p.settings.level}, engine {p.engine})")
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
    type=click.Choice(["wav", "flac", "ogg", "mp3", "opus"]),
    help="Audio format (default: from the file extension, else wav).",
)
@click.option(
    "--captions", is_flag=True, help="Also write WebVTT captions (<name>.vtt) beside the audio."
)
@click.option(
    "--sample-rate",
    type=int,
    help="Output sample rate in Hz (default 44100; opus is always 48000).",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1, 64),
    default=None,
    help="Scripts rendered in parallel (default: number of cores).",
)
@_session_options
def export(
    scripts, output, fmt, captions, sample_rate, jobs, level, voice, rate_wpm, engine
) -> None:
    """Export sessions to audio files (WAV, FLAC, OGG, MP3, Opus) with tags and chapters."""
    from . import export_jobs
    from .export import format_for, names_audio_file

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
            s, output, fmt, captions, sample_rate, _overrides(level, voice, rate_wpm, engine)
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
        start = int(round(seconds * plan.sample_rate))
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
    from ._tokens import parse_single_duration_s

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
@_session_options
@click.option(
    "--lead-in",
    "lead_in_s",
    type=click.FloatRange(0, 600),
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
def play(script, level, voice, rate_wpm, engine, lead_in_s, from_, device, quiet) -> None:
    """Play a session live. Keys: space pause, n/right next, p/left back, up/down volume, q quit."""
    from .session import load

    dev: str | int | None = int(device) if device is not None and device.isdigit() else device
    from .devices import resolve_device

    with load(script, **_overrides(level, voice, rate_wpm, engine, lead_in_s)) as session:
        resolve_device(dev)  # no sound device: say so before synthesising speech
        _announce_speech(session, always=True)
        session.prepare_speech()
        plan_ = session.plan()
        start = _parse_from(from_, plan_)
        report = session.play(start_sample=start, device=dev, quiet=quiet)
    with contextlib.suppress(OSError):  # after SIGHUP the terminal may be gone
        if report.underruns:
            _echo(f"voicecoach: {report.underruns} buffer underrun(s) during playback", err=True)
        if not report.completed and report.reason:
            _echo(f"voicecoach: {report.reason}", err=True)
    if report.ended_by == "interrupted":
        sys.exit(130)
    if report.ended_by.startswith("SIG"):  # stopped by SIGTERM or SIGHUP
        sys.exit(128 + signal.Signals[report.ended_by])


@cli.command()
def devices() -> None:
    """List the sound output devices."""
    from .playback import list_devices

    devs = list_devices()
    if not devs:
        _echo("no output devices found (use `voicecoach export` to write a file instead)")
        return
    for d in devs:
        mark = "*" if d.get("default") else " "
        _echo(f"{mark} {d['index']:>3}  {d['name']}  ({d['channels']} ch)")


# ---- voices, cache, list, new -----------------------------------------------


@cli.command()
@click.option("--engine", type=ENGINE_CHOICE, help="Only this engine's voices.")
@click.option("--json", "as_json", is_flag=True)
def voices(engine, as_json) -> None:
    """List the voices of the speech engines."""
    from .speech import get_engine
    from .speech.piper import is_installed as piper_installed

    names = [engine] if engine else ["system"] + (["piper"] if piper_installed() else [])
    rows = []
    for name in names:
        eng = get_engine(name)
        try:
            rows.extend(eng.voices())
        finally:
            eng.close()
    if as_json:
        click.echo(json.dumps([v.__dict__ for v in rows], indent=1, default=list))
        return
    for v in rows:
        mark = "*" if v.default else " "
        langs = ",".join(v.languages)
        _echo(f"{mark} {v.engine:<7} {v.id:<28} {v.name:<30} {langs}")


@cli.group()
def cache() -> None:
    """The cache: speech (each utterance is synthesised once) and what is made from it."""


@cache.command("info")
def cache_info_cmd() -> None:
    """Where the cache is, how big (all kinds together) and its cap."""
    from .diskcache import CACHE_MAX_ENV, cache_max_bytes, usage
    from .resources import cache_root

    kinds = usage()
    files = sum(n for n, _ in kinds.values())
    total = sum(size for _, size in kinds.values())
    cap = cache_max_bytes()
    _echo(f"path: {cache_root()}")
    _echo(
        f"size: {total / 1e6:.1f} MB in {files} files ({total} bytes); cap {cap / 1e6:.1f} MB "
        f"(${CACHE_MAX_ENV}), the least recently used go first"
    )
    for name, (n, size) in kinds.items():
        what = "entries" if name == "speech" else "files"
        again = "" if name == "speech" else " (remade when needed)"
        _echo(f"{name}: {n} {what}, {size / 1e6:.1f} MB{again}")


@cache.command("clear")
def cache_clear_cmd() -> None:
    """Delete every cached utterance, and the loudness, tone and prepared-speech caches made from them."""
    from .resources import clear_derived_caches
    from .speech import cache_clear

    entries = cache_clear()
    derived = clear_derived_caches()
    _echo(f"removed {entries} entries (and {derived} loudness, tone and prepared-speech files)")


def _duration_option(value: str | None, what: str) -> float | None:
    """A duration given on the command line (``15m``, ``90s``, ``1:30``), in seconds."""
    if value is None:
        return None
    from ._tokens import duration_text_s

    seconds = duration_text_s(value)
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        raise UsageError(f"{what} needs a duration, like 15m or 90s (not {value!r})")
    return seconds


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
    from .library import builtin_names, session_info

    limit_s = _duration_option(max_length, "--max")
    infos = [session_info(n, engine=engine) for n in builtin_names()]
    if limit_s is not None:
        infos = [
            i
            for i in infos
            if i.duration_s_by_level.get(level) is not None
            and i.duration_s_by_level[level] <= limit_s
        ]
    if as_json:
        click.echo(json.dumps([i.to_json() for i in infos], indent=1))
        return
    if not infos:
        _echo(f"no built-in session is at most {max_length} long at level {level}")
        return
    for i in infos:
        _echo(f"{i.name:<20} {i.title}")
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


@cli.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@click.option("--engine", type=ENGINE_CHOICE, help="Engine whose speech lengths to use.")
def show(name, as_json, engine) -> None:
    """One session: what it is for, its sections, its length at each level, equipment."""
    from .library import session_info

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


@cli.command()
@click.argument("name")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def new(name, force) -> None:
    """Write a commented starting script NAME.md that shows every directive."""
    from .library import write_new_script

    path = write_new_script(name, force=force)
    _echo(f"wrote {path}; edit it, then run: voicecoach check {path}")


# ---- publish, serve (voicecoach.publish) -------------------------------------

from .publish import commands as _publish_commands  # noqa: E402

cli.add_command(_publish_commands.publish)
cli.add_command(_publish_commands.serve)


# ---- entry point --------------------------------------------------------------


def _report_bug(exc: BaseException) -> str:
    fd, path = tempfile.mkstemp(prefix="voicecoach-crash-", suffix=".txt")
    with os.fdopen(fd, "w") as f:
        f.write(
            f"voicecoach {__version__}, python {sys.version}\n{time.ctime()}\nargv: {sys.argv}\n\n"
        )
        traceback.print_exception(exc, file=f)
    return path


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; never lets a traceback reach the person."""
    try:
        cli.main(args=argv, prog_name="voicecoach", standalone_mode=False)
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.exceptions.Abort:
        _echo("voicecoach: interrupted", err=True)
        return 130
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except ScriptError as e:
        _print_diagnostics(e.diagnostics)
        return 1
    except VoicecoachError as e:
        _err(str(e))
        return e.exit_code
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM/SIGHUP while playing (Terminated)
        signum = getattr(e, "signum", None)
        with contextlib.suppress(OSError):
            _echo(f"voicecoach: stopped by {e}" if signum else "voicecoach: interrupted", err=True)
        return 128 + signum if signum else 130
    except BrokenPipeError:
        return 0
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except Exception as e:  # an internal bug: one line, the report in a file
        path = _report_bug(e)
        _echo(
            f"voicecoach: internal error ({type(e).__name__}: {e}); full report in {path}", err=True
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
