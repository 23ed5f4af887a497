"""An independent loudness meter for tests: ffmpeg's ebur128 filter."""

from __future__ import annotations

import re
import subprocess


def ffmpeg_ebur128(path) -> tuple[float, float]:
    """Integrated loudness (LUFS) and true peak (dBTP) of a file, by ffmpeg's ``ebur128=peak=true``."""
    err = subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-nostats",
            "-i",
            str(path),
            "-af",
            "ebur128=peak=true",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    summary = err[err.rindex("Summary:") :]
    lufs = float(re.search(r"I:\s+(-?[\d.]+|-inf) LUFS", summary).group(1))
    peak = float(re.search(r"Peak:\s+(-?[\d.]+|-inf) dBFS", summary).group(1))
    return lufs, peak


def pyloudnorm_span_lufs(x, sample_rate: int, *, min_window_s: float = 0.4) -> float:
    """Loudness of mono ``x`` played centred, over its whole span (at least ``min_window_s``), ungated.

    K-weighted by pyloudnorm's own filters (independent of voicecoach's meter):
    ``-0.691 + 10 log10(2 * sum(y^2) / window)``.
    """
    import math

    import numpy as np
    import pyloudnorm

    y = np.asarray(x, dtype=np.float64).copy()
    for stage in pyloudnorm.Meter(sample_rate)._filters.values():
        y = stage.apply_filter(y)
    window = max(len(y), round(min_window_s * sample_rate))
    return -0.691 + 10 * math.log10(2 * float(np.sum(y * y)) / window)
