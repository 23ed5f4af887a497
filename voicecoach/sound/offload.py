"""Consume rendered blocks in a second process, so rendering and metering/writing use two cores.

An export renders on one core and meters, converts and writes on another.
Threads cannot do this in Python: the GIL serialises the two sides (measured:
no faster than one thread). So ``consume_blocks`` forks a child that runs the
consumer; the blocks travel through a ring of slots in shared memory, in
order, and two pipes carry "slot ready" and "slot free" messages. The
consumer sees exactly the blocks it would see in this process, in the same
order and with the same boundaries, so its result is bit for bit the same.

The child is made by ``factory()`` *after* the fork, so anything it opens
(a sound file, a meter) belongs to it alone; ``finish()`` runs in the child
at the end and its result (or the child's exception) comes back pickled.
The child ignores Ctrl-C (the parent decides), and exits when the parent's
pipe closes, so a parent killed by any signal leaves no process behind.
Where ``os.fork`` is missing or unsafe (Windows, macOS), or when
``VOICECOACH_NO_FORK`` is set, the consumer simply runs in this process.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import pickle
import signal
import struct
import sys
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from voicecoach.errors import RenderError

Consume = Callable[[np.ndarray], None]
Finish = Callable[[], Any]
Factory = Callable[[], tuple[Consume, Finish]]

_SLOTS = 24  # blocks in flight between the two processes (6 MB at 32768 frames)
_CHANNELS = 2
_READY = struct.Struct("<ii")  # slot, frames (-1: no more blocks)
_FREE = b"F"  # + int32 slot
_RESULT = b"R"  # + int64 length + pickled ("ok", value) or ("error", exception)
_INT32 = struct.Struct("<i")
_INT64 = struct.Struct("<q")


def forking() -> bool:
    """Whether ``consume_blocks`` runs its consumer in a child process here."""
    if os.environ.get("VOICECOACH_NO_FORK"):
        return False
    return hasattr(os, "fork") and sys.platform.startswith("linux")


def consume_blocks(
    blocks: Iterable[np.ndarray],
    factory: Factory,
    *,
    block_frames: int,
    progress: Callable[[int], None] | None = None,
    fork: bool = True,
) -> Any:
    """Feed every block to the consumer ``factory()`` makes; returns what its ``finish()`` returns.

    Blocks are float32 ``(frames, 2)`` arrays of at most ``block_frames``
    frames. ``progress(frames)`` counts the frames handed over. An exception
    in the consumer is raised here, as it was raised there. ``fork=False``
    keeps the consumer in this process: a caller with other threads running
    (speech synthesised meanwhile) must not fork, since a lock another thread
    holds at that moment (an import, an allocator's) would stay held in the child.
    """
    if not (fork and forking()):
        consume, finish = factory()
        done = 0
        try:
            for block in blocks:
                consume(block)
                done += len(block)
                if progress is not None:
                    progress(done)
        except BaseException:
            with contextlib.suppress(Exception):
                finish()  # closes what the consumer opened
            raise
        return finish()
    return _Offloaded(factory, block_frames).run(blocks, progress)


class _Offloaded:
    def __init__(self, factory: Factory, block_frames: int):
        self.slot_floats = block_frames * _CHANNELS
        self.block_frames = block_frames
        self.ring = mmap.mmap(-1, _SLOTS * self.slot_floats * 4)  # shared with the child
        self.slots = np.frombuffer(self.ring, dtype=np.float32).reshape(_SLOTS, -1)
        ready_r, self.ready_w = os.pipe()
        self.free_r, free_w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        self.pid = os.fork()
        if self.pid == 0:  # the child: never returns
            status = 1
            try:
                _IN_CHILD[0] = True
                os.close(self.ready_w)
                os.close(self.free_r)
                _child(factory, self.slots, ready_r, free_w)
                status = 0
            finally:
                os._exit(status)
        os.close(ready_r)
        os.close(free_w)

    def run(self, blocks: Iterable[np.ndarray], progress) -> Any:
        finished = False
        try:
            free = list(range(_SLOTS))
            done = 0
            for block in blocks:
                frames = len(block)
                if frames > self.block_frames:
                    raise RenderError(f"a block of {frames} frames is over {self.block_frames}")
                if not free:
                    free.append(self._next_free())
                slot = free.pop()
                self._fill(slot, block)
                self._send(_READY.pack(slot, frames))
                done += frames
                if progress is not None:
                    progress(done)
            self._send(_READY.pack(-1, -1))
            kind, value = self._outcome()
            finished = True
            if kind == "error":
                raise value
            return value
        finally:
            self._close(kill=not finished)

    def _send(self, message: bytes) -> None:
        """Tell the child; if it has gone, raise what it reported before it went."""
        try:
            _write_all(self.ready_w, message)
        except BrokenPipeError:
            kind, value = self._outcome()
            if kind == "error":
                raise value from None
            raise RenderError("the block consumer stopped before the last block") from None

    def _outcome(self) -> tuple[str, Any]:
        """Skip free-slot messages until the child's result: ``("ok", value)`` or ``("error", e)``."""
        while True:
            tag = _read_exactly(self.free_r, 1)
            if tag != _FREE:
                return self._result(tag)
            _read_exactly(self.free_r, _INT32.size)

    def _fill(self, slot: int, block: np.ndarray) -> None:
        frames = len(block)
        view = self.slots[slot, : frames * _CHANNELS].reshape(frames, _CHANNELS)
        np.copyto(view, block, casting="same_kind")

    def _next_free(self) -> int:
        tag = _read_exactly(self.free_r, 1)
        if tag == _FREE:
            return _INT32.unpack(_read_exactly(self.free_r, _INT32.size))[0]
        kind, value = self._result(tag)  # the child stopped early: it failed
        if kind == "error":
            raise value
        raise RenderError("the block consumer stopped before the last block")

    def _result(self, tag: bytes) -> tuple[str, Any]:
        if tag != _RESULT:
            raise RenderError(f"unexpected message {tag!r} from the block consumer")
        (length,) = _INT64.unpack(_read_exactly(self.free_r, _INT64.size))
        return pickle.loads(_read_exactly(self.free_r, length))

    def _close(self, *, kill: bool) -> None:
        for fd in (self.ready_w, self.free_r):
            with contextlib.suppress(OSError):
                os.close(fd)
        if kill:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
        del self.slots
        # a view may still be held by a traceback (an exception while filling a slot):
        # then the mapping goes when that does
        with contextlib.suppress(BufferError):
            self.ring.close()


def _child(factory: Factory, slots: np.ndarray, ready_r: int, free_w: int) -> None:
    """The consumer's loop in the child: every ready slot in order, then the result."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches both; the parent decides
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    outcome: tuple[str, Any]
    try:
        consume, finish = factory()
        while True:
            slot, frames = _READY.unpack(_read_exactly(ready_r, _READY.size))
            if slot < 0:
                break
            consume(slots[slot, : frames * _CHANNELS].reshape(frames, _CHANNELS))
            _write_all(free_w, _FREE + _INT32.pack(slot))
        outcome = ("ok", finish())
    except _ParentGone:
        return
    except BaseException as e:  # sent to the parent, which raises it
        outcome = ("error", e)
    try:
        payload = pickle.dumps(outcome)
    except Exception as e:  # an unpicklable result or exception
        failed = RenderError(f"the block consumer failed: {outcome[1]!r} ({e})")
        payload = pickle.dumps(("error", failed))
    with contextlib.suppress(OSError):
        _write_all(free_w, _RESULT + _INT64.pack(len(payload)) + payload)


class _ParentGone(Exception):
    """The parent closed its end of a pipe (it finished with an error, or was killed)."""


def _read_exactly(fd: int, n: int) -> bytes:
    parts = []
    while n:
        chunk = os.read(fd, n)
        if not chunk:
            if _in_child():
                raise _ParentGone()
            raise RenderError("the block consumer process stopped unexpectedly")
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BrokenPipeError:
            if _in_child():
                raise _ParentGone() from None
            raise
        view = view[written:]


_IN_CHILD = [False]  # set in the forked child


def _in_child() -> bool:
    return _IN_CHILD[0]
