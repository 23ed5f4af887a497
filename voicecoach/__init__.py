"""voicecoach: guided bodywork sessions by voice, for practice with your eyes closed.

import voicecoach
session = voicecoach.load("upper-back")      # built-in name or path to a script
plan = session.plan()                        # exact timed plan (integer samples)
session.export("upper-back.mp3", captions=True)
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import (  # noqa: E402
    ExportError,
    LibraryError,
    PlaybackError,
    RenderError,
    ScriptError,
    SpeechError,
    UsageError,
    VoicecoachError,
)


def load(name_or_path, **options):
    """Load a built-in session by name or a script by path; see ``voicecoach.session.load``."""
    from .session import load as _load

    return _load(name_or_path, **options)


__all__ = [
    "__version__",
    "load",
    "VoicecoachError",
    "ScriptError",
    "SpeechError",
    "RenderError",
    "ExportError",
    "PlaybackError",
    "LibraryError",
    "UsageError",
]
