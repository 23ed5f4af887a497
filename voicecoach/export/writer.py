"""The file sink: a plan, normalised to -16 LUFS, written atomically as WAV/FLAC/OGG/MP3/Opus.

Two passes over the streaming renderer (measure, then write), so memory stays
flat whatever the session length. Both results go to the loudness cache
(``loudness.cache_path``, shared with ``play``): exporting the same audio
again, or to another lossless format, renders once, straight into the file. The audio goes to a temporary file in the
target folder (``.NAME.part-PID-XXXXXXXX``, see ``atomic``) that is renamed over the target only
when it is complete and tagged; captions are written to their own temporary
file first, and the two are renamed together or not at all
(``atomic.PartFiles.commit``). Ctrl-C, SIGTERM or a full disk remove the
temporary files and leave any earlier audio and captions untouched. A kill -9
cannot clean up after itself: it leaves only such ``.part`` files, never the
target names, and the next export to that folder removes them.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import math
import os
import shutil
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voicecoach.errors import ExportError, UsageError
from voicecoach.sound.decisions import (
    LOSSLESS_DECISION,
    cached_decision,
    cached_measurement,
    update_cache,
)
from voicecoach.sound.levels import MAX_TRUE_PEAK_DBTP, TARGET_LUFS
from voicecoach.sound.meter import LoudnessMeter
from voicecoach.sound.normalise import cache_path, measure_blocks, plan_blocks
from voicecoach.storage.atomic import (
    PartFiles,
    clean_stale_parts,
    refuse_unless_regular,
    write_error,
    write_part_text,
)
from voicecoach.storage.atomic import (
    atomic_write_text as atomic_write_text,  # its earlier home, for other modules
)

FORMATS = frozenset({"wav", "flac", "ogg", "mp3", "opus"})
OPUS_SAMPLE_RATES = (8_000, 12_000, 16_000, 24_000, 48_000)

_EXTENSIONS = {
    ".wav": "wav",
    ".flac": "flac",
    ".ogg": "ogg",
    ".oga": "ogg",
    ".mp3": "mp3",
    ".opus": "opus",
}
_ALIASES = {"vorbis": "ogg", "oga": "ogg"}
# libsndfile (format, subtype) of each export format
_SOUNDFILE = {
    "wav": ("WAV", "PCM_16"),
    "flac": ("FLAC", "PCM_16"),
    "ogg": ("OGG", "VORBIS"),
    "mp3": ("MP3", "MPEG_LAYER_III"),
    "opus": ("OGG", "OPUS"),
}
_LOSSY = ("ogg", "mp3", "opus")
_LOSSY_QUALITY = 0.5  # libsndfile compression level (0 best .. 1 smallest) for the lossy formats
# lossy codecs overshoot the peaks they are given: aim this much lower, then check the decoded file
_CODEC_HEADROOM_DB = 1.0
# a limited render within this of the target is kept (EBU R 128's tolerance); further off, it is redone
_LOUDNESS_SLACK_LU = 0.5

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class ExportResult:
    """What was written: where, as what, how long and how loud (measured on the written samples).

    ``integrated_lufs`` and ``true_peak_dbtp`` are measured on the samples
    handed to the encoder; a lossy codec can move the decoded true peak a
    little. ``limiter`` says whether the peak limiter was needed.
    """

    path: Path
    format: str
    duration_s: float
    integrated_lufs: float
    true_peak_dbtp: float
    captions_path: Path | None = None
    gain_db: float = 0.0
    limiter: bool = False
    loudness_cached: bool = False  # gain and loudness came from an earlier export of the same audio


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


class _Terminated(BaseException):
    """Raised in the main thread by SIGTERM during an export, so the temporary file is removed."""


@contextlib.contextmanager
def _sigterm_cleans_up():
    """While exporting in the main thread with SIGTERM at its default, turn SIGTERM into ``_Terminated``."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    try:
        previous = signal.getsignal(signal.SIGTERM)
    except ValueError:
        previous = None
    if previous is not signal.SIG_DFL:
        yield
        return

    def handler(signum, frame):
        raise _Terminated()

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


# ---- export ------------------------------------------------------------------------


def _write_block(sound_file, block: np.ndarray) -> None:
    """Hand one block to libsndfile (a seam: tests replace it to simulate a full disk)."""
    sound_file.write(block)


def _check_target(target: Path, fmt: str, sample_rate: int) -> None:
    if fmt == "opus" and sample_rate not in OPUS_SAMPLE_RATES:
        rates = ", ".join(str(r) for r in OPUS_SAMPLE_RATES)
        raise ExportError(
            f"Opus needs a sample rate of {rates} Hz, but this plan is at {sample_rate} Hz: "
            "compile the plan at 48000 Hz for Opus"
        )
    if target.is_dir() and not target.is_symlink():
        raise ExportError(f"{target} is a folder: give a file name to export to")
    refuse_unless_regular(target)
    if not target.parent.is_dir():
        raise ExportError(f"cannot write {target}: the folder {target.parent} does not exist")
    if not os.access(target.parent, os.W_OK):
        raise ExportError(f"cannot write {target}: no permission to write in {target.parent}")


def export_plan(
    plan,
    speech,
    out_path: str | os.PathLike,
    *,
    palette,
    fmt: str | None = None,
    captions: bool = False,
    progress: ProgressFn | None = None,
    block_frames: int = 32_768,
) -> ExportResult:
    """Render ``plan`` into an audio file at ``out_path``, normalised and tagged, atomically.

    ``speech`` maps a speech key to its ``SpeechAudio``. Pass 1 renders at
    gain 0 and measures; pass 2 renders at the normalising gain (through the
    peak limiter when a plain gain would pass the ceiling) into the file. A
    pass is added only when the result must be corrected: the limiter took
    more than ``_LOUDNESS_SLACK_LU`` off the target, or a lossy codec pushed
    the decoded true peak over the ceiling. ``progress(done, total)`` counts
    samples over all passes (``total`` grows when a pass is added).
    ``captions`` also writes a WebVTT file beside the audio (same stem).
    The loudness cache skips pass 1 when this audio was measured before (by
    ``export`` or ``play``), and every pass but the writing one when it was
    exported before in the same kind of format.
    """
    from voicecoach.export.captions import captions_path_for, webvtt_text
    from voicecoach.export.tags import tags_for, write_tags

    target = Path(out_path)
    fmt = format_for(target, fmt)
    rate = plan.sample_rate
    _check_target(target, fmt, rate)
    captions_target = captions_path_for(target) if captions else None
    if captions_target is not None:
        if captions_target == target:
            raise ExportError(
                f"the captions of {target} would have its very name: give the audio file "
                f"an audio extension ({target.stem}.{fmt})"
            )
        refuse_unless_regular(captions_target)
    clean_stale_parts(target)
    duration = plan.duration_samples
    tags = tags_for(plan)
    lossy = fmt in _LOSSY
    work = _Work(progress, duration)

    cache = cache_path(plan, palette)
    decision_name = LOSSLESS_DECISION if not lossy else f"export-{fmt}"
    known = cached_decision(cache, decision_name, ("ceiling_dbtp", "lufs", "true_peak_dbtp"))
    cached = known is not None
    targets = (target,) if captions_target is None else (target, captions_target)
    with _sigterm_cleans_up(), PartFiles() as parts:
        try:
            if known is not None:
                # this audio was exported before: its gain, limiter and loudness are known
                work.add_passes(1)
                gain, limit = float(known["gain_db"]), bool(known["limiter"])
                ceiling = float(known["ceiling_dbtp"])
                lufs, peak = float(known["lufs"]), float(known["true_peak_dbtp"])
                part = parts.new(target)
                _write_audio(
                    part,
                    fmt,
                    plan,
                    speech,
                    palette,
                    gain,
                    limit,
                    ceiling,
                    tags,
                    block_frames,
                    work,
                    meter=False,
                )
                work.next_pass()
            else:
                lufs, peak, gain, limit, ceiling, part = _decide_and_write(
                    parts, target, fmt, plan, speech, palette, tags, block_frames, work, cache
                )
                update_cache(
                    cache,
                    decision=(
                        decision_name,
                        {
                            "gain_db": gain,
                            "limiter": limit,
                            "ceiling_dbtp": ceiling,
                            "lufs": lufs,
                            "true_peak_dbtp": peak,
                        },
                    ),
                )
            write_tags(part, fmt, tags)
            commits = [(part, target)]
            if captions_target is not None:
                text = webvtt_text(plan)
                commits.append(
                    (
                        write_part_text(parts, captions_target, text, together=targets),
                        captions_target,
                    )
                )
            parts.commit(commits)  # the audio and its captions together, or neither
        except OSError as e:
            raise write_error(e, target, targets if len(targets) > 1 else ()) from e
        except _Terminated:
            kept = " and ".join(t.name for t in targets)
            raise ExportError(
                f"export of {target} stopped by SIGTERM; no file was written and any earlier {kept} "
                f"{'is' if len(targets) < 2 else 'are'} untouched"
            ) from None
    work.finish()
    return ExportResult(
        path=target,
        format=fmt,
        duration_s=duration / rate,
        integrated_lufs=lufs,
        true_peak_dbtp=peak,
        captions_path=captions_target,
        gain_db=gain,
        limiter=limit,
        loudness_cached=cached,
    )


def _decide_and_write(parts, target, fmt, plan, speech, palette, tags, block_frames, work, cache):
    """Measure (unless cached), write at the normalising gain, and correct until in range.

    Returns ``(lufs, true_peak_dbtp, gain_db, limiter, ceiling_dbtp, part)``
    with ``part`` the written temporary file (one of ``parts``).
    """
    rate = plan.sample_rate
    lossy = fmt in _LOSSY
    work.add_passes(1 + (1 if lossy else 0))
    measured = cached_measurement(cache)
    if measured is None:
        work.add_passes(1)
        measured = measure_blocks(
            plan_blocks(plan, speech, palette=palette, block_frames=block_frames),
            rate,
            work.at,
            block_frames=block_frames,
        )
        work.next_pass()
        update_cache(cache, measured=measured)
    measured_lufs, measured_peak = measured
    gain = TARGET_LUFS - measured_lufs if math.isfinite(measured_lufs) else 0.0
    headroom_db = _CODEC_HEADROOM_DB if lossy else 0.0
    part = parts.new(target)
    for attempt in range(3):
        if attempt:
            work.add_passes(1 + (1 if lossy else 0))
        ceiling = MAX_TRUE_PEAK_DBTP - headroom_db
        limit = measured_peak + gain > ceiling
        metered = _write_audio(
            part,
            fmt,
            plan,
            speech,
            palette,
            gain,
            limit,
            ceiling,
            tags,
            block_frames,
            work,
            meter=limit and not lossy,
        )
        work.next_pass()
        if lossy:
            # a listener hears the decoded file: measure that
            lufs, peak = _measure_file(part, work)
            work.next_pass()
        elif limit:
            assert metered is not None
            lufs, peak = metered
        else:  # a plain gain: the measurement scales exactly
            lufs, peak = measured_lufs + gain, measured_peak + gain
        again = False
        if limit and math.isfinite(lufs) and abs(lufs - TARGET_LUFS) > _LOUDNESS_SLACK_LU:
            # give back what the limiter took off; it still holds the ceiling
            gain += TARGET_LUFS - lufs
            again = True
        if lossy and peak > MAX_TRUE_PEAK_DBTP:
            headroom_db += peak - MAX_TRUE_PEAK_DBTP + 0.3
            again = True
        if not again:
            break
    return lufs, peak, gain, limit, ceiling, part


class _Work:
    """Progress across passes: ``done``/``total`` in samples, passes of one plan length each."""

    def __init__(self, progress: ProgressFn | None, duration: int):
        self.progress = progress
        self.duration = duration
        self.passes = 0
        self.base = 0

    def add_passes(self, n: int) -> None:
        self.passes += n

    def next_pass(self, n: int = 1) -> None:
        self.base += n * self.duration

    def at(self, n: int) -> None:
        """``n`` samples into the current pass."""
        if self.progress is not None:
            total = max(self.passes * self.duration, 1)
            self.progress(min(self.base + n, total), total)

    def finish(self) -> None:
        if self.progress is not None:
            total = max(self.base, 1)
            self.progress(total, total)


def _write_audio(
    part: Path,
    fmt,
    plan,
    speech,
    palette,
    gain_db,
    limit,
    ceiling,
    tags,
    block_frames,
    work,
    *,
    meter: bool,
) -> tuple[float, float] | None:
    """Encode the plan at ``gain_db`` into ``part``; with ``meter``, returns loudness and true peak of what was encoded.

    This process renders and limits; a second one meters, converts and writes
    (``offload.consume_blocks``), so the work is spread over two cores (the
    true peak is metered there too: here, it made this side the slower one).
    """
    import soundfile as sf

    from voicecoach.export.offload import consume_blocks

    blocks = plan_blocks(
        plan,
        speech,
        palette=palette,
        gain_db=gain_db,
        limit=limit,
        ceiling_dbtp=ceiling,
        block_frames=block_frames,
        spans_cache=cache_path(plan, palette),
    )
    # the meter is made here, so the child inherits what it imports (scipy), imported once
    meter_ = LoudnessMeter(plan.sample_rate) if meter else None
    encoder = functools.partial(_open_encoder, part, fmt, plan.sample_rate, tags, meter_)
    try:
        return consume_blocks(blocks, encoder, block_frames=block_frames, progress=work.at)
    except sf.LibsndfileError as e:
        if _disk_nearly_full(part.parent):
            raise OSError(errno.ENOSPC, "No space left on device") from e
        raise ExportError(f"could not write {part}: {e}") from e


def _open_encoder(part: Path, fmt: str, sample_rate: int, tags, meter_: LoudnessMeter | None):
    """Open ``part`` for writing: returns ``(consume(block), finish())`` for ``consume_blocks``.

    ``finish`` closes the file and returns the loudness and true peak of what
    was written, measured by ``meter_`` (``None``: not measured).
    """
    import soundfile as sf

    from voicecoach.export.tags import soundfile_strings

    sf_format, subtype = _SOUNDFILE[fmt]
    level = _LOSSY_QUALITY if fmt in _LOSSY else None
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
        if meter_ is not None:
            meter_.feed(block)
        writer(block)

    def finish() -> tuple[float, float] | None:
        try:
            f.close()
        finally:
            os.close(fd)
        return meter_.result() if meter_ is not None else None

    return consume, finish


_WRITEBACK_BYTES = 16 << 20  # ask the kernel to start writing the file out after this much


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


_FADVISE = hasattr(os, "posix_fadvise") and hasattr(os, "POSIX_FADV_DONTNEED")


def pcm16(block: np.ndarray) -> np.ndarray:
    """Float samples as libsndfile stores them in a 16-bit PCM WAV, bit for bit, but about 3x faster.

    libsndfile scales to 32 bits with rounding to nearest (even), clips, and
    keeps the top 16 bits (an arithmetic shift, i.e. floor). All steps here are
    exact in float32 (scaling by powers of two), so the result is identical;
    ``tests/test_export.py`` compares it with libsndfile's own conversion.
    """
    y = np.multiply(block, np.float32(2.0**31), dtype=np.float32)
    np.rint(y, out=y)
    y *= np.float32(2.0**-16)
    np.floor(y, out=y)
    np.clip(y, -32768.0, 32767.0, out=y)
    return y.astype(np.int16)


def _measure_file(path: Path, work) -> tuple[float, float]:
    """Decode ``path`` block by block and measure it (lossy codecs move the peaks)."""
    import soundfile as sf

    try:
        with sf.SoundFile(str(path)) as f:
            meter = LoudnessMeter(f.samplerate)
            for block in f.blocks(blocksize=65_536, dtype="float32"):
                meter.feed(block)
                work.at(meter.samples)
    except sf.LibsndfileError as e:
        raise ExportError(f"could not read back {path} to check it: {e}") from e
    return meter.result()


def _disk_nearly_full(folder: Path) -> bool:
    try:
        return shutil.disk_usage(folder).free < 1 << 20
    except OSError:
        return False
