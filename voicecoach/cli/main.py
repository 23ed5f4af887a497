"""The entry point: run a command, and never let a traceback reach the person."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
import traceback

import click

from voicecoach import __version__
from voicecoach.cli.common import (
    _echo,
    _err,
    _print_diagnostics,
    cli,
)
from voicecoach.errors import ScriptError, VoicecoachError

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
