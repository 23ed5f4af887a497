"""Speech: engines behind one interface, a disk cache, and the service the pipeline uses.

Importing this package starts nothing and imports no speech library: engines
load pyttsx3 / Piper only inside their worker processes, on first use. The
names below are loaded lazily too, so a worker process (which imports
``voicecoach.speech.worker``) does not pay for numpy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from voicecoach._lazy import lazy_exports

_EXPORTS = {
    "ENGINE_NAMES": "voicecoach.speech.service",
    "SpeechService": "voicecoach.speech.service",
    "default_engine_name": "voicecoach.speech.service",
    "get_engine": "voicecoach.speech.service",
    "open_speech": "voicecoach.speech.service",
    "SpeechCache": "voicecoach.speech.cache",
    "cache_clear": "voicecoach.speech.cache",
    "cache_info": "voicecoach.speech.cache",
    "speech_key": "voicecoach.speech.cache",
    "SpeechAudio": "voicecoach.speech.engine",
    "SpeechEngine": "voicecoach.speech.engine",
    "VoiceInfo": "voicecoach.speech.engine",
}

__all__ = [
    "ENGINE_NAMES",
    "SpeechAudio",
    "SpeechCache",
    "SpeechEngine",
    "SpeechService",
    "VoiceInfo",
    "cache_clear",
    "cache_info",
    "default_engine_name",
    "get_engine",
    "open_speech",
    "speech_key",
]

if TYPE_CHECKING:
    from voicecoach.speech.cache import SpeechCache, cache_clear, cache_info, speech_key
    from voicecoach.speech.engine import SpeechAudio, SpeechEngine, VoiceInfo
    from voicecoach.speech.service import (
        ENGINE_NAMES,
        SpeechService,
        default_engine_name,
        get_engine,
        open_speech,
    )


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
