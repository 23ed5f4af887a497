"""The on-disk speech cache: each utterance synthesised once, kept as a checked file.

Where: ``platformdirs.user_cache_dir("voicecoach")/speech``, or
``$VOICECOACH_CACHE_DIR/speech`` when that variable is set.

One file per utterance, named by ``speech_key`` (the ONE key function) under a
two-character fan-out folder. Entry format (little-endian)::

    offset  size  field
    0       8     magic b"VCSPEECH"
    8       2     format version (1)
    10      2     bytes per sample (2: signed 16-bit PCM)
    12      4     sample rate, Hz
    16      8     frame count
    24      4     CRC-32 of the PCM payload
    28      4     CRC-32 of bytes 0..27 (the header itself)
    32      ...   PCM, mono

A duration comes from the header alone (``frames_and_rate``: one small read,
with the file size checked against the frame count), so a warm ``plan`` is
cheap. ``load`` also checks the payload CRC. Reading an entry marks it used (its mtime), and
writing one makes room under the cap on the whole cache (``voicecoach.storage.diskcache``). A truncated or corrupt entry reads
as missing and is made again. Writes go to a temporary file in the same folder
and are renamed over the entry (``storage.atomic.replacing``), so readers never see half a
file and two processes writing the same key both leave a whole one. No fsync:
an entry lost or damaged by a crash is detected and re-made.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from voicecoach.speech.engine import SpeechAudio
from voicecoach.storage.diskcache import reserve, touched

ENTRY_SUFFIX = ".vcs"
_TEMP_PREFIX = ".tmp-"
_STALE_TEMP_S = 3600.0  # temp files older than this were left by a killed process
_MAGIC = b"VCSPEECH"
_VERSION = 1
_SAMPLE_BYTES = 2
_HEAD = struct.Struct("<8sHHIQI")  # magic, version, sample bytes, rate, frames, payload crc
_HEADER_BYTES = _HEAD.size + 4  # + header crc


def speech_key(identity: str, voice: str | None, rate_wpm: int, text: str) -> str:
    """The cache key of one utterance: sha256 of everything that shapes its sound.

    ``identity`` is the engine's (name, versions, model); ``voice`` as the
    user gave it (``None`` = the engine's default).
    """
    fields = (identity, "" if voice is None else voice, str(int(rate_wpm)), text)
    blob = "\x1f".join(fields).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


def default_cache_dir() -> Path:
    """The speech cache folder for this user (honours ``VOICECOACH_CACHE_DIR``)."""
    from voicecoach.storage.resources import cache_root

    return cache_root() / "speech"


@dataclass(frozen=True)
class EntryInfo:
    """What the header of a valid entry says."""

    frames: int
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


class SpeechCache:
    """Utterances on disk, keyed by ``speech_key``; safe for concurrent processes."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()

    def path_for(self, key: str) -> Path:
        """The entry file of ``key`` (whether or not it exists)."""
        return self.root / key[:2] / f"{key}{ENTRY_SUFFIX}"

    def info(self, key: str) -> EntryInfo | None:
        """Frame count and rate of a present entry, from its header only; else None.

        Catches truncation and header damage; payload damage shows up in ``load``.
        """
        try:
            with open(self.path_for(key), "rb") as f:
                header = f.read(_HEADER_BYTES)
                size = touched(f.fileno(), os.fstat(f.fileno())).st_size
        except OSError:
            return None
        parsed = _parse_header(header)
        if parsed is None:
            return None
        rate, frames, _crc = parsed
        if size != _HEADER_BYTES + frames * _SAMPLE_BYTES:
            return None
        return EntryInfo(frames=frames, sample_rate=rate)

    def load(self, key: str) -> SpeechAudio | None:
        """The whole entry, checked (header, size and payload CRC); None if absent or bad."""
        try:
            with open(self.path_for(key), "rb") as f:
                touched(f.fileno(), os.fstat(f.fileno()))
                data = f.read()
        except OSError:
            return None
        parsed = _parse_header(data[:_HEADER_BYTES])
        if parsed is None:
            return None
        rate, frames, crc = parsed
        payload = memoryview(data)[_HEADER_BYTES:]
        if len(payload) != frames * _SAMPLE_BYTES or zlib.crc32(payload) != crc:
            return None
        import numpy as np  # here, not at the top: reading durations needs no numpy

        pcm = np.frombuffer(payload, dtype="<i2")
        samples = pcm.astype(np.float32) / np.float32(32768.0)
        return SpeechAudio(samples=samples, sample_rate=rate)

    def store(self, key: str, audio: SpeechAudio) -> EntryInfo:
        """Write ``audio`` as the entry of ``key`` atomically; returns its header info.

        Samples are kept as 16-bit PCM (x * 32768, clipped), as the engines make them:
        16-bit engine output survives the round trip exactly.
        """
        import numpy as np

        scaled = np.round(np.asarray(audio.samples, dtype=np.float64) * 32768.0)
        pcm = np.clip(scaled, -32768, 32767)
        payload = pcm.astype("<i2").tobytes()
        frames = len(payload) // _SAMPLE_BYTES
        head = _HEAD.pack(
            _MAGIC, _VERSION, _SAMPLE_BYTES, int(audio.sample_rate), frames, zlib.crc32(payload)
        )
        blob = head + struct.pack("<I", zlib.crc32(head)) + payload
        from voicecoach.storage.atomic import replacing  # here: a warm `plan` writes nothing

        target = self.path_for(key)
        if self.root == default_cache_dir():
            reserve(len(blob))  # keeps the whole cache under its cap (even if this one is larger)
        with replacing(target, durable=False, prefix=_TEMP_PREFIX, suffix=ENTRY_SUFFIX) as f:
            f.write(blob)
        return EntryInfo(frames=frames, sample_rate=int(audio.sample_rate))

    def discard(self, key: str) -> None:
        """Remove the entry of ``key`` if present (e.g. found corrupt)."""
        with contextlib.suppress(OSError):
            self.path_for(key).unlink()

    def stats(self) -> dict:
        """``{"path", "entries", "bytes"}`` of the whole cache (stale temp files removed)."""
        entries = total = 0
        for path, is_temp in self._files():
            if is_temp:
                self._remove_if_stale(path)
                continue
            with contextlib.suppress(OSError):
                total += path.stat().st_size
                entries += 1
        return {"path": str(self.root), "entries": entries, "bytes": total}

    def clear(self) -> int:
        """Delete every entry (and leftover temp files); returns how many entries went."""
        removed = 0
        for path, is_temp in self._files():
            try:
                path.unlink()
            except OSError:
                continue
            removed += not is_temp
        for folder in self._folders():
            with contextlib.suppress(OSError):
                folder.rmdir()
        return removed

    def _folders(self) -> list[Path]:
        try:
            return [Path(e.path) for e in os.scandir(self.root) if e.is_dir() and len(e.name) == 2]
        except OSError:
            return []

    def _files(self) -> list[tuple[Path, bool]]:
        found = []
        for folder in self._folders():
            try:
                names = os.listdir(folder)
            except OSError:
                continue
            for name in names:
                if name.endswith(ENTRY_SUFFIX):
                    found.append((folder / name, name.startswith(_TEMP_PREFIX)))
        return found

    @staticmethod
    def _remove_if_stale(path: Path) -> None:
        with contextlib.suppress(OSError):
            if time.time() - path.stat().st_mtime > _STALE_TEMP_S:
                path.unlink()


def _parse_header(header: bytes) -> tuple[int, int, int] | None:
    """(sample rate, frames, payload crc) of a sound header; None if it is not one."""
    if len(header) != _HEADER_BYTES:
        return None
    magic, version, sample_bytes, rate, frames, crc = _HEAD.unpack_from(header)
    (header_crc,) = struct.unpack_from("<I", header, _HEAD.size)
    if magic != _MAGIC or version != _VERSION or sample_bytes != _SAMPLE_BYTES:
        return None
    if zlib.crc32(header[: _HEAD.size]) != header_crc or rate <= 0:
        return None
    return rate, frames, crc


def cache_info() -> dict:
    """The default cache's ``{"path", "entries", "bytes"}`` (for ``voicecoach cache info``)."""
    return SpeechCache().stats()


def cache_clear() -> int:
    """Empty the default cache; returns the number of entries removed."""
    return SpeechCache().clear()
