"""The worker side of the ``system`` engine: pyttsx3 (eSpeak NG on Linux) in one process.

Standard library only, so a worker starts fast (no numpy). pyttsx3 traps
designed around (see NOTES-audio.md): one ``save_to_file`` per ``runAndWait``;
the file may be written after ``runAndWait`` returns, so we wait until the WAV
header agrees with the file's size; ``say()`` is never used (it shells out to
``aplay``); the sample rate is read from the WAV header. More traps of
pyttsx3 2.99 + eSpeak NG's asynchronous mode are described where handled.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import wave

from voicecoach.speech.worker import BackendError

_FILE_WAIT_S = 30.0  # the parent's call timeout normally fires first
_FILE_POLL_S = 0.001
_EMPTY_RETRIES = 2
_IDLE_WAIT_S = 5.0
_ESPEAK_WORDGAP = 7  # espeakWORDGAP in speak_lib.h (pyttsx3 has no name for it)


class SystemBackend:
    """Runs in the worker process: pyttsx3 (with eSpeak NG on Linux)."""

    def __init__(self) -> None:
        import tempfile

        if sys.platform.startswith("linux"):
            _load_espeak_ng()
        try:
            import pyttsx3
        except ImportError as e:
            raise BackendError(f"pyttsx3 is not installed ({e})") from e
        self._engine = pyttsx3.init()
        # pyttsx3 starts "busy", so the first utterance's voice and rate changes
        # would wait in its queue and run just before the stop() that starts
        # every runAndWait, which then cancels them inside eSpeak (seen: a whole
        # session at 200 wpm). One empty run leaves that state.
        self._engine.runAndWait()
        self._dir = tempfile.mkdtemp(prefix="voicecoach-tts-")
        self._is_playing = None
        self._set_parameter = None
        self._reset_state = None
        if sys.platform.startswith("linux"):
            import espeakng_loader
            from pyttsx3.drivers import _espeak

            from voicecoach.speech.espeak_state import StateReset

            self._is_playing = _espeak.IsPlaying
            self._set_parameter = _espeak.SetParameter
            self._reset_state = StateReset(espeakng_loader.get_library_path())
        self._voice_id: str | None = None  # as last set, to skip needless changes
        self._rate_wpm: int | None = None
        self._word_gap_10ms: int | None = None
        self._count = 0
        self.idle_waits = 0
        self.empty_retries = 0

    def voices(self) -> list[tuple[str, str, tuple[str, ...]]]:
        rows = []
        for v in self._engine.getProperty("voices"):
            languages = tuple(str(lang) for lang in (v.languages or ()))
            rows.append((str(v.id), str(v.name), languages))
        return rows

    def synthesize(
        self, text: str, voice_id: str | None, rate_wpm: int, word_gap_10ms: int = 0
    ) -> tuple[int, bytes]:
        """One utterance per ``runAndWait``; returns (sample rate in Hz, 16-bit PCM).

        ``rate_wpm`` is eSpeak's own rate setting and ``word_gap_10ms`` its extra
        pause between words (eSpeak NG only), as ``voicecoach.speech.pace`` chose
        them. eSpeak's carried-over state is reset first (``espeak_state``), so
        the audio depends on these arguments only, not on earlier utterances.

        An empty result for text with letters or digits (the race that
        ``_wait_until_idle`` prevents) is made again, at most ``_EMPTY_RETRIES`` times.
        """
        for _ in range(_EMPTY_RETRIES + 1):
            rate, pcm = self._synthesize_once(text, voice_id, rate_wpm, word_gap_10ms)
            if pcm or not any(ch.isalnum() for ch in text):
                break
            self.empty_retries += 1
            # The cancel that emptied it may also have dropped a queued voice or
            # rate change inside eSpeak: set both again.
            self._voice_id = self._rate_wpm = self._word_gap_10ms = None
        return rate, pcm

    def _synthesize_once(
        self, text: str, voice_id: str | None, rate_wpm: int, word_gap_10ms: int
    ) -> tuple[int, bytes]:
        self._count += 1
        path = os.path.join(self._dir, f"u{self._count}.wav")
        if voice_id is not None and voice_id != self._voice_id:
            self._engine.setProperty("voice", voice_id)
            self._voice_id = voice_id
        if rate_wpm != self._rate_wpm:
            self._engine.setProperty("rate", rate_wpm)
            self._rate_wpm = rate_wpm
        if self._set_parameter is not None and word_gap_10ms != self._word_gap_10ms:
            self._set_parameter(_ESPEAK_WORDGAP, word_gap_10ms, 0)
            self._word_gap_10ms = word_gap_10ms
        self._wait_until_idle()
        if self._reset_state is not None:
            self._reset_state()
        self._engine.save_to_file(text, path)
        self._engine.runAndWait()
        try:
            return _read_complete_wav(path, _FILE_WAIT_S)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)

    def _wait_until_idle(self) -> None:
        """Wait until eSpeak's own thread is idle before starting an utterance.

        pyttsx3's ``runAndWait`` first stops (cancels) whatever eSpeak is still
        "playing"; eSpeak reports playing for a moment after a voice or rate
        change (its async queue handles those too), and that stop request then
        cancels the new utterance, which comes out empty (seen in 1-8% of calls
        without this wait).
        """
        if self._is_playing is None:
            return
        deadline = time.monotonic() + _IDLE_WAIT_S
        while self._is_playing() and time.monotonic() < deadline:
            self.idle_waits += 1
            time.sleep(_FILE_POLL_S)

    def stats(self) -> dict[str, int]:
        """Workaround counters, for tests and diagnosis."""
        return {
            "idle_waits": self.idle_waits,
            "empty_retries": self.empty_retries,
            "state_reset_complete": int(
                self._reset_state is not None and self._reset_state.complete
            ),
        }

    def close(self) -> None:
        import shutil

        shutil.rmtree(self._dir, ignore_errors=True)


def _load_espeak_ng() -> None:
    """Make pyttsx3 bind to the wheel's eSpeak NG (before pyttsx3 is imported)."""
    import ctypes

    try:
        import espeakng_loader
    except ImportError as e:
        raise BackendError(f"espeakng-loader is not installed ({e})") from e
    os.environ["ESPEAK_DATA_PATH"] = espeakng_loader.get_data_path()
    try:
        ctypes.CDLL(espeakng_loader.get_library_path(), mode=ctypes.RTLD_GLOBAL)
    except OSError as e:
        raise BackendError(f"the eSpeak NG library of espeakng-loader did not load ({e})") from e


def _read_complete_wav(path: str, wait_s: float) -> tuple[int, bytes]:
    """Wait until ``path`` is a whole WAV (header length = file length), then read it.

    pyttsx3 may return before the file exists or is fully written.
    """
    deadline = time.monotonic() + wait_s
    while True:
        try:
            with wave.open(path, "rb") as w:
                channels, width, rate, frames = (
                    w.getnchannels(),
                    w.getsampwidth(),
                    w.getframerate(),
                    w.getnframes(),
                )
                data = w.readframes(frames)
            if len(data) == frames * channels * width:
                break
        except (OSError, EOFError, wave.Error):
            pass
        if time.monotonic() > deadline:
            raise BackendError(f"the engine wrote no complete audio file within {wait_s:g} s")
        time.sleep(_FILE_POLL_S)
    if width != 2:
        raise BackendError(f"unexpected {8 * width}-bit audio from the engine (expected 16-bit)")
    if channels != 1:
        import array

        pcm = array.array("h", data)
        data = pcm[::channels].tobytes()
    return rate, data
