"""Signal helpers in plain numpy, for the paths that must start fast.

``scipy.signal`` costs about a second to import on the target machines, which
alone would break "speaking starts within 0.5 s" for ``play``. The resampler
here reproduces ``scipy.signal.resample_poly`` (same Kaiser-windowed sinc
design, beta 5, half length 10 x max(up, down), same alignment and output
length); ``tests/sound/test_dsp.py`` checks it against scipy to 1e-9.

Speed: each polyphase branch is one C-level operation. For ``down == 1``
(22050 -> 44100 Hz, the default) all branches are one chunked matrix product
of input windows and the reversed table (as fast as scipy's C ``upfirdn``); otherwise a branch is one matrix-vector product over
a strided (copy-free) window view of the input. Only very short inputs with
many phases fall back to a gather.
"""

from __future__ import annotations

from functools import lru_cache
from math import gcd

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

_KAISER_BETA = 5.0
_HALF_LEN_FACTOR = 10
_CHUNK_OUT = 1 << 15  # output samples per gather step (bounds temporary memory)
_CHUNK_ROWS = 1 << 13  # input steps per matrix product (the copied windows stay in cache)
_MIN_PER_PHASE = 32  # outputs per phase below which the gather is cheaper than a loop over phases


@lru_cache(maxsize=16)
def _polyphase_filter(up: int, down: int) -> tuple[np.ndarray, int, int]:
    """The anti-aliasing filter as an (up, taps_per_phase) table, plus pre-pad and pre-remove."""
    max_rate = max(up, down)
    cutoff = 1.0 / max_rate
    half_len = _HALF_LEN_FACTOR * max_rate
    numtaps = 2 * half_len + 1
    m = np.arange(numtaps) - 0.5 * (numtaps - 1)
    h = cutoff * np.sinc(cutoff * m) * np.kaiser(numtaps, _KAISER_BETA)
    h = h / h.sum() * up  # unity gain at DC, times up for the zero-stuffing
    n_pre_pad = down - half_len % down
    n_pre_remove = (half_len + n_pre_pad) // down
    h = np.concatenate((np.zeros(n_pre_pad), h))
    taps_per_phase = -(-len(h) // up)
    padded = np.zeros(taps_per_phase * up)
    padded[: len(h)] = h
    # table[p, j] = h[p + j * up]
    table = padded.reshape(taps_per_phase, up).T.copy()
    table.flags.writeable = False
    return table, n_pre_remove, taps_per_phase


def resample_poly(x: np.ndarray, up: int, down: int, *, dtype=np.float64) -> np.ndarray:
    """Resample a mono signal by ``up / down`` with a polyphase FIR (``dtype`` out, float64 by default).

    ``dtype=np.float32`` computes the common ``down == 1`` case in float32
    (about 3x faster; the renderer's speech is float32 anyway), to float
    rounding of the float64 result.
    """
    g = gcd(up, down)
    up, down = up // g, down // g
    dtype = np.dtype(dtype)
    if up == down == 1:
        return np.array(x, dtype=dtype)
    table, n_pre_remove, taps = _polyphase_filter(up, down)
    n_out = -(-len(x) * up // down)
    if n_out == 0:
        return np.zeros(0, dtype=dtype)
    # y[n] = sum_j h[p + j*up] * x[b - j], with m = (n + n_pre_remove) * down, p = m % up, b = m // up
    if down == 1:
        return _upsample(np.asarray(x, dtype=dtype), table, n_pre_remove, n_out)
    x = np.asarray(x, dtype=np.float64)
    if n_out >= _MIN_PER_PHASE * up:
        y = _by_phase(x, table, up, down, n_pre_remove, n_out)
    else:
        y = _gather(x, table, up, down, n_pre_remove, n_out)
    return y.astype(dtype, copy=False)


def _upsample(x: np.ndarray, table: np.ndarray, pre: int, n_out: int) -> np.ndarray:
    """``down == 1``: every input step gives ``up`` outputs, one per phase: a chunked matrix product.

    ``z[k, p] = sum_j h_p[j] * x[k - j]`` is the full convolution of ``x`` with
    branch ``p``; row ``k`` of it is a window of the input times the reversed
    table, so all branches come out already interleaved.
    """
    up, taps = table.shape
    dtype = x.dtype  # float64, or float32 when asked (the table is rounded to it too)
    length = len(x) + taps - 1
    pad = np.zeros(taps - 1, dtype=dtype)
    xpad = np.concatenate((pad, x, pad))
    windows = sliding_window_view(xpad, taps)  # windows[k] = xpad[k : k + taps], no copy
    rev = np.ascontiguousarray(table[:, ::-1].T, dtype=dtype)  # (taps, up)
    z = np.empty((length, up), dtype=dtype)
    for lo in range(0, length, _CHUNK_ROWS):
        z[lo : lo + _CHUNK_ROWS] = windows[lo : lo + _CHUNK_ROWS] @ rev  # (copies, then BLAS)
    z = z.ravel()  # z[k * up + p]: the filtered, upsampled signal
    out = np.zeros(n_out, dtype=dtype)
    seg = z[pre : pre + n_out]
    out[: len(seg)] = seg
    return out


def _by_phase(
    x: np.ndarray, table: np.ndarray, up: int, down: int, pre: int, n_out: int
) -> np.ndarray:
    """Outputs ``r + i*up`` share one phase and step ``down`` input samples: one product per ``r``."""
    taps = table.shape[1]
    xpad = np.concatenate((np.zeros(taps), x, np.zeros(taps + down + 1)))
    windows = sliding_window_view(xpad, taps)  # windows[s] = xpad[s : s + taps], no copy
    rev = table[:, ::-1]
    out = np.empty(n_out)
    for r in range(min(up, n_out)):
        m0 = (r + pre) * down
        p, b0 = m0 % up, m0 // up
        count = len(range(r, n_out, up))
        # x[b - j] for j = 0..taps-1 is xpad[b + 1 .. b + taps] reversed
        rows = windows[b0 + 1 : b0 + 1 + (count - 1) * down + 1 : down]
        out[r::up] = rows @ rev[p]
    return out


def _gather(
    x: np.ndarray, table: np.ndarray, up: int, down: int, pre: int, n_out: int
) -> np.ndarray:
    """The general case by fancy indexing, in chunks (short inputs with many phases)."""
    taps = table.shape[1]
    xpad = np.concatenate((np.zeros(taps), x, np.zeros(taps)))
    out = np.empty(n_out)
    lags = np.arange(taps)
    for lo in range(0, n_out, _CHUNK_OUT):
        n = np.arange(lo, min(lo + _CHUNK_OUT, n_out))
        m = (n + pre) * down
        phase, base = m % up, m // up
        idx = base[:, None] - lags[None, :] + taps
        np.clip(idx, 0, len(xpad) - 1, out=idx)
        out[n] = np.einsum("ij,ij->i", table[phase], xpad[idx])
    return out


def resample(x: np.ndarray, in_rate: int, out_rate: int) -> np.ndarray:
    """Resample mono ``x`` from ``in_rate`` to ``out_rate`` Hz."""
    return resample_poly(x, out_rate, in_rate)
