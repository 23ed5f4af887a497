"""The handoff of audio from the render thread to the audio callback: a ring of pre-allocated slots.

Single producer (``Renderer``, on its own thread), single consumer (the
PortAudio callback, through ``Transport``). Each slot holds up to
``slot_frames`` frames tagged with a *generation* and its plan position; a
jump or a resume bumps the generation, and the consumer drops slots of an
older one, which is how a jump flushes the ring without a lock. Only the
producer writes ``written`` and the slots ahead of it, only the consumer
writes ``read``; under the GIL an attribute assignment is atomic, which is
all this scheme needs. The consumer side takes no lock, opens no file and
allocates no buffers: it copies into the caller's array and updates integers.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np

from voicecoach.playback.source import BlockSource

CHANNELS = 2


class Ring:
    """``n_slots`` slots of ``slot_frames`` stereo float32 frames, with their metadata in plain lists.

    The consumer's cursor is here too: ``position`` is the plan sample after
    the last frame read (set by the transport when it jumps or pauses), and
    ``ended`` turns true when the slot marked last of a generation is read.
    """

    def __init__(self, n_slots: int, slot_frames: int):
        self.n_slots = n_slots
        self.slot_frames = slot_frames
        self.slots = np.zeros((n_slots, slot_frames, CHANNELS), dtype=np.float32)
        self.slot_gen = [0] * n_slots
        self.slot_start = [0] * n_slots  # plan sample of the slot's first frame
        self.slot_len = [0] * n_slots
        self.slot_last = [False] * n_slots
        self.written = 0  # slots published (producer writes)
        self.read = 0  # slots consumed (consumer writes)
        self.offset = 0  # frames consumed from the current slot (consumer)
        self.position = 0  # plan sample of the next frame the consumer will read
        self.ended = False  # the consumer has read the last slot of the generation it plays

    # -- the producer's side --------------------------------------------------------------------

    def full(self) -> bool:
        return self.written - self.read >= self.n_slots

    def put(self, gen: int, start_sample: int, frames: np.ndarray, *, last: bool) -> None:
        """Publish ``frames`` (at most ``slot_frames``; may be empty) in the next slot; the ring must not be full."""
        k = self.written % self.n_slots
        n = len(frames)
        if n:
            self.slots[k, :n] = frames
        self.slot_gen[k] = gen
        self.slot_start[k] = start_sample
        self.slot_len[k] = n
        self.slot_last[k] = last
        self.written += 1  # publish after the data and metadata are in place

    def count_of(self, gen: int) -> int:
        """Slots of generation ``gen`` waiting in the ring (approximate; for pacing only)."""
        count = 0
        for j in range(self.read, self.written):
            if self.slot_gen[j % self.n_slots] == gen:
                count += 1
        return count

    # -- the consumer's side --------------------------------------------------------------------

    def read_into(self, out: np.ndarray, frames: int, gen: int) -> int:
        """Copy up to ``frames`` frames of generation ``gen`` into ``out``; returns how many.

        Slots of older generations are skipped and freed; a newer generation
        stops the copy (the consumer has not switched to it yet). Reading the
        last slot sets ``ended`` and stops the copy.
        """
        done = 0
        while done < frames and self.read < self.written:
            k = self.read % self.n_slots
            slot_gen = self.slot_gen[k]
            if slot_gen != gen:
                if slot_gen > gen:
                    break
                self.read += 1
                self.offset = 0
                continue
            length = self.slot_len[k]
            off = self.offset
            n = min(length - off, frames - done)
            if n > 0:
                out[done : done + n] = self.slots[k, off : off + n]
                done += n
                off += n
                self.offset = off
                self.position = self.slot_start[k] + off
            if off >= length:
                last = self.slot_last[k]
                self.offset = 0
                self.read += 1
                if last:
                    self.ended = True
                    break
        return done

    def drop_older(self, gen: int) -> None:
        """Free slots older than generation ``gen`` (a jump or resume is coming)."""
        while self.read < self.written and self.slot_gen[self.read % self.n_slots] < gen:
            self.read += 1
            self.offset = 0


class Renderer:
    """The producer: pulls blocks from the source and copies them into the ring, on its own thread.

    ``ask(generation, start_sample)`` (from the control thread) restarts it at
    a new position; ``run`` is the thread's body and keeps any exception in
    ``error`` for the control thread to report.
    """

    def __init__(self, ring: Ring, source: BlockSource, sample_rate: int):
        self.ring = ring
        self.source = source
        self.rate = sample_rate
        self.request: tuple[int, int] = (0, 0)  # (generation, start_sample), written by control
        self.wake = threading.Event()  # a new request, or stop
        self.quit = False
        self.error: BaseException | None = None

    def ask(self, generation: int, start_sample: int) -> None:
        self.request = (generation, start_sample)
        self.wake.set()

    def stop(self) -> None:
        self.quit = True
        self.wake.set()

    def run(self) -> None:
        try:
            self._loop()
        except BaseException as e:  # reported by the control thread
            self.error = e

    def _loop(self) -> None:
        gen = -1
        blocks: Iterator[np.ndarray] | None = None
        pos = 0
        while not self.quit:
            req_gen, req_start = self.request
            if req_gen != gen:
                if blocks is not None and hasattr(blocks, "close"):
                    blocks.close()
                gen, pos = req_gen, req_start
                blocks = self.source(pos)
                self.wake.clear()
            if blocks is None:
                self.wake.wait(0.05)
                continue
            try:
                block = next(blocks)
            except StopIteration:
                blocks = None
                self._publish(gen, pos, np.zeros((0, CHANNELS), dtype=np.float32), last=True)
                continue
            pos = self._write_block(gen, pos, block)

    def _write_block(self, gen: int, pos: int, block: np.ndarray) -> int:
        """Copy ``block`` into as many slots as it needs (waiting for room); returns the new position."""
        i = 0
        slot_frames = self.ring.slot_frames
        while i < len(block):
            n = min(slot_frames, len(block) - i)
            if not self._publish(gen, pos, block[i : i + n], last=False):
                return pos  # a newer generation was requested: drop the rest
            i += n
            pos += n
        return pos

    def _publish(self, gen: int, pos: int, frames: np.ndarray, *, last: bool) -> bool:
        ring = self.ring
        while ring.full():
            if self.quit or self.request[0] != gen:
                return False
            # a fresh generation waits only briefly: the callback frees room within one period
            self.wake.wait(0.01 if ring.count_of(gen) < 2 else ring.slot_frames / self.rate / 2)
        if self.quit or self.request[0] != gen:
            return False
        ring.put(gen, pos, frames, last=last)
        return True
