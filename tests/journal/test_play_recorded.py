"""Every `play` is recorded in the journal (issue 14): real playback through the test PulseAudio,
`voicecoach play` on a pseudo-terminal, keys typed into it, the journal read back."""

# ruff: noqa: F811  (pytest fixtures imported from tests/pulse.py are redefined as arguments)
from __future__ import annotations

import os
import sys
import time

import pytest

from tests.pty_process import PtyProcess
from tests.pulse import REPO, pulse_server  # noqa: F401
from voicecoach.journal import Journal

SCRIPT = """---
title: Journal play
lead_in: 0.3s
end_quiet: 0.5s
---
# First
Rest.
[pause 1s]
# Second
Breathe out slowly.
[pause 6s]
# Third
Rest.
"""


def _play(tmp_path, env: dict[str, str], *args: str) -> tuple[int, str]:
    script = tmp_path / "journal-play.md"
    script.write_text(SCRIPT, encoding="utf-8")
    cli = PtyProcess(
        [sys.executable, "-m", "voicecoach.cli", "play", str(script), "--engine", "system", *args],
        {**env, "VOICECOACH_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(REPO)},
    )
    cli.wait_for(b"playing", timeout_s=60)
    return cli, str(script.resolve())


@pytest.mark.slow
def test_a_finished_play_is_recorded(pulse_server, tmp_path):
    cli, key = _play(tmp_path, pulse_server.environ())
    assert cli.wait(timeout_s=60) == 0, bytes(cli.output)
    cli.close()
    (p,) = Journal(tmp_path / "data" / "journal.sqlite3").practices()
    assert p.session == key and p.title == "Journal play" and p.finished
    assert p.stopped_at_s is None and p.stopped_section is None
    assert p.engine == "system" and p.level == "standard"
    assert (
        p.ended is not None and 30 < p.duration_s < 60
    )  # the plan lasts 30.6 s (the bell rings out)


@pytest.mark.slow
def test_a_play_stopped_with_q_is_recorded_at_its_time_and_section(pulse_server, tmp_path):
    cli, _ = _play(tmp_path, pulse_server.environ())
    time.sleep(0.5)
    cli.send(b"n")  # to "Second", which lasts over 6 s
    time.sleep(1.5)
    cli.send(b"q")
    assert cli.wait(timeout_s=30) == 0, bytes(cli.output)
    cli.close()
    (p,) = Journal(tmp_path / "data" / "journal.sqlite3").practices()
    assert not p.finished and p.ended is not None
    assert p.stopped_section == "Second", bytes(cli.output)
    assert 1.0 < p.stopped_at_s < 9.0


@pytest.mark.slow
def test_a_damaged_journal_is_said_and_the_session_plays_on(pulse_server, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "journal.sqlite3").write_bytes(os.urandom(4096))
    cli, _ = _play(tmp_path, pulse_server.environ())
    assert cli.wait(timeout_s=60) == 0, bytes(cli.output)
    cli.close()
    out = bytes(cli.output).decode("utf-8", "replace")
    assert "voicecoach: the journal could not be written: the journal file is damaged" in out
    assert out.count("the journal could not be written") == 1
    assert "Traceback" not in out
