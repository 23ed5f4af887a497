"""Where the data that ships with voicecoach lives (built-in scripts, palettes).

In an installed wheel the repository's ``scripts/`` and ``audio/`` folders are
packaged as ``voicecoach/_data/scripts`` and ``voicecoach/_data/audio``; in a
source checkout (or an editable install) they are read from the repository.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def data_dir(kind: str) -> Path:
    """The folder holding ``kind`` ("scripts" or "audio")."""
    packaged = _PACKAGE_DIR / "_data" / kind
    if packaged.is_dir():
        return packaged
    return _PACKAGE_DIR.parent / kind


def builtin_scripts_dir() -> Path:
    return data_dir("scripts")


def palettes_dir() -> Path:
    return data_dir("audio") / "palettes"
