"""Live playback: the plan's audio streamed to a sound device, with eyes-closed controls.

Three threads share one pre-allocated ring of audio slots:

- the render thread (producer) pulls blocks from ``render_blocks`` (through
  the same loudness gain and peak limiter as ``export``) and copies them
  into free slots, each tagged with a *generation* and its plan position;
- the PortAudio callback (consumer) copies from the oldest slot into the
  device buffer. It takes no lock, opens no file and allocates no buffers:
  it reads and writes plain integers, copies into pre-allocated arrays, and
  drops slots of an older generation (that is how a jump flushes the ring);
- the calling thread reads keys, draws the status line, and talks to the
  other two through single-slot mailboxes (``_request`` for the renderer,
  ``_cmd`` for the callback) that only one side writes and only the other
  clears. Under the GIL an attribute assignment is atomic, which is all this
  single-producer/single-consumer scheme needs.

Jumps and resumes bump the generation: the renderer restarts at the new
position while the callback plays a short cue, then the new audio follows.

Loudness (a measured choice). ``export`` normalises with a gain measured over
the whole plan: one or two full renders, about 1 s per 1-2 minutes of
session on two busy cores, far beyond a 0.5 s start for a long session. Play
must use the same gain, so it comes from a small disk cache keyed by
everything that shapes the audio (instant when warm); otherwise it is
measured on a background thread while the plan's leading silence plays
(silence is the same at any gain). A session whose pass outlasts its lead-in
starts speaking late, and the status line says it is measuring loudness.
"""

from __future__ import annotations

import bisect
import math
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from voicecoach.errors import PlaybackError, RenderError, UsageError, VoicecoachError
from voicecoach.language.plan import Plan
from voicecoach.playback.devices import (
    NO_DEVICE_HELP,
    list_devices,
    load_sounddevice,
    resolve_device,
)
from voicecoach.playback.keys import (
    KeyReader,
    Status,
    StatusLine,
    Terminated,
    signals_stop_like_ctrl_c,
)
from voicecoach.sound.levels import apply_fades, db_to_gain, raised_cosine
from voicecoach.units import format_clock, seconds_to_samples

if TYPE_CHECKING:
    from voicecoach.sound.palette import Palette
    from voicecoach.speech.engine import SpeechAudio

__all__ = ["PlaybackReport", "play_plan", "list_devices", "resume_sample", "ui_sounds", "Player"]

BLOCK_FRAMES = 4096  # render block: small enough that the first one is ready fast
RING_S = 3.0  # audio rendered ahead of the device: rides out 3 s of render-thread stalls
LATENCY_S = 0.2  # PortAudio output latency: rides out callback-thread scheduling delays
PREFILL_EXTRA_S = 0.05  # rendered before the stream starts: the device buffer plus this
PAUSE_FADE_S = 0.03  # fade on pause and jumps: no click
STOP_FADE_S = 0.4  # fade on q / Esc, under the bell
STOP_BELL_S = 4.0  # the stop bell is cut to this (fading over its second half)
CUE_HOLD_S = 0.5  # a jump/resume cue plays alone at most this long (its tail rings on)...
CUE_GAP_S = 0.15  # ...then this silence, then the session's audio
SECTION_DOUBLE_PRESS_S = 1.5  # left twice within this: previous section
VOLUME_STEP_DB = 3.0
VOLUME_RANGE_DB = (-30.0, 12.0)
STATUS_INTERVAL_S = 0.1  # key poll / status redraw period
OUTRO_S = 0.3  # silence after the end, beyond the device latency: the last words are not cut
STALL_TIMEOUT_S = 3.0  # no callback for this long while playing: the device is gone

CUE_NAMES = ("paused", "resume", "jump", "edge", "volume", "bell")

# consumer states
_PLAYING, _PAUSED, _CUE, _STOPPING, _DONE = range(5)
_STATE_NAMES = {
    _PLAYING: "playing",
    _PAUSED: "paused",
    _CUE: "playing",
    _STOPPING: "stopping",
    _DONE: "done",
}


@dataclass(frozen=True)
class PlaybackReport:
    """How a live session ended.

    ``underruns`` counts audible dropouts: the device reported an output
    underflow (``device_underflows``) or the ring ran dry mid-session
    (``ring_starvations``). ``reason`` is a sentence for a person when the
    session did not complete (with the ``--from`` to resume), else "".
    ``first_audio_s`` is the time from the call to the first callback that
    handed session audio to the device.
    """

    stopped_at_sample: int
    completed: bool
    underruns: int
    reason: str
    ended_by: str = "completed"  # completed, stopped (q/Esc), interrupted (Ctrl-C), SIGTERM, SIGHUP
    device_underflows: int = 0
    ring_starvations: int = 0
    first_audio_s: float | None = None
    gain_db: float = 0.0
    loudness_wait_s: float = 0.0  # silence added after the lead-in while the loudness was measured


# ---- where to resume, where sections start ------------------------------------------------------


def resume_sample(plan: Plan, position_sample: int) -> int:
    """Where resuming after a pause at ``position_sample`` continues.

    The start of the spoken phrase that was cut, or of the breath cycle that
    was cut (an ``inhale`` tone up to the next inhale or the end of its
    breathe/hold span), whichever is earlier; else the position itself.
    """
    best = position_sample
    cycle_spans = [e for e in plan.events if e.kind in ("breathe", "hold")]
    inhales = [e for e in plan.events if e.kind == "tone" and e.tone == "inhale"]
    for e in plan.events:
        if e.start_sample > position_sample:
            break
        if e.kind == "speech" and e.start_sample <= position_sample < e.end_sample:
            best = min(best, e.start_sample)
    for i, inhale in enumerate(inhales):
        if inhale.start_sample > position_sample:
            break
        span = next(
            (s for s in cycle_spans if s.start_sample <= inhale.start_sample < s.end_sample), None
        )
        cycle_end = span.end_sample if span is not None else inhale.end_sample
        if i + 1 < len(inhales):
            cycle_end = (
                min(cycle_end, inhales[i + 1].start_sample) if span else inhales[i + 1].start_sample
            )
        if inhale.start_sample <= position_sample < cycle_end:
            best = min(best, inhale.start_sample)
    return best


def _section_starts(plan: Plan) -> list[int]:
    starts = sorted(
        {0, *(s.start_sample for s in plan.sections if s.start_sample < plan.duration_samples)}
    )
    return starts


class SectionNavigator:
    """Where the next/back keys go, counting presses against the section last moved to.

    Right after a jump the heard position still lags by the device latency (it
    reports the new start minus the latency, inside the section before), so
    each press starts from ``max(heard, last start)``: two quick presses move
    two sections, whatever the latency.
    """

    def __init__(self, starts: list[int], double_press_s: float = SECTION_DOUBLE_PRESS_S):
        self.starts = starts
        self.double_press_s = double_press_s
        self._moved_to = 0
        self._last_back = -math.inf

    def moved_to(self, start_sample: int) -> None:
        """Playback (re)starts at ``start_sample`` (a jump, a resume, the first play)."""
        self._moved_to = start_sample

    def _index(self, heard_sample: int) -> int:
        base = max(heard_sample, self._moved_to)
        return max(0, bisect.bisect_right(self.starts, base) - 1)

    def next(self, heard_sample: int) -> int | None:
        """The next section's start, or None at the last section."""
        i = self._index(heard_sample) + 1
        return self.starts[i] if i < len(self.starts) else None

    def back(self, heard_sample: int, now_s: float) -> int:
        """The start of this section; pressed again within ``double_press_s``: the one before."""
        i = self._index(heard_sample)
        if now_s - self._last_back <= self.double_press_s:
            i = max(0, i - 1)
        self._last_back = now_s
        return self.starts[i]


def _section_at(plan: Plan, position_sample: int) -> str:
    title = ""
    for s in plan.sections:
        if s.start_sample <= position_sample:
            title = s.title
        else:
            break
    return title


def _where(plan: Plan, position_sample: int) -> str:
    """``12:31 in 'Right side'`` (or just the time before the first section)."""
    clock = format_clock(position_sample / plan.sample_rate)
    section = _section_at(plan, position_sample)
    return f"{clock} in {section!r}" if section else clock


# ---- cue sounds for the controls ------------------------------------------------------------------


def ui_sounds(
    palette: Palette,
    sample_rate: int,
    *,
    paused_speech: SpeechAudio | None = None,
    level_db: float = 0.0,
) -> dict[str, np.ndarray]:
    """The control cues as ``(frames, 2)`` float32 arrays, from the palette's own tones.

    ``paused`` is the word "paused" when ``paused_speech`` is given (the
    session layer synthesises it with the session's voice), else two soft
    falling notes; ``resume`` a soft chime; ``jump`` a tick; ``edge`` (no
    section that way) a low double tick; ``volume`` a tick; ``bell`` the bell.
    ``level_db`` shifts them all (the session's tone volume and loudness gain).
    """
    from voicecoach.sound.tones import synth_tone

    def tone(name: str, variant: str = "", length_s: float | None = None) -> np.ndarray:
        n = seconds_to_samples(length_s or palette.length_s(name), sample_rate)
        return synth_tone(palette, name, n, sample_rate, variant=variant)

    tick = tone("tick")
    low_tick = tone("tick", "left")
    gap = np.zeros(seconds_to_samples(0.12, sample_rate), dtype=np.float32)
    if paused_speech is not None:
        paused = _resampled(paused_speech.samples, paused_speech.sample_rate, sample_rate)
    else:
        paused = np.concatenate(
            [_note(660.0, 0.16, sample_rate), _note(440.0, 0.3, sample_rate)]
        ) * db_to_gain(-14.0)
    bell_s = min(palette.length_s("bell"), STOP_BELL_S)
    bell = apply_fades(
        tone("bell", length_s=bell_s).copy(), 0, seconds_to_samples(bell_s / 2, sample_rate)
    )
    sounds = {
        "paused": paused,
        "resume": tone("ready", "soft"),
        "jump": tick,
        "edge": np.concatenate([low_tick, gap, low_tick]),
        "volume": tick,
        "bell": bell,
    }
    g = db_to_gain(level_db)
    return {k: _stereo(v * g) for k, v in sounds.items()}


def _note(freq_hz: float, length_s: float, sample_rate: int) -> np.ndarray:
    """A soft sine note with raised-cosine ends."""
    n = seconds_to_samples(length_s, sample_rate)
    x = np.sin(2 * np.pi * freq_hz * np.arange(n) / sample_rate)
    return apply_fades(x, n // 4, n // 2).astype(np.float32)


def _resampled(x: np.ndarray, rate_from: int, rate_to: int) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if rate_from != rate_to and len(x):
        from math import gcd

        from voicecoach.sound.dsp import resample_poly

        g = gcd(rate_from, rate_to)
        x = resample_poly(x, rate_to // g, rate_from // g)
    return x.astype(np.float32)


def _stereo(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = np.repeat(x[:, None], 2, axis=1)
    return np.ascontiguousarray(np.clip(x, -1.0, 1.0), dtype=np.float32)


# ---- the player ------------------------------------------------------------------------------------

BlockSource = Callable[[int], Iterator[np.ndarray]]  # start_sample -> (frames, 2) float32 blocks


class Player:
    """One live session on one OutputStream: the ring, the render thread and the callback.

    ``source(start_sample)`` yields the session's blocks from that sample on.
    Use ``run`` (it blocks until the session ends); ``play_plan`` wraps it.
    """

    def __init__(
        self,
        plan: Plan,
        source: BlockSource,
        *,
        sounds: dict[str, np.ndarray] | Callable[[], dict[str, np.ndarray]],
        block_frames: int = BLOCK_FRAMES,
        ring_s: float = RING_S,
        latency_s: float = LATENCY_S,
        loudness: Loudness | None = None,
        cue_levels_db: dict[str, float] | None = None,
    ):
        self.plan = plan
        self.rate = plan.sample_rate
        self.navigator = SectionNavigator(_section_starts(plan))
        self.source = source
        self.loudness = loudness
        self._sounds_factory = sounds if callable(sounds) else None
        self._raw_sounds = {} if callable(sounds) else {k: _stereo(v) for k, v in sounds.items()}
        self._cue_levels_db = cue_levels_db or {}
        self._cue_gain_db: float | None = None
        self.sounds: dict[str, np.ndarray] = {}
        self._scale_cues(0.0)
        self.latency_s = latency_s
        # the ring: slots of block_frames, metadata in plain lists (cheap to read in the callback)
        self.slot_frames = block_frames
        self.n_slots = max(4, math.ceil(ring_s * self.rate / block_frames))
        self._slots = np.zeros((self.n_slots, block_frames, 2), dtype=np.float32)
        self._slot_gen = [0] * self.n_slots
        self._slot_start = [0] * self.n_slots
        self._slot_len = [0] * self.n_slots
        self._slot_last = [False] * self.n_slots
        self._written = 0  # slots published (producer writes)
        self._read = 0  # slots consumed (consumer writes)
        self._slot_offset = 0  # frames consumed from the current slot (consumer)
        # fades: pre-computed ramps and a buffer for the faded tail
        self._pause_ramp = _ramp_down(seconds_to_samples(PAUSE_FADE_S, self.rate))
        self._stop_ramp = _ramp_down(seconds_to_samples(STOP_FADE_S, self.rate))
        self._tail = np.zeros((len(self._stop_ramp), 2), dtype=np.float32)
        self._tail_len = 0
        self._tail_pos = 0
        self._cue: np.ndarray | None = None
        self._cue_pos = 0
        self._cue_release = 0  # frame of the cue at which a jump or resume lets the audio in
        self._cue_hold = seconds_to_samples(CUE_HOLD_S, self.rate)
        self._cue_gap = self._cue_gap_frames()
        # consumer state (written by the callback only, read by everyone)
        self._state = _PLAYING
        self._play_gen = 0
        self._position = 0  # plan sample of the next frame the callback will read
        self._paused_at = -1
        self._ended = False
        self._outro_frames = seconds_to_samples(latency_s + OUTRO_S, self.rate)
        self._outro_left = self._outro_frames
        self._gain = 1.0
        self.device_underflows = 0
        self.ring_starvations = 0
        self.callbacks = 0
        self._waited_frames = 0  # silence played while the source waited for the loudness
        self._first_audio_t: float | None = None
        # mailboxes
        self._cmd: tuple | None = None  # control -> callback
        self._request: tuple[int, int] = (0, 0)  # control -> renderer: (generation, start_sample)
        self._gen = 0  # newest generation requested (control thread)
        self._wake = threading.Event()  # control -> renderer: a new request or stop
        self._quit = False
        self._render_error: BaseException | None = None
        self._finished = threading.Event()
        self._stream: Any = None
        self._callback_stop: type[Exception] = Exception
        self._volume_db = 0.0
        self._resume_at = 0
        self._stopped_at = -1  # where a stop was asked for (plan sample), for the report

    def _scale_cues(self, gain_db: float) -> None:
        """Cues at their level plus the session's loudness gain (swapped in whole: the callback reads it)."""
        self._cue_gain_db = gain_db
        scaled = {
            k: _stereo(v * db_to_gain(self._cue_levels_db.get(k, 0.0) + gain_db))
            for k, v in self._raw_sounds.items()
        }
        scaled["_silence"] = np.zeros((self._cue_gap_frames(), 2), dtype=np.float32)
        self.sounds = scaled

    def _refresh_cues(self) -> None:
        """Make the cues once the stream runs (tone synthesis is not free), rescale them once the gain is known."""
        if self._sounds_factory is not None:
            factory, self._sounds_factory = self._sounds_factory, None
            self._raw_sounds = {k: _stereo(v) for k, v in factory().items()}
            self._scale_cues(self._cue_gain_db or 0.0)
        loud = self.loudness
        if (
            loud is not None
            and loud.ready
            and loud.gain_db is not None
            and self._cue_gain_db != loud.gain_db
        ):
            self._scale_cues(loud.gain_db)

    def _cue_gap_frames(self) -> int:
        return seconds_to_samples(CUE_GAP_S, self.rate)

    # -- the render thread (producer) ----------------------------------------------------------

    def _render_loop(self) -> None:
        try:
            self._render_loop_inner()
        except BaseException as e:  # reported by the control thread
            self._render_error = e

    def _render_loop_inner(self) -> None:
        gen = -1
        blocks: Iterator[np.ndarray] | None = None
        pos = 0
        while not self._quit:
            req_gen, req_start = self._request
            if req_gen != gen:
                if blocks is not None and hasattr(blocks, "close"):
                    blocks.close()
                gen, pos = req_gen, req_start
                blocks = self.source(pos)
                self._wake.clear()
            if blocks is None:
                self._wake.wait(0.05)
                continue
            try:
                block = next(blocks)
            except StopIteration:
                blocks = None
                self._publish(gen, pos, np.zeros((0, 2), dtype=np.float32), last=True)
                continue
            pos = self._write_block(gen, pos, block)

    def _write_block(self, gen: int, pos: int, block: np.ndarray) -> int:
        """Copy ``block`` into as many slots as it needs (waiting for room); returns the new position."""
        i = 0
        while i < len(block):
            n = min(self.slot_frames, len(block) - i)
            if not self._publish(gen, pos, block[i : i + n], last=False):
                return pos  # a newer generation was requested: drop the rest
            i += n
            pos += n
        return pos

    def _publish(self, gen: int, pos: int, frames: np.ndarray, *, last: bool) -> bool:
        while self._written - self._read >= self.n_slots:
            if self._quit or self._request[0] != gen:
                return False
            # a fresh generation waits only briefly: the callback frees room within one period
            self._wake.wait(0.01 if self._written_of(gen) < 2 else self.slot_frames / self.rate / 2)
        if self._quit or self._request[0] != gen:
            return False
        k = self._written % self.n_slots
        n = len(frames)
        if n:
            self._slots[k, :n] = frames
        self._slot_gen[k] = gen
        self._slot_start[k] = pos
        self._slot_len[k] = n
        self._slot_last[k] = last
        self._written += 1  # publish after the data and metadata are in place
        return True

    def _written_of(self, gen: int) -> int:
        """Slots of generation ``gen`` waiting in the ring (approximate; for pacing only)."""
        count = 0
        for j in range(self._read, self._written):
            if self._slot_gen[j % self.n_slots] == gen:
                count += 1
        return count

    # -- the PortAudio callback (consumer) -----------------------------------------------------

    def _callback(self, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        """Fill the whole of ``outdata``; no locks, no file access, no buffer allocation."""
        self.callbacks += 1
        if status.output_underflow:
            self.device_underflows += 1
        cmd = self._cmd
        if cmd is not None:
            self._apply(cmd)
            self._cmd = None
        state = self._state
        if state == _PLAYING:
            n = self._read_into(outdata, frames)
            if n < frames:
                outdata[n:].fill(0.0)
                if not self._ended and self._first_audio_t is not None:
                    if self._source_waiting():
                        self._waited_frames += frames - n
                    else:
                        self.ring_starvations += 1
            if n and self._first_audio_t is None:
                self._first_audio_t = time.monotonic()
        else:
            self._drop_stale(self._request[0] if state in (_PAUSED, _STOPPING) else self._play_gen)
            outdata.fill(0.0)
        if self._tail_pos < self._tail_len:
            k = min(frames, self._tail_len - self._tail_pos)
            outdata[:k] += self._tail[self._tail_pos : self._tail_pos + k]
            self._tail_pos += k
        cue = self._cue
        if cue is not None:
            k = min(frames, len(cue) - self._cue_pos)
            if k > 0:
                outdata[:k] += cue[self._cue_pos : self._cue_pos + k]
            self._cue_pos += frames
            if state == _CUE and self._cue_pos >= self._cue_release:
                self._state = _PLAYING  # the cue's tail rings on over the session's audio
            if self._cue_pos >= len(cue) and self._cue_pos >= self._cue_release:
                self._cue = None
        if self._gain != 1.0:
            outdata *= self._gain
            np.clip(outdata, -1.0, 1.0, out=outdata)
        if state == _PLAYING and self._ended:
            # Some backends (ALSA) drop what is still buffered when the callback stops the
            # stream, so play silence until the end has surely reached the speaker.
            self._outro_left -= frames
            if self._outro_left < 0:
                self._state = _DONE
                raise self._callback_stop
        elif state == _STOPPING and self._cue is None and self._tail_pos >= self._tail_len:
            self._state = _DONE
            raise self._callback_stop

    def _source_waiting(self) -> bool:
        return bool(getattr(self.source, "waiting", False))

    def _read_into(self, out: np.ndarray, frames: int) -> int:
        """Copy up to ``frames`` frames of the current generation from the ring into ``out``."""
        done = 0
        while done < frames and self._read < self._written:
            k = self._read % self.n_slots
            gen = self._slot_gen[k]
            if gen != self._play_gen:
                if gen > self._play_gen:
                    break  # a generation the callback has not switched to yet
                self._read += 1
                self._slot_offset = 0
                continue
            length = self._slot_len[k]
            off = self._slot_offset
            n = min(length - off, frames - done)
            if n > 0:
                out[done : done + n] = self._slots[k, off : off + n]
                done += n
                off += n
                self._slot_offset = off
                self._position = self._slot_start[k] + off
            if off >= length:
                last = self._slot_last[k]
                self._slot_offset = 0
                self._read += 1
                if last:
                    self._ended = True
                    break
        return done

    def _drop_stale(self, gen: int) -> None:
        """Release slots older than generation ``gen`` (a jump or resume is coming)."""
        while self._read < self._written and self._slot_gen[self._read % self.n_slots] < gen:
            self._read += 1
            self._slot_offset = 0

    def _capture_tail(self, ramp: np.ndarray) -> None:
        """Take the next stretch of audio, faded out, to play over the change of state."""
        n = len(ramp)
        got = self._read_into(self._tail, n) if self._state == _PLAYING else 0
        if got:
            np.multiply(self._tail[:got], ramp[:got], out=self._tail[:got])
        self._tail_len = got
        self._tail_pos = 0

    def _start_cue(self, name: str | None, gap: int = 0) -> None:
        """Start cue ``name``; a CUE state ends ``gap`` frames after its first ``CUE_HOLD_S``."""
        cue = self.sounds.get(name) if name else None
        if cue is None:
            cue = self.sounds["_silence"][:gap]
        self._cue_pos = 0
        self._cue_release = min(len(cue), self._cue_hold) + gap
        self._cue = cue

    def _apply(self, cmd: tuple) -> None:
        """Carry out a command from the control thread (in the callback)."""
        op = cmd[0]
        if op == "pause":
            if self._state in (_PLAYING, _CUE):
                start = self._position
                self._capture_tail(self._pause_ramp)
                self._paused_at = start
                self._position = start
                self._state = _PAUSED
                self._start_cue("paused")
        elif op == "play":  # ("play", generation, start_sample, cue name): jump or resume
            _, gen, start, cue = cmd
            if self._state == _PLAYING:
                self._capture_tail(self._pause_ramp)
            self._play_gen = gen
            self._position = start
            self._paused_at = -1
            self._ended = False
            self._outro_left = self._outro_frames
            self._state = _CUE
            self._start_cue(cue, self._cue_gap)
        elif op == "stop":  # ("stop", cue name, fade ramp)
            _, cue, ramp = cmd
            self._capture_tail(ramp)
            self._state = _STOPPING
            self._start_cue(cue)
        elif op == "cue":
            self._start_cue(cmd[1])
        elif op == "gain":
            self._gain = cmd[1]
            self._start_cue(cmd[2])

    # -- the control thread ---------------------------------------------------------------------

    def _post(self, cmd: tuple, timeout_s: float = 1.0) -> bool:
        """Hand ``cmd`` to the callback and wait until it has taken it."""
        deadline = time.monotonic() + timeout_s
        while self._cmd is not None:
            if time.monotonic() > deadline or self._finished.is_set():
                return False
            time.sleep(0.002)
        self._cmd = cmd
        while self._cmd is not None:
            if time.monotonic() > deadline or self._finished.is_set():
                return False
            time.sleep(0.002)
        return True

    def _request_render(self, start_sample: int) -> int:
        self.navigator.moved_to(start_sample)
        self._gen += 1
        self._request = (self._gen, start_sample)
        self._wake.set()
        return self._gen

    def position_sample(self) -> int:
        """Roughly what is audible now: the read position less the device latency."""
        if self._state == _PAUSED and self._paused_at >= 0:
            return self._paused_at
        stream_latency = self.latency_s
        if self._stream is not None:
            stream_latency = float(self._stream.latency or 0.0)
        return max(0, self._position - int(stream_latency * self.rate))

    def jump(self, start_sample: int, cue: str = "jump") -> None:
        """Play from ``start_sample`` after a short cue (also from pause)."""
        gen = self._request_render(start_sample)
        self._post(("play", gen, start_sample, cue))

    def pause(self) -> None:
        """Fade out, say "paused", and get the resume point rendering (so resuming is immediate)."""
        if not self._post(("pause",)) or self._state != _PAUSED or self._paused_at < 0:
            return
        self._resume_at = resume_sample(self.plan, self._paused_at)
        self._request_render(self._resume_at)

    def resume(self) -> None:
        """A soft tone, then the session from the start of the cut phrase or breath cycle."""
        self._post(("play", self._gen, self._resume_at, "resume"))

    def stop(self, *, bell: bool = True) -> None:
        """End the session: a short fade, and the bell unless it is Ctrl-C."""
        if self._stopped_at < 0:
            self._stopped_at = self.position_sample()
        self._post(
            ("stop", "bell" if bell else None, self._stop_ramp if bell else self._pause_ramp)
        )

    def change_volume(self, step_db: float) -> None:
        """Louder or softer by ``step_db`` (a tick at the new level; a double tick at the limit)."""
        lo, hi = VOLUME_RANGE_DB
        new = min(hi, max(lo, self._volume_db + step_db))
        if new == self._volume_db:
            self._post(("cue", "edge"))
            return
        self._volume_db = new
        self._post(("gain", db_to_gain(new), "volume"))

    def run(
        self,
        *,
        device: int | None,
        start_sample: int,
        keys: KeyReader,
        status: StatusLine,
        t0: float,
    ) -> PlaybackReport:
        """Play from ``start_sample`` until the end, a stop key, Ctrl-C or a device fault."""
        sd = load_sounddevice()
        self._callback_stop = sd.CallbackStop
        self._position = start_sample
        self._request = (0, start_sample)
        renderer = threading.Thread(target=self._render_loop, name="voicecoach-render", daemon=True)
        renderer.start()
        ended_by = "lost"
        try:
            self._stream = self._open_stream(sd, device)
            try:
                self._wait_prefill()
                self._stream.start()
                ended_by = self._control_loop(keys, status)
            except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM/SIGHUP (Terminated)
                self.stop(bell=False)
                self._finished.wait(1.0)
                ended_by = e.name if isinstance(e, Terminated) else "interrupted"
            finally:
                self._close_stream()
        finally:
            self._quit = True
            self._wake.set()
            cancel = getattr(self.source, "cancel", None)
            if cancel is not None:
                cancel()
            renderer.join(timeout=2.0)
            status.clear()
        if self._render_error is not None:
            err = self._render_error
            if isinstance(err, VoicecoachError):
                raise err
            raise RenderError(f"rendering failed during playback: {err}") from err
        completed = ended_by == "completed"
        if completed:
            at = self.plan.duration_samples
        elif self._stopped_at >= 0:
            at = self._stopped_at
        else:
            at = self.position_sample()
        first = None if self._first_audio_t is None else self._first_audio_t - t0
        return PlaybackReport(
            stopped_at_sample=at,
            completed=completed,
            underruns=self.device_underflows + self.ring_starvations,
            reason="" if completed else _reason_text(self.plan, ended_by, at),
            ended_by=ended_by,
            device_underflows=self.device_underflows,
            ring_starvations=self.ring_starvations,
            first_audio_s=first,
            gain_db=self.loudness.gain_db
            if self.loudness is not None and self.loudness.gain_db is not None
            else 0.0,
            loudness_wait_s=self._waited_frames / self.rate,
        )

    def _open_stream(self, sd: Any, device: int | None) -> Any:
        try:
            return sd.OutputStream(
                samplerate=self.rate,
                channels=2,
                dtype="float32",
                device=device,
                latency=self.latency_s,
                callback=self._callback,
                finished_callback=self._finished.set,
            )
        except sd.PortAudioError as e:
            if "-1" in str(e) or "no default" in str(e).lower():
                raise PlaybackError(NO_DEVICE_HELP) from e
            raise PlaybackError(
                f"could not open the sound device ({e}); see `voicecoach devices`, "
                "or write a file instead with `voicecoach export`"
            ) from e

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is None:
            return
        try:
            stream.abort(ignore_errors=True)
            stream.close(ignore_errors=True)
        except Exception:  # a lost device may fail to close; nothing more to do
            pass

    def _wait_prefill(self) -> None:
        """Wait until the ring holds enough to fill the device buffer once (or the whole plan)."""
        want = min(
            self.n_slots,
            math.ceil((self.latency_s + PREFILL_EXTRA_S) * self.rate / self.slot_frames),
        )
        deadline = time.monotonic() + 30.0
        while self._written < want and not any(self._slot_last[: self._written]):
            if self._render_error is not None or self._source_waiting():
                return
            if time.monotonic() > deadline:
                raise PlaybackError(
                    "rendering the first audio took more than 30 s; try `voicecoach export`"
                )
            time.sleep(0.002)

    def _control_loop(self, keys: KeyReader, status: StatusLine) -> str:
        """Keys and status until the stream ends; returns why it ended."""
        last_callbacks, last_progress = -1, time.monotonic()
        while True:
            if self._finished.wait(0):
                return self._finish_reason()
            if self._render_error is not None:
                return "render failed"
            self._refresh_cues()
            for key in keys.read(STATUS_INTERVAL_S):
                if key == "ctrl-c":
                    raise KeyboardInterrupt
                if self._state in (_STOPPING, _DONE):
                    continue  # ending: keys no longer apply
                if key == "space":
                    if self._state == _PAUSED:
                        self.resume()
                    else:
                        self.pause()
                elif key in ("right", "n"):
                    later = self.navigator.next(self.position_sample())
                    if later is not None:
                        self.jump(later)
                    else:
                        self._post(("cue", "edge"))
                elif key in ("left", "p"):
                    self.jump(self.navigator.back(self.position_sample(), time.monotonic()))
                elif key == "up":
                    self.change_volume(+VOLUME_STEP_DB)
                elif key == "down":
                    self.change_volume(-VOLUME_STEP_DB)
                elif key in ("q", "esc"):
                    self.stop(bell=True)
                    self._finished.wait(STOP_FADE_S + 5.0)
                    return "stopped"
            status.show(self._status(), key=_section_at(self.plan, self.position_sample()))
            now = time.monotonic()
            if self.callbacks != last_callbacks:
                last_callbacks, last_progress = self.callbacks, now
            elif now - last_progress > STALL_TIMEOUT_S:
                return "lost"

    def _finish_reason(self) -> str:
        if self._state == _DONE and self._ended:
            return "completed"
        if self._state == _DONE:
            return "stopped"
        return "lost"

    def _status(self) -> Status:
        pos = self.position_sample()
        sr = self.rate
        total = self.plan.duration_samples
        state = _STATE_NAMES.get(self._state, "")
        section = _section_at(self.plan, pos) or self.plan.title
        cue = _cue_at(self.plan, pos)
        left = format_clock(max(0, total - pos) / sr)
        extras: tuple[str, ...] = (f"vol {self._volume_db:+.0f} dB",) if self._volume_db else ()
        if self._source_waiting():
            extras += ("(measuring loudness...)",)
        clock = f"{format_clock(pos / sr)}/{format_clock(total / sr)}"
        return Status(f"{state} {clock}", section, cue, f"{left} left", extras)


def _reason_text(plan: Plan, ended_by: str, at_sample: int) -> str:
    """``stopped at 12:31 in 'Right side'; resume with --from 12:31`` (with why, when it was not a stop key)."""
    where = _where(plan, at_sample)
    clock = format_clock(at_sample / plan.sample_rate)
    what = {
        "stopped": "stopped",
        "interrupted": "interrupted (Ctrl-C)",
        "lost": "the sound device was lost; stopped",
    }
    said = f"stopped by {ended_by}" if ended_by.startswith("SIG") else what.get(ended_by, ended_by)
    return f"{said} at {where}; resume with --from {clock}"


def _cue_at(plan: Plan, position_sample: int) -> str:
    """What is happening at ``position_sample``: the phrase being said, else the directive."""
    said = ""
    directive = ""
    for e in plan.events:
        if e.start_sample > position_sample:
            break
        if e.end_sample <= position_sample:
            continue
        if e.kind == "speech":
            said = e.text
        elif e.kind != "tone":
            directive = f"{e.kind} {format_clock(e.duration_samples / plan.sample_rate)}"
    text = f'"{said}"' if said else directive
    return text if len(text) <= 48 else text[:45] + '..."'


def _ramp_down(n: int) -> np.ndarray:
    """A raised-cosine fade from 1 to 0 over ``n`` frames, shaped (n, 1) for stereo."""
    return raised_cosine(max(1, n), falling=True).astype(np.float32)[:, None]


# ---- the public entry point -------------------------------------------------------------------------


def play_plan(
    plan: Plan,
    speech: Callable[[str], SpeechAudio],
    *,
    palette: Palette,
    device: str | int | None = None,
    start_sample: int = 0,
    interactive: bool | None = None,
    quiet: bool = False,
    out: TextIO | None = None,
    gain_db: float | None = None,
    limit: bool | None = None,
    ui: dict[str, np.ndarray] | None = None,
    paused_speech: SpeechAudio | None = None,
    block_frames: int = BLOCK_FRAMES,
    latency_s: float = LATENCY_S,
) -> PlaybackReport:
    """Play ``plan`` live on ``device`` (None: the default output) from ``start_sample``.

    The audio is exactly what ``export`` writes: the same renderer, loudness
    gain and peak limiter. The gain comes from a cache of earlier passes or is
    measured in the background while the lead-in's silence plays (silence
    needs no gain), so a long plan does not delay the start; ``gain_db`` and
    ``limit`` skip the pass when the caller knows them.
    ``interactive`` (default: standard input is a terminal) enables the keys;
    ``quiet`` hides the status line drawn on ``out`` (default stderr).
    ``ui`` replaces control cues (see ``ui_sounds``); ``paused_speech`` is the
    word "paused" in the session's voice.
    Raises ``PlaybackError`` for a missing PortAudio, no device, or a device
    lost mid-session (saying where it stopped and how to resume).
    """
    t0 = time.monotonic()
    out = sys.stderr if out is None else out
    if not 0 <= start_sample < max(1, plan.duration_samples):
        raise UsageError(
            f"start {format_clock(start_sample / plan.sample_rate)} is outside the session "
            f"(0:00 to {format_clock(plan.duration_s)})"
        )
    load_sounddevice()  # fail early, before any rendering, when PortAudio is missing
    index = resolve_device(device)
    if interactive is None:
        interactive = _stdin_is_terminal()
    if gain_db is not None and limit is not None:
        loudness = Loudness.known(gain_db, limit)
    else:
        loudness = Loudness.measure(plan, speech, palette)
    source = PlanSource(plan, speech, palette, loudness, block_frames=block_frames)

    def sounds() -> dict[str, np.ndarray]:
        made = ui_sounds(palette, plan.sample_rate, paused_speech=paused_speech)
        made.update(ui or {})
        return made

    player = Player(
        plan,
        source,
        sounds=sounds,
        block_frames=block_frames,
        latency_s=latency_s,
        loudness=loudness,
        cue_levels_db=_cue_levels_db(plan, ui, paused_speech),
    )
    status = StatusLine(out, quiet=quiet)
    with signals_stop_like_ctrl_c(), KeyReader(enabled=bool(interactive)) as keys:
        result = player.run(
            device=index, start_sample=start_sample, keys=keys, status=status, t0=t0
        )
    if result.ended_by == "lost":
        raise PlaybackError(result.reason)
    return result


def _cue_levels_db(
    plan: Plan, ui: dict | None, paused_speech: SpeechAudio | None
) -> dict[str, float]:
    """Level of each cue before the loudness gain: tones at the tone volume, the spoken word at the voice's."""
    levels = {name: plan.settings.tone_volume_db for name in CUE_NAMES}
    if paused_speech is not None:
        levels["paused"] = plan.settings.voice_volume_db
    for name in ui or {}:
        levels[name] = 0.0  # the caller's own sounds are played as given
    return levels


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


class Loudness:
    """The export's loudness decision (gain and limiter), known now or being measured.

    ``measure`` first looks in the loudness cache (``loudness.cache_path``,
    shared with ``export``), else runs ``normalisation_gain_db`` on a
    background thread and stores the result there.
    """

    def __init__(self) -> None:
        self.gain_db: float | None = None
        self.limit = False
        self.error: BaseException | None = None
        self.seconds = 0.0  # how long the measuring took (0 when known or cached)
        self.cached = False
        self._done = threading.Event()

    @classmethod
    def known(cls, gain_db: float, limit: bool) -> Loudness:
        self = cls()
        self._set(gain_db, limit)
        return self

    @classmethod
    def measure(
        cls, plan: Plan, speech: Callable[[str], SpeechAudio], palette: Palette
    ) -> Loudness:
        """Start finding the gain on a background thread (importing the DSP stack takes a while too)."""
        self = cls()

        def work() -> None:
            t = time.monotonic()
            try:
                from voicecoach.sound.decisions import (
                    PLAY_DECISION,
                    cached_decision,
                    update_cache,
                )
                from voicecoach.sound.normalise import cache_path, normalisation_gain_db

                path = cache_path(plan, palette)
                for name in PLAY_DECISION_ORDER:
                    cached = cached_decision(path, name)
                    if cached is not None:
                        self.cached = True
                        self._set(float(cached["gain_db"]), bool(cached["limiter"]))
                        return
                report = normalisation_gain_db(plan, speech, palette=palette)
            except BaseException as e:  # handed to the render thread, which reports it
                self.error = e
                self._done.set()
                return
            self.seconds = time.monotonic() - t
            update_cache(
                path,
                decision=(PLAY_DECISION, {"gain_db": report.gain_db, "limiter": report.limiter}),
            )
            self._set(report.gain_db, report.limiter)

        threading.Thread(target=work, name="voicecoach-loudness", daemon=True).start()
        return self

    def _set(self, gain_db: float, limit: bool) -> None:
        self.gain_db = float(gain_db)
        self.limit = bool(limit)
        self._done.set()

    @property
    def ready(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout_s: float) -> bool:
        return self._done.wait(timeout_s)


# an export's own decision first (then play sounds exactly like the file), else play's
PLAY_DECISION_ORDER = ("export-lossless", "play")  # loudness.LOSSLESS_DECISION, PLAY_DECISION


class PlanSource:
    """``start_sample -> blocks``: the export chain (render at the loudness gain, limiter, clip).

    It yields the plan's leading silence straight away (zeros at any gain,
    exactly what the renderer would give), so the lead-in plays while the
    DSP modules load and the loudness is measured; then it waits
    (``waiting`` is true) until the gain is known. ``cancel`` ends a wait.
    """

    def __init__(
        self,
        plan: Plan,
        speech: Callable[[str], SpeechAudio],
        palette: Palette,
        loudness: Loudness,
        *,
        block_frames: int = BLOCK_FRAMES,
    ):
        self.plan = plan
        self.speech = speech
        self.palette = palette
        self.loudness = loudness
        self.block_frames = block_frames
        self.waiting = False
        self._cancelled = False
        sounding = [
            e.start_sample
            for e in plan.events
            if e.kind in ("speech", "tone") and e.end_sample > e.start_sample
        ]
        self.first_sound_sample = min(sounding, default=plan.duration_samples)

    def cancel(self) -> None:
        self._cancelled = True

    def __call__(self, start_sample: int) -> Iterator[np.ndarray]:
        return self._blocks(start_sample)

    def _blocks(self, start_sample: int) -> Iterator[np.ndarray]:
        pos = start_sample
        silence = np.zeros((self.block_frames, 2), dtype=np.float32)
        while pos < self.first_sound_sample:  # zeros at any gain: no renderer needed yet
            n = min(self.block_frames, self.first_sound_sample - pos)
            yield silence[:n]
            pos += n
        self.waiting = True
        while not self.loudness.wait(0.05):
            if self._cancelled:
                return
        self.waiting = False
        if self.loudness.error is not None:
            raise self.loudness.error
        if pos >= self.plan.duration_samples:
            return
        yield from self._chain(pos)

    def _chain(self, start_sample: int) -> Iterator[np.ndarray]:
        from voicecoach.sound.levels import MAX_TRUE_PEAK_DBTP
        from voicecoach.sound.limiter import limited_blocks
        from voicecoach.sound.render import render_blocks

        assert self.loudness.gain_db is not None
        blocks = render_blocks(
            self.plan,
            self.speech,
            palette=self.palette,
            block_frames=self.block_frames,
            start_sample=start_sample,
            gain_db=self.loudness.gain_db,
        )
        if self.loudness.limit:
            blocks = limited_blocks(blocks, MAX_TRUE_PEAK_DBTP, self.plan.sample_rate)
        for block in blocks:
            if float(np.abs(block).max(initial=0.0)) > 1.0:  # as export does
                block = np.clip(block, -1.0, 1.0)
            yield block
