"""`play` ended by a signal (issue 11, item 9): SIGTERM and SIGHUP stop it like Ctrl-C.

Real playback through the test PulseAudio, on a pseudo-terminal: the terminal
is given back as it was, the sound fades out, the person is told where to
resume, and the exit status says how it ended (130 for Ctrl-C, 128 + the
signal's number otherwise).
"""

# ruff: noqa: F811  (pytest fixtures imported from tests/pulse.py are redefined as arguments)
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import termios
import threading
import time

import numpy as np
import pytest

from .pulse import REPO, Recorder, pulse_server  # noqa: F401
from .test_playback import (
    SILENCE,
    PtyPlayer,
    _take_controlling_terminal,
    wait_for_sound,
)

SCRIPT = """---
title: Signals
lead_in: 0.5s
---
# First
Breathe in gently, and let the shoulders soften.
[breathe 2-2 x6]
# Second
Rest.
"""


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_stops_play_like_ctrl_c(pulse_server, tmp_path, sig):
    with Recorder(pulse_server) as rec:
        player = PtyPlayer(pulse_server.environ(), "long_steady", tmp_path)
        _, t0 = wait_for_sound(rec, player=player)
        time.sleep(max(0.0, t0 + 0.8 - time.monotonic()))
        t_sig = time.monotonic()
        os.kill(player.proc.pid, sig)
        result = player.finish(timeout_s=10)
    assert result["terminal_restored"]
    report = result["report"]
    assert report["ended_by"] == sig.name and not report["completed"]
    assert re.fullmatch(
        rf"stopped by {sig.name} at 0:0\d in 'First'; resume with --from 0:0\d", report["reason"]
    ), report["reason"]
    assert result["finished"] - t_sig < 2.0
    x = rec.audio()  # faded out, then silent
    assert np.max(np.abs(x[rec.frame_at_time(t_sig + 0.6) :]), initial=0.0) < SILENCE


class _PtyCli:
    """``voicecoach play`` on a pseudo-terminal (its controlling terminal)."""

    def __init__(self, env: dict[str, str], *args: str):
        self.master, slave = os.openpty()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "voicecoach.cli", "play", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=REPO,
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

    def wait_for(self, text: bytes, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while text not in self.output:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"no {text!r}; output: {bytes(self.output)!r}")
            time.sleep(0.05)

    def finish(self, timeout_s: float) -> tuple[int, str, list]:
        try:
            code = self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"did not finish; output: {bytes(self.output)!r}") from None
        self._drain.join(timeout=2)
        attrs = termios.tcgetattr(self.master)  # the terminal's settings as the player left them
        os.close(self.master)
        return code, bytes(self.output).decode("utf-8", "replace"), attrs


@pytest.mark.slow
@pytest.mark.parametrize(
    "how,code",
    [("ctrl-c", 130), (signal.SIGTERM, 128 + signal.SIGTERM), (signal.SIGHUP, 128 + signal.SIGHUP)],
)
def test_play_exit_status_says_how_it_ended(pulse_server, tmp_path, how, code):
    script = tmp_path / "signals.md"
    script.write_text(SCRIPT, encoding="utf-8")
    cli = _PtyCli(pulse_server.environ(), str(script), "--engine", "system")
    cli.wait_for(b"playing", timeout_s=60)  # the status line: the stream has started
    time.sleep(1.0)
    if how == "ctrl-c":
        os.write(cli.master, b"\x03")
        said = "interrupted (Ctrl-C)"
    else:
        os.kill(cli.proc.pid, how)
        said = f"stopped by {how.name}"
    exit_code, output, attrs = cli.finish(timeout_s=15)
    assert exit_code == code, output
    assert f"voicecoach: {said} at " in output and "resume with --from" in output, output
    assert attrs[3] & termios.ECHO and attrs[3] & termios.ICANON  # typing shows again


# ---- item 14: the sound device is checked before any speech is synthesised -------------------


def _no_sound_env(tmp_path) -> dict[str, str]:
    cache = tmp_path / "cache"
    return {
        **os.environ,
        "XDG_RUNTIME_DIR": str(tmp_path),
        "PULSE_SERVER": f"unix:{tmp_path}/none",
        "VOICECOACH_CACHE_DIR": str(cache),  # empty: every phrase would need synthesis
        "PYTHONPATH": str(REPO),
    }


def _speech_entries(tmp_path) -> list:
    return [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]


def test_play_without_a_sound_device_says_so_before_synthesising(tmp_path):
    script = tmp_path / "signals.md"
    script.write_text(SCRIPT, encoding="utf-8")
    r = subprocess.run(
        [sys.executable, "-m", "voicecoach.cli", "play", str(script), "--engine", "system"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=_no_sound_env(tmp_path),
        timeout=120,
    )
    assert r.returncode == 1
    assert "no sound output device found" in r.stderr, r.stderr
    assert "preparing speech" not in r.stderr
    assert _speech_entries(tmp_path) == []


def test_session_play_without_a_sound_device_fails_before_synthesising(tmp_path):
    script = tmp_path / "signals.md"
    script.write_text(SCRIPT, encoding="utf-8")
    code = (
        "import sys, voicecoach\n"
        "from voicecoach.errors import PlaybackError\n"
        "with voicecoach.load(sys.argv[1], engine='system') as s:\n"
        "    try:\n"
        "        s.play(interactive=False)\n"
        "    except PlaybackError as e:\n"
        "        print('PlaybackError', e)\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code, str(script)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=_no_sound_env(tmp_path),
        timeout=120,
    )
    assert r.stdout.startswith("PlaybackError no sound output device found"), r.stdout + r.stderr
    assert _speech_entries(tmp_path) == []
