"""A process on a pseudo-terminal that is its controlling terminal (so Ctrl-C and keys work)."""

from __future__ import annotations

import fcntl
import os
import subprocess
import termios
import threading
import time
from pathlib import Path

from tests.processes import stop_signals_at_default
from tests.pulse import REPO


def _take_controlling_terminal() -> None:
    """In the child, after setsid: make the pty on stdin the controlling terminal.

    The stop signals go back to their default action, as for a program started from a
    terminal: run under ``nohup`` (or as a background job), the tests' own process ignores
    SIGHUP (and SIGINT), the child would inherit that, and voicecoach rightly leaves an
    ignored signal ignored.
    """
    stop_signals_at_default()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def read_to_end(master: int) -> bytes:
    """Everything written to the pty whose master end is ``master``, until the child closes it."""
    seen = bytearray()
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal (Linux says EIO)
            break
        if not chunk:
            break
        seen.extend(chunk)
    return bytes(seen)


class PtyProcess:
    """``argv`` with stdin/stdout/stderr on a new pty; its output is collected as it comes."""

    def __init__(self, argv: list[str], env: dict[str, str], *, cwd: Path = REPO):
        self.master, slave = os.openpty()
        self.proc = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=cwd,
            env=env,
            start_new_session=True,
            preexec_fn=_take_controlling_terminal,
        )
        os.close(slave)
        self.output = bytearray()
        self._drain = threading.Thread(target=self._read, daemon=True)
        self._drain.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            if not data:
                return
            self.output.extend(data)

    def send(self, keys: bytes) -> float:
        """Type ``keys``; returns the time they were sent."""
        t = time.monotonic()
        os.write(self.master, keys)
        return t

    def wait_for(self, text: bytes, timeout_s: float) -> None:
        """Until ``text`` has been printed (AssertionError after ``timeout_s`` or an early exit)."""
        deadline = time.monotonic() + timeout_s
        while text not in self.output:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"no {text!r}; output: {bytes(self.output)!r}")
            time.sleep(0.05)

    def wait(self, timeout_s: float, what: str = "the process") -> int:
        """Its exit code; killed, and AssertionError, if it runs past ``timeout_s``."""
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(
                f"{what} did not finish in {timeout_s} s; output: {bytes(self.output)!r}"
            ) from None
        finally:
            self._drain.join(timeout=2)

    def close(self) -> list:
        """Close the terminal; returns its settings as the process left them."""
        attrs = termios.tcgetattr(self.master)
        os.close(self.master)
        return attrs
