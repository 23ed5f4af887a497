"""`play` hardening (issue 11): signals (item 9), the device check (14), the status line (15).

Real playback through the test PulseAudio, on a pseudo-terminal: the terminal
is given back as it was, the sound fades out, the person is told where to
resume, and the exit status says how it ended (130 for Ctrl-C, 128 + the
signal's number otherwise).
"""

# ruff: noqa: F811  (pytest fixtures imported from tests/pulse.py are redefined as arguments)
from __future__ import annotations

import fcntl
import os
import re
import signal
import struct
import subprocess
import sys
import termios
import time

import numpy as np
import pytest

from ..pty_process import PtyProcess, read_to_end
from ..pulse import REPO, Recorder, pulse_server  # noqa: F401
from .test_playback import (
    SILENCE,
    PtyPlayer,
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


def _play_on_a_pty(env: dict[str, str], *args: str) -> PtyProcess:
    """``voicecoach play`` on a pseudo-terminal (its controlling terminal)."""
    return PtyProcess([sys.executable, "-m", "voicecoach.cli", "play", *args], env)


@pytest.mark.slow
@pytest.mark.parametrize(
    "how,code",
    [("ctrl-c", 130), (signal.SIGTERM, 128 + signal.SIGTERM), (signal.SIGHUP, 128 + signal.SIGHUP)],
)
def test_play_exit_status_says_how_it_ended(pulse_server, tmp_path, how, code):
    script = tmp_path / "signals.md"
    script.write_text(SCRIPT, encoding="utf-8")
    cli = _play_on_a_pty(pulse_server.environ(), str(script), "--engine", "system")
    cli.wait_for(b"playing", timeout_s=60)  # the status line: the stream has started
    time.sleep(1.0)
    if how == "ctrl-c":
        cli.send(b"\x03")
        said = "interrupted (Ctrl-C)"
    else:
        os.kill(cli.proc.pid, how)
        said = f"stopped by {how.name}"
    exit_code = cli.wait(timeout_s=15)
    attrs = cli.close()  # the terminal's settings as the player left them
    output = bytes(cli.output).decode("utf-8", "replace")
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


# ---- item 15: lines that end where they should -------------------------------------------------


def _screen(data: bytes) -> list[str]:
    """The lines a terminal shows for ``data`` (carriage returns overwrite; ESC [K clears)."""
    text = data.decode("utf-8", "replace").replace("\r\n", "\n")
    lines: list[str] = []
    cur: list[str] = []
    col = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if text.startswith("\x1b[K", i):
            del cur[col:]
            i += 3
            continue
        if ch == "\r":
            col = 0
        elif ch == "\n":
            lines.append("".join(cur).rstrip())
            cur, col = [], 0
        elif col < len(cur):
            cur[col] = ch
            col += 1
        else:
            cur.append(ch)
            col += 1
        i += 1
    lines.append("".join(cur).rstrip())
    return lines


def _set_columns(fd: int, columns: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))


@pytest.mark.slow
def test_play_status_line_fits_a_narrow_terminal(pulse_server, tmp_path):
    with Recorder(pulse_server) as rec:
        player = PtyPlayer(pulse_server.environ(), "long_steady", tmp_path)
        _set_columns(player.master, 40)
        _, t0 = wait_for_sound(rec, player=player)
        time.sleep(max(0.0, t0 + 2.0 - time.monotonic()))
        player.send(b"q")
        result = player.finish(timeout_s=15)
    assert result["report"]["ended_by"] == "stopped"
    drawn = [
        part.replace("\x1b[K", "")
        for part in bytes(player.output).decode("utf-8", "replace").split("\r")
        if part.startswith("playing")
    ]
    assert drawn, bytes(player.output)
    for line in drawn:
        assert len(line) <= 39, line
        assert re.search(r"\d:\d\d left", line), line  # never cut mid-number
        assert re.match(r"playing 0:0\d/0:09", line), line


@pytest.mark.parametrize("jobs", [1, 2])
def test_export_progress_bar_is_gone_before_each_result_line(tmp_path, jobs):
    scripts = [tmp_path / f"bar{i}.md" for i in range(jobs)]
    for script in scripts:
        script.write_text(SCRIPT.replace("x6", "x1"), encoding="utf-8")
    (tmp_path / "out").mkdir()
    env = {k: v for k, v in os.environ.items() if k != "CI"}  # the bar is off under CI
    env["PYTHONPATH"] = str(REPO)
    master, slave = os.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "voicecoach.cli", "export", *map(str, scripts)]
            + ["-o", str(tmp_path / "out"), "--jobs", str(jobs), "--engine", "system"],
            stdin=subprocess.DEVNULL,
            stdout=slave,
            stderr=slave,
            cwd=REPO,
            env=env,
        )
        os.close(slave)
        data = read_to_end(master)
        assert proc.wait(timeout=120) == 0, data
    finally:
        os.close(master)
    assert b"exporting [" in data  # the bar was drawn
    shown = _screen(data)
    wrote = [line for line in shown if "wrote " in line]
    assert len(wrote) == jobs and all(line.startswith("wrote ") for line in wrote), shown
    assert not any("exporting [" in line for line in shown), shown  # and cleared at the end
