"""The ``system`` speech engine: the operating system's voices through pyttsx3.

On Linux that is eSpeak NG from the ``espeakng-loader`` wheel, so no system
package is needed. pyttsx3 and eSpeak run only inside worker processes
(``voicecoach.speech.worker``, backend in ``system_backend``): importing this
module imports neither.
"""

from __future__ import annotations

import difflib
import functools
import os
import queue
import sys
import threading
from typing import Any, TypedDict

from voicecoach.errors import VoiceError
from voicecoach.speech.engine import SpeechAudio, VoiceInfo
from voicecoach.speech.pace import (
    CALIBRATION_LINES,
    ESPEAK_PACE,
    ESPEAK_REFERENCE,
    ESPEAK_REFERENCE_WPM,
    ESPEAK_TABLE_VOICE,
    espeak_settings,
    voice_factor,
)
from voicecoach.speech.trim import TRIM_RECIPE
from voicecoach.speech.worker import (
    DEFAULT_CALL_TIMEOUT_S,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_START_TIMEOUT_S,
    Worker,
)

DEFAULT_WORKERS = 3
MIN_RATE_WPM = 80  # eSpeak NG's range of its own rate setting
MAX_RATE_WPM = 450
# Bump when what the worker does to an utterance changes (v2: eSpeak's carried-over
# state reset before each utterance, see espeak_state).
SYNTHESIS_VERSION = 2
# Preferred default voices on Linux, best first (eSpeak NG 1.5x ids, lower-cased by pyttsx3).
_LINUX_DEFAULT_VOICES = ("gmw/en-us", "en-us", "gmw/en", "en")
_INSTALL_HINT = (
    "Install the speech packages into voicecoach's Python: "
    "pip install pyttsx3 espeakng-loader (on Linux), or pip install pyttsx3 (macOS, Windows)."
)


class _WorkerOptions(TypedDict):
    """The keyword arguments of every ``Worker`` the engine starts."""

    label: str
    install_hint: str
    call_timeout_s: float
    start_timeout_s: float
    max_attempts: int


def clamp_rate_wpm(rate_wpm: int) -> int:
    """The nearest rate setting eSpeak accepts (its own words per minute, not as heard)."""
    return max(MIN_RATE_WPM, min(MAX_RATE_WPM, int(rate_wpm)))


@functools.cache
def _identity() -> str:
    pyttsx3_version = _installed_version("pyttsx3")
    if sys.platform.startswith("linux"):
        backend = f"espeak-ng-{_installed_version('espeakng-loader')}"
    elif sys.platform == "darwin":
        backend = "nsss"
    elif sys.platform == "win32":
        backend = "sapi5"
    else:
        backend = sys.platform
    synthesis = f"v{SYNTHESIS_VERSION}:{ESPEAK_PACE}"
    return f"system:pyttsx3-{pyttsx3_version}:{backend}:{synthesis}:{TRIM_RECIPE}"


def _installed_version(distribution: str) -> str:
    """A package's installed version, or "missing"; cheap (no importlib.metadata).

    Reads the ``<name>-<version>.dist-info`` folder name on ``sys.path``:
    importing ``importlib.metadata`` alone costs a warm ``plan`` ~25 ms.
    """
    prefix = distribution.replace("-", "_").lower() + "-"
    for folder in sys.path:
        try:
            names = os.listdir(folder or ".")
        except OSError:
            continue
        for name in names:
            if name.endswith(".dist-info") and name.lower().startswith(prefix):
                return name[len(prefix) : -len(".dist-info")]
    import importlib.metadata  # eggs and other layouts

    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "missing"


class SystemEngine:
    """pyttsx3 in a small pool of worker processes (kept alive between calls).

    ``workers`` is how many utterances may be synthesised at once (see
    ``parallelism``); each worker is started only when first needed and holds
    ~20 MB. A worker spends most of each utterance in pyttsx3's 10 ms polling
    sleep, not on the CPU, so workers overlap well even on two cores
    (measured on 2 busy cores, 200 phrases: 1 worker ~80 utterances/s,
    2 ~120-150, 3 ~180-200).
    """

    name = "system"

    slow = False  # a 30-minute session's speech in about a second: synthesise, then render

    def __init__(
        self,
        *,
        workers: int = DEFAULT_WORKERS,
        call_timeout_s: float = DEFAULT_CALL_TIMEOUT_S,
        start_timeout_s: float = DEFAULT_START_TIMEOUT_S,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.parallelism = workers
        self._worker_options: _WorkerOptions = {
            "label": "system",
            "install_hint": _INSTALL_HINT,
            "call_timeout_s": call_timeout_s,
            "start_timeout_s": start_timeout_s,
            "max_attempts": max_attempts,
        }
        self._lock = threading.Lock()
        self._workers: list[Worker] = []
        self._idle: queue.SimpleQueue[Worker] = queue.SimpleQueue()
        self._voices: list[VoiceInfo] | None = None
        self._resolved: dict[str | None, str | None] = {}
        self._factor_lock = threading.Lock()
        self._factors: dict[str | None, float] = {}

    def identity(self) -> str:
        """``system:pyttsx3-<ver>:<backend>:v<n>:<pace>:<trim recipe>``; cheap, starts nothing."""
        return _identity()

    def voices(self) -> list[VoiceInfo]:
        """The voices the engine offers (starts a worker the first time)."""
        if self._voices is None:
            rows: list[tuple[str, str, tuple[str, ...]]] = self._call("voices")
            default = self._pick_default([row[0] for row in rows])
            self._voices = [
                VoiceInfo(
                    engine=self.name,
                    id=voice_id,
                    name=name,
                    languages=tuple(languages),
                    default=voice_id == default,
                )
                for voice_id, name, languages in rows
            ]
        return list(self._voices)

    def synthesize(self, text: str, *, voice: str | None, rate_wpm: int) -> SpeechAudio:
        """Speak ``text`` into trimmed float32 mono audio, ``rate_wpm`` words per minute as heard.

        eSpeak's own rate and word gap come from the measured table in
        ``voicecoach.speech.pace``; the same arguments always give the same samples.
        """
        import numpy as np  # here: a warm `plan` never synthesises, nor needs numpy

        from voicecoach.speech.trim import pcm16_to_float32, trim_silence

        if not text.strip():  # nothing to say: no need to start a worker
            return SpeechAudio(samples=np.zeros(0, dtype=np.float32), sample_rate=22_050)
        voice_id = self.resolve_voice(voice)
        espeak_rate, word_gap_10ms = espeak_settings(rate_wpm / self.pace_factor(voice_id))
        sample_rate, pcm = self._call(
            "synthesize", text, voice_id, clamp_rate_wpm(espeak_rate), word_gap_10ms
        )
        samples = trim_silence(pcm16_to_float32(pcm), sample_rate)
        return SpeechAudio(samples=samples, sample_rate=sample_rate)

    def pace_factor(self, voice_id: str | None) -> float:
        """How much faster ``voice_id`` speaks than the rate table's voice (1.0 for that voice).

        Measured on its first use in this engine: ``CALIBRATION_LINES`` at the
        reference setting (about 0.2 s of work). See ``voicecoach.speech.pace``.
        """
        if sys.platform.startswith("linux") and voice_id == ESPEAK_TABLE_VOICE:
            return 1.0
        from voicecoach.speech.trim import pcm16_to_float32, trim_silence

        with self._factor_lock:
            if voice_id not in self._factors:
                durations_s = []
                for line in CALIBRATION_LINES:
                    sample_rate, pcm = self._call("synthesize", line, voice_id, *ESPEAK_REFERENCE)
                    samples = trim_silence(pcm16_to_float32(pcm), sample_rate)
                    durations_s.append(len(samples) / sample_rate)
                # A voice that says nothing for these lines keeps the table as it is.
                factor = (
                    voice_factor(durations_s, ESPEAK_REFERENCE_WPM) if min(durations_s) > 0 else 1.0
                )
                self._factors[voice_id] = factor
            return self._factors[voice_id]

    def resolve_voice(self, voice: str | None) -> str | None:
        """The engine's voice id for a user's voice id or name (case-insensitive).

        ``None`` is the default voice (on Linux American English). An unknown
        voice raises ``SpeechError`` listing close names.
        """
        if voice in self._resolved:
            return self._resolved[voice]
        voices = self.voices()
        if voice is None:
            found = next((v.id for v in voices if v.default), None)
        else:
            found = _match_voice(voice, voices)
        self._resolved[voice] = found
        return found

    def close(self) -> None:
        """Stop every worker (the next call starts one again)."""
        with self._lock:
            workers, self._workers = self._workers, []
            self._idle = queue.SimpleQueue()
        for worker in workers:
            worker.request_stop()  # all at once, then wait for each
        for worker in workers:
            worker.close()

    @property
    def worker_pids(self) -> list[int]:
        """Process ids of the running workers (for tests and diagnostics)."""
        return [w.pid for w in self._workers if w.pid is not None]

    @property
    def restarts(self) -> int:
        """How many times a worker died or hung and was restarted."""
        return sum(w.restarts for w in self._workers)

    # -- internals ---------------------------------------------------------

    def _pick_default(self, ids: list[str]) -> str | None:
        if sys.platform.startswith("linux"):
            lowered = {i.lower(): i for i in ids}
            for candidate in _LINUX_DEFAULT_VOICES:
                if candidate in lowered:
                    return lowered[candidate]
        return None

    def _call(self, method: str, *args: object) -> Any:
        """``SystemBackend.<method>(*args)`` in an idle worker: what it returns, unpickled."""
        worker = self._acquire()
        try:
            return worker.call(method, *args)
        finally:
            if worker in self._workers:  # not if close() ran meanwhile
                self._idle.put(worker)

    def _acquire(self) -> Worker:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if len(self._workers) < self.parallelism:
                worker = Worker(
                    "voicecoach.speech.system_backend:SystemBackend", {}, **self._worker_options
                )
                self._workers.append(worker)
                return worker
        return self._idle.get()


def _match_voice(voice: str, voices: list[VoiceInfo]) -> str:
    wanted = voice.strip().lower()
    for v in voices:
        if wanted == v.id.lower() or wanted == v.name.lower():
            return v.id
    # "en-us" for "gmw/en-us": the id without its language-family folder.
    for v in voices:
        if wanted == v.id.lower().rpartition("/")[2]:
            return v.id
    # Compare with names, ids, id tails and the language part of names
    # ("English" of "English (America)"), then show the matching voices' names.
    keys: dict[str, list[str]] = {}
    for v in voices:
        for key in (v.name, v.id, v.id.rpartition("/")[2], v.name.partition(" (")[0]):
            keys.setdefault(key.lower(), []).append(v.name)
    close = [
        name
        for key in difflib.get_close_matches(wanted, list(keys), n=5, cutoff=0.6)
        for name in keys[key]
    ][:6]
    if not close:
        close = [v.name for v in voices if v.default] + [v.name for v in voices[:4]]
    suggestion = ", ".join(f"'{n}'" for n in dict.fromkeys(close))
    raise VoiceError(
        f"unknown voice '{voice}' for the system engine; close names: {suggestion}. "
        "List them all with: voicecoach voices"
    )
