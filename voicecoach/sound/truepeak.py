"""True peak: 4x oversampling of blocks, state carried across blocks (BS.1770-4 annex 2).

``TruePeakMeter`` measures a stream's true peak; the ``Interpolator`` and its
envelope (the largest magnitude between samples, per input frame) are also
what the peak limiter (``limiter``) holds under its ceiling. Plain numpy: the
4x interpolation filter is made here without ``scipy.signal``, so ``play``
with a known gain never loads scipy.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from voicecoach.sound.levels import gain_to_db

_OVERSAMPLE = 4
_TP_TAPS = 12 * _OVERSAMPLE + 1  # odd: the centre tap puts the original samples back on phase 0


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
LAG_SAMPLES = (len(_TP_FILTER) - 1) // 2 // _OVERSAMPLE  # its group delay, in input samples
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


def column_max(a: np.ndarray) -> np.ndarray:
    """Row-wise maximum of a (rows, few columns) array (numpy's axis=1 reduction is slow for few columns)."""
    out = a[:, 0]
    for c in range(1, a.shape[1]):
        out = np.maximum(out, a[:, c])
    return out


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
        e = column_max(np.abs(windows[rows] @ _TP_MATRIX))
        env = e if env is None else np.maximum(env, e)
    assert env is not None
    return env


class Interpolator:
    """4x oversampling with state carried across blocks.

    ``envelope_of`` gives, for each input frame, the largest magnitude over the
    original sample and the three interpolated points after it, on any channel;
    the result lags the input by ``LAG_SAMPLES`` frames.
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
        mag = column_max(np.abs(xx))
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


class TruePeakMeter:
    """Streaming 4x-oversampled true peak of blocks (frames, channels) or (frames,), state carried across blocks.

    ``LoudnessMeter`` uses one.
    """

    def __init__(self) -> None:
        self._interp: Interpolator | None = None
        self._peak = 0.0  # linear true peak so far

    def feed(self, block: np.ndarray) -> None:
        x = np.asarray(block)
        x = x.reshape(-1, 1) if x.ndim == 1 else x
        if len(x) == 0:
            return
        if self._interp is None:
            self._interp = Interpolator(x.shape[1])
        self._peak = max(self._peak, float(x.max()), -float(x.min()))
        if self._interp.skip_if_quiet(x, self._peak):
            return
        xx = self._interp.extended(x)
        env = Interpolator.envelope_over(xx, len(x), self._peak)
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
            env = Interpolator.envelope_over(
                np.concatenate([self._interp.history, tail]), len(tail), peak
            )
            if env is not None:
                peak = max(peak, float(env.max()))
        return gain_to_db(peak)
