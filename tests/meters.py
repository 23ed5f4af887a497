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
