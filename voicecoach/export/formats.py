"""The export formats: their names, the file extensions that name them, and the format of a path.

The one list of formats (``FORMATS``, in the order the CLI offers them);
``cli.py``'s ``--format`` choice reads it from here. Imports nothing heavy: the
CLI reads it at start-up, before any audio library is loaded. How each format
is encoded (libsndfile's format and subtype, the lossy quality) is the
encoder's business (``voicecoach.export.encoder``).
"""

from __future__ import annotations

import os
from pathlib import Path

from voicecoach.errors import UsageError

FORMATS = ("wav", "flac", "ogg", "mp3", "opus")
LOSSY_FORMATS = ("ogg", "mp3", "opus")  # a listener hears the decoded file: it is measured again
OPUS_SAMPLE_RATES = (8_000, 12_000, 16_000, 24_000, 48_000)
OPUS_SAMPLE_RATE = 48_000  # an Opus export's rate unless one is asked for (Opus decodes at 48 kHz)

_EXTENSIONS = {
    ".wav": "wav",
    ".flac": "flac",
    ".ogg": "ogg",
    ".oga": "ogg",
    ".mp3": "mp3",
    ".opus": "opus",
}
_ALIASES = {"vorbis": "ogg", "oga": "ogg"}


def names_audio_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` ends in an audio file's extension (``.mp3``, ``.wav``...)."""
    return Path(path).suffix.lower() in _EXTENSIONS


def format_for(path: str | os.PathLike | None, fmt: str | None = None) -> str:
    """The export format: ``fmt`` when given (``--format``), else from the file extension."""
    suffix = Path(path).suffix.lower() if path is not None else ""
    if fmt is not None:
        chosen = _ALIASES.get(fmt.lower().lstrip("."), fmt.lower().lstrip("."))
        if chosen not in FORMATS:
            raise UsageError(f"unknown format {fmt!r}: use one of {', '.join(sorted(FORMATS))}")
        named = _EXTENSIONS.get(suffix)
        if named is not None and named != chosen:
            raise UsageError(
                f"--format {fmt} contradicts the extension '{Path(path or '').suffix}' of {path} "
                f"({named}): name the file {Path(path or '').stem}.{chosen}, or leave out --format"
            )
        return chosen
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    known = ", ".join(sorted(_EXTENSIONS))
    what = f"extension {suffix!r}" if suffix else "no extension"
    raise UsageError(
        f"cannot tell the format of {path} ({what}): name it {known}, or give --format"
    )
