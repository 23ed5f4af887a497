"""The status line: fitted to the terminal without cutting a number, and what it says."""

from __future__ import annotations

import os
import unicodedata

from voicecoach.playback.status import Status, StatusLine, cue_at, player_status, reason_text

from ..play_driver import RATE, two_sections


def _read_all(fd: int, quiet_s: float = 0.2) -> bytes:
    """Everything readable on ``fd`` until it stays quiet for ``quiet_s`` (a pty delivers in pieces)."""
    import select

    data = b""
    while select.select([fd], [], [], quiet_s)[0]:
        data += os.read(fd, 1000)
    return data


def test_status_line_rewrites_in_place_on_a_terminal_and_stays_quiet_when_asked():
    master, slave = os.openpty()
    try:
        out = os.fdopen(slave, "w", closefd=False)
        line = StatusLine(out)
        line.show("playing 0:01")
        line.show("playing 0:01")  # unchanged: not redrawn
        line.show("playing 0:02")
        line.clear()
        StatusLine(out, quiet=True).show("hidden")
        out.flush()
        data = _read_all(master)
        assert data == b"\rplaying 0:01\x1b[K\rplaying 0:02\x1b[K\r\x1b[K"
    finally:
        os.close(master)
        os.close(slave)


def test_status_text_keeps_the_numbers_and_shortens_the_words():
    status = Status(
        head="playing 1:23/30:00",
        section="Right side of the neck and the shoulder blades",
        cue='"Breathe in slowly and let the shoulder blades slide down..."',
        left="28:37 left",
        extras=("vol -6 dB", "(waiting for speech synthesis: nothing is lost)"),
    )
    full = status.text()
    assert full == (
        'playing 1:23/30:00  Right side of the neck and the shoulder blades  | "Breathe in '
        'slowly and let the shoulder blades slide down..." | 28:37 left  vol -6 dB  '
        "(waiting for speech synthesis: nothing is lost)"
    )
    assert status.text(300) == full
    for width in (120, 80, 60, 40, 30):
        line = status.text(width)
        assert len(line) <= width - 1, (width, line)
        assert line.startswith("playing 1:23/30:00") and "28:37 left" in line, (width, line)
    assert "Right side" in status.text(80) and "…" in status.text(80)
    assert "vol -6 dB" in status.text(80)
    assert status.text(10) == "playing 1"  # narrower than the numbers: cut, as a last resort


def test_status_text_measures_escaped_and_wide_characters():
    status = Status(
        head="playing 0:01/0:10", section="\u5de6\u5074" * 10, cue='"\x9b2J"', left="0:09 left"
    )
    line = status.text(50)
    assert "\x9b" not in line and "0:09 left" in line
    wide = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)
    assert wide <= 49, line


def test_player_status_and_reason_text_say_where_the_session_is():
    plan = two_sections()  # One (0-2 s): phrase a at 0; Two (2-3.5 s): phrase b at 2.2 s
    at = int(2.5 * RATE)
    assert cue_at(plan, at) == '"phrase b"'
    shown = player_status(plan, at, "playing", volume_db=-6.0, measuring=True)
    assert shown == Status(
        "playing 0:02/0:03",
        "Two",
        '"phrase b"',
        "0:01 left",
        ("vol -6 dB", "(waiting for speech synthesis: nothing is lost)"),
    )
    assert player_status(plan, at, "paused", volume_db=0.0, measuring=False).extras == ()
    assert reason_text(plan, "stopped", at) == "stopped at 0:02 in 'Two'; resume with --from 0:02"
    assert reason_text(plan, "SIGTERM", at).startswith("stopped by SIGTERM at 0:02")
    assert reason_text(plan, "lost", 0).startswith(
        "the sound device was lost; stopped at 0:00 in 'One'"
    )
