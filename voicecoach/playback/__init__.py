"""The live sink: the plan's audio streamed to a sound device, with eyes-closed keys.

``player`` opens the stream and runs the session (``play_plan``); ``ring``
hands audio from the render thread to the audio callback; ``transport`` is the
callback's state and the commands it takes; ``source`` yields the export's
audio from any point; ``gain`` the export's loudness decision; ``navigation``
where resume, next and back go; ``uisounds`` the sounds a key press makes;
``keys`` and ``status`` the terminal; ``devices`` the sound devices.

Importing this package imports neither numpy nor sounddevice: the names below
are loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from voicecoach._lazy import lazy_exports

_EXPORTS = {
    "PlaybackReport": "voicecoach.playback.player",
    "Player": "voicecoach.playback.player",
    "play_plan": "voicecoach.playback.player",
    "list_devices": "voicecoach.playback.devices",
    "resolve_device": "voicecoach.playback.devices",
    "LiveGain": "voicecoach.playback.gain",
    "PlanSource": "voicecoach.playback.source",
    "BlockSource": "voicecoach.playback.source",
    "SectionNavigator": "voicecoach.playback.navigation",
    "resume_sample": "voicecoach.playback.navigation",
    "ui_sounds": "voicecoach.playback.uisounds",
}

__all__ = [
    "BlockSource",
    "LiveGain",
    "PlanSource",
    "PlaybackReport",
    "Player",
    "SectionNavigator",
    "list_devices",
    "play_plan",
    "resolve_device",
    "resume_sample",
    "ui_sounds",
]

if TYPE_CHECKING:
    from voicecoach.playback.devices import list_devices, resolve_device
    from voicecoach.playback.gain import LiveGain
    from voicecoach.playback.navigation import SectionNavigator, resume_sample
    from voicecoach.playback.player import PlaybackReport, Player, play_plan
    from voicecoach.playback.source import BlockSource, PlanSource
    from voicecoach.playback.uisounds import ui_sounds


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
