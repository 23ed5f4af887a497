"""Shared by the publish tests: two tiny scripts, the CLI as a subprocess, a running server."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.processes import stop_signals_at_default

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"  # the page tests' browser
PHONE = {"width": 390, "height": 844}

TINY_A = """---
title: Tiny Neck & Shoulders
teacher: Jane Doe
description: A tiny session for tests, with <markup> & ampersands.
equipment: a tennis ball
muscles: upper trapezius
---

# Arrive
Lie down on your back.
[pause 1-3s]

# Hold the ball
Place the ball under your shoulder.
[hold 2-4s]
"""

TINY_B = """---
title: Tiny Rest
teacher: Jane Doe
---

# Rest
Rest now and breathe.
[pause 1-2s]

# Finish
Roll to one side.
"""


def write_tiny_scripts(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    a, b = folder / "tiny-a.md", folder / "tiny-b.md"
    a.write_text(TINY_A, encoding="utf-8")
    b.write_text(TINY_B, encoding="utf-8")
    return [a, b]


def run_cli(*args: str, timeout: float = 300, cwd: Path | None = None):
    """``voicecoach ARGS`` in a subprocess (this tree first on the path)."""
    return subprocess.run(
        [sys.executable, "-m", "voicecoach.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


def publish_cli(scripts: list[Path], site: Path, *extra: str):
    return run_cli("publish", *map(str, scripts), "-o", str(site), "--engine", "system", *extra)


class Server:
    """``voicecoach serve SITE --host 127.0.0.1 --port 0`` in a subprocess; ``url`` once it listens."""

    def __init__(self, site: Path):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "voicecoach.cli", "serve", str(site)]
            + ["--host", "127.0.0.1", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=stop_signals_at_default,  # it is stopped with SIGINT/SIGTERM
        )
        self.output: list[str] = []
        deadline = time.monotonic() + 30
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(
                    f"serve ended: {self.proc.stderr.read() if self.proc.stderr else ''}"
                )
            self.output.append(line)
            m = re.search(r"at (http://127\.0\.0\.1:(\d+)/)", line)
            if m:
                self.url, self.port = m[1], int(m[2])
                break
        else:
            raise AssertionError("serve printed no address in 30 s")
        while "press Ctrl-C" not in self.output[-1]:
            self.output.append(self.proc.stdout.readline())

    def stop(self, sig: int = signal.SIGINT) -> tuple[int, str, str]:
        """Send ``sig``; the exit code and the rest of its output."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        out, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, "".join(self.output) + out, err
