"""The loudness meter: streaming BS.1770-4 integrated loudness (K-weighting, gating) and true peak.

Works block by block, so a two-hour session is measured in memory proportional
to its number of 100 ms sub-blocks, never to its number of samples. The same
K-weighting design as pyloudnorm's, so the figures agree with it. The
filtering is scipy's compiled loop, loaded without ``scipy.signal`` (``iir``).
"""

from __future__ import annotations

import math
from array import array

import numpy as np

from voicecoach.sound.iir import sosfilt
from voicecoach.sound.truepeak import TruePeakMeter

LUFS_OFFSET = -0.691  # BS.1770: loudness = -0.691 + 10 log10(weighted mean square)
_ABSOLUTE_GATE_LUFS = -70.0
_RELATIVE_GATE_LU = -10.0
_CHANNEL_WEIGHTS = (1.0, 1.0, 1.0, 1.41, 1.41)  # BS.1770 G_i for L, R, C, Ls, Rs
_SUBBLOCKS_PER_GATE = 4  # 400 ms gating blocks made of 100 ms steps (75 % overlap)
_DENORMAL_GUARD = 1e-20  # DC added before K-weighting, see LoudnessMeter.feed
_AT_REST = 1e-15  # K-weighting state this small counts as silent


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


K_TAIL_S = 0.25  # the K-weighting's impulse response is below -120 dB well within this
SPAN_MIN_S = 0.4  # a sound shorter than one BS.1770 gating block is measured over one block


def span_loudness_lufs(x: np.ndarray, sample_rate: int) -> float:
    """The loudness of mono ``x`` played centred, over its own span (``tones.tone_loudness_lufs``).

    The same measure (K-weighted energy, ringing included, over the span or
    one 400 ms block, two channels), filtered in time: for speech of a few
    seconds this is some 30 times faster than the tones' frequency-domain way.
    """
    if len(x) == 0:
        return -math.inf
    tail = int(round(K_TAIL_S * sample_rate))
    padded = np.concatenate([np.asarray(x, dtype=np.float64), np.zeros(tail)])
    y, _ = sosfilt(k_weighting_sos(sample_rate), padded)
    energy = float(np.dot(y, y))
    window = max(len(x), int(round(SPAN_MIN_S * sample_rate)))
    if energy <= 0:
        return -math.inf
    return LUFS_OFFSET + 10.0 * math.log10(2.0 * energy / window)


def _as_frames(block: np.ndarray) -> np.ndarray:
    """A block as a (frames, channels) float64 array."""
    a = np.asarray(block, dtype=np.float64)
    return a.reshape(-1, 1) if a.ndim == 1 else a


class LoudnessMeter:
    """Streaming BS.1770-4 integrated loudness and 4x-oversampled true peak.

    ``feed`` blocks of shape (frames, channels) or (frames,); ``result`` gives
    ``(integrated_lufs, true_peak_dbtp)`` for everything fed so far (``-inf``
    for silence or less than 400 ms). K-weighting filter state is carried
    across blocks; only one energy per 100 ms sub-block is kept.
    """

    def __init__(self, sample_rate: int, *, true_peak: bool = True):
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
            y, zi = sosfilt(self._sos, x[:, 0] + _DENORMAL_GUARD, self._zi[:, :, 0])
            self._zi[:, :, 0] = self._zi[:, :, 1] = zi
            energy = (y * y) * (self._weights[0] + self._weights[1])
        else:
            y, self._zi = sosfilt(self._sos, x + _DENORMAL_GUARD, self._zi)
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
            loudness = LUFS_OFFSET + 10.0 * np.log10(z)
        above_abs = z[loudness >= _ABSOLUTE_GATE_LUFS]
        if len(above_abs) == 0:
            return -math.inf
        relative_gate = LUFS_OFFSET + 10.0 * math.log10(above_abs.mean()) + _RELATIVE_GATE_LU
        gated = z[(loudness > relative_gate) & (loudness > _ABSOLUTE_GATE_LUFS)]
        if len(gated) == 0:
            return -math.inf
        return LUFS_OFFSET + 10.0 * math.log10(gated.mean())

    def true_peak_dbtp(self) -> float:
        return self._true_peak.dbtp() if self._true_peak is not None else -math.inf

    def result(self) -> tuple[float, float]:
        """``(integrated_lufs, true_peak_dbtp)``; feeding may continue afterwards."""
        return self.integrated_lufs(), self.true_peak_dbtp()
