"""Signal helpers in plain numpy, for the paths that must start fast.

``scipy.signal`` costs about a second to import on the target machines, which
alone would break "speaking starts within 0.5 s" for ``play``. The resampler
here reproduces ``scipy.signal.resample_poly`` (same Kaiser-windowed sinc
design, beta 5, half length 10 x max(up, down), same alignment and output
length); ``tests/test_dsp.py`` checks it against scipy to 1e-6.
"""

from __future__ import annotations

from functools import lru_cache
from math import gcd

import numpy as np

_KAISER_BETA = 5.0
_HALF_LEN_FACTOR = 10
_CHUNK_OUT = 1 << 15  # output samples per gather step (bounds temporary memory)


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
    table = np.zeros(taps_per_phase * up)
    table[: len(h)] = h
    # table[p, j] = h[p + j * up]
    return table.reshape(taps_per_phase, up).T.copy(), n_pre_remove, taps_per_phase


def resample_poly(x: np.ndarray, up: int, down: int) -> np.ndarray:
    """Resample a mono signal by ``up / down`` with a polyphase FIR (float64 out)."""
    g = gcd(up, down)
    up, down = up // g, down // g
    x = np.asarray(x, dtype=np.float64)
    if up == down == 1:
        return x.copy()
    table, n_pre_remove, taps = _polyphase_filter(up, down)
    n_out = -(-len(x) * up // down)
    # y[n] = sum_j h[p + j*up] * x[b - j], with m = (n + n_pre_remove) * down, p = m % up, b = m // up
    xpad = np.concatenate((np.zeros(taps), x, np.zeros(taps)))
    out = np.empty(n_out)
    lags = np.arange(taps)
    for lo in range(0, n_out, _CHUNK_OUT):
        n = np.arange(lo, min(lo + _CHUNK_OUT, n_out))
        m = (n + n_pre_remove) * down
        phase, base = m % up, m // up
        idx = base[:, None] - lags[None, :] + taps
        np.clip(idx, 0, len(xpad) - 1, out=idx)
        out[n] = np.einsum("ij,ij->i", table[phase], xpad[idx])
    return out


def resample(x: np.ndarray, in_rate: int, out_rate: int) -> np.ndarray:
    """Resample mono ``x`` from ``in_rate`` to ``out_rate`` Hz."""
    return resample_poly(x, out_rate, in_rate)
