"""Live playback through a real sound server (PulseAudio with a null sink, recorded by parec).

These tests play in real time: plans are a few seconds long. Keys are sent
through a pseudo-terminal to a driver process (tests/play_driver.py), the
way a person's keyboard reaches ``voicecoach play``.
"""

# ruff: noqa: F811  (pytest fixtures imported from tests/pulse.py are redefined as arguments)
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import correlate

from voicecoach.errors import PlaybackError, UsageError
from voicecoach.language.plan import Plan
from voicecoach.playback.player import play_plan
from voicecoach.playback.uisounds import ui_sounds
from voicecoach.sound.palette import load_palette

from ..play_driver import RATE, speech_lookup, two_sections, with_lead_in
from ..pty_process import PtyProcess
from ..pulse import REPO, Recorder, pulse_server, start_pulse  # noqa: F401

PALETTE = load_palette(None)
SILENCE = 1e-3  # recorded frames quieter than this are silence
MATCH = 0.97  # normalised cross-correlation that counts as "the same audio"
RIG_START_LOSS_S = 0.02  # audio the null sink's monitor may miss when a stream starts (see below)


# ---- signal helpers ------------------------------------------------------------------------


def mono(x: np.ndarray) -> np.ndarray:
    return x.mean(axis=1) if x.ndim == 2 else x


def ncc_scan(haystack: np.ndarray, needle: np.ndarray) -> np.ndarray:
    """Normalised cross-correlation of ``needle`` at every offset of ``haystack`` (mono)."""
    h, n = mono(haystack).astype(np.float64), mono(needle).astype(np.float64)
    if len(h) < len(n):
        return np.zeros(0)
    c = correlate(h, n, mode="valid", method="fft")
    csum = np.concatenate([[0.0], np.cumsum(h * h)])
    window = csum[len(n) :] - csum[: len(h) - len(n) + 1]
    return c / (np.linalg.norm(n) * np.sqrt(np.maximum(window, 1e-12)))


def locate(haystack: np.ndarray, needle: np.ndarray) -> tuple[int, float]:
    """Best offset of ``needle`` in ``haystack`` and its normalised correlation."""
    scores = ncc_scan(haystack, needle)
    if not len(scores):
        return -1, 0.0
    i = int(np.argmax(scores))
    return i, float(scores[i])


def occurrences(haystack: np.ndarray, needle: np.ndarray, threshold: float = MATCH) -> list[int]:
    """Offsets where ``needle`` occurs (peaks above ``threshold``, at least one needle apart)."""
    scores = ncc_scan(haystack, needle)
    found: list[int] = []
    for i in np.flatnonzero(scores > threshold):
        if found and i - found[-1] < len(needle):
            if scores[i] > scores[found[-1]]:
                found[-1] = int(i)
            continue
        found.append(int(i))
    return found


def first_sound(x: np.ndarray, after: int = 0) -> int:
    loud = np.flatnonzero(np.abs(mono(x[after:])) > SILENCE)
    if not len(loud):
        raise AssertionError("no sound was recorded")
    return after + int(loud[0])


def last_sound(x: np.ndarray) -> int:
    loud = np.flatnonzero(np.abs(mono(x)) > SILENCE)
    return int(loud[-1])


def export_reference(plan: Plan, tmp_path: Path) -> np.ndarray:
    """What ``export`` writes for ``plan``, read back from the WAV file."""
    from voicecoach.export.writer import export_plan

    result = export_plan(
        plan, speech_lookup, tmp_path / f"{plan.title}.wav", palette=PALETTE, fmt="wav"
    )
    x, rate = sf.read(str(result.path), dtype="float32", always_2d=True)
    assert rate == plan.sample_rate
    return x


def phrase(
    reference: np.ndarray, plan: Plan, key: str, *, head_s: float | None = None
) -> np.ndarray:
    """The reference audio of the (first) speech event with ``key``."""
    e = next(e for e in plan.events if e.kind == "speech" and e.speech_key == key)
    end = e.end_sample if head_s is None else e.start_sample + int(head_s * plan.sample_rate)
    return reference[e.start_sample : end]


def wait_for_sound(
    rec: Recorder, *, after_frame: int = 0, timeout_s: float = 20.0, player: PtyPlayer | None = None
) -> tuple[int, float]:
    """Wait until the recording holds sound; its frame and the wall-clock time it arrived."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        x = rec.audio()
        loud = np.flatnonzero(np.abs(mono(x[after_frame:])) > SILENCE)
        if len(loud):
            frame = after_frame + int(loud[0])
            return frame, rec.time_of_frame(frame)
        time.sleep(0.01)
    detail = ""
    if player is not None:
        detail = f"; player exit {player.proc.poll()}, output: {bytes(player.output)[-2000:]!r}"
    raise AssertionError(f"no sound within {timeout_s} s{detail}")


# ---- driving a player on a pseudo-terminal -------------------------------------------------------


class PtyPlayer(PtyProcess):
    """``tests/play_driver.py`` on a pty: stdin/stdout/stderr are the pty, keys are written to it."""

    def __init__(self, env: dict[str, str], plan: str, tmp_path: Path, *extra: str):
        self.report_path = tmp_path / f"report-{plan}-{time.monotonic_ns()}.json"
        argv = [sys.executable, "-m", "tests.play_driver", plan, str(self.report_path), *extra]
        super().__init__(argv, env)

    def finish(self, timeout_s: float = 30.0) -> dict:
        try:
            self.wait(timeout_s, "the player")
        finally:
            os.close(self.master)
        assert self.report_path.exists(), (
            f"no report; exit {self.proc.returncode}; output: {bytes(self.output)!r}"
        )
        result = json.loads(self.report_path.read_text())
        result["exit_code"] = self.proc.returncode
        return result


@pytest.fixture(scope="module")
def two_sections_ref(tmp_path_factory, pulse_server):
    plan = two_sections()
    return plan, export_reference(plan, tmp_path_factory.mktemp("ref"))


# ---- in-process playback: the audio itself --------------------------------------------------------


@pytest.mark.slow
def test_recorded_audio_is_the_exported_audio(pulse_server, two_sections_ref):
    plan, ref = two_sections_ref
    with Recorder(pulse_server) as rec:
        report = play_plan(plan, speech_lookup, palette=PALETTE, interactive=False, quiet=True)
        time.sleep(0.2)
    x = rec.audio()
    assert report.completed and report.ended_by == "completed" and report.reason == ""
    assert report.underruns == 0
    at, score = locate(x, ref)
    # The null sink's monitor misses up to its latency (10 ms) when a stream starts: it has
    # already passed on silence the sink then rewinds over. Compare after that.
    skip = int(RIG_START_LOSS_S * RATE)
    aligned = x[at + skip : at + len(ref)]
    err = np.abs(aligned - ref[skip:]).max(axis=1)
    bad = np.flatnonzero(err > 2e-3)
    assert score > 0.99 and not len(bad), (
        f"recording does not match the export (ncc {score:.6f}; {len(bad)} frames differ, "
        f"first at {bad[:1] / RATE} s, last at {bad[-1:] / RATE} s)"
    )
    # the audible span is the plan's, within one block
    recorded_span = last_sound(x) - first_sound(x)
    exported_span = last_sound(ref) - first_sound(ref)
    assert abs(recorded_span - exported_span) < 4096


@pytest.mark.slow
def test_start_sample_starts_where_asked(pulse_server, two_sections_ref):
    plan, ref = two_sections_ref
    start = plan.sections[1].start_sample  # "Two", at 2.0 s: phrase b follows at 2.2 s
    with Recorder(pulse_server) as rec:
        t_call = time.monotonic()
        report = play_plan(
            plan, speech_lookup, palette=PALETTE, start_sample=start, interactive=False, quiet=True
        )
        time.sleep(0.2)
    x = rec.audio()
    assert report.completed and report.underruns == 0
    at, score = locate(x, ref[start:])
    assert score > 0.999  # here the stream starts in silence: nothing audible is lost
    _, score_a = locate(x, phrase(ref, plan, "a"))
    assert score_a < 0.5, "phrase a (before the start) was played"
    # the first sound is phrase b, 0.2 s after the start; the stream started promptly
    b_start = next(e.start_sample for e in plan.events if e.speech_key == "b")
    assert abs(first_sound(x) - (at + b_start - start)) < 100
    assert rec.time_of_frame(first_sound(x)) - t_call < 0.2 + 0.5


@pytest.mark.slow
def test_time_to_first_sound(pulse_server, two_sections_ref, capsys):
    plan, _ = two_sections_ref  # loudness cached, modules loaded: a warm start
    with Recorder(pulse_server) as rec:
        t_call = time.monotonic()
        report = play_plan(plan, speech_lookup, palette=PALETTE, interactive=False, quiet=True)
    first = rec.time_of_frame(first_sound(rec.audio())) - t_call
    with capsys.disabled():
        print(
            f"\n  time to first sound (warm, in process): {first * 1000:.0f} ms; first block handed over after {report.first_audio_s * 1000:.0f} ms"
        )
    assert report.completed
    assert first < 0.5


@pytest.mark.slow
def test_the_first_phrase_comes_right_after_the_lead_in(pulse_server, tmp_path, monkeypatch):
    monkeypatch.setenv("VOICECOACH_CACHE_DIR", str(tmp_path))  # cold: nothing cached
    plan = with_lead_in()
    with Recorder(pulse_server) as rec:
        t_call = time.monotonic()
        report = play_plan(plan, speech_lookup, palette=PALETTE, interactive=False, quiet=True)
    assert report.completed and report.underruns == 0
    assert report.synthesis_wait_s == 0.0  # nothing to wait for: the gain is known
    first = rec.time_of_frame(first_sound(rec.audio())) - t_call
    assert 1.0 <= first < 1.5  # the phrase comes after exactly the lead-in, once the stream started


# ---- keys through a pseudo-terminal ----------------------------------------------------------------


@pytest.mark.slow
def test_pause_and_resume_from_the_start_of_the_cut_phrase(
    pulse_server, two_sections_ref, tmp_path
):
    plan, ref = two_sections_ref
    with Recorder(pulse_server) as rec:
        player = PtyPlayer(pulse_server.environ(), "two_sections", tmp_path)
        start_frame, t0 = wait_for_sound(rec, player=player)
        time.sleep(max(0.0, t0 + 0.7 - time.monotonic()))
        t_pause = player.send(b" ")  # in the middle of phrase a (0 - 1.5 s)
        time.sleep(1.6)
        t_resume = player.send(b" ")
        result = player.finish()
    x = rec.audio()
    report = result["report"]
    assert report["completed"] and report["underruns"] == 0
    assert result["terminal_restored"]
    a = phrase(ref, plan, "a")
    # before the pause: the start of phrase a, as exported
    head = int(0.5 * RATE)
    skip = int(RIG_START_LOSS_S * RATE)  # the monitor may miss the stream's first frames
    assert locate(x[start_frame - 50 : start_frame + head + 50], a[skip:head])[1] > MATCH
    # "paused" is said (here: the default two-note cue), then silence until the resume key
    p0, p1 = rec.frame_at_time(t_pause), rec.frame_at_time(t_pause + 1.0)
    paused_sound = ui_sounds(PALETTE, RATE)["paused"]
    assert locate(x[p0:p1], paused_sound)[1] > 0.9
    quiet = x[rec.frame_at_time(t_pause + 1.0) : rec.frame_at_time(t_resume)]
    assert len(quiet) > 0.3 * RATE and np.max(np.abs(quiet)) < SILENCE
    # after resuming, phrase a plays whole, from its start, once
    full = occurrences(x, a)
    assert len(full) == 1, f"phrase a found whole {len(full)} times"
    t_full = rec.time_of_frame(full[0])
    assert 0.0 < t_full - t_resume < 2.5
    assert len(occurrences(x, phrase(ref, plan, "b"))) == 1


@pytest.mark.slow
def test_next_and_back_keys_jump_between_sections(pulse_server, two_sections_ref, tmp_path):
    plan, ref = two_sections_ref
    b = phrase(ref, plan, "b")
    b_head = phrase(ref, plan, "b", head_s=0.3)
    with Recorder(pulse_server) as rec:
        player = PtyPlayer(pulse_server.environ(), "two_sections", tmp_path)
        start_frame, t0 = wait_for_sound(rec, player=player)
        time.sleep(max(0.0, t0 + 0.5 - time.monotonic()))
        t_next = player.send(b"n")
        # wait for phrase b to start, then go back to the start of its section with the left arrow
        deadline = time.monotonic() + 5
        while not occurrences(rec.audio()[-RATE // 2 :], b_head) and time.monotonic() < deadline:
            time.sleep(0.02)
        player.send(b"\x1b[D")  # b is 1 s long: this cuts it
        result = player.finish()
    x = rec.audio()
    assert result["report"]["completed"] and result["terminal_restored"]
    assert locate(x, phrase(ref, plan, "a"))[1] < 0.8, "phrase a should have been cut by the jump"
    heads = occurrences(x, b_head)
    assert len(heads) == 2, f"phrase b should start twice (jump, then back), found {len(heads)}"
    assert 0.0 < rec.time_of_frame(heads[0]) - t_next < 1.5  # tick, short gap, then section Two
    assert len(occurrences(x, b)) == 1  # played whole once: after going back


@pytest.mark.slow
def test_volume_keys_and_quit_with_bell(pulse_server, tmp_path):
    with Recorder(pulse_server) as rec:
        player = PtyPlayer(pulse_server.environ(), "long_steady", tmp_path)
        _, t0 = wait_for_sound(rec, player=player)
        time.sleep(max(0.0, t0 + 1.0 - time.monotonic()))
        t_up = player.send(b"\x1b[A")
        time.sleep(1.6)
        t_quit = player.send(b"q")
        result = player.finish()
    x = rec.audio()
    report = result["report"]
    assert result["terminal_restored"]
    assert not report["completed"] and report["ended_by"] == "stopped"
    assert re.fullmatch(
        r"stopped at 0:0\d in '(First|Right side)'; resume with --from 0:0\d", report["reason"]
    )
    assert abs(report["stopped_at_sample"] / RATE - (t_quit - t0)) < 0.5
    # +3 dB: the steady phrases are 1.41 times as loud after the key
    before = x[rec.frame_at_time(t0 + 0.2) : rec.frame_at_time(t0 + 0.9)]
    after = x[rec.frame_at_time(t_up + 0.6) : rec.frame_at_time(t_up + 1.5)]
    ratio = np.sqrt(np.mean(after**2) / np.mean(before**2))
    assert abs(20 * np.log10(ratio) - 3.0) < 0.5, f"volume step was {20 * np.log10(ratio):.2f} dB"
    # q: a short fade, then the bell rings out (and no more phrases)
    bell = ui_sounds(PALETTE, RATE)["bell"][int(0.6 * RATE) : int(2.0 * RATE)]
    q0 = rec.frame_at_time(t_quit)
    assert locate(x[q0:], bell)[1] > 0.9
    assert result["finished"] - t_quit < 4.0 + 2.0


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_restores_the_terminal(pulse_server, tmp_path):
    with Recorder(pulse_server) as rec:
        player = PtyPlayer(pulse_server.environ(), "long_steady", tmp_path)
        _, t0 = wait_for_sound(rec, player=player)
        time.sleep(max(0.0, t0 + 0.8 - time.monotonic()))
        t_int = player.send(b"\x03")
        result = player.finish(timeout_s=10)
    assert result["exit_code"] == 0, result
    assert result["terminal_restored"]
    report = result["report"]
    assert report["ended_by"] == "interrupted" and not report["completed"]
    assert "resume with --from 0:0" in report["reason"]
    assert result["finished"] - t_int < 2.0
    x = rec.audio()
    assert np.max(np.abs(x[rec.frame_at_time(t_int + 0.6) :]), initial=0.0) < SILENCE


@pytest.mark.slow
def test_without_a_terminal_it_plays_through_and_draws_status_lines(pulse_server, tmp_path):
    report_path = tmp_path / "report.json"
    r = subprocess.run(
        [sys.executable, "-m", "tests.play_driver", "two_sections", str(report_path)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd=REPO,
        env=pulse_server.environ(),
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    result = json.loads(report_path.read_text())
    assert result["report"]["completed"]
    lines = [line for line in r.stderr.splitlines() if line.startswith("playing")]
    assert [line.split("  ")[1] for line in lines] == [
        "One",
        "Two",
    ]  # one line per section, not redrawn


# ---- faults ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_lost_device_stops_and_says_where_to_resume(tmp_path):
    server = start_pulse(str(tmp_path / "p"))  # our own server, to kill part-way
    try:
        with Recorder(server) as rec:
            player = PtyPlayer(server.environ(), "long_steady", tmp_path)
            _, t0 = wait_for_sound(rec, player=player)
            time.sleep(max(0.0, t0 + 1.5 - time.monotonic()))
            t_kill = time.monotonic()
            server.stop()
            result = player.finish(timeout_s=20)
    finally:
        server.stop()
    assert result["exit_code"] == 1
    assert result["error_type"] == "PlaybackError"
    assert re.fullmatch(
        r"the sound device was lost; stopped at 0:0[12] in 'First'; resume with --from 0:0[12]",
        result["error"],
    ), result["error"]
    assert result["terminal_restored"]
    assert result["finished"] - t_kill < 5.0


def test_no_output_device_is_a_clear_error(tmp_path):
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path), "PULSE_SERVER": f"unix:{tmp_path}/none"}
    code = (
        "from voicecoach.playback.player import play_plan; from voicecoach.sound.palette import load_palette;"
        "from tests.play_driver import two_sections, speech_lookup\n"
        "try:\n"
        "    play_plan(two_sections(), speech_lookup, palette=load_palette(None), interactive=False)\n"
        "except Exception as e:\n"
        "    print(type(e).__name__, e)\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, timeout=60
    )
    assert r.stdout.startswith("PlaybackError no sound output device found"), r.stdout + r.stderr
    assert "voicecoach export" in r.stdout


def test_missing_portaudio_names_the_package(monkeypatch):
    import builtins

    from voicecoach.playback.devices import load_sounddevice

    real_import = builtins.__import__

    def no_portaudio(name, *args, **kwargs):
        if name == "sounddevice":
            raise OSError(
                "PortAudio library not found"
            )  # what sounddevice raises without libportaudio
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_portaudio)
    with pytest.raises(PlaybackError, match=r"libportaudio2.*voicecoach export"):
        load_sounddevice()


def test_devices_are_listed_and_chosen_by_name_or_index(pulse_server):
    from voicecoach.playback.devices import list_devices, resolve_device

    devices = list_devices()
    names = {d["name"]: d["index"] for d in devices}
    assert "pulse" in names and sum(d["default"] for d in devices) == 1
    assert resolve_device("pulse") == names["pulse"]
    assert resolve_device(str(names["pulse"])) == names["pulse"]
    assert resolve_device(None) is None
    with pytest.raises(PlaybackError, match=r"no output device named 'nope' \(outputs: .*pulse"):
        resolve_device("nope")
    with pytest.raises(PlaybackError, match="no output device with index 99"):
        resolve_device(99)


def test_start_outside_the_plan_is_a_usage_error(two_sections_ref):
    plan, _ = two_sections_ref
    with pytest.raises(UsageError, match="outside the session"):
        play_plan(
            plan,
            speech_lookup,
            palette=PALETTE,
            start_sample=plan.duration_samples,
            interactive=False,
        )


# ---- end to end: a real script, compiled, spoken by eSpeak NG ------------------------------------

TINY_SCRIPT = """---
title: Tiny
lead_in: 0.5s
end_bell: no
---

# Start
Breathe in slowly.
[breathe 1-1 x1]

# End
Relax.
"""


@pytest.mark.slow
def test_a_compiled_script_plays_as_it_exports(pulse_server, tmp_path):
    from voicecoach.session import load

    script = tmp_path / "tiny.md"
    script.write_text(TINY_SCRIPT, encoding="utf-8")
    with load(script, engine="system") as session:
        exported = session.export(tmp_path / "tiny.wav")
        ref, _ = sf.read(str(exported.path), dtype="float32", always_2d=True)
        plan = session.plan()
        with Recorder(pulse_server) as rec:
            t_call = time.monotonic()
            report = session.play(interactive=False, quiet=True)
            time.sleep(0.2)
    assert report.completed and report.underruns == 0
    assert report.gain_db == pytest.approx(exported.gain_db)
    x = rec.audio()
    at, score = locate(x, ref)
    assert score > 0.999, f"the live session differs from the export (ncc {score:.5f})"
    lead_in = plan.settings.lead_in_s
    first = rec.time_of_frame(first_sound(x)) - t_call
    assert lead_in <= first < lead_in + 0.5  # the first word comes after the lead-in, promptly


@pytest.mark.slow
def test_a_render_failure_is_reported_not_hidden(pulse_server):
    plan = two_sections()

    def broken(key: str):
        raise KeyError(key)

    with pytest.raises(Exception, match="no audio for the speech 'phrase a'") as info:
        play_plan(
            plan, broken, palette=PALETTE, gain_db=0.0, limit=False, interactive=False, quiet=True
        )
    from voicecoach.errors import RenderError

    assert isinstance(info.value, RenderError)


@pytest.mark.slow
def test_an_intro_is_said_before_the_session_which_then_plays_whole(pulse_server, two_sections_ref):
    """`play --level auto` says why it chose the level before the lead-in (issue 14)."""
    from ..play_driver import SPEECH

    plan, ref = two_sections_ref
    intro = SPEECH["c"]  # a sweep the plan does not hold
    with Recorder(pulse_server) as rec:
        report = play_plan(
            plan, speech_lookup, palette=PALETTE, interactive=False, quiet=True, intro_speech=intro
        )
        time.sleep(0.2)
    x = rec.audio()
    assert report.completed and report.underruns == 0
    said = ui_sounds(PALETTE, RATE, intro_speech=intro)["intro"]
    skip = int(RIG_START_LOSS_S * RATE)
    at_intro, score_intro = locate(x, said[skip:])
    at, score = locate(x, ref)
    assert score_intro > MATCH and score > 0.99
    gap = int(0.15 * RATE)  # transport.UI_SOUND_GAP_S
    session_start = at_intro - skip + len(said) + gap
    assert 0 <= at - session_start < 2048  # within a period of the end of the sentence and gap
