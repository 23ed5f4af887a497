"""Cutting the silence engines leave around an utterance, without a click.

Every engine pads its output (eSpeak adds a pause at the end); the plan wants
the spoken part only, so that "speech ends" means the voice stops. Shared by
all engines so they trim the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

TRIM_THRESHOLD_DB = -40.0  # relative to the utterance's peak
TRIM_MARGIN_S = 0.015  # kept before the first and after the last loud sample
TRIM_FADE_S = 0.010  # raised-cosine fade over the outer edge of the margin
# Goes into engines' identities (so into cache keys): cached speech is trimmed speech.
TRIM_RECIPE = f"trim{TRIM_THRESHOLD_DB:g}dB{TRIM_MARGIN_S * 1000:g}ms{TRIM_FADE_S * 1000:g}ms"


def pcm16_to_float32(data: bytes) -> np.ndarray:
    """Little-endian signed 16-bit PCM bytes to float32 samples in -1..1."""
    import numpy as np  # here: importing this module (for TRIM_RECIPE) must stay cheap

    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


def trim_silence(
    samples: np.ndarray,
    sample_rate: int,
    *,
    threshold_db: float = TRIM_THRESHOLD_DB,
    margin_s: float = TRIM_MARGIN_S,
    fade_s: float = TRIM_FADE_S,
) -> np.ndarray:
    """Drop leading/trailing audio quieter than ``threshold_db`` below the peak.

    Keeps ``margin_s`` around the loud part and fades the first and last
    ``fade_s`` in/out so the cut never clicks. All-silent input gives an empty
    array. Returns a new float32 array.
    """
    import numpy as np

    x = np.asarray(samples, dtype=np.float32)
    if x.size == 0:
        return np.zeros(0, dtype=np.float32)
    magnitude = np.abs(x)
    peak = float(magnitude.max())
    if peak <= 0.0:
        return np.zeros(0, dtype=np.float32)
    threshold = peak * 10.0 ** (threshold_db / 20.0)
    loud = np.flatnonzero(magnitude > threshold)
    margin = int(round(margin_s * sample_rate))
    start = max(0, int(loud[0]) - margin)
    end = min(x.size, int(loud[-1]) + 1 + margin)
    out = x[start:end].copy()
    fade = min(int(round(fade_s * sample_rate)), out.size // 2)
    if fade > 0:
        ramp = (0.5 - 0.5 * np.cos(np.pi * np.arange(fade) / fade)).astype(np.float32)
        out[:fade] *= ramp
        out[-fade:] *= ramp[::-1]
    return out
