"""Where the data that ships with voicecoach lives (built-in scripts, palettes).

In an installed wheel the repository's ``scripts/`` and ``audio/`` folders are
packaged as ``voicecoach/_data/scripts`` and ``voicecoach/_data/audio``; in a
source checkout (or an editable install) they are read from the repository.
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # voicecoach/, this module is in storage/


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


CACHE_DIR_ENV = "VOICECOACH_CACHE_DIR"
# beside "speech": remade from it whenever missing
DERIVED_CACHES = ("loudness", "tones", "speech-prepared")


def cache_root() -> Path:
    """The voicecoach cache folder: ``$VOICECOACH_CACHE_DIR``, else the platform's user cache."""
    override = os.environ.get(CACHE_DIR_ENV)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("voicecoach", appauthor=False))


DATA_DIR_ENV = "VOICECOACH_DATA_DIR"


def data_root() -> Path:
    """The folder of what voicecoach keeps for the person (the practice journal):
    ``$VOICECOACH_DATA_DIR``, else the platform's user data folder (``~/.local/share/voicecoach``)."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("voicecoach", appauthor=False))


def new_cache_temp(target: Path) -> tuple[int, Path]:
    """``storage.atomic.new_temp_beside``: the name ``sound/loudness.py`` (limiter spans) imports."""
    from voicecoach.storage.atomic import new_temp_beside

    return new_temp_beside(target)


def clear_derived_caches() -> int:
    """Delete the derived cache files (they are remade on demand); returns how many."""
    removed = 0
    for name in DERIVED_CACHES:
        for p in (cache_root() / name).glob("*"):
            if p.is_file():
                p.unlink(missing_ok=True)
                removed += 1
    return removed
