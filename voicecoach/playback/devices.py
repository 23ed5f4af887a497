"""Sound output devices: load PortAudio lazily, list the outputs, resolve ``--device``.

Only live playback needs PortAudio; everything else (export, plan, check) must
work on a machine without it, so ``sounddevice`` is imported here, on demand,
and its failures become ``PlaybackError`` messages that say what to do.
"""

from __future__ import annotations

from types import ModuleType

from voicecoach.errors import PlaybackError

NO_PORTAUDIO_HELP = (
    "live playback needs the PortAudio library, which is not installed "
    "(Debian/Ubuntu: sudo apt-get install libportaudio2; Fedora: portaudio; macOS: brew install portaudio); "
    "or write a file instead with `voicecoach export`"
)
NO_DEVICE_HELP = (
    "no sound output device found (is a sound card or a sound server such as PulseAudio available?); "
    "write a file instead with `voicecoach export`"
)


def load_sounddevice() -> ModuleType:
    """Import ``sounddevice``; a missing PortAudio becomes a PlaybackError naming the package."""
    try:
        import sounddevice
    except OSError as e:  # raised by sounddevice when libportaudio cannot be loaded
        raise PlaybackError(NO_PORTAUDIO_HELP) from e
    except ImportError as e:
        raise PlaybackError(
            "live playback needs the Python package sounddevice (pip install sounddevice); "
            "or write a file instead with `voicecoach export`"
        ) from e
    return sounddevice


def list_devices() -> list[dict]:
    """Every output device: ``{"name", "index", "channels", "default", "hostapi"}``."""
    sd = load_sounddevice()
    try:
        devices = sd.query_devices()
        hostapis = sd.query_hostapis()
    except sd.PortAudioError as e:
        raise PlaybackError(f"could not list sound devices: {e}") from e
    default_out = _default_output_index(sd)
    out = []
    for index, d in enumerate(devices):
        if d["max_output_channels"] <= 0:
            continue
        out.append(
            {
                "name": d["name"],
                "index": index,
                "channels": int(d["max_output_channels"]),
                "default": index == default_out,
                "hostapi": hostapis[d["hostapi"]]["name"],
            }
        )
    return out


def resolve_device(device: str | int | None) -> int | None:
    """The PortAudio index for ``--device``: an index, or a (case-insensitive) name or part of one.

    ``None`` means the system default, which must exist. An exact name wins
    over a partial match; a partial match must be unique.
    """
    outputs = list_devices()
    if not outputs:
        raise PlaybackError(NO_DEVICE_HELP)
    if device is None:
        if not any(d["default"] for d in outputs):
            raise PlaybackError(
                "there is no default sound output device; choose one with --device "
                f"(outputs: {_names(outputs)})"
            )
        return None
    if isinstance(device, int) or (isinstance(device, str) and device.strip().isdigit()):
        index = int(device)
        if any(d["index"] == index for d in outputs):
            return index
        raise PlaybackError(f"no output device with index {index} (outputs: {_names(outputs)})")
    wanted = device.strip().lower()
    exact = [d for d in outputs if d["name"].lower() == wanted]
    if exact:
        return exact[0]["index"]
    partial = [d for d in outputs if wanted in d["name"].lower()]
    if len(partial) == 1:
        return partial[0]["index"]
    if not partial:
        raise PlaybackError(f"no output device named {device!r} (outputs: {_names(outputs)})")
    raise PlaybackError(
        f"{device!r} matches several output devices ({_names(partial)}); give its index"
    )


def _default_output_index(sd: ModuleType) -> int:
    try:
        default = sd.default.device[1]
        if default is None or default < 0:
            default = sd.query_hostapis(0)["default_output_device"]
        return int(default)
    except (sd.PortAudioError, IndexError, TypeError, ValueError):
        return -1


def _names(devices: list[dict]) -> str:
    return ", ".join(f"{d['index']}: {d['name']}" for d in devices) or "none"
