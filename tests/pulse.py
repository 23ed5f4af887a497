"""A real sound server for the playback tests: PulseAudio with a null sink, recorded with parec.

``pulse_server`` (a session fixture) starts a private PulseAudio through
``tools/pulse-up.sh`` in its own runtime folder and points this process (and
the subprocesses it starts) at it. ``Recorder`` records the sink's monitor
while something plays, with the wall-clock arrival time of every chunk so
that the time to first sound can be measured. If PulseAudio cannot start the
tests FAIL with the reason: CI installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
PULSE_UP = REPO / "tools" / "pulse-up.sh"
RATE = 44_100
FRAME_BYTES = 4  # s16le stereo


@dataclass(frozen=True)
class PulseServer:
    """A running PulseAudio: its runtime folder and the environment that reaches it."""

    runtime_dir: str
    env: dict[str, str]  # XDG_RUNTIME_DIR and PULSE_SERVER

    def environ(self) -> dict[str, str]:
        """``os.environ`` plus this server (for subprocesses)."""
        return {**os.environ, **self.env}

    def stop(self) -> None:
        subprocess.run(
            [str(PULSE_UP), "--stop"], env=self._script_env(), capture_output=True, timeout=10
        )

    def _script_env(self) -> dict[str, str]:
        return {**os.environ, "VOICECOACH_PULSE_DIR": self.runtime_dir}


def start_pulse(runtime_dir: str) -> PulseServer:
    """Run tools/pulse-up.sh for ``runtime_dir``; fails the test with the script's reason."""
    if shutil.which("pulseaudio") is None or shutil.which("parec") is None:
        pytest.fail(
            "PulseAudio is needed for the playback tests: apt-get install pulseaudio pulseaudio-utils libasound2-plugins"
        )
    env = {**os.environ, "VOICECOACH_PULSE_DIR": runtime_dir}
    r = subprocess.run(["sh", str(PULSE_UP)], env=env, capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        pytest.fail(f"tools/pulse-up.sh could not start PulseAudio: {r.stderr.strip()}")
    found = {}
    for line in r.stdout.splitlines():
        if line.startswith("export "):
            name, _, value = line[len("export ") :].partition("=")
            found[name] = value.strip("'")
    return PulseServer(
        runtime_dir,
        {"XDG_RUNTIME_DIR": found["XDG_RUNTIME_DIR"], "PULSE_SERVER": found["PULSE_SERVER"]},
    )


@pytest.fixture(scope="session")
def pulse_server():
    """A private PulseAudio for this test run; this process's environment points at it."""
    runtime_dir = tempfile.mkdtemp(prefix="vc-pulse-")  # short: UNIX socket paths are limited
    server = start_pulse(runtime_dir)
    saved = {k: os.environ.get(k) for k in server.env}
    os.environ.update(server.env)
    _reinitialise_portaudio()
    yield server
    server.stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    _reinitialise_portaudio()
    shutil.rmtree(runtime_dir, ignore_errors=True)


def _reinitialise_portaudio() -> None:
    """PortAudio lists devices when it starts: restart it if it started before the server."""
    sd = sys.modules.get("sounddevice")
    if sd is not None:
        sd._terminate()
        sd._initialize()


class Recorder:
    """Records ``vc.monitor`` (s16le, 44.1 kHz, stereo) in a background thread.

    ``chunks`` keeps ``(arrival_time, frames_so_far)`` so a frame index can be
    turned into the wall-clock time it reached the recorder.
    """

    def __init__(self, server: PulseServer, *, source: str = "vc.monitor"):
        self.server = server
        self.source = source
        self._buf = bytearray()
        self.chunks: list[tuple[float, int]] = []
        self._proc: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Recorder:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, timeout_s: float = 10.0) -> None:
        """Start parec and wait until audio (the monitor's silence) is flowing."""
        self._proc = subprocess.Popen(
            [
                "parec",
                "--latency-msec=10",
                "-d",
                self.source,
                "--format=s16le",
                f"--rate={RATE}",
                "--channels=2",
                "--raw",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.server.environ(),
            bufsize=0,
        )
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while len(self._buf) < RATE * FRAME_BYTES // 10:  # 100 ms arrived: the stream is live
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                pytest.fail(f"parec exited: {err.strip()}")
            if time.monotonic() > deadline:
                pytest.fail("parec delivered no audio within 10 s")
            time.sleep(0.01)

    def _pump(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        while True:
            data = os.read(fd, 16384)
            if not data:
                return
            self._buf.extend(data)
            self.chunks.append((time.monotonic(), len(self._buf) // FRAME_BYTES))

    @property
    def frames(self) -> int:
        return len(self._buf) // FRAME_BYTES

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(timeout=5)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def audio(self) -> np.ndarray:
        """Everything recorded so far as ``(frames, 2)`` float32 in -1..1."""
        n = self.frames * FRAME_BYTES
        x = np.frombuffer(bytes(self._buf[:n]), dtype="<i2").reshape(-1, 2)
        return x.astype(np.float32) / 32768.0

    def time_of_frame(self, frame: int) -> float:
        """Wall-clock (``time.monotonic``) time the chunk holding ``frame`` arrived."""
        for t, upto in self.chunks:
            if upto > frame:
                return t
        raise ValueError(f"frame {frame} was not recorded (have {self.frames})")

    def frame_at_time(self, t: float) -> int:
        """The number of frames recorded by wall-clock time ``t``."""
        frames = 0
        for when, upto in self.chunks:
            if when > t:
                break
            frames = upto
        return frames
