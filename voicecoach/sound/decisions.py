"""The loudness decision cache: what an export of a plan's audio decided and measured.

``<cache>/loudness/<digest>.json``, one file per distinct audio (the path, and
the digest that names it, come from ``normalise.cache_path``). It holds the
decisions (``decisions``: per kind of format, the gain, limiter, ceiling and the
loudness measured on the result), so exporting the same audio again is one
pass with nothing measured (a lossy file is not decoded again). Reading or
writing it never fails an export: a missing or broken file only costs the
measuring.
"""

from __future__ import annotations

import math
from pathlib import Path

from voicecoach.storage.diskcache import load_json, save_json

CACHE_VERSION = 5  # bump when the renderer, meter or limiter changes what they produce
LOSSLESS_DECISION = "export-lossless"  # what a WAV or FLAC export decided and measured


def read_cache(path: Path | None) -> dict:
    """The cache entry at ``path`` (``{}`` when missing, damaged or of another version).

    Entries are checked (``diskcache.load_json``: a CRC-32 over the content), so an
    edited or damaged one is removed and counts as missing.
    """
    data = load_json(path)
    return data if data is not None and data.get("version") == CACHE_VERSION else {}


def update_cache(path: Path | None, *, decision: tuple[str, dict[str, float | bool]]) -> None:
    """Merge one named decision into the entry at ``path`` (atomic replace)."""
    if path is None:
        return
    data = read_cache(path) or {"version": CACHE_VERSION}
    data.setdefault("decisions", {})[decision[0]] = decision[1]
    save_json(path, data)


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
