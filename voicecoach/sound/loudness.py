"""Loudness: a streaming BS.1770-4 meter, a true-peak meter, normalisation and a peak limiter.

Every export is normalised to ``TARGET_LUFS`` integrated with a true peak of at
most ``MAX_TRUE_PEAK_DBTP``. The meter works block by block so a two-hour
session is measured in memory proportional to its number of 100 ms sub-blocks,
never to its number of samples. When a plain gain cannot reach the target
without passing the peak ceiling (speech has a high crest factor), a streaming
look-ahead limiter (``limited_blocks``) holds the peaks down instead.

Measurements and the decisions taken from them are kept in a small disk cache
(``cache_path``), shared by ``export`` and ``play``, so the same audio is
measured once; beside it, the limiter's gain spans of the last limited export
(``limiter_spans_path``), so a repeat export replays them instead of limiting again. Importing this module does not import ``scipy.signal`` (only
the meter's K-weighting filter needs it): the limiter and the true-peak
oversampler are plain numpy, so ``play`` with a known gain never loads scipy.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import struct
import sys
import threading
import zlib
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from voicecoach.storage.diskcache import checked_fd, discard, load_json, reserve, save_json
from voicecoach.storage.resources import cache_root, new_cache_temp

TARGET_LUFS = -16.0
MAX_TRUE_PEAK_DBTP = -1.0

_ABSOLUTE_GATE_LUFS = -70.0
_RELATIVE_GATE_LU = -10.0
_CHANNEL_WEIGHTS = (1.0, 1.0, 1.0, 1.41, 1.41)  # BS.1770 G_i for L, R, C, Ls, Rs
_SUBBLOCKS_PER_GATE = 4  # 400 ms gating blocks made of 100 ms steps (75 % overlap)

_OVERSAMPLE = 4
_TP_TAPS = 12 * _OVERSAMPLE + 1  # odd: the centre tap puts the original samples back on phase 0
_LIMITER_MARGIN_DB = 0.1  # the limiter aims this far under the ceiling (gain is not constant)
_DENORMAL_GUARD = 1e-20  # DC added before K-weighting, see LoudnessMeter.feed
_AT_REST = 1e-15  # K-weighting state this small counts as silent


def db_to_gain(db: float) -> float:
    """Decibels to a linear amplitude factor."""
    return 10.0 ** (db / 20.0)


def gain_to_db(gain: float) -> float:
    """Linear amplitude factor to decibels (``-inf`` for 0)."""
    return 20.0 * math.log10(gain) if gain > 0 else -math.inf


def k_weighting_sos(sample_rate: int) -> np.ndarray:
    """The two K-weighting biquads (high shelf, then high pass) as one SOS array.

    Same RBJ-cookbook design and parameters as pyloudnorm's "K-weighting"
    filter class, so results agree with ``pyloudnorm.Meter``.
    """

    def shelf(gain_db: float, q: float, fc_hz: float) -> list[float]:
        a = 10 ** (gain_db / 40.0)
        w0 = 2.0 * math.pi * fc_hz / sample_rate
        alpha = math.sin(w0) / (2.0 * q)
        cw, sa = math.cos(w0), 2 * math.sqrt(a) * alpha
        b = [
            a * ((a + 1) + (a - 1) * cw + sa),
            -2 * a * ((a - 1) + (a + 1) * cw),
            a * ((a + 1) + (a - 1) * cw - sa),
        ]
        den = [
            (a + 1) - (a - 1) * cw + sa,
            2 * ((a - 1) - (a + 1) * cw),
            (a + 1) - (a - 1) * cw - sa,
        ]
        return [x / den[0] for x in b] + [x / den[0] for x in den]

    def high_pass(q: float, fc_hz: float) -> list[float]:
        w0 = 2.0 * math.pi * fc_hz / sample_rate
        alpha = math.sin(w0) / (2.0 * q)
        cw = math.cos(w0)
        b = [(1 + cw) / 2, -(1 + cw), (1 + cw) / 2]
        den = [1 + alpha, -2 * cw, 1 - alpha]
        return [x / den[0] for x in b] + [x / den[0] for x in den]

    return np.array([shelf(4.0, 1 / math.sqrt(2), 1500.0), high_pass(0.5, 38.0)])


def _oversampling_filter() -> tuple[np.ndarray, float]:
    """The 4x interpolation FIR and its worst-case gain over any input (max L1 norm of a phase).

    The same taps as ``scipy.signal.firwin(49, 1/4, window=("kaiser", 8.0)) * 4``
    (windowed sinc, unit DC gain per phase), made with numpy so that importing
    this module does not import ``scipy.signal`` (``play`` starts faster).
    The bound lets the true-peak meter skip frames whose neighbourhood's
    sample peak, times the bound, cannot beat the level that matters: exact.
    """
    m = np.arange(_TP_TAPS) - (_TP_TAPS - 1) / 2
    cutoff = 1.0 / _OVERSAMPLE
    h = cutoff * np.sinc(cutoff * m) * np.kaiser(_TP_TAPS, 8.0)
    taps = h / h.sum() * _OVERSAMPLE
    bound = max(float(np.abs(taps[p::_OVERSAMPLE]).sum()) for p in range(_OVERSAMPLE))
    return taps, bound


_TP_FILTER, _TP_BOUND = _oversampling_filter()
_TP_HISTORY = -(-len(_TP_FILTER) // _OVERSAMPLE)  # input samples the interpolator looks back
_TP_LAG = (len(_TP_FILTER) - 1) // 2 // _OVERSAMPLE  # its group delay, in input samples
_TP_PHASE_TAPS = _TP_HISTORY  # taps per polyphase branch (13)


def _phase_matrix() -> np.ndarray:
    """``(taps_per_phase, 4)``: a window ``xx[q-12 .. q]`` times it gives the 4 points ``4q .. 4q+3``.

    Output ``4q + r`` of the zero-stuffed, filtered signal (what
    ``upfirdn(_TP_FILTER, xx, up=4)`` gives) is ``sum_j h[r + 4j] * xx[q - j]``.
    """
    table = np.zeros((_OVERSAMPLE, _TP_PHASE_TAPS))
    for r in range(_OVERSAMPLE):
        branch = _TP_FILTER[r::_OVERSAMPLE]
        table[r, : len(branch)] = branch
    return np.ascontiguousarray(table[:, ::-1].T)


_TP_MATRIX = _phase_matrix()


def _column_max(a: np.ndarray) -> np.ndarray:
    """Row-wise maximum of a (rows, few columns) array (numpy's axis=1 reduction is slow for few columns)."""
    out = a[:, 0]
    for c in range(1, a.shape[1]):
        out = np.maximum(out, a[:, c])
    return out


def _as_frames(block: np.ndarray) -> np.ndarray:
    """A block as a (frames, channels) float64 array."""
    a = np.asarray(block, dtype=np.float64)
    return a.reshape(-1, 1) if a.ndim == 1 else a


def _distinct_channels(xx: np.ndarray) -> range:
    """The channels of ``xx`` worth looking at: just the first when a stereo block is centred (L == R)."""
    if xx.shape[1] == 2 and np.array_equal(xx[:, 0], xx[:, 1]):
        return range(1)
    return range(xx.shape[1])


def _envelope_at(xx: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Oversampled envelope at frames ``q`` of ``xx`` (each ``q >= 12``): max |.| over the 4 points and channels."""
    env = None
    rows = q - (_TP_PHASE_TAPS - 1)
    for c in _distinct_channels(xx):
        windows = sliding_window_view(xx[:, c], _TP_PHASE_TAPS)  # windows[s] = xx[s : s + 13, c]
        e = _column_max(np.abs(windows[rows] @ _TP_MATRIX))
        env = e if env is None else np.maximum(env, e)
    assert env is not None
    return env


class _Interpolator:
    """4x oversampling with state carried across blocks.

    ``envelope_of`` gives, for each input frame, the largest magnitude over the
    original sample and the three interpolated points after it, on any channel;
    the result lags the input by ``_TP_LAG`` frames.
    """

    def __init__(self, channels: int):
        self.history = np.zeros((_TP_HISTORY, channels))

    def skip_if_quiet(self, x: np.ndarray, threshold: float) -> bool:
        """True, with the history moved on, when ``envelope_over`` would skip all of ``x``.

        The same test (no input sample over ``threshold / _TP_BOUND``), made
        on ``x`` in its own dtype without building the float64 extended
        block: most blocks of a session (silence, tones, quiet speech) end here.
        """
        top = max(float(x.max()), -float(x.min())) if len(x) else 0.0
        limit = threshold / _TP_BOUND
        if top > limit or float(np.abs(self.history).max()) > limit:
            return False
        if len(x) >= _TP_HISTORY:
            self.history = x[-_TP_HISTORY:].astype(np.float64)
        else:
            self.history = np.concatenate([self.history, x])[-_TP_HISTORY:]
        return True

    def extended(self, x: np.ndarray) -> np.ndarray:
        xx = np.concatenate([self.history, x])
        self.history = xx[-_TP_HISTORY:].copy()  # a copy: a view would keep the block alive
        return xx

    @staticmethod
    def envelope_of(xx: np.ndarray, n: int) -> np.ndarray:
        """Oversampled envelope for the last ``n`` frames of ``xx`` (history included)."""
        return _envelope_at(xx, np.arange(len(xx) - n, len(xx)))

    @staticmethod
    def envelope_over(xx: np.ndarray, n: int, threshold: float) -> np.ndarray | None:
        """Like ``envelope_of``, but only where it could exceed ``threshold``; 0 elsewhere.

        A frame is skipped when every input it depends on (itself and the 12
        before it), times the filter's worst-case gain, stays at or under
        ``threshold``: the skip is exact. ``None`` when the whole block is skipped.
        """
        mag = _column_max(np.abs(xx))
        hot = mag > threshold / _TP_BOUND
        if not hot.any():
            return None
        hist = len(xx) - n
        counts = np.zeros(len(hot) + 1, dtype=np.int32)
        np.cumsum(hot, dtype=np.int32, out=counts[1:])
        # hot inputs among frame q's window xx[q-12 .. q], for q = hist .. hist+n-1
        lo = hist - (_TP_PHASE_TAPS - 1)
        needed = np.flatnonzero(counts[hist + 1 : hist + n + 1] - counts[lo : lo + n])
        env = np.zeros(n)
        if len(needed):
            env[needed] = _envelope_at(xx, needed + hist)
        return env


def preload_meter() -> None:
    """Start importing what ``LoudnessMeter`` needs (``scipy.signal``, about 0.7 s) on a thread.

    For moments when the main thread waits anyway (speech synthesis before an
    export). Importing is idempotent: a meter made before it finishes simply
    waits for the import lock.
    """

    def load() -> None:
        with contextlib.suppress(Exception):
            import scipy.signal  # noqa: F401

    threading.Thread(target=load, name="voicecoach-preload", daemon=True).start()


class TruePeakMeter:
    """Streaming 4x-oversampled true peak of blocks (frames, channels) or (frames,), state carried across blocks.

    ``LoudnessMeter`` uses one; ``measure_blocks`` runs one beside a
    loudness-only meter in another process.
    """

    def __init__(self) -> None:
        self._interp: _Interpolator | None = None
        self._peak = 0.0  # linear true peak so far

    def feed(self, block: np.ndarray) -> None:
        x = np.asarray(block)
        x = x.reshape(-1, 1) if x.ndim == 1 else x
        if len(x) == 0:
            return
        if self._interp is None:
            self._interp = _Interpolator(x.shape[1])
        self._peak = max(self._peak, float(x.max()), -float(x.min()))
        if self._interp.skip_if_quiet(x, self._peak):
            return
        xx = self._interp.extended(x)
        env = _Interpolator.envelope_over(xx, len(x), self._peak)
        if env is not None:
            self._peak = max(self._peak, float(env.max()))

    def rest(self) -> None:
        """Digital silence after enough silence: only the interpolator's memory changes (to zeros)."""
        if self._interp is not None:
            self._interp.history[:] = 0.0

    def dbtp(self) -> float:
        peak = self._peak
        if self._interp is not None:
            # the interpolator's ringing after the last sample (the file ends in silence)
            tail = np.zeros((_TP_HISTORY, self._interp.history.shape[1]))
            env = _Interpolator.envelope_over(
                np.concatenate([self._interp.history, tail]), len(tail), peak
            )
            if env is not None:
                peak = max(peak, float(env.max()))
        return gain_to_db(peak)


class LoudnessMeter:
    """Streaming BS.1770-4 integrated loudness and 4x-oversampled true peak.

    ``feed`` blocks of shape (frames, channels) or (frames,); ``result`` gives
    ``(integrated_lufs, true_peak_dbtp)`` for everything fed so far (``-inf``
    for silence or less than 400 ms). K-weighting filter state is carried
    across blocks; only one energy per 100 ms sub-block is kept.
    """

    def __init__(self, sample_rate: int, *, true_peak: bool = True):
        from scipy import signal  # here, not at import: play may never need the meter

        self._sosfilt = signal.sosfilt
        self.sample_rate = int(sample_rate)
        self._sos = k_weighting_sos(self.sample_rate)
        self._zi: np.ndarray | None = None
        self._weights: np.ndarray | None = None
        self._subblocks = array("d")  # channel-weighted energy of each complete 100 ms sub-block
        self._partial = 0.0  # energy of the sub-block in progress
        self._samples = 0
        self._true_peak = TruePeakMeter() if true_peak else None  # (None: -inf)

    @property
    def samples(self) -> int:
        return self._samples

    def _boundary(self, j: int) -> int:
        return (j * self.sample_rate) // 10  # start sample of sub-block j (integer arithmetic)

    def feed(self, block: np.ndarray) -> None:
        x = _as_frames(block)
        n, channels = x.shape
        if n == 0:
            return
        if self._zi is None:
            self._zi = np.zeros((self._sos.shape[0], 2, channels))
            self._weights = np.array([_CHANNEL_WEIGHTS[min(c, 4)] for c in range(channels)])
        assert self._weights is not None  # set with the filter states
        if not x.any() and float(np.abs(self._zi).max()) < _AT_REST:
            # digital silence with the filters at rest: nothing to filter, nothing to peak
            self._zi[:] = 0.0
            self._accumulate_silence(n)
            if self._true_peak is not None:
                self._true_peak.rest()
            return
        # A tiny DC offset keeps the filter states out of subnormal floats when the input falls
        # silent (those made filtering a session's pauses ten times slower than its speech);
        # the high-pass stage removes it, so it adds nothing measurable (about -400 dB).
        if self._mono_copies(block):
            # Both channels and both filter states are equal (centred speech and tones, most of a
            # session): filter one and count it twice. The same numbers as filtering both.
            y, zi = self._sosfilt(self._sos, x[:, 0] + _DENORMAL_GUARD, zi=self._zi[:, :, 0])
            self._zi[:, :, 0] = self._zi[:, :, 1] = zi
            energy = (y * y) * (self._weights[0] + self._weights[1])
        else:
            y, self._zi = self._sosfilt(self._sos, x + _DENORMAL_GUARD, axis=0, zi=self._zi)
            energy = (y * y) @ self._weights  # (n,) weighted sum over channels
        self._accumulate(energy)
        if self._true_peak is not None:
            # the block as it came (float32 from the renderer: half the memory traffic of x;
            # the interpolator computes in float64 all the same, so the numbers are the same)
            self._true_peak.feed(block)

    def _mono_copies(self, block: np.ndarray) -> bool:
        """Whether a stereo block and the filter state are the same in both channels."""
        assert self._zi is not None and self._weights is not None
        if block.ndim != 2 or block.shape[1] != 2 or self._weights[0] != self._weights[1]:
            return False
        return np.array_equal(self._zi[:, :, 0], self._zi[:, :, 1]) and np.array_equal(
            block[:, 0], block[:, 1]
        )

    def _accumulate_silence(self, n: int) -> None:
        end = self._samples + n
        j = len(self._subblocks)
        while self._boundary(j + 1) <= end:
            self._subblocks.append(self._partial)
            self._partial = 0.0
            j += 1
        self._samples = end

    def _accumulate(self, energy: np.ndarray) -> None:
        """Add per-frame energies to the 100 ms sub-blocks (boundaries in absolute samples)."""
        start = self._samples
        pos = 0
        j = len(self._subblocks)
        while (cut := self._boundary(j + 1) - start) <= len(energy):
            self._subblocks.append(self._partial + float(energy[pos:cut].sum()))
            self._partial = 0.0
            pos = cut
            j += 1
        self._partial += float(energy[pos:].sum())
        self._samples = start + len(energy)

    def integrated_lufs(self) -> float:
        rate = self.sample_rate
        n_gates = (
            int(round((self._samples / rate - 0.4) / 0.1)) + 1 if self._samples >= 0.4 * rate else 0
        )
        if n_gates <= 0:
            return -math.inf
        sub = np.frombuffer(self._subblocks, dtype=np.float64)
        sub = np.append(sub, self._partial)
        need = n_gates + _SUBBLOCKS_PER_GATE - 1
        if len(sub) < need:
            sub = np.append(sub, np.zeros(need - len(sub)))
        c = np.cumsum(np.concatenate([[0.0], sub]))
        z = (c[_SUBBLOCKS_PER_GATE : _SUBBLOCKS_PER_GATE + n_gates] - c[:n_gates]) / (0.4 * rate)
        with np.errstate(divide="ignore"):
            loudness = -0.691 + 10.0 * np.log10(z)
        above_abs = z[loudness >= _ABSOLUTE_GATE_LUFS]
        if len(above_abs) == 0:
            return -math.inf
        relative_gate = -0.691 + 10.0 * math.log10(above_abs.mean()) + _RELATIVE_GATE_LU
        gated = z[(loudness > relative_gate) & (loudness > _ABSOLUTE_GATE_LUFS)]
        if len(gated) == 0:
            return -math.inf
        return -0.691 + 10.0 * math.log10(gated.mean())

    def true_peak_dbtp(self) -> float:
        return self._true_peak.dbtp() if self._true_peak is not None else -math.inf

    def result(self) -> tuple[float, float]:
        """``(integrated_lufs, true_peak_dbtp)``; feeding may continue afterwards."""
        return self.integrated_lufs(), self.true_peak_dbtp()


# ---- the limiter -------------------------------------------------------------


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
        self.latency = ramp + _TP_LAG
        # frames after the last one under 1 until the smoothed gain is back at 1
        self.settle = (self.window - 1) + (self.w1 - 1) + (self.w2 - 1)
        self.interp = _Interpolator(channels)
        self.g_tail = np.ones(self.window - 1)
        self.m_tail = np.ones(self.w1 - 1)
        self.s1_tail = np.ones(self.w2 - 1)
        self.active = False  # some tail is below 1

    def _required_gain(self, x: np.ndarray) -> np.ndarray | None:
        if self.interp.skip_if_quiet(x, self.ceiling):
            return None
        xx = self.interp.extended(x)
        n = len(x)
        env = _Interpolator.envelope_over(xx, n, self.ceiling)
        if env is None:
            return None  # nothing here can reach the ceiling
        lagged = _column_max(np.abs(xx[len(xx) - n - _TP_LAG : len(xx) - _TP_LAG]))
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
    order, never overlapping), so a repeat can replay them (``LimiterSpans``).
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
            yield _apply_spans(x, start, spans)

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


def _apply_spans(x: np.ndarray, start: int, spans: deque[tuple[int, np.ndarray]]) -> np.ndarray:
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
# the same ``_apply_spans``, so the same bytes. The file is read span by span (``pread``),
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


class _SpanWriter:
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


def _open_spans(path: Path, key: bytes) -> tuple[int, np.ndarray, np.ndarray] | None:
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


def _replayed_blocks(
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
            yield _apply_spans(x, pos, spans)
            pos = end
    finally:
        os.close(fd)


def _recorded_blocks(limited: Iterator[np.ndarray], writer: _SpanWriter) -> Iterator[np.ndarray]:
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


# ---- normalisation -------------------------------------------------------------


@dataclass(frozen=True)
class LoudnessReport:
    """What normalisation decided: the gain, what was measured, and the expected result.

    ``limiter`` says whether the peak limiter is needed to reach the target;
    when it is, ``final_*`` were measured on the limited audio, otherwise they
    are the measured values plus the gain (exact for a plain gain).
    """

    gain_db: float
    measured_lufs: float
    true_peak_dbtp: float
    final_lufs: float
    final_true_peak_dbtp: float
    limiter: bool = False


ProgressFn = Callable[[int, int], None]


def measure_blocks(
    blocks: Iterable[np.ndarray],
    sample_rate: int,
    progress: Callable[[int], None] | None = None,
    *,
    block_frames: int,
):
    """Feed every block to a fresh meter; returns ``(integrated_lufs, true_peak_dbtp)``.

    The loudness meter runs in a second process (``offload.consume_blocks``)
    while this one renders and tracks the true peak, so the two use two
    cores; the result is the same as metering here. Blocks are float32 stereo of at most ``block_frames``
    frames. ``progress(samples)`` counts the blocks handed over.
    """
    from voicecoach.export.offload import consume_blocks

    # Loudness in the other process, true peak in this one (it renders faster than the
    # loudness meter meters), so both are busy. The meter is made here: the child inherits
    # what it imports (scipy), imported once.
    loudness = LoudnessMeter(sample_rate, true_peak=False)
    peak = TruePeakMeter()

    def peaked() -> Iterator[np.ndarray]:
        for block in blocks:
            peak.feed(block)
            yield block

    lufs = consume_blocks(
        peaked(),
        lambda: (loudness.feed, loudness.integrated_lufs),
        block_frames=block_frames,
        progress=progress,
    )
    return lufs, peak.dbtp()


def plan_blocks(
    plan,
    speech,
    *,
    palette,
    gain_db: float = 0.0,
    limit: bool = False,
    ceiling_dbtp: float = MAX_TRUE_PEAK_DBTP,
    block_frames: int = 8192,
    spans_cache: Path | None = None,
):
    """The plan's rendered blocks at ``gain_db``, through the peak limiter (at ``ceiling_dbtp``) when ``limit``.

    With ``spans_cache`` (this audio's ``cache_path``), the limiter's gain
    spans are replayed from an earlier render of the same audio when there is
    one (the same samples, without running the limiter), and recorded otherwise.
    """
    from voicecoach.sound.render import render_blocks

    blocks = render_blocks(
        plan, speech, palette=palette, block_frames=block_frames, gain_db=gain_db
    )
    if not limit:
        return blocks
    where = limiter_spans_path(spans_cache, gain_db, ceiling_dbtp, block_frames)
    if where is None:
        return limited_blocks(blocks, ceiling_dbtp, plan.sample_rate)
    opened = _open_spans(*where)
    if opened is not None:
        return _replayed_blocks(blocks, *opened)
    writer = _SpanWriter(*where)
    return _recorded_blocks(
        limited_blocks(blocks, ceiling_dbtp, plan.sample_rate, record=writer), writer
    )


def normalisation_gain_db(
    plan,
    speech,
    *,
    palette,
    ceiling_dbtp: float = MAX_TRUE_PEAK_DBTP,
    block_frames: int = 8192,
    progress: Callable[[int], None] | None = None,
    measured: tuple[float, float] | None = None,
) -> LoudnessReport:
    """The gain that brings the plan to ``TARGET_LUFS`` with true peak at most ``ceiling_dbtp``.

    ``ceiling_dbtp`` defaults to ``MAX_TRUE_PEAK_DBTP``; lossy exports ask for
    a lower one, as headroom for the codec's own overshoot.

    Renders once at gain 0 and measures. When the gain would push the true
    peak over the ceiling, renders again with that gain through the limiter,
    measures what the limiter cost in loudness, and adds that back (the
    limiter still holds the ceiling). ``progress(done_samples)`` counts the
    samples rendered across these passes. The first pass is skipped when
    ``measured`` (``(lufs, true_peak_dbtp)`` at gain 0) is given or in the
    loudness cache (an earlier export or play of the same audio), and its
    result is stored there.
    """
    rate = plan.sample_rate
    done = 0
    path = cache_path(plan, palette)
    if measured is None:
        measured = cached_measurement(path)

    def tick(base: int) -> Callable[[int], None] | None:
        if progress is None:
            return None
        return lambda n: progress(base + n)

    if measured is None:
        lufs, peak = measure_blocks(
            plan_blocks(plan, speech, palette=palette, block_frames=block_frames),
            rate,
            tick(done),
            block_frames=block_frames,
        )
        done += plan.duration_samples
        update_cache(path, measured=(lufs, peak))
    else:
        lufs, peak = measured
    if not math.isfinite(lufs):
        return LoudnessReport(0.0, lufs, peak, lufs, peak)
    gain = TARGET_LUFS - lufs
    if peak + gain <= ceiling_dbtp:
        return LoudnessReport(gain, lufs, peak, lufs + gain, peak + gain)
    limited_lufs, limited_peak = measure_blocks(
        plan_blocks(
            plan,
            speech,
            palette=palette,
            gain_db=gain,
            limit=True,
            ceiling_dbtp=ceiling_dbtp,
            block_frames=block_frames,
        ),
        rate,
        tick(done),
        block_frames=block_frames,
    )
    correction = TARGET_LUFS - limited_lufs if math.isfinite(limited_lufs) else 0.0
    return LoudnessReport(
        gain + correction, lufs, peak, limited_lufs + correction, limited_peak, limiter=True
    )


# ---- the loudness cache ----------------------------------------------------------
#
# ``<cache>/loudness/<digest>.json``, one file per distinct audio: the digest
# covers every sounding event, level, palette parameter, the sample rate and
# the targets, so equal digests render equal samples. It holds the gain-0
# measurement (``measured``: what pass 1 of an export or play finds) and the
# decisions taken from it (``decisions``: per use, the gain, limiter, ceiling
# and the loudness measured on the result), so a second export or a ``play``
# after an export renders once. Reading or writing it never fails an export:
# a missing or broken file only costs the measuring pass.

CACHE_VERSION = 4  # bump when the renderer, meter or limiter changes what they produce
PLAY_DECISION = "play"  # what ``play`` measured (``normalisation_gain_db``)
LOSSLESS_DECISION = "export-lossless"  # what a WAV or FLAC export decided and measured


def cache_path(plan, palette) -> Path | None:
    """``<cache>/loudness/<digest>.json`` for this plan and palette (``None`` if no cache folder).

    The digest also covers the code that renders and meters (a changed mix, such
    as other ducking, is other audio, so never an old measurement).
    """
    try:
        from voicecoach import units
        from voicecoach.sound import dsp, render, tones
        from voicecoach.storage.diskcache import code_digest

        events = tuple(
            (
                e.kind,
                e.start_sample,
                e.end_sample,
                e.speech_key,
                e.tone,
                e.pan,
                e.variant,
                e.truncated,
            )
            for e in plan.events
            if e.kind in ("speech", "tone")
        )
        s = plan.settings
        blob = repr(
            (
                CACHE_VERSION,
                code_digest(dsp, tones, units, render, sys.modules[__name__]),
                TARGET_LUFS,
                MAX_TRUE_PEAK_DBTP,
                plan.sample_rate,
                plan.duration_samples,
                s.voice_volume_db,
                s.tone_volume_db,
                palette,
                events,
            )
        )
        digest = hashlib.sha256(blob.encode("utf-8")).hexdigest()
        return cache_root() / "loudness" / f"{digest}.json"
    except Exception:  # no cache is only slower
        return None


def read_cache(path: Path | None) -> dict:
    """The cache entry at ``path`` (``{}`` when missing, damaged or of another version).

    Entries are checked (``diskcache.load_json``: a CRC-32 over the content), so an
    edited or damaged one is removed and counts as missing.
    """
    data = load_json(path)
    return data if data is not None and data.get("version") == CACHE_VERSION else {}


def update_cache(
    path: Path | None,
    *,
    measured: tuple[float, float] | None = None,
    decision: tuple[str, dict[str, float | bool]] | None = None,
) -> None:
    """Merge a gain-0 measurement and/or one named decision into the entry at ``path`` (atomic replace)."""
    if path is None:
        return
    data = read_cache(path) or {"version": CACHE_VERSION}
    if measured is not None:
        data["measured"] = {"lufs": float(measured[0]), "true_peak_dbtp": float(measured[1])}
    if decision is not None:
        data.setdefault("decisions", {})[decision[0]] = decision[1]
    save_json(path, data)


def cached_measurement(path: Path | None) -> tuple[float, float] | None:
    """``(lufs, true_peak_dbtp)`` at gain 0 from the cache, or ``None``."""
    try:
        m = read_cache(path)["measured"]
        lufs, peak = float(m["lufs"]), float(m["true_peak_dbtp"])
    except (KeyError, TypeError, ValueError):
        return None
    return (lufs, peak) if not (math.isnan(lufs) or math.isnan(peak)) else None


def cached_decision(path: Path | None, name: str, numbers: tuple[str, ...] = ()) -> dict | None:
    """The decision stored under ``name``, or ``None``.

    It must have a finite ``gain_db``, a boolean ``limiter`` and a number
    under each key in ``numbers``; anything else counts as not cached.
    """
    try:
        d = read_cache(path)["decisions"][name]
        if not (math.isfinite(float(d["gain_db"])) and isinstance(d["limiter"], bool)):
            return None
        for key in numbers:
            if math.isnan(float(d[key])):
                return None
    except (KeyError, TypeError, ValueError):
        return None
    return d
