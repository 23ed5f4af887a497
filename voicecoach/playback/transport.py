"""The audio callback's side of play: its state, the commands it takes, and what it does with data.

Like python-sounddevice's ``_CallbackContext``: ``Transport`` holds what the
PortAudio callback does with its data (read the ring, fade, mix a UI sound,
apply the volume, end the stream), apart from the ``Player`` that opens and
closes the stream. The control thread talks to it through one single-slot
mailbox (``post``) holding a small frozen command; only the control thread
fills it and only the callback empties it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import numpy as np

from voicecoach.playback.ring import CHANNELS, Renderer, Ring
from voicecoach.playback.source import BlockSource
from voicecoach.playback.uisounds import UISoundBank
from voicecoach.sound.levels import raised_cosine
from voicecoach.units import seconds_to_samples

PAUSE_FADE_S = 0.03  # fade on pause and jumps: no click
STOP_FADE_S = 0.4  # fade on q / Esc, under the bell
UI_SOUND_HOLD_S = 0.5  # a jump/resume UI sound plays alone at most this long (its tail rings on)...
UI_SOUND_GAP_S = 0.15  # ...then this silence, then the session's audio
OUTRO_S = 0.3  # silence after the end, beyond the device latency: the last words are not cut


class State(IntEnum):
    """What the callback is doing (written by the callback only, read by everyone)."""

    PLAYING = 0
    PAUSED = 1
    UI_SOUND = 2  # a jump or resume: the UI sound plays alone, then the session's audio
    STOPPING = 3
    DONE = 4


# the callback compares against these: a class attribute of an enum costs ~0.2 us to look up (3.11)
_PLAYING, _PAUSED, _UI_SOUND, _STOPPING, _DONE = State

STATE_NAMES = {
    State.PLAYING: "playing",
    State.PAUSED: "paused",
    State.UI_SOUND: "playing",
    State.STOPPING: "stopping",
    State.DONE: "done",
}


# ---- commands from the control thread -------------------------------------------------------------


@dataclass(frozen=True)
class Pause:
    """Fade out and say "paused"; the position is kept for the resume."""


@dataclass(frozen=True)
class Play:
    """Play generation ``generation`` from ``start_sample`` after UI sound ``sound`` (a jump or resume)."""

    generation: int
    start_sample: int
    sound: str | None


@dataclass(frozen=True)
class Stop:
    """End the session: with ``bell``, a slow fade under the bell; without (Ctrl-C), a quick fade."""

    bell: bool


@dataclass(frozen=True)
class Sound:
    """Play UI sound ``name`` over whatever plays."""

    name: str


@dataclass(frozen=True)
class SetGain:
    """Multiply the output by ``gain`` (linear) from now on, and play UI sound ``sound``."""

    gain: float
    sound: str


Command = Pause | Play | Stop | Sound | SetGain


def ramp_down(n: int) -> np.ndarray:
    """A raised-cosine fade from 1 to 0 over ``n`` frames, shaped (n, 1) for stereo."""
    return raised_cosine(max(1, n), falling=True).astype(np.float32)[:, None]


class Transport:
    """The callback's state and its data handling; ``callback`` is what PortAudio calls.

    ``finished`` is set when the stream has finished (the stream's
    ``finished_callback``). ``callback_stop`` is the exception that ends the
    stream (``sounddevice.CallbackStop``, set by the player).
    """

    def __init__(
        self,
        ring: Ring,
        renderer: Renderer,
        ui: UISoundBank,
        source: BlockSource,
        *,
        sample_rate: int,
        latency_s: float,
    ):
        self.ring = ring
        self.renderer = renderer
        self.ui = ui
        self.source = source
        self.callback_stop: type[Exception] = Exception
        self.finished = threading.Event()
        self.cmd: Command | None = None  # the mailbox: control fills it, the callback empties it
        # fades: pre-computed ramps and a buffer for the faded tail
        self.pause_ramp = ramp_down(seconds_to_samples(PAUSE_FADE_S, sample_rate))
        self.stop_ramp = ramp_down(seconds_to_samples(STOP_FADE_S, sample_rate))
        self._tail = np.zeros((len(self.stop_ramp), CHANNELS), dtype=np.float32)
        self._tail_len = 0
        self._tail_pos = 0
        # the UI sound playing, if any
        self._sound: np.ndarray | None = None
        self._sound_pos = 0
        self._sound_release = 0  # frame of the sound at which a jump or resume lets the audio in
        self._hold_frames = seconds_to_samples(UI_SOUND_HOLD_S, sample_rate)
        self._gap_frames = seconds_to_samples(UI_SOUND_GAP_S, sample_rate)
        self._silence = np.zeros((self._gap_frames, CHANNELS), dtype=np.float32)
        # state (written by the callback only, read by everyone)
        self.state = State.PLAYING
        self.play_gen = 0
        self.paused_at = -1  # plan sample where a pause stopped the audio
        self._outro_frames = seconds_to_samples(latency_s + OUTRO_S, sample_rate)
        self._outro_left = self._outro_frames
        self._gain = 1.0
        self.device_underflows = 0
        self.ring_starvations = 0
        self.callbacks = 0
        self.waited_frames = 0  # silence played while the source waited for speech synthesis
        self.first_audio_t: float | None = None  # time.monotonic() of the first session audio

    # -- the control thread's side ----------------------------------------------------------------

    def post(self, cmd: Command, timeout_s: float = 1.0) -> bool:
        """Hand ``cmd`` to the callback and wait until it has taken it (False: it did not in time)."""
        deadline = time.monotonic() + timeout_s
        while self.cmd is not None:
            if time.monotonic() > deadline or self.finished.is_set():
                return False
            time.sleep(0.002)
        self.cmd = cmd
        while self.cmd is not None:
            if time.monotonic() > deadline or self.finished.is_set():
                return False
            time.sleep(0.002)
        return True

    def open_with(self, name: str) -> bool:
        """Before the stream starts: play UI sound ``name`` whole and alone, then the session.

        (``play --level auto`` says why it chose the level this way.) False: no such sound.
        """
        sound = self.ui.sounds.get(name)
        if sound is None:
            return False
        self.state = _UI_SOUND
        self._sound = sound
        self._sound_pos = 0
        self._sound_release = len(sound) + self._gap_frames
        return True

    # -- the callback -------------------------------------------------------------------------------

    def callback(self, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        """Fill the whole of ``outdata``; no locks, no file access, no buffer allocation."""
        self.callbacks += 1
        if status.output_underflow:
            self.device_underflows += 1
        cmd = self.cmd
        if cmd is not None:
            self._apply(cmd)
            self.cmd = None
        ring = self.ring
        state = self.state
        if state == _PLAYING:
            n = ring.read_into(outdata, frames, self.play_gen)
            if n < frames:
                outdata[n:].fill(0.0)
                if not ring.ended and self.first_audio_t is not None:
                    if self.source.waiting:
                        self.waited_frames += frames - n
                    else:
                        self.ring_starvations += 1
            if n and self.first_audio_t is None:
                self.first_audio_t = time.monotonic()
        else:
            paused = state in (_PAUSED, _STOPPING)
            ring.drop_older(self.renderer.request[0] if paused else self.play_gen)
            outdata.fill(0.0)
        if self._tail_pos < self._tail_len:
            k = min(frames, self._tail_len - self._tail_pos)
            outdata[:k] += self._tail[self._tail_pos : self._tail_pos + k]
            self._tail_pos += k
        sound = self._sound
        if sound is not None:
            k = min(frames, len(sound) - self._sound_pos)
            if k > 0:
                outdata[:k] += sound[self._sound_pos : self._sound_pos + k]
            self._sound_pos += frames
            if state == _UI_SOUND and self._sound_pos >= self._sound_release:
                self.state = _PLAYING  # the sound's tail rings on over the session's audio
            if self._sound_pos >= len(sound) and self._sound_pos >= self._sound_release:
                self._sound = None
        if self._gain != 1.0:
            outdata *= self._gain
            np.clip(outdata, -1.0, 1.0, out=outdata)
        if state == _PLAYING and ring.ended:
            # Some backends (ALSA) drop what is still buffered when the callback stops the
            # stream, so play silence until the end has surely reached the speaker.
            self._outro_left -= frames
            if self._outro_left < 0:
                self.state = _DONE
                raise self.callback_stop
        elif state == _STOPPING and self._sound is None and self._tail_pos >= self._tail_len:
            self.state = _DONE
            raise self.callback_stop

    def _apply(self, cmd: Command) -> None:
        """Carry out a command from the control thread (in the callback)."""
        ring = self.ring
        match cmd:
            case Pause():
                if self.state in (_PLAYING, _UI_SOUND):
                    start = ring.position
                    self._capture_tail(self.pause_ramp)
                    self.paused_at = start
                    ring.position = start
                    self.state = _PAUSED
                    self._start_sound("paused")
            case Play(generation, start_sample, sound):
                if self.state == _PLAYING:
                    self._capture_tail(self.pause_ramp)
                self.play_gen = generation
                ring.position = start_sample
                self.paused_at = -1
                ring.ended = False
                self._outro_left = self._outro_frames
                self.state = _UI_SOUND
                self._start_sound(sound, self._gap_frames)
            case Stop(bell):
                self._capture_tail(self.stop_ramp if bell else self.pause_ramp)
                self.state = _STOPPING
                self._start_sound("bell" if bell else None)
            case Sound(name):
                self._start_sound(name)
            case SetGain(gain, sound):
                self._gain = gain
                self._start_sound(sound)

    def _capture_tail(self, ramp: np.ndarray) -> None:
        """Take the next stretch of audio, faded out, to play over the change of state."""
        n = len(ramp)
        got = self.ring.read_into(self._tail, n, self.play_gen) if self.state == _PLAYING else 0
        if got:
            np.multiply(self._tail[:got], ramp[:got], out=self._tail[:got])
        self._tail_len = got
        self._tail_pos = 0

    def _start_sound(self, name: str | None, gap: int = 0) -> None:
        """Start UI sound ``name``; a UI_SOUND state ends ``gap`` frames after its first ``UI_SOUND_HOLD_S``."""
        sound = self.ui.sounds.get(name) if name else None
        if sound is None:
            sound = self._silence[:gap]
        self._sound_pos = 0
        self._sound_release = min(len(sound), self._hold_frames) + gap
        self._sound = sound
