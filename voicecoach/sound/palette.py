"""Sound palettes: the pitches, lengths, levels and pan of every synthesised tone.

A palette is a JSON file (``audio/palettes/NAME.json``; see ``audio/README.md``
for what each field means). It is read once into a frozen ``Palette`` so the
renderer can use it as a cache key. A user palette may name a built-in one as
its ``base`` and give only the fields it changes.
"""

from __future__ import annotations

import json
import math
import typing
from dataclasses import dataclass, field, fields, is_dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar, dataclass_transform

from voicecoach.errors import LibraryError, RenderError
from voicecoach.language.includes import (
    is_inside as _inside,  # the include rule: inside a folder once links are followed
)
from voicecoach.storage.resources import palettes_dir

DEFAULT_PALETTE = "warm"
FIXED_LENGTH_TONES = ("ready", "tick", "bell")
# A tone's ``loudness_lufs``: its loudness over its own span, played centred, before the
# script's ``tone_volume`` (``tones.tone_loudness_lufs``). The voice is about -17.5 LUFS over
# its speech and the built-in palettes' tones -23.5 to -29.5: louder than -10 would drown it.
LOUDNESS_RANGE_LUFS = (-60.0, -10.0)
# Fields of earlier palette files that mean something else now: old name -> (new, why).
_RENAMED_FIELDS = {
    "level_db": (
        "loudness_lufs",
        "palette levels are loudness now (LUFS over the tone's own span), not peak; the"
        " built-in palettes use -23.5 to -29.5; see audio/README.md",
    ),
}


_T = TypeVar("_T")


MAX_PALETTE_BYTES = 64 * 1024  # the built-in palettes are about 2 KB
MAX_LIST_ITEMS = 32  # partials, notes, harmonics: a bowl has a handful (20,000 took minutes)


def _num(lo: float, hi: float) -> Any:
    """A float field whose value must lie in ``[lo, hi]`` (checked on load)."""
    return field(metadata={"range": (lo, hi)})


@dataclass_transform(frozen_default=True, field_specifiers=(field, _num))
def _frozen(cls: type[_T]) -> type[_T]:
    """``dataclass(frozen=True)``, telling type checkers that ``_num`` fields have no default."""
    return dataclass(frozen=True)(cls)


@_frozen
class Ducking:
    """How tones make way for speech."""

    depth_db: float = _num(12.0, 60.0)  # tones this far below normal under speech
    ramp_s: float = _num(0.005, 0.5)  # raised-cosine gain ramp length, down and up
    lead_s: float = _num(0.0, 0.5)  # fully ducked this long before speech starts


@_frozen
class BreathSound:
    """``inhale`` or ``exhale``: band-passed noise plus a sine, both gliding over the phase."""

    noise_start_hz: float = _num(50.0, 8000.0)  # noise band centre at the start of the phase
    noise_end_hz: float = _num(50.0, 8000.0)  # ... and at its end
    noise_bandwidth_oct: float = _num(0.1, 4.0)  # width (std. dev., octaves) of the noise band
    sine_start_hz: float = _num(30.0, 4000.0)
    sine_end_hz: float = _num(30.0, 4000.0)
    sine_mix: float = _num(0.0, 1.0)  # 0 = noise only, 1 = sine only
    gain_start_db: float = _num(-40.0, 0.0)  # level trajectory across the phase (linear in dB)
    gain_end_db: float = _num(-40.0, 0.0)
    fade_in_s: float = _num(0.005, 5.0)
    fade_out_s: float = _num(0.005, 5.0)
    loudness_lufs: float = _num(*LOUDNESS_RANGE_LUFS)  # over its own span, see above


@_frozen
class ChimeSound:
    """``ready``: a short soft chime, one or more struck notes."""

    fundamental_hz: float = _num(50.0, 6000.0)
    partials: tuple[tuple[float, float], ...]  # (frequency ratio, amplitude)
    notes: tuple[tuple[float, float], ...]  # (pitch ratio, delay in s)
    attack_s: float = _num(0.001, 0.5)
    decay_s: float = _num(0.01, 10.0)  # amplitude e-folding time
    length_s: float = _num(0.05, 10.0)  # natural length (the plan's span for ``ready``)
    loudness_lufs: float = _num(*LOUDNESS_RANGE_LUFS)


@_frozen
class TickSound:
    """``tick``: a soft wooden tap at each wiper turn, panned to the side the knees go."""

    frequency_hz: float = _num(50.0, 6000.0)
    partials: tuple[tuple[float, float], ...]  # (frequency ratio, amplitude)
    attack_s: float = _num(0.001, 0.1)
    decay_s: float = _num(0.005, 2.0)
    length_s: float = _num(0.02, 2.0)
    right_pitch_ratio: float = _num(0.5, 2.0)  # the "right" tick is this much higher
    loudness_lufs: float = _num(*LOUDNESS_RANGE_LUFS)


@_frozen
class StrokeSound:
    """``stroke``: a soft hum over one rolling stroke; ``up`` glides up, ``down`` glides down."""

    low_hz: float = _num(30.0, 4000.0)
    high_hz: float = _num(30.0, 4000.0)
    harmonics: tuple[float, ...]  # amplitudes of harmonics 1, 2, 3 ...
    fade_s: float = _num(0.005, 5.0)
    down_gain_db: float = _num(-20.0, 0.0)  # the way back down may be a little softer
    loudness_lufs: float = _num(*LOUDNESS_RANGE_LUFS)


@_frozen
class BellSound:
    """``bell``: a singing bowl, inharmonic partials each with its own slow decay."""

    fundamental_hz: float = _num(30.0, 4000.0)
    partials: tuple[tuple[float, float, float], ...]  # (ratio, amplitude, decay s)
    beat_hz: float = _num(0.0, 10.0)  # each partial beats against a detuned twin
    beat_depth: float = _num(0.0, 1.0)  # amplitude of that twin
    attack_s: float = _num(0.001, 0.5)
    length_s: float = _num(0.5, 60.0)
    fade_out_s: float = _num(0.01, 30.0)
    loudness_lufs: float = _num(*LOUDNESS_RANGE_LUFS)


@_frozen
class Palette:
    """Every parameter of the synthesised sounds. Frozen and hashable (a cache key)."""

    name: str
    pan_amount: float = _num(0.0, 1.0)  # how far a panned tone goes (1 = one ear only)
    soft_db: float = _num(0.0, 40.0)  # the ``soft`` variant of any tone is this much quieter
    speech_fade_s: float = _num(0.001, 0.1)  # fade at each end of every utterance
    truncated_fade_s: float = _num(0.005, 0.5)  # fade-out of an utterance cut short
    ducking: Ducking
    inhale: BreathSound
    exhale: BreathSound
    ready: ChimeSound
    tick: TickSound
    stroke: StrokeSound
    bell: BellSound
    description: str = ""
    source: str = ""  # the file it was read from (for messages)

    def length_s(self, tone: str) -> float:
        """Natural length of the fixed-length tones ``ready``, ``tick`` and ``bell``."""
        if tone == "ready":
            return self.ready.length_s
        if tone == "tick":
            return self.tick.length_s
        if tone == "bell":
            return self.bell.length_s
        raise RenderError(
            f"tone {tone!r} has no natural length (only {', '.join(FIXED_LENGTH_TONES)} do)"
        )


# ---- loading -------------------------------------------------------------------

_NOT_FROM_FILE = ("name", "source")


def palette_names() -> list[str]:
    """Names of the built-in palettes, sorted."""
    folder = palettes_dir()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.json"))


def load_palette(name_or_path: str | None, *, relative_to: Path | None = None) -> Palette:
    """A built-in palette by name (None: the default), or a palette file by path.

    A bare name (no slash, no ``.json``) is looked up among the built-in
    palettes; anything else is a path, relative to ``relative_to`` (the
    script's folder) when not absolute. With ``relative_to`` (a path from a
    script), the file must be inside that folder tree or the built-in
    palettes once links are followed, like an include.
    """
    if name_or_path is None or not str(name_or_path).strip():
        name_or_path = DEFAULT_PALETTE
    text = str(name_or_path).strip()
    if _is_bare_name(text):
        path = palettes_dir() / f"{text}.json"
        if not path.is_file():
            known = ", ".join(palette_names()) or "(none installed)"
            raise LibraryError(f"unknown palette {text!r}; known palettes: {known}")
    else:
        path = Path(text).expanduser()
        if not path.is_absolute() and relative_to is not None:
            path = Path(relative_to) / path
        try:
            resolved = path.resolve()
        except (OSError, RuntimeError) as e:  # a link loop
            raise RenderError(f"cannot read palette file {path}: {e}") from e
        if relative_to is not None and not any(
            _inside(resolved, root) for root in (Path(relative_to), palettes_dir())
        ):
            raise RenderError(
                f"palette {text!r} leads outside this script's folder and the built-in palettes"
            )
        if not path.is_file():
            raise RenderError(f"palette file not found: {path}")
    path = path.resolve()
    try:
        mtime_ns = path.stat().st_mtime_ns
    except OSError as e:
        raise RenderError(f"cannot read palette file {path}: {e}") from e
    return _load_file(str(path), mtime_ns)


def _is_bare_name(text: str) -> bool:
    return "/" not in text and "\\" not in text and not text.endswith(".json")


@lru_cache(maxsize=32)
def _load_file(path: str, mtime_ns: int) -> Palette:
    """Read, merge onto its base (if any) and validate one palette file."""
    data = _read_json(path)
    base_name = data.pop("base", None)
    if base_name is not None:
        if not isinstance(base_name, str) or not _is_bare_name(base_name):
            raise RenderError(
                f"{path}: field 'base' must name a built-in palette, got {base_name!r}"
            )
        base_path = palettes_dir() / f"{base_name}.json"
        if not base_path.is_file():
            known = ", ".join(palette_names())
            raise LibraryError(
                f"{path}: base palette {base_name!r} is unknown; known palettes: {known}"
            )
        if base_path.resolve() == Path(path):
            raise RenderError(f"{path}: a palette cannot be its own base")
        base = _read_json(str(base_path))
        for own in ("base", "name", "description"):  # these belong to the derived palette
            base.pop(own, None)
        data = _merge(base, data)
    data.setdefault("name", Path(path).stem)
    name = data.pop("name")
    if not isinstance(name, str) or not name.strip():
        raise RenderError(f"{path}: field 'name' must be a non-empty string")
    values = _build_fields(Palette, data, path, "", skip=_NOT_FROM_FILE)
    palette = Palette(name=name, source=path, **values)
    _check_consistency(palette, path)
    return palette


def _read_json(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read(MAX_PALETTE_BYTES + 1)
        if len(text) > MAX_PALETTE_BYTES:
            raise RenderError(
                f"{path}: a palette file may be at most {MAX_PALETTE_BYTES // 1024} KB"
            )
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise RenderError(f"{path}:{e.lineno}:{e.colno}: palette is not valid JSON: {e.msg}") from e
    except (ValueError, RecursionError) as e:  # a 5000-digit number, nesting thousands deep
        raise RenderError(
            f"{path}: palette is not usable JSON (a number too long or nesting too deep)"
        ) from e
    except (OSError, UnicodeDecodeError) as e:
        raise RenderError(f"cannot read palette file {path}: {e}") from e
    if not isinstance(data, dict):
        raise RenderError(f"{path}: a palette must be a JSON object")
    return data


def _merge(base: dict, over: dict) -> dict:
    """``over`` on top of ``base``, recursing into nested objects."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _build_fields(cls: type, data: Any, path: str, where: str, skip: tuple = ()) -> dict:
    """Check ``data`` against the fields of dataclass ``cls``; return constructor kwargs."""
    if not isinstance(data, dict):
        raise RenderError(f"{path}: field {where.rstrip('.')!r} must be an object")
    hints = typing.get_type_hints(cls)
    known = [f.name for f in fields(cls) if f.name not in skip]
    unknown = sorted(set(data) - set(known))
    for old in unknown:
        if old in _RENAMED_FIELDS and _RENAMED_FIELDS[old][0] in known:
            new, why = _RENAMED_FIELDS[old]
            raise RenderError(f"{path}: field {where + old!r} is now {where + new!r}: {why}")
    if unknown:
        raise RenderError(
            f"{path}: unknown field {where + unknown[0]!r}; expected one of: {', '.join(known)}"
        )
    out: dict[str, Any] = {}
    for f in fields(cls):
        if f.name in skip:
            continue
        name = where + f.name
        if f.name not in data:
            if f.name == "description":
                continue
            raise RenderError(
                f"{path}: missing field {name!r} (or give a built-in palette as 'base')"
            )
        out[f.name] = _convert(hints[f.name], f.metadata.get("range"), data[f.name], path, name)
    return out


def _convert(
    kind: Any, bounds: tuple[float, float] | None, value: Any, path: str, name: str
) -> Any:
    if isinstance(kind, type) and is_dataclass(kind):
        return kind(**_build_fields(kind, value, path, name + "."))
    if kind is str:
        if not isinstance(value, str):
            raise RenderError(f"{path}: field {name!r} must be a string, got {value!r}")
        return value
    if kind is float:
        return _number(value, bounds, path, name)
    if typing.get_origin(kind) is tuple:
        return _tuple(kind, value, path, name)
    raise AssertionError(f"unhandled palette field type {kind!r}")  # pragma: no cover


def _number(value: Any, bounds: tuple[float, float] | None, path: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RenderError(f"{path}: field {name!r} must be a number, got {value!r}")
    if bounds is not None and not bounds[0] <= value <= bounds[1]:
        raise RenderError(
            f"{path}: field {name!r} must be between {bounds[0]:g} and {bounds[1]:g}, got {value!r}"
        )
    return float(value)


def _tuple(kind: Any, value: Any, path: str, name: str) -> tuple:
    """``tuple[float, ...]`` or ``tuple[tuple[float, float], ...]`` from JSON lists."""
    (inner, _ellipsis) = typing.get_args(kind)
    if not isinstance(value, list) or not value:
        raise RenderError(f"{path}: field {name!r} must be a non-empty list, got {value!r}")
    if len(value) > MAX_LIST_ITEMS:
        raise RenderError(
            f"{path}: field {name!r} may list at most {MAX_LIST_ITEMS} items, not {len(value)}"
        )
    if inner is float:
        return tuple(_number(v, (0.0, 100.0), path, f"{name}[{i}]") for i, v in enumerate(value))
    width = len(typing.get_args(inner))
    out = []
    for i, row in enumerate(value):
        if not isinstance(row, list) or len(row) != width:
            raise RenderError(
                f"{path}: field {name}[{i}] must be a list of {width} numbers, got {row!r}"
            )
        out.append(tuple(_number(v, (0.0, 1000.0), path, f"{name}[{i}]") for v in row))
    return tuple(out)


def _check_consistency(p: Palette, path: str) -> None:
    """Rules that involve more than one field."""
    for tone, sound in (("ready", p.ready), ("tick", p.tick)):
        for i, (ratio, _amp) in enumerate(sound.partials):
            if ratio <= 0:
                raise RenderError(f"{path}: field '{tone}.partials[{i}]' needs a ratio > 0")
    for i, (ratio, _amp, decay_s) in enumerate(p.bell.partials):
        if ratio <= 0 or decay_s <= 0:
            raise RenderError(
                f"{path}: field 'bell.partials[{i}]' needs a ratio > 0 and a decay > 0 s"
            )
    for i, (ratio, delay_s) in enumerate(p.ready.notes):
        if ratio <= 0 or delay_s >= p.ready.length_s:
            raise RenderError(
                f"{path}: field 'ready.notes[{i}]' needs a ratio > 0 and a delay shorter than "
                f"ready.length_s ({p.ready.length_s:g} s)"
            )
    if p.bell.fade_out_s >= p.bell.length_s:
        raise RenderError(f"{path}: field 'bell.fade_out_s' must be shorter than bell.length_s")
