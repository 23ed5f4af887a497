"""Time units. Integer samples inside; seconds only at the edges.

``seconds_to_samples`` is the one place where seconds become samples: it
rounds to the nearest sample (half to even, Python's ``round``) exactly once.
"""

from __future__ import annotations

DEFAULT_SAMPLE_RATE = 44_100  # Hz, output rate of plans and renders
SUPPORTED_SAMPLE_RATES = (
    8_000,
    11_025,
    12_000,
    16_000,
    22_050,
    24_000,
    32_000,
    44_100,
    48_000,
    88_200,
    96_000,
)


def seconds_to_samples(seconds: float, sample_rate: int) -> int:
    """Seconds to the nearest whole sample at ``sample_rate`` Hz."""
    return int(round(seconds * sample_rate))


def samples_to_seconds(samples: int, sample_rate: int) -> float:
    """Samples to seconds (exact for display and JSON; never fed back)."""
    return samples / sample_rate


def samples_to_ms(samples: int, sample_rate: int) -> int:
    """Samples to whole milliseconds, rounded half up (integer arithmetic: exact at any length)."""
    return (samples * 1000 + sample_rate // 2) // sample_rate


def format_timestamp_ms(ms: int) -> str:
    """``HH:MM:SS.mmm``: the time stamp of WebVTT cues and of Vorbis chapter comments."""
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, milli = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{milli:03d}"


def format_clock(seconds: float) -> str:
    """``75.3`` -> ``'1:15'``; ``3725`` -> ``'1:02:05'``."""
    total = int(seconds)
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
