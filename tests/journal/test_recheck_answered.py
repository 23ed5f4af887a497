"""Re-checks answered without looking (issue 14, item 1): `voicecoach play` on a pseudo-terminal
through the test PulseAudio, keys typed once the status line shows the window, the journal read
back through `voicecoach history --json`."""

# ruff: noqa: F811  (pytest fixtures imported from tests/pulse.py are redefined as arguments)
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests.playback.test_playback import occurrences
from tests.pty_process import PtyProcess
from tests.pulse import REPO, Recorder, pulse_server  # noqa: F401
from voicecoach.playback.uisounds import answer_chime, stereo

SCRIPT = """---
title: Shoulders
lead_in: 0.3s
end_quiet: 0.5s
---
# Before
[recheck shoulders]
# Middle
Rest.
[pause 3s]
# After
[recheck shoulders]
"""
WINDOW = b"shoulders? answer 1-5"


class Play:
    """One `voicecoach play` of the script on a pty; ``seen`` is how much output was looked at."""

    def __init__(self, script, env: dict[str, str]):
        self.cli = PtyProcess(
            [sys.executable, "-m", "voicecoach.cli", "play", str(script), "--engine", "system"],
            env,
        )
        self.seen = 0

    def next(self, text: bytes, timeout_s: float = 60.0) -> None:
        """Wait until ``text`` is printed after what was seen so far (a redraw of the status line)."""
        out = self.cli.output
        deadline = time.monotonic() + timeout_s
        while (at := out.find(text, self.seen)) < 0:
            if time.monotonic() > deadline or self.cli.proc.poll() is not None:
                raise AssertionError(f"no {text!r} after {self.seen}; output: {bytes(out)!r}")
            time.sleep(0.05)
        self.seen = at + len(text)

    def finish(self) -> str:
        assert self.cli.wait(timeout_s=90) == 0, bytes(self.cli.output)
        self.cli.close()
        return bytes(self.cli.output).decode("utf-8", "replace")


@pytest.mark.slow
def test_two_plays_answered_through_the_pty_show_before_and_after_in_history(
    pulse_server, tmp_path
):
    script = tmp_path / "shoulders.md"
    script.write_text(SCRIPT, encoding="utf-8")
    env = {
        **pulse_server.environ(),
        "VOICECOACH_DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": str(REPO),
    }
    # first play: number keys; a number outside the windows is ignored
    with Recorder(pulse_server) as rec:
        first = Play(script, env)
        first.next(WINDOW)
        first.cli.send(b"4")
        first.next(b"shoulders before: 4/5")
        first.next(b"Middle")  # the 3 s pause after the first window: no window open
        first.cli.send(b"1")
        first.next(WINDOW)
        first.cli.send(b"2")
        first.next(b"shoulders after: 2/5")
        said = first.finish()
    assert "1/5" not in said, said
    # each accepted answer was confirmed by the chime, heard on the sound device: twice
    chime = stereo(answer_chime(44_100))
    assert len(occurrences(rec.audio(), chime, threshold=0.9)) == 2
    # second play: taps of the space bar (counted, recorded once they settle), then a number
    second = Play(script, env)
    second.next(WINDOW)
    for _ in range(3):
        second.cli.send(b" ")
        time.sleep(0.15)
    second.next(b"shoulders before: 3/5")
    second.next(WINDOW)
    second.cli.send(b"1")
    second.next(b"shoulders after: 1/5")
    said = second.finish()
    assert "paused" not in said, said  # the taps inside the window did not pause the session

    history = subprocess.run(
        [sys.executable, "-m", "voicecoach.cli", "history", "--json"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert history.returncode == 0, history.stderr
    newest, oldest = json.loads(history.stdout)
    assert newest["finished"] and oldest["finished"]
    assert newest["rechecks"] == {"shoulders": {"before": 3, "after": 1}}
    assert oldest["rechecks"] == {"shoulders": {"before": 4, "after": 2}}


SHORT = """---
title: Auto
lead_in: 0.3s
end_quiet: 0.3s
---
Rest.
"""


@pytest.mark.slow
def test_level_auto_says_why_in_the_sessions_voice_before_the_lead_in(pulse_server, tmp_path):
    from tests.playback.test_playback import locate
    from voicecoach.playback.uisounds import ui_sounds
    from voicecoach.session import load
    from voicecoach.sound.palette import load_palette

    script = tmp_path / "auto.md"
    script.write_text(SHORT, encoding="utf-8")
    env = {
        **pulse_server.environ(),
        "VOICECOACH_DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": str(REPO),
    }
    argv = [sys.executable, "-m", "voicecoach.cli", "play", str(script), "--engine", "system"]
    with Recorder(pulse_server) as rec:
        cli = PtyProcess([*argv, "--level", "auto"], env)
        assert cli.wait(timeout_s=90) == 0, bytes(cli.output)
        cli.close()
        time.sleep(0.2)
    reason = "This is your first time with this session, so gentle."
    assert f"level gentle: {reason}" in bytes(cli.output).decode("utf-8", "replace")
    with load(script, engine="system", level="gentle") as session:  # the same voice, from the cache
        session.speech.prepare([reason])
        spoken = session.speech.audio(session.speech.key(reason))
        plan = session.plan()
        rest = session.speech.audio(session.speech.key("Rest."))
    rate = plan.sample_rate
    x = rec.audio()
    ui = ui_sounds(load_palette(None), rate, intro_speech=spoken, paused_speech=rest)
    said, rest_said = ui["intro"], ui["paused"]  # resampled to the plan's rate as played
    skip = int(0.02 * rate)  # the monitor may miss the start of a stream
    at_said, score_said = locate(x, said[skip:])
    at_rest, score_rest = locate(x, rest_said)
    assert score_said > 0.9 and score_rest > 0.9, (score_said, score_rest)
    assert at_said - skip + len(said) <= at_rest  # the sentence, then the session
