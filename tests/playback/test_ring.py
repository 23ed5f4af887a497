"""The ring between the render thread and the audio callback, and the callback itself: no sound server.

The audio is a counting signal (frame ``i`` of the plan holds ``i / SCALE``),
so every frame that comes out says where in the plan it came from.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace

import numpy as np
import pytest

from voicecoach.playback.ring import Renderer, Ring
from voicecoach.playback.transport import (
    Pause,
    Play,
    SetGain,
    Sound,
    State,
    Stop,
    Transport,
)
from voicecoach.playback.uisounds import UISoundBank

SCALE = 1_000_000.0
RATE = 8000
PLAN_FRAMES = 5000
OK = SimpleNamespace(output_underflow=False)  # the callback's status: no underflow


def counting(start: int, n: int) -> np.ndarray:
    x = (np.arange(start, start + n, dtype=np.float64) / SCALE).astype(np.float32)
    return np.repeat(x[:, None], 2, axis=1)


def plan_sample_of(frames: np.ndarray) -> np.ndarray:
    return np.rint(frames[:, 0].astype(np.float64) * SCALE).astype(int)


class CountingSource:
    """``BlockSource``: the counting signal from ``start_sample`` to ``PLAN_FRAMES`` in uneven blocks."""

    waiting = False

    def __init__(self, block_frames: int = 300):
        self.block_frames = block_frames
        self.starts: list[int] = []

    def __call__(self, start_sample: int) -> Iterator[np.ndarray]:
        self.starts.append(start_sample)
        pos = start_sample
        while pos < PLAN_FRAMES:
            n = min(self.block_frames, PLAN_FRAMES - pos)
            yield counting(pos, n)
            pos += n

    def cancel(self) -> None:
        pass


# ---- the ring alone -------------------------------------------------------------------------------


def test_frames_come_out_in_order_across_slots_with_their_position():
    ring = Ring(4, 100)
    ring.put(0, 0, counting(0, 100), last=False)
    ring.put(0, 100, counting(100, 60), last=False)
    ring.put(0, 160, counting(160, 0), last=True)
    out = np.zeros((128, 2), dtype=np.float32)
    assert ring.read_into(out, 128, 0) == 128
    assert list(plan_sample_of(out)) == list(range(128))
    assert ring.position == 128 and not ring.ended
    assert ring.read_into(out, 128, 0) == 32  # the rest, then the end marker
    assert list(plan_sample_of(out[:32])) == list(range(128, 160))
    assert ring.position == 160 and ring.ended
    assert ring.read == ring.written == 3


def test_the_ring_is_full_at_n_slots_and_frees_a_slot_once_read():
    ring = Ring(4, 10)
    for i in range(4):
        assert not ring.full()
        ring.put(0, 10 * i, counting(10 * i, 10), last=False)
    assert ring.full()
    out = np.zeros((10, 2), dtype=np.float32)
    assert ring.read_into(out, 5, 0) == 5 and ring.full()  # half a slot: not free yet
    assert ring.read_into(out, 5, 0) == 5 and not ring.full()
    ring.put(0, 40, counting(40, 10), last=False)  # wraps round into slot 0
    assert ring.full() and ring.count_of(0) == 4


def test_a_jump_drops_older_generations_and_waits_for_newer_ones():
    ring = Ring(8, 10)
    ring.put(0, 0, counting(0, 10), last=False)
    ring.put(0, 10, counting(10, 10), last=False)
    ring.put(1, 500, counting(500, 10), last=False)
    out = np.zeros((30, 2), dtype=np.float32)
    assert ring.read_into(out, 30, 1) == 10  # generation 0 skipped and freed
    assert list(plan_sample_of(out[:10])) == list(range(500, 510)) and ring.position == 510
    ring.put(2, 900, counting(900, 10), last=False)
    assert ring.read_into(out, 30, 1) == 0  # generation 2: not switched to yet
    assert ring.read == 3 and ring.count_of(2) == 1
    ring.drop_older(3)
    assert ring.read == ring.written


# ---- the render thread filling the ring ----------------------------------------------------------


def drain(ring: Ring, gen: int, want: int, timeout_s: float = 10.0) -> np.ndarray:
    """Read ``want`` frames of ``gen`` (or up to the end) as the callback would, in 64-frame periods."""
    got: list[np.ndarray] = []
    total = 0
    deadline = time.monotonic() + timeout_s
    out = np.zeros((64, 2), dtype=np.float32)
    while total < want and not ring.ended:
        assert time.monotonic() < deadline, f"only {total} of {want} frames arrived"
        n = ring.read_into(out, min(64, want - total), gen)
        if n:
            got.append(out[:n].copy())
            total += n
        else:
            time.sleep(0.001)
    return np.concatenate(got) if got else np.zeros((0, 2), dtype=np.float32)


def test_the_renderer_hands_over_every_frame_and_restarts_where_asked():
    ring = Ring(4, 128)  # smaller than the plan: the renderer must wait for room
    source = CountingSource()
    renderer = Renderer(ring, source, RATE)
    renderer.request = (0, 1000)
    thread = threading.Thread(target=renderer.run, daemon=True)
    thread.start()
    try:
        first = drain(ring, 0, 700)
        assert list(plan_sample_of(first)) == list(range(1000, 1700))
        renderer.ask(1, 3000)  # a jump
        later = drain(ring, 1, PLAN_FRAMES)
        assert list(plan_sample_of(later)) == list(range(3000, PLAN_FRAMES))
        assert ring.ended and ring.position == PLAN_FRAMES
        assert source.starts == [1000, 3000]
    finally:
        renderer.stop()
        thread.join(2.0)
    assert not thread.is_alive() and renderer.error is None


def test_a_render_error_is_kept_for_the_control_thread():
    class Broken(CountingSource):
        def __call__(self, start_sample: int) -> Iterator[np.ndarray]:
            yield counting(start_sample, 10)
            raise KeyError("no audio for the speech 'x'")

    ring = Ring(4, 64)
    renderer = Renderer(ring, Broken(), RATE)
    renderer.run()  # returns: the error is kept, not raised on the render thread
    assert isinstance(renderer.error, KeyError) and ring.written == 1


# ---- the callback: commands, fades, UI sounds ------------------------------------------------------


def make_transport(ring_slots: int = 64) -> tuple[Transport, Ring, Renderer]:
    ring = Ring(ring_slots, 100)
    source = CountingSource(block_frames=100)
    renderer = Renderer(ring, source, RATE)
    click = np.full((40, 2), 0.25, dtype=np.float32)
    ui = UISoundBank({"paused": click, "jump": click, "volume": click, "edge": click})
    transport = Transport(ring, renderer, ui, source, sample_rate=RATE, latency_s=0.01)
    transport.callback_stop = StopIteration  # what ends the stream (sounddevice.CallbackStop)
    for block in source(0):  # the whole plan in the ring: no thread needed
        ring.put(0, int(round(block[0, 0] * SCALE)), block, last=False)
    ring.put(0, PLAN_FRAMES, counting(0, 0), last=True)
    return transport, ring, renderer


def period(transport: Transport, frames: int = 64) -> np.ndarray:
    out = np.full((frames, 2), np.nan, dtype=np.float32)  # the callback must fill every frame
    transport.callback(out, frames, None, OK)
    assert not np.isnan(out).any()
    return out


def test_the_callback_plays_the_ring_then_an_outro_then_stops_the_stream():
    transport, ring, _ = make_transport()
    heard = [period(transport, 500) for _ in range(10)]
    assert list(plan_sample_of(np.concatenate(heard))) == list(range(PLAN_FRAMES))
    assert transport.state == State.PLAYING
    with pytest.raises(StopIteration):
        for _ in range(100):
            assert not period(transport).any()  # silence until the end has reached the speaker
    assert transport.state == State.DONE and ring.ended
    assert transport.ring_starvations == 0 and transport.device_underflows == 0


def test_pause_fades_out_plays_its_sound_and_keeps_the_position():
    transport, ring, _ = make_transport()
    period(transport, 1000)
    transport.cmd = Pause()
    out = period(transport, 400)
    assert transport.cmd is None and transport.state == State.PAUSED
    assert transport.paused_at == 1000 and ring.position == 1000
    fade = len(transport.pause_ramp)  # 0.03 s = 240 frames: the next audio, faded to nothing
    expected = counting(1000, fade)[:, 0] * transport.pause_ramp[:, 0]
    assert np.allclose(out[:fade, 0], expected + 0.25 * (np.arange(fade) < 40), atol=1e-6)
    assert not out[fade:].any()
    assert not period(transport).any()  # paused: silence


def test_play_after_a_jump_plays_the_sound_alone_then_the_new_generation():
    transport, ring, renderer = make_transport()
    period(transport, 500)
    renderer.request = (1, 2000)
    ring.put(1, 2000, counting(2000, 100), last=False)
    transport.cmd = Play(1, 2000, "jump")
    out = period(transport, 600)
    hold = 40 + transport._gap_frames  # the 40-frame sound, then the gap: 0.15 s = 1200 frames
    assert transport.state == State.UI_SOUND and hold > 600
    tail = counting(500, 240)[:, 0] * transport.pause_ramp[:, 0]  # generation 0, faded out
    assert np.allclose(out[:240, 0], tail + 0.25 * (np.arange(240) < 40), atol=1e-6)
    assert not out[240:].any()
    # the UI_SOUND state ends at the end of the period in which the hold ran out
    quiet = [period(transport, 600) for _ in range(2)]  # 1800 frames >= hold
    assert not any(q.any() for q in quiet) and transport.state == State.PLAYING
    assert list(plan_sample_of(period(transport, 100))) == list(range(2000, 2100))
    assert ring.position == 2100


def test_volume_scales_the_output_and_a_stop_without_bell_ends_after_its_fade():
    transport, ring, _ = make_transport()
    before = period(transport, 100)
    transport.cmd = SetGain(2.0, "volume")
    louder = period(transport, 100)
    assert np.allclose(louder[:40], np.clip(2 * (counting(100, 40) + 0.25), -1, 1))
    assert np.allclose(louder[40:], 2 * counting(140, 60))
    assert not np.allclose(before, louder)
    transport.cmd = Sound("edge")
    assert np.allclose(period(transport, 10), 2 * (counting(200, 10) + 0.25))
    transport.cmd = Stop(bell=False)
    with pytest.raises(StopIteration):
        for _ in range(10):
            period(transport, 100)
    assert transport.state == State.DONE and ring.position < PLAN_FRAMES


def test_a_dry_ring_mid_session_counts_as_a_starvation_unless_the_source_waits():
    ring = Ring(4, 100)
    source = CountingSource()
    transport = Transport(
        ring,
        Renderer(ring, source, RATE),
        UISoundBank({}),
        source,
        sample_rate=RATE,
        latency_s=0.01,
    )
    ring.put(0, 0, counting(0, 50), last=False)
    out = period(transport, 64)
    assert list(plan_sample_of(out[:50])) == list(range(50)) and not out[50:].any()
    # before the first audio reached the device, a short ring is the start, not a dropout
    assert transport.ring_starvations == 0 and transport.first_audio_t is not None
    transport.callback(out, 64, None, SimpleNamespace(output_underflow=True))
    assert not out.any()
    assert transport.device_underflows == 1 and transport.ring_starvations == 1
    source.waiting = True  # silence while the source waits for the loudness is not a dropout
    period(transport, 64)
    assert transport.ring_starvations == 1 and transport.waited_frames == 64
