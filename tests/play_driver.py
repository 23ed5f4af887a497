"""Plans built by hand for the playback tests, and a driver that plays one (run on a pty).

The plans use synthetic "speech" (frequency sweeps, easy to find again in a
recording by cross-correlation) so the playback tests do not depend on the
compiler or a speech engine.

    python -m tests.play_driver PLAN REPORT_JSON [--start SAMPLE]

plays PLAN (a name in ``PLANS``) with ``play_plan`` (keys on when stdin is a
terminal) and writes the report, the terminal settings before and after, and
the error message if any to REPORT_JSON.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from voicecoach.language.plan import Event, Plan, Section
from voicecoach.language.script import Settings
from voicecoach.speech.engine import SpeechAudio

RATE = 44_100
SPEECH_RATE = 22_050


def sweep(f0_hz: float, f1_hz: float, duration_s: float, rate: int = SPEECH_RATE) -> np.ndarray:
    """A linear frequency sweep at half scale: a stand-in for an utterance."""
    t = np.arange(int(duration_s * rate)) / rate
    k = (f1_hz - f0_hz) / duration_s
    return (0.5 * np.sin(2 * np.pi * (f0_hz * t + 0.5 * k * t * t))).astype(np.float32)


SPEECH = {
    "a": SpeechAudio(sweep(300, 2000, 1.5), SPEECH_RATE),
    "b": SpeechAudio(sweep(2500, 600, 1.0), SPEECH_RATE),
    "c": SpeechAudio(sweep(800, 1200, 1.0), SPEECH_RATE),
}


def speech_lookup(key: str) -> SpeechAudio:
    return SPEECH[key]


def _s(seconds: float) -> int:
    return int(round(seconds * RATE))


def _speech(key: str, start_s: float, line: int) -> Event:
    n = SPEECH[key].duration_samples_at(RATE)
    return Event("speech", _s(start_s), _s(start_s) + n, line, text=f"phrase {key}", speech_key=key)


def two_sections() -> Plan:
    """One (0-2 s): phrase a at 0, a tick at 1.6 s. Two (2-3.5 s): phrase b at 2.2 s."""
    events = (
        _speech("a", 0.0, 2),
        Event("tone", _s(1.6), _s(1.85), 3, tone="tick", variant="right"),
        _speech("b", 2.2, 5),
    )
    sections = (Section("One", 0, _s(2.0), 1), Section("Two", _s(2.0), _s(3.5), 4))
    return Plan("two sections", RATE, _s(3.5), sections, events, Settings(title="two sections"))


def with_lead_in() -> Plan:
    """1 s of silence, then phrase c: for the time to the first sound of a session with a lead-in."""
    events = (_speech("c", 1.0, 2),)
    return Plan(
        "lead-in",
        RATE,
        _s(2.2),
        (Section("Only", 0, _s(2.2), 1),),
        events,
        Settings(title="lead-in"),
    )


def long_steady() -> Plan:
    """Phrases back to back for 9 s: long enough that a key (or a lost device) lands part-way
    even when a loaded machine makes the recorder lag by seconds."""
    events = tuple(_speech("c", float(i), i + 1) for i in range(9))
    sections = (Section("First", 0, _s(3.0), 1), Section("Right side", _s(3.0), _s(9.2), 4))
    return Plan("long", RATE, _s(9.2), sections, events, Settings(title="long"))


PLANS = {"two_sections": two_sections, "with_lead_in": with_lead_in, "long_steady": long_steady}


def main(argv: list[str]) -> int:
    import termios

    from voicecoach.errors import VoicecoachError
    from voicecoach.playback.player import play_plan
    from voicecoach.sound.palette import load_palette

    name, report_path = argv[0], argv[1]
    start = int(argv[argv.index("--start") + 1]) if "--start" in argv else 0
    plan = PLANS[name]()
    tty = sys.stdin.isatty()
    before = termios.tcgetattr(0) if tty else None
    result: dict = {"started": time.monotonic()}
    try:
        report = play_plan(plan, speech_lookup, palette=load_palette(None), start_sample=start)
        result["report"] = report.__dict__
        code = 0
    except VoicecoachError as e:
        result["error"] = str(e)
        result["error_type"] = type(e).__name__
        code = 1
    result["finished"] = time.monotonic()
    if tty:
        result["terminal_restored"] = termios.tcgetattr(0) == before
    with open(report_path, "w", encoding="utf-8") as f:
        json.dump(result, f)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
