"""voicecoach: guided bodywork sessions by voice, for practice with your eyes closed.

import voicecoach
session = voicecoach.load("upper-back")      # built-in name or path to a script
plan = session.plan()                        # exact timed plan (integer samples)
session.export("upper-back.mp3", captions=True)
"""

from __future__ import annotations

__version__ = "0.1.0"

from voicecoach.errors import (  # noqa: E402
    ExportError,
    LibraryError,
    PlaybackError,
    RenderError,
    ScriptError,
    SpeechError,
    UsageError,
    VoicecoachError,
)


def load(
    name_or_path,
    *,
    level=None,
    voice=None,
    rate=None,
    engine=None,
    lead_in=None,
    use_cache=True,
    **unknown,
):
    """Load a built-in session by name or a script by path; options as on the command line.

    ``level`` (gentle, standard, deep), ``voice``, ``rate`` (words per minute as heard),
    ``engine`` (system, piper), ``lead_in`` (seconds, or a duration like "10s"),
    ``use_cache``. See ``voicecoach.session.load``.
    """
    from voicecoach.session import load as _load

    return _load(
        name_or_path,
        level=level,
        voice=voice,
        rate=rate,
        engine=engine,
        lead_in=lead_in,
        use_cache=use_cache,
        **unknown,
    )


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
