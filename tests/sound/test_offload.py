"""The block consumer in a forked process gives what it gives in this one, and fails the same way."""

from __future__ import annotations

import os

import numpy as np
import pytest

from voicecoach.errors import RenderError
from voicecoach.sound import offload
from voicecoach.sound.meter import LoudnessMeter

BLOCK = 4096


def _blocks(n: int = 40) -> list[np.ndarray]:
    rng = np.random.default_rng(5)
    out = [rng.normal(0, 0.2, (BLOCK, 2)).astype(np.float32) for _ in range(n)]
    out.append(rng.normal(0, 0.2, (1000, 2)).astype(np.float32))  # a short last block
    return out


def _meter():
    meter = LoudnessMeter(44_100)
    pids = set()

    def consume(block):
        pids.add(os.getpid())
        meter.feed(block)

    return consume, lambda: (meter.result(), sorted(pids))


@pytest.fixture
def no_fork(monkeypatch):
    monkeypatch.setenv("VOICECOACH_NO_FORK", "1")


def test_forked_consumer_sees_the_same_blocks_and_returns_the_same_result(monkeypatch):
    if not offload.forking():
        pytest.skip("no fork here")
    seen = []
    forked, pids = offload.consume_blocks(
        iter(_blocks()), _meter, block_frames=BLOCK, progress=seen.append
    )
    assert pids != [os.getpid()]  # it really ran in another process
    assert seen[-1] == 40 * BLOCK + 1000
    monkeypatch.setenv("VOICECOACH_NO_FORK", "1")
    inline, inline_pids = offload.consume_blocks(iter(_blocks()), _meter, block_frames=BLOCK)
    assert inline_pids == [os.getpid()]
    assert forked == inline


@pytest.mark.parametrize("fork", [True, False])
def test_an_error_in_the_consumer_is_raised_here_as_it_was_raised(monkeypatch, fork, tmp_path):
    if not fork:
        monkeypatch.setenv("VOICECOACH_NO_FORK", "1")
    pid_file = tmp_path / "pid"

    def failing():
        _record_pid(pid_file)
        count = [0]

        def consume(block):
            count[0] += 1
            if count[0] == 7:
                raise OSError(28, "No space left on device")

        return consume, lambda: "never"

    with pytest.raises(OSError) as e:
        offload.consume_blocks(iter(_blocks()), failing, block_frames=BLOCK)
    assert e.value.errno == 28
    _assert_gone(pid_file)


@pytest.mark.parametrize("fork", [True, False])
def test_an_error_while_rendering_stops_the_consumer(monkeypatch, fork, tmp_path):
    if not fork:
        monkeypatch.setenv("VOICECOACH_NO_FORK", "1")
    finished = tmp_path / "finished"
    pid_file = tmp_path / "pid"

    def blocks():
        yield from _blocks(3 * offload._SLOTS)  # more than the ring holds: the child is running
        raise KeyboardInterrupt

    def consumer():
        _record_pid(pid_file)
        return (lambda block: None), (lambda: finished.write_text("yes"))

    with pytest.raises(KeyboardInterrupt):
        offload.consume_blocks(blocks(), consumer, block_frames=BLOCK)
    _assert_gone(pid_file)
    # in a child, finish never runs (it is killed); in-process, finish closes what it opened
    assert finished.exists() == (not fork)


def test_a_block_over_the_slot_size_is_refused(tmp_path):
    if not offload.forking():
        pytest.skip("no fork here")
    pid_file = tmp_path / "pid"

    def consumer():
        _record_pid(pid_file)
        return _meter()

    blocks = _blocks(3 * offload._SLOTS) + [np.zeros((BLOCK + 1, 2), dtype=np.float32)]
    with pytest.raises(RenderError, match="over 4096"):
        offload.consume_blocks(iter(blocks), consumer, block_frames=BLOCK)
    _assert_gone(pid_file)


def _record_pid(path) -> None:
    path.write_text(str(os.getpid()))


def _assert_gone(path) -> None:
    """The process that consumed (if it was a forked child) has ended and been reaped."""
    pid = int(path.read_text())
    if pid == os.getpid():
        return
    with pytest.raises(ProcessLookupError):  # a zombie would still answer
        os.kill(pid, 0)


def test_the_consumers_error_wins_however_the_parent_notices_it_has_gone():
    """The child may exit before the parent's next message (a broken pipe) or after it."""
    if not offload.forking():
        pytest.skip("no fork here")

    def failing_at_once():
        def consume(block):
            raise OSError(28, "No space left on device")

        return consume, lambda: "never"

    for _ in range(20):
        with pytest.raises(OSError) as e:
            offload.consume_blocks(iter(_blocks(60)), failing_at_once, block_frames=BLOCK)
        assert e.value.errno == 28


def test_an_error_while_filling_a_slot_is_the_error_raised():
    """The slot's view lives on in the traceback: closing the ring must not hide the error."""
    if not offload.forking():
        pytest.skip("no fork here")
    bad = [np.zeros((100, 3), dtype=np.float32)]  # three channels do not fit a stereo slot
    with pytest.raises(ValueError):
        offload.consume_blocks(iter(bad), _meter, block_frames=BLOCK)
