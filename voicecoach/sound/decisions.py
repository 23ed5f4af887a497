"""The loudness decision cache: what was measured on a plan's audio, and what was decided from it.

``<cache>/loudness/<digest>.json``, one file per distinct audio (the path, and
the digest that names it, come from ``normalise.cache_path``). It holds the
gain-0 measurement (``measured``: what pass 1 of an export or play finds) and
the decisions taken from it (``decisions``: per use, the gain, limiter,
ceiling and the loudness measured on the result), so a second export or a
``play`` after an export renders once. Reading or writing it never fails an
export: a missing or broken file only costs the measuring pass.
"""

from __future__ import annotations

import math
from pathlib import Path

from voicecoach.storage.diskcache import load_json, save_json

CACHE_VERSION = 4  # bump when the renderer, meter or limiter changes what they produce
PLAY_DECISION = "play"  # what ``play`` measured (``normalisation_gain_db``)
LOSSLESS_DECISION = "export-lossless"  # what a WAV or FLAC export decided and measured


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
