"""The peak limiter: true peaks held under a ceiling, streaming, and its gain spans replayed from a file.

When a plain gain cannot bring a session to the target loudness without
passing the true-peak ceiling (speech has a high crest factor), a look-ahead
limiter (``limited_blocks``) holds the peaks down instead; ``export`` and live
playback both use it. For the same audio, gain, ceiling and block size its
gain curve is the same every time, so an export records the curve's spans
beside the loudness cache entry and a repeat export replays them
(``limiter_spans_path``, ``replayed_blocks``) instead of limiting again.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
import zlib
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from voicecoach.sound.levels import MAX_TRUE_PEAK_DBTP, db_to_gain
from voicecoach.sound.truepeak import LAG_SAMPLES, Interpolator, column_max
from voicecoach.storage.diskcache import checked_fd, discard, reserve
from voicecoach.storage.resources import new_cache_temp

_LIMITER_MARGIN_DB = 0.1  # the limiter aims this far under the ceiling (gain is not constant)


def _running_min(values: np.ndarray, size: int) -> np.ndarray:
    """Trailing minimum over ``size`` values, valid from index ``size - 1`` (van Herk / Gil-Werman).

    O(n) whatever ``size``: prefix minima within blocks of ``size`` and suffix
    minima within the same blocks; a window spans at most two blocks.
    """
    n = len(values)
    k = -(-n // size)
    padded = np.full(k * size, np.inf)
    padded[:n] = values
    blocks = padded.reshape(k, size)
    prefix = np.minimum.accumulate(blocks, axis=1).ravel()
    suffix = np.minimum.accumulate(blocks[:, ::-1], axis=1)[:, ::-1].ravel()
    out = np.empty(n)
    out[: size - 1] = np.nan
    idx = np.arange(size - 1, n)
    out[size - 1 :] = np.minimum(suffix[idx - size + 1], prefix[idx])
    return out


class _Limiter:
    """Look-ahead peak limiter on the true-peak envelope; output lags input by ``latency`` frames.

    Gain curve: required gain per frame (ceiling / envelope, at most 1), a
    running minimum that holds it, then two cascaded moving averages that make
    smooth S-shaped attack and release ramps. The look-ahead delay is chosen so
    the smoothed gain is fully down when the peak passes: the ceiling holds.
    """

    def __init__(
        self,
        ceiling: float,
        sample_rate: int,
        channels: int,
        lookahead_s: float,
        hold_s: float,
    ):
        self.ceiling = ceiling
        ramp = max(2, int(round(lookahead_s * sample_rate)))
        self.w1 = ramp // 2 + 1
        self.w2 = ramp - self.w1 + 2  # w1 + w2 - 2 == ramp
        self.window = ramp + 1 + max(0, int(round(hold_s * sample_rate)))
        self.latency = ramp + LAG_SAMPLES
        # frames after the last one under 1 until the smoothed gain is back at 1
        self.settle = (self.window - 1) + (self.w1 - 1) + (self.w2 - 1)
        self.interp = Interpolator(channels)
        self.g_tail = np.ones(self.window - 1)
        self.m_tail = np.ones(self.w1 - 1)
        self.s1_tail = np.ones(self.w2 - 1)
        self.active = False  # some tail is below 1

    def _required_gain(self, x: np.ndarray) -> np.ndarray | None:
        if self.interp.skip_if_quiet(x, self.ceiling):
            return None
        xx = self.interp.extended(x)
        n = len(x)
        env = Interpolator.envelope_over(xx, n, self.ceiling)
        if env is None:
            return None  # nothing here can reach the ceiling
        lagged = column_max(np.abs(xx[len(xx) - n - LAG_SAMPLES : len(xx) - LAG_SAMPLES]))
        env = np.maximum(env, lagged)
        if float(env.max()) <= self.ceiling:
            return None  # the gain would be 1 everywhere: the same as skipping
        with np.errstate(divide="ignore"):
            return np.minimum(1.0, self.ceiling / env)

    @staticmethod
    def _trailing(
        values: np.ndarray, tail: np.ndarray, size: int, op: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """Trailing running min or mean of ``size`` over ``values``, continuing from ``tail``."""
        vv = np.concatenate([tail, values])
        n = len(values)
        if op == "min":
            out = _running_min(vv, size)[len(vv) - n :]
        else:
            c = np.cumsum(np.concatenate([[0.0], vv]))
            out = (
                c[size : size + n + len(tail) - (size - 1)] - c[: n + len(tail) - (size - 1)]
            ) / size
            out = out[len(out) - n :]
        return out, vv[len(vv) - len(tail) :].copy()

    def gain_span(self, x: np.ndarray) -> tuple[int, int, np.ndarray] | None:
        """Feed a block; the smoothed gain where it is under 1, as ``(a, b, gains)``, else ``None``.

        The gain curve lags the input by ``latency`` frames: ``gains`` apply
        to frames ``a .. b`` of this block's span of the delayed stream, i.e.
        to the input frames ``latency`` earlier.
        """
        n = len(x)
        g = self._required_gain(x)
        span = None
        if g is not None or self.active:
            # The gain differs from 1 only from the first frame under 1 (or the block start while
            # the tails still act) to ``settle`` frames after the last: compute just that span.
            if g is None:
                a, b = 0, min(n, self.settle)
                g_span = np.ones(b)
            else:
                low = np.flatnonzero(g < 1.0)
                a = 0 if self.active else int(low[0])
                b = min(n, int(low[-1]) + self.settle + 1)
                g_span = g[a:b]
            m, g_tail = self._trailing(g_span, self.g_tail, self.window, "min")
            s1, m_tail = self._trailing(m, self.m_tail, self.w1, "mean")
            s2, s1_tail = self._trailing(s1, self.s1_tail, self.w2, "mean")
            span = (a, b, s2)
            if b < n:  # everything after the span is back at 1
                self.active = False
            else:
                self.g_tail, self.m_tail, self.s1_tail = g_tail, m_tail, s1_tail
                self.active = bool(
                    (g_tail < 1).any()
                    or (m_tail < 1).any()
                    or (s1_tail < 1).any()
                    or (s2 < 1).any()
                )
            if not self.active:
                self.g_tail[:] = 1.0
                self.m_tail[:] = 1.0
                self.s1_tail[:] = 1.0
        return span


def limiter_latency_samples(sample_rate: int, lookahead_s: float = 0.005) -> int:
    """Frames ``limited_blocks`` must be given past a block before it lets that block go."""
    return max(2, int(round(lookahead_s * sample_rate))) + LAG_SAMPLES


def limited_blocks(
    blocks: Iterable[np.ndarray],
    ceiling_dbtp: float = MAX_TRUE_PEAK_DBTP,
    sample_rate: int = 44_100,
    *,
    lookahead_s: float = 0.005,
    hold_s: float = 0.02,
    record: Callable[[int, np.ndarray], None] | None = None,
) -> Iterator[np.ndarray]:
    """The blocks with true peaks held at or under ``ceiling_dbtp``; same block sizes, no added delay.

    Streaming: state (gain curve tails, the blocks waiting for their gain) is
    carried across blocks, so memory does not grow with length. The gain curve
    looks ahead ``latency`` frames, so a block is emitted once the blocks after
    it cover its last frame plus that look-ahead (usually: when the next block
    has arrived); each output block lines up sample for sample with its input
    block. Blocks where the gain is 1 are passed on as they came (the same
    array), the others are copies turned down. Used by both ``export`` and
    live playback. ``record(first_frame, gains)`` is told every gain span (in
    order, never overlapping), so a repeat can replay them (``replayed_blocks``).
    """
    ceiling = db_to_gain(ceiling_dbtp - _LIMITER_MARGIN_DB)
    limiter: _Limiter | None = None
    waiting: deque[tuple[int, np.ndarray]] = deque()  # (first frame, block) until its gain is known
    spans: deque[tuple[int, np.ndarray]] = deque()  # (first frame, gains) where the gain is under 1
    pos = 0  # frames fed to the limiter

    def feed(frames: np.ndarray) -> None:
        assert limiter is not None
        span = limiter.gain_span(frames)
        if span is not None:
            a, _, gains = span
            spans.append((pos + a - limiter.latency, gains))
            if record is not None:
                record(pos + a - limiter.latency, gains)

    def finished(upto: int) -> Iterator[np.ndarray]:
        """The waiting blocks that end at or before frame ``upto``, with their gains applied."""
        while waiting and waiting[0][0] + len(waiting[0][1]) <= upto:
            start, x = waiting.popleft()
            yield apply_spans(x, start, spans)

    for block in blocks:
        x = np.asarray(block)
        if limiter is None:
            channels = 1 if x.ndim == 1 else x.shape[1]
            limiter = _Limiter(ceiling, sample_rate, channels, lookahead_s, hold_s)
        feed(x.reshape(-1, 1) if x.ndim == 1 else x)
        waiting.append((pos, x))
        pos += len(x)
        yield from finished(pos - limiter.latency)
    if limiter is None:
        return
    end = pos
    feed(np.zeros((limiter.latency, limiter.interp.history.shape[1])))
    yield from finished(end)


def apply_spans(x: np.ndarray, start: int, spans: deque[tuple[int, np.ndarray]]) -> np.ndarray:
    """Block ``x`` (first frame ``start``) times the gains of the spans over it; ``x`` itself if none.

    Spans wholly before the block are dropped (blocks come in order). The
    product is taken in float64 and cast back to ``x``'s dtype.
    """
    end = start + len(x)
    while spans and spans[0][0] + len(spans[0][1]) <= start:
        spans.popleft()
    y = None
    for s0, gains in spans:
        if s0 >= end:
            break
        a, b = max(s0, start), min(s0 + len(gains), end)
        if a >= b:
            continue
        if y is None:
            y = np.array(x, dtype=np.float64)
        g = gains[a - s0 : b - s0]
        y[a - start : b - start] *= g[:, None] if y.ndim > 1 else g
    return x if y is None else y.astype(x.dtype)


# ---- replaying the limiter ---------------------------------------------------------
#
# The limiter's gain differs from 1 only near peaks (a few seconds of a session), and for
# the same audio, gain, ceiling and block size it is the same curve every time. An export
# records its spans beside the loudness cache entry (``<digest>.limiter.bin``) and a repeat
# export multiplies them in instead of running the limiter: the same numbers, applied by
# the same ``apply_spans``, so the same bytes. The file is read span by span (``pread``),
# never held whole, so memory stays flat. Layout: the gains (float64) of every span, back
# to back; then each span's first frame and length (int64); then a trailer (span count,
# key, magic); then the CRC-32 of all that, checked (in chunks) when the file is opened. A
# file for another key is ignored; one that does not add up is removed (``diskcache``).

_SPANS_MAGIC = b"VCLSPAN2"
_SPANS_TRAILER = struct.Struct("<q16s8s")  # span count, key, magic
_SPANS_CRC = 4  # bytes of the CRC-32 at the end


def limiter_spans_path(
    cache: Path | None, gain_db: float, ceiling_dbtp: float, block_frames: int
) -> tuple[Path, bytes] | None:
    """Where the limiter's spans for this audio live, and the key they must carry (``None``: no cache).

    The key covers everything the gain curve depends on besides the audio
    itself (which ``cache`` names): the gain, the ceiling and the block size
    (the smoothing's float sums run block by block).
    """
    if cache is None:
        return None
    blob = repr((float(gain_db), float(ceiling_dbtp), int(block_frames), _LIMITER_MARGIN_DB))
    key = hashlib.sha256(blob.encode("utf-8")).digest()[:16]
    return cache.with_name(f"{cache.stem}.limiter.bin"), key


class SpanWriter:
    """Streams recorded spans to a temporary file; ``finish`` renames it into place."""

    def __init__(self, path: Path, key: bytes):
        self.path, self.key = path, key
        self.part: Path | None = None
        self.index = array("q")
        self.crc = 0  # of what is written so far
        self.size = 0
        try:
            fd, self.part = new_cache_temp(path)
            self.file: BinaryIO | None = os.fdopen(fd, "wb")  # closed in finish/abort
        except OSError:
            self.file = None

    def __call__(self, start: int, gains: np.ndarray) -> None:
        if self.file is None:
            return
        g = np.ascontiguousarray(gains, dtype="<f8")
        try:
            self._write(g.tobytes())
        except OSError:
            self.abort()
            return
        self.index.extend((int(start), len(g)))

    def finish(self) -> None:
        if self.file is None:
            return
        try:
            self._write(self.index.tobytes())
            self._write(_SPANS_TRAILER.pack(len(self.index) // 2, self.key, _SPANS_MAGIC))
            self.file.write(struct.pack("<I", self.crc))
            self.file.close()
            assert self.part is not None
            if not reserve(self.size + _SPANS_CRC):
                raise OSError("the limiter spans are larger than the cache's cap")
            os.replace(self.part, self.path)
        except OSError:
            self.abort()
        self.file = None

    def _write(self, raw: bytes) -> None:
        assert self.file is not None
        self.file.write(raw)
        self.crc = zlib.crc32(raw, self.crc)
        self.size += len(raw)

    def abort(self) -> None:
        if self.file is not None:
            with contextlib.suppress(OSError):
                self.file.close()
            self.file = None
        if self.part is not None:
            with contextlib.suppress(OSError):
                self.part.unlink()


def open_spans(path: Path, key: bytes) -> tuple[int, np.ndarray, np.ndarray] | None:
    """``(fd, starts, lengths)`` of a spans file made for ``key``, or ``None`` if absent or not sound.

    A damaged file (its CRC does not match, or it does not add up) is removed.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        size = os.fstat(fd).st_size - _SPANS_CRC
        if size < _SPANS_TRAILER.size:
            raise ValueError
        count, stored_key, magic = _SPANS_TRAILER.unpack(
            os.pread(fd, _SPANS_TRAILER.size, size - _SPANS_TRAILER.size)
        )
        if magic == _SPANS_MAGIC and stored_key != key:
            os.close(fd)
            return None  # sound, for another gain: replaced when these spans are recorded
        if magic != _SPANS_MAGIC or count < 0 or not checked_fd(path, fd):
            raise ValueError
        index_at = size - _SPANS_TRAILER.size - 16 * count
        raw = os.pread(fd, 16 * count, index_at) if count else b""
        if index_at < 0 or len(raw) != 16 * count:
            raise ValueError
        index = np.frombuffer(raw, dtype="<i8").reshape(count, 2)
        starts, lengths = index[:, 0].copy(), index[:, 1].copy()
        if (lengths < 0).any() or int(lengths.sum()) * 8 != index_at:
            raise ValueError
        return fd, starts, lengths
    except (OSError, ValueError, struct.error):
        os.close(fd)
        discard(path)
        return None


def replayed_blocks(
    blocks: Iterable[np.ndarray], fd: int, starts: np.ndarray, lengths: np.ndarray
) -> Iterator[np.ndarray]:
    """The blocks times the recorded spans: what ``limited_blocks`` gave when they were recorded."""
    offsets = np.concatenate([[0], np.cumsum(lengths)]) * 8
    spans: deque[tuple[int, np.ndarray]] = deque()
    i, pos = 0, 0
    try:
        for block in blocks:
            x = np.asarray(block)
            end = pos + len(x)
            while i < len(starts) and starts[i] < end:
                raw = os.pread(fd, int(lengths[i]) * 8, int(offsets[i]))
                if len(raw) != int(lengths[i]) * 8:
                    raise OSError(f"limiter cache file shrank while reading it (span {i})")
                spans.append((int(starts[i]), np.frombuffer(raw, dtype=np.float64)))
                i += 1
            yield apply_spans(x, pos, spans)
            pos = end
    finally:
        os.close(fd)


def recorded_blocks(limited: Iterator[np.ndarray], writer: SpanWriter) -> Iterator[np.ndarray]:
    """``limited`` as it is, keeping its spans only when it is consumed to the end."""
    done = False
    try:
        yield from limited
        done = True
    finally:
        if done:
            writer.finish()
        else:
            writer.abort()
