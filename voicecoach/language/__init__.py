"""The script language: text -> a parsed ``Script`` -> the compiled ``Plan`` (every cue at an
exact integer sample). Pure: no audio.

Modules, in pipeline order: ``limits`` (every bound a script is checked against),
``tokens`` (a cue's tokens by shape), ``script`` (the parsed script's items and
settings), ``report`` (the one diagnostic builder), ``lines`` (reading, lines,
comments, scanning), ``frontmatter``, ``directives`` (one ``[...]`` cue),
``includes``, ``parser`` (the orchestration), ``phrases`` (the words voicecoach
says on its own), ``compiler`` (Script -> Plan), ``estimate`` (plan lengths
without synthesis), ``plan`` (the compiled plan).

The names below load lazily, on first use, like ``voicecoach.speech``'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from voicecoach._lazy import lazy_exports

_EXPORTS = {
    "parse_file": "voicecoach.language.parser",
    "parse_text": "voicecoach.language.parser",
    "compile_script": "voicecoach.language.compiler",
    "spoken_texts": "voicecoach.language.compiler",
    "SpeechLengths": "voicecoach.language.compiler",
    "ToneLengths": "voicecoach.language.compiler",
    "EstimatedSpeech": "voicecoach.language.estimate",
    "Script": "voicecoach.language.script",
    "Settings": "voicecoach.language.script",
    "DurationSpec": "voicecoach.language.script",
    "Loc": "voicecoach.language.script",
    "LEVELS": "voicecoach.language.script",
    "ENGINES": "voicecoach.language.script",
    "Plan": "voicecoach.language.plan",
    "Event": "voicecoach.language.plan",
    "Section": "voicecoach.language.plan",
    "PHRASES": "voicecoach.language.phrases",
    "Wording": "voicecoach.language.phrases",
    "RATE_RANGE_WPM": "voicecoach.language.limits",
    "VOLUME_RANGE_DB": "voicecoach.language.limits",
    "MAX_DIRECTIVE_S": "voicecoach.language.limits",
    "MAX_SESSION_S": "voicecoach.language.limits",
    "MAX_SCRIPT_BYTES": "voicecoach.language.limits",
    "MAX_INCLUDE_DEPTH": "voicecoach.language.limits",
    "MAX_CUES": "voicecoach.language.limits",
}

__all__ = [
    "ENGINES",
    "LEVELS",
    "MAX_CUES",
    "MAX_DIRECTIVE_S",
    "MAX_INCLUDE_DEPTH",
    "MAX_SCRIPT_BYTES",
    "MAX_SESSION_S",
    "PHRASES",
    "RATE_RANGE_WPM",
    "VOLUME_RANGE_DB",
    "DurationSpec",
    "EstimatedSpeech",
    "Event",
    "Loc",
    "Plan",
    "Script",
    "Section",
    "Settings",
    "SpeechLengths",
    "ToneLengths",
    "Wording",
    "compile_script",
    "parse_file",
    "parse_text",
    "spoken_texts",
]

if TYPE_CHECKING:
    from voicecoach.language.compiler import (
        SpeechLengths,
        ToneLengths,
        compile_script,
        spoken_texts,
    )
    from voicecoach.language.estimate import EstimatedSpeech
    from voicecoach.language.limits import (
        MAX_CUES,
        MAX_DIRECTIVE_S,
        MAX_INCLUDE_DEPTH,
        MAX_SCRIPT_BYTES,
        MAX_SESSION_S,
        RATE_RANGE_WPM,
        VOLUME_RANGE_DB,
    )
    from voicecoach.language.parser import parse_file, parse_text
    from voicecoach.language.phrases import PHRASES, Wording
    from voicecoach.language.plan import Event, Plan, Section
    from voicecoach.language.script import ENGINES, LEVELS, DurationSpec, Loc, Script, Settings


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
