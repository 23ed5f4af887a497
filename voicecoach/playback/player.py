"""Live playback: the plan's audio streamed to a sound device, with eyes-closed controls.

Three threads share one pre-allocated ring of audio slots (``ring``):

- the render thread (``ring.Renderer``, the producer) pulls blocks from the
  source (``source.PlanSource``: the renderer through the same loudness gain
  and peak limiter as ``export``) and copies them into free slots, each
  tagged with a *generation* and its plan position;
- the PortAudio callback (``transport.Transport``, the consumer) copies from
  the oldest slot into the device buffer, without locks, files or new
  buffers, and drops slots of an older generation (that is how a jump
  flushes the ring);
- the calling thread (``Player``, here) opens the stream, reads keys, draws
  the status line, and talks to the other two through single-slot mailboxes
  (``Renderer.ask`` for the renderer, ``Transport.post`` for the callback).

Jumps and resumes bump the generation: the renderer restarts at the new
position while the callback plays a short UI sound, then the new audio
follows. The loudness gain is the export's (``gain.LiveGain``: known before
anything is rendered). The plan may still be settling (``language.ahead``:
speech synthesised ahead of the playhead): the player reads the newest one,
and when synthesis falls behind, the source stops where nothing sounds and the
status line says it waits (nothing is lost, nothing is cut).
"""

from __future__ import annotations

import dataclasses
import math
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from voicecoach.errors import PlaybackError, RenderError, UsageError, VoicecoachError
from voicecoach.language.ahead import PlanAhead, fixed
from voicecoach.language.plan import Plan
from voicecoach.playback.devices import NO_DEVICE_HELP, load_sounddevice, resolve_device
from voicecoach.playback.gain import LiveGain
from voicecoach.playback.keys import KeyReader, Terminated, signals_stop_like_ctrl_c
from voicecoach.playback.navigation import (
    SectionNavigator,
    resume_sample,
    section_at,
    section_starts,
)
from voicecoach.playback.recheck import AnswerRecorder, Rechecks
from voicecoach.playback.ring import Renderer, Ring
from voicecoach.playback.source import BLOCK_FRAMES, BlockSource, PlanSource
from voicecoach.playback.status import StatusLine, player_status, reason_text
from voicecoach.playback.transport import (
    STATE_NAMES,
    STOP_FADE_S,
    Pause,
    Play,
    SetGain,
    Sound,
    State,
    Stop,
    Transport,
)
from voicecoach.playback.uisounds import UISoundBank, ui_sound_levels_db, ui_sounds
from voicecoach.sound.levels import db_to_gain
from voicecoach.units import format_clock

if TYPE_CHECKING:
    from voicecoach.sound.palette import Palette
    from voicecoach.speech.engine import SpeechAudio

__all__ = ["PlaybackReport", "Player", "play_plan"]

RING_S = 3.0  # audio rendered ahead of the device: rides out 3 s of render-thread stalls
LATENCY_S = 0.2  # PortAudio output latency: rides out callback-thread scheduling delays
PREFILL_EXTRA_S = 0.05  # rendered before the stream starts: the device buffer plus this
VOLUME_STEP_DB = 3.0
VOLUME_RANGE_DB = (-30.0, 12.0)
STATUS_INTERVAL_S = 0.1  # key poll / status redraw period
STALL_TIMEOUT_S = 3.0  # no callback for this long while playing: the device is gone


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
    synthesis_wait_s: float = 0.0  # silence added while speech was still being synthesised


class Player:
    """One live session on one OutputStream: the stream, the render thread, keys and status.

    ``source(start_sample)`` yields the session's blocks from that sample on.
    Use ``run`` (it blocks until the session ends); ``play_plan`` wraps it.
    """

    def __init__(
        self,
        plan: Plan | PlanAhead,
        source: BlockSource,
        *,
        sounds: Mapping[str, np.ndarray] | Callable[[], Mapping[str, np.ndarray]],
        block_frames: int = BLOCK_FRAMES,
        ring_s: float = RING_S,
        latency_s: float = LATENCY_S,
        loudness: LiveGain | None = None,
        ui_levels_db: Mapping[str, float] | Callable[[], Mapping[str, float]] | None = None,
        recorder: AnswerRecorder[Any] | None = None,
        intro: bool = False,
    ):
        self.ahead = plan if isinstance(plan, PlanAhead) else fixed(plan)
        self._seen_plan = self.plan
        self._seen_done = self.ahead.done
        self.rate = self.plan.sample_rate
        self.recorder = recorder
        self.navigator = SectionNavigator(section_starts(self.plan))
        self.source = source
        self.loudness = loudness
        self.ui = UISoundBank(sounds, ui_levels_db)
        self.latency_s = latency_s
        self.ring = Ring(max(4, math.ceil(ring_s * self.rate / block_frames)), block_frames)
        self.renderer = Renderer(self.ring, source, self.rate)
        self.transport = Transport(
            self.ring, self.renderer, self.ui, source, sample_rate=self.rate, latency_s=latency_s
        )
        self._gen = 0  # newest generation requested
        self._stream: Any = None
        self._volume_db = 0.0
        self._resume_at = 0
        self._stopped_at = -1  # where a stop was asked for (plan sample), for the report
        self.intro = intro  # the UI sound "intro" is said before the session
        self.rechecks = Rechecks(recorder, self.rate, lambda: self.transport.post(Sound("answer")))

    @property
    def plan(self) -> Plan:
        """The newest plan (final once every phrase is synthesised)."""
        return self.ahead.plan

    def _follow_plan(self) -> None:
        """Take a newer plan: section starts and re-check turns may have moved past the settled point."""
        plan = self.plan
        if plan is not self._seen_plan:
            self._seen_plan = plan
            self.navigator.starts = section_starts(plan)
            if self.recorder is not None:
                self.recorder.replan(plan)
        if self.ahead.done and not self._seen_done:
            self._seen_done = True
            self.ui.remake()  # the word "paused" may be synthesised now

    def _refresh_ui_sounds(self) -> None:
        """Make the UI sounds once the stream runs, rescale them once the gain is known."""
        loud = self.loudness
        self.ui.refresh(loud.gain_db if loud is not None else None)

    def _request_render(self, start_sample: int) -> int:
        self.navigator.moved_to(start_sample)
        self._gen += 1
        self.renderer.ask(self._gen, start_sample)
        return self._gen

    def position_sample(self) -> int:
        """Roughly what is audible now: the read position less the device latency."""
        t = self.transport
        if t.state == State.PAUSED and t.paused_at >= 0:
            return t.paused_at
        stream_latency = self.latency_s
        if self._stream is not None:
            stream_latency = float(self._stream.latency or 0.0)
        return max(0, self.ring.position - int(stream_latency * self.rate))

    def jump(self, start_sample: int, sound: str = "jump") -> None:
        """Play from ``start_sample`` after a short UI sound (also from pause)."""
        gen = self._request_render(start_sample)
        self.transport.post(Play(gen, start_sample, sound))

    def pause(self) -> None:
        """Fade out, say "paused", and get the resume point rendering (so resuming is immediate)."""
        t = self.transport
        if not t.post(Pause()) or t.state != State.PAUSED or t.paused_at < 0:
            return
        self._resume_at = resume_sample(self.plan, t.paused_at)
        self._request_render(self._resume_at)

    def resume(self) -> None:
        """A soft tone, then the session from the start of the cut phrase or breath cycle."""
        self.transport.post(Play(self._gen, self._resume_at, "resume"))

    def stop(self, *, bell: bool = True) -> None:
        """End the session: a short fade, and the bell unless it is Ctrl-C."""
        if self._stopped_at < 0:
            self._stopped_at = self.position_sample()
        self.transport.post(Stop(bell))

    def change_volume(self, step_db: float) -> None:
        """Louder or softer by ``step_db`` (a tick at the new level; a double tick at the limit)."""
        lo, hi = VOLUME_RANGE_DB
        new = min(hi, max(lo, self._volume_db + step_db))
        if new == self._volume_db:
            self.transport.post(Sound("edge"))
            return
        self._volume_db = new
        self.transport.post(SetGain(db_to_gain(new), "volume"))

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
        t = self.transport
        t.callback_stop = sd.CallbackStop
        self.ring.position = start_sample
        self.renderer.request = (0, start_sample)
        renderer = threading.Thread(target=self.renderer.run, name="voicecoach-render", daemon=True)
        renderer.start()
        ended_by = "lost"
        try:
            self._stream = self._open_stream(sd, device)
            try:
                self._wait_prefill()
                if self.intro:
                    self._refresh_ui_sounds()  # needed before the first callback
                    t.open_with("intro")
                self._stream.start()
                ended_by = self._control_loop(keys, status)
            except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM/SIGHUP (Terminated)
                self.stop(bell=False)
                t.finished.wait(1.0)
                ended_by = e.name if isinstance(e, Terminated) else "interrupted"
            finally:
                self._close_stream()
                self.rechecks.finish(self.position_sample())
        finally:
            self.renderer.stop()
            self.source.cancel()
            renderer.join(timeout=2.0)
            status.clear()
        if self.renderer.error is not None:
            err = self.renderer.error
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
        first = None if t.first_audio_t is None else t.first_audio_t - t0
        return PlaybackReport(
            stopped_at_sample=at,
            completed=completed,
            underruns=t.device_underflows + t.ring_starvations,
            reason="" if completed else reason_text(self.plan, ended_by, at),
            ended_by=ended_by,
            device_underflows=t.device_underflows,
            ring_starvations=t.ring_starvations,
            first_audio_s=first,
            gain_db=self.loudness.gain_db if self.loudness is not None else 0.0,
            synthesis_wait_s=t.waited_frames / self.rate,
        )

    def _open_stream(self, sd: Any, device: int | None) -> Any:
        try:
            return sd.OutputStream(
                samplerate=self.rate,
                channels=2,
                dtype="float32",
                device=device,
                latency=self.latency_s,
                callback=self.transport.callback,
                finished_callback=self.transport.finished.set,
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
        ring = self.ring
        want = min(
            ring.n_slots,
            math.ceil((self.latency_s + PREFILL_EXTRA_S) * self.rate / ring.slot_frames),
        )
        deadline = time.monotonic() + 30.0
        while ring.written < want and not any(ring.slot_last[: ring.written]):
            if self.renderer.error is not None or self.source.waiting:
                return
            if time.monotonic() > deadline:
                raise PlaybackError(
                    "rendering the first audio took more than 30 s; try `voicecoach export`"
                )
            time.sleep(0.002)

    def _control_loop(self, keys: KeyReader, status: StatusLine) -> str:
        """Keys and status until the stream ends; returns why it ended."""
        t = self.transport
        last_callbacks, last_progress = -1, time.monotonic()
        while True:
            if t.finished.wait(0):
                return self._finish_reason()
            if self.renderer.error is not None:
                return "render failed"
            self._follow_plan()
            self._refresh_ui_sounds()
            for key in keys.read(STATUS_INTERVAL_S):
                if key == "ctrl-c":
                    raise KeyboardInterrupt
                if t.state in (State.STOPPING, State.DONE):
                    continue  # ending: keys no longer apply
                if t.state != State.PAUSED and self.rechecks.key(
                    key, self.position_sample(), time.monotonic()
                ):
                    continue  # an answer to a re-check (space inside its window counts taps)
                if key == "space":
                    if t.state == State.PAUSED:
                        self.resume()
                    else:
                        self.pause()
                elif key in ("right", "n"):
                    later = self.navigator.next(self.position_sample())
                    if later is not None and (self.ahead.done or later < self.ahead.settled_sample):
                        self.jump(later)
                    else:  # the last section, or one whose speech is still being synthesised
                        t.post(Sound("edge"))
                elif key in ("left", "p"):
                    self.jump(self.navigator.back(self.position_sample(), time.monotonic()))
                elif key == "up":
                    self.change_volume(+VOLUME_STEP_DB)
                elif key == "down":
                    self.change_volume(-VOLUME_STEP_DB)
                elif key in ("q", "esc"):
                    self.stop(bell=True)
                    t.finished.wait(STOP_FADE_S + 5.0)
                    return "stopped"
            pos = self.position_sample()
            self.rechecks.tick(pos, time.monotonic())
            shown = player_status(
                self.plan,
                pos,
                STATE_NAMES.get(t.state, ""),
                volume_db=self._volume_db,
                measuring=self.source.waiting,
            )
            note = self.rechecks.status(pos)
            if note:
                shown = dataclasses.replace(shown, extras=(note, *shown.extras))
            status.show(shown, key=section_at(self.plan, self.position_sample()))
            now = time.monotonic()
            if t.callbacks != last_callbacks:
                last_callbacks, last_progress = t.callbacks, now
            elif now - last_progress > STALL_TIMEOUT_S:
                return "lost"

    def _finish_reason(self) -> str:
        state = self.transport.state
        if state == State.DONE and self.ring.ended:
            return "completed"
        if state == State.DONE:
            return "stopped"
        return "lost"


# ---- the public entry point -------------------------------------------------------------------------


def play_plan(
    plan: Plan | PlanAhead,
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
    paused_speech: SpeechAudio | Callable[[], SpeechAudio | None] | None = None,
    block_frames: int = BLOCK_FRAMES,
    latency_s: float = LATENCY_S,
    recorder: AnswerRecorder[Any] | None = None,
    intro_speech: SpeechAudio | None = None,
) -> PlaybackReport:
    """Play ``plan`` live on ``device`` (None: the default output) from ``start_sample``.

    The audio is exactly what a lossless ``export`` writes: the same renderer,
    session gain (``levels.session_gain_db``) and peak limiter; ``gain_db`` and
    ``limit`` replace them. ``plan`` may be a ``PlanAhead`` whose speech is still
    being synthesised: play starts at once and waits (in silence, between
    sounds) only if synthesis falls behind.
    ``interactive`` (default: standard input is a terminal) enables the keys;
    ``quiet`` hides the status line drawn on ``out`` (default stderr).
    ``ui`` replaces UI sounds (see ``uisounds.ui_sounds``); ``paused_speech`` is the
    word "paused" in the session's voice (or a function giving it once synthesised). ``recorder`` takes the answers to
    re-checks (keys 1-5 or space taps in a re-check's window, see ``recheck``;
    None: no window takes keys). ``intro_speech`` is said before the session
    starts (``play --level auto`` says why it chose the level).
    Raises ``PlaybackError`` for a missing PortAudio, no device, or a device
    lost mid-session (saying where it stopped and how to resume).
    """
    t0 = time.monotonic()
    out = sys.stderr if out is None else out
    ahead = plan if isinstance(plan, PlanAhead) else fixed(plan)
    plan = ahead.plan
    if not 0 <= start_sample < max(1, plan.duration_samples):
        raise UsageError(
            f"start {format_clock(start_sample / plan.sample_rate)} is outside the session "
            f"(0:00 to {format_clock(plan.duration_s)})"
        )
    load_sounddevice()  # fail early, before any rendering, when PortAudio is missing
    index = resolve_device(device)
    if interactive is None:
        interactive = _stdin_is_terminal()
    export_like = LiveGain.of_plan(plan)
    loudness = LiveGain(
        export_like.gain_db if gain_db is None else gain_db,
        export_like.limit if limit is None else limit,
    )
    source = PlanSource(ahead, speech, palette, loudness, block_frames=block_frames)

    def paused_now() -> SpeechAudio | None:
        return paused_speech() if callable(paused_speech) else paused_speech

    def sounds() -> dict[str, np.ndarray]:
        made = ui_sounds(
            palette, plan.sample_rate, paused_speech=paused_now(), intro_speech=intro_speech
        )
        made.update(ui or {})
        return made

    player = Player(
        ahead,
        source,
        sounds=sounds,
        block_frames=block_frames,
        latency_s=latency_s,
        loudness=loudness,
        ui_levels_db=lambda: ui_sound_levels_db(plan, ui, paused_now(), intro_speech),
        recorder=recorder,
        intro=intro_speech is not None,
    )
    status = StatusLine(out, quiet=quiet)
    with signals_stop_like_ctrl_c(), KeyReader(enabled=bool(interactive)) as keys:
        result = player.run(
            device=index, start_sample=start_sample, keys=keys, status=status, t0=t0
        )
    if result.ended_by == "lost":
        raise PlaybackError(result.reason)
    return result


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False
