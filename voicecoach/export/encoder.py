"""The encoder: rendered float blocks into an audio file through libsndfile, and the file read back.

Per format, libsndfile's container and subtype and, for the lossy formats, the
compression level; 16-bit WAV samples converted here bit for bit as libsndfile
would (``pcm16``, faster); the file's pages handed to the kernel for writeback
as they fill. ``open_encoder`` runs in the process that writes (the offloaded
child, see ``offload``); ``measure_file`` decodes a finished file to measure
what a listener hears.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from voicecoach.errors import ExportError
from voicecoach.export.formats import LOSSY_FORMATS
from voicecoach.sound.meter import LoudnessMeter

if TYPE_CHECKING:
    from voicecoach.export.tags import Tags

# libsndfile (format, subtype) of each export format
_SOUNDFILE = {
    "wav": ("WAV", "PCM_16"),
    "flac": ("FLAC", "PCM_16"),
    "ogg": ("OGG", "VORBIS"),
    "mp3": ("MP3", "MPEG_LAYER_III"),
    "opus": ("OGG", "OPUS"),
}
_LOSSY_QUALITY = 0.5  # libsndfile compression level (0 best .. 1 smallest) for the lossy formats
_WRITEBACK_BYTES = 16 << 20  # ask the kernel to start writing the file out after this much
_FADVISE = hasattr(os, "posix_fadvise") and hasattr(os, "POSIX_FADV_DONTNEED")


def _write_block(sound_file, block: np.ndarray) -> None:
    """Hand one block to libsndfile (a seam: tests replace it to simulate a full disk)."""
    sound_file.write(block)


def open_encoder(
    part: Path, fmt: str, sample_rate: int, tags: Tags, meter: LoudnessMeter | None
) -> tuple[Callable[[np.ndarray], None], Callable[[], tuple[float, float] | None]]:
    """Open ``part`` for writing: returns ``(consume(block), finish())`` for ``consume_blocks``.

    ``finish`` closes the file and returns the loudness and true peak of what
    was written, measured by ``meter`` (``None``: not measured).
    """
    import soundfile as sf

    from voicecoach.export.tags import soundfile_strings

    sf_format, subtype = _SOUNDFILE[fmt]
    level = _LOSSY_QUALITY if fmt in LOSSY_FORMATS else None
    fd = os.open(part, os.O_RDWR | os.O_TRUNC)
    f = None
    try:
        f = sf.SoundFile(
            fd,
            "w",
            sample_rate,
            2,
            subtype=subtype,
            format=sf_format,
            compression_level=level,
            closefd=False,
        )
        if fmt == "wav":
            for key, value in soundfile_strings(tags).items():
                setattr(f, key, value)
    except BaseException:
        if f is not None:
            with contextlib.suppress(Exception):
                f.close()
        os.close(fd)
        raise
    writer = _BlockWriter(f, fmt, fd)

    def consume(block: np.ndarray) -> None:
        if meter is not None:
            meter.feed(block)
        writer(block)

    def finish() -> tuple[float, float] | None:
        try:
            f.close()
        finally:
            os.close(fd)
        return meter.result() if meter is not None else None

    return consume, finish


class _BlockWriter:
    """What happens to each rendered block: converted and handed to libsndfile (in the writing process).

    Every ``_WRITEBACK_BYTES`` the kernel is asked to start writing what is
    already in the file to disk (``POSIX_FADV_DONTNEED`` starts writeback and
    does not wait), so the ``fsync`` that makes the file durable before the
    rename finds little left to do: the disk works while the session renders.
    """

    def __init__(self, sound_file, fmt: str, fd: int):
        self.sound_file, self.fmt, self.fd = sound_file, fmt, fd
        self.flushed_bytes = 0

    def __call__(self, block: np.ndarray) -> None:
        if self.fmt == "wav":  # (libsndfile's FLAC encoder rounds differently: left to it)
            block = pcm16(block)  # clips too
        elif float(np.abs(block).max(initial=0.0)) > 1.0:
            block = np.clip(block, -1.0, 1.0)
        _write_block(self.sound_file, block)
        if _FADVISE:
            at = os.lseek(self.fd, 0, os.SEEK_CUR)
            if at - self.flushed_bytes >= _WRITEBACK_BYTES:
                with contextlib.suppress(OSError):
                    os.posix_fadvise(
                        self.fd, self.flushed_bytes, at - self.flushed_bytes, os.POSIX_FADV_DONTNEED
                    )
                self.flushed_bytes = at


def pcm16(block: np.ndarray) -> np.ndarray:
    """Float samples as libsndfile stores them in a 16-bit PCM WAV, bit for bit, but about 3x faster.

    libsndfile scales to 32 bits with rounding to nearest (even), clips, and
    keeps the top 16 bits (an arithmetic shift, i.e. floor). All steps here are
    exact in float32 (scaling by powers of two), so the result is identical;
    ``tests/export/test_export.py`` compares it with libsndfile's own conversion.
    """
    y = np.multiply(block, np.float32(2.0**31), dtype=np.float32)
    np.rint(y, out=y)
    y *= np.float32(2.0**-16)
    np.floor(y, out=y)
    np.clip(y, -32768.0, 32767.0, out=y)
    return y.astype(np.int16)


def measure_file(path: Path, progress: Callable[[int], None]) -> tuple[float, float]:
    """Decode ``path`` block by block and measure it (lossy codecs move the peaks).

    ``progress(samples)`` counts the samples decoded so far.
    """
    import soundfile as sf

    try:
        with sf.SoundFile(str(path)) as f:
            meter = LoudnessMeter(f.samplerate)
            for block in f.blocks(blocksize=65_536, dtype="float32"):
                meter.feed(block)
                progress(meter.samples)
    except sf.LibsndfileError as e:
        raise ExportError(f"could not read back {path} to check it: {e}") from e
    return meter.result()
