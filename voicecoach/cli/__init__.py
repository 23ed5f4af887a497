"""The ``voicecoach`` command: a thin layer over ``voicecoach.session``.

One module per group of commands: ``scripts`` (check, plan, new), ``sessions``
(export, play), ``browse`` (list, show), ``history`` (the practice journal),
``publish`` and ``serve`` (from ``voicecoach.publish.commands``),
``system`` (devices, voices, cache); ``common`` holds the group and what the
commands share, ``main`` the entry point.

Exit codes: 0 ok; 1 an error in a script or at run time; 2 bad usage;
130 interrupted (Ctrl-C); 143 or 129 when ``play`` is stopped by SIGTERM or
SIGHUP (it restores the terminal and says where to resume, as for Ctrl-C). No input prints a traceback: a ``VoicecoachError`` becomes
its message, and an internal bug becomes one line naming the file that holds
the full report.
"""

from __future__ import annotations

from voicecoach.cli import browse, scripts, sessions, system  # noqa: F401  (each registers its commands)
from voicecoach.cli.common import cli
from voicecoach.cli.history import history
from voicecoach.cli.main import main
from voicecoach.publish import commands as publish_commands

cli.add_command(history)
cli.add_command(publish_commands.publish)
cli.add_command(publish_commands.serve)

__all__ = ["cli", "main"]
