"""The file sink's orchestration: a plan at -16 LUFS, written atomically as WAV/FLAC/OGG/MP3/Opus.

One pass over the streaming renderer at the session gain (``levels.session_gain_db``:
known before rendering, since every phrase is at the speech level) through the
peak limiter, so memory stays flat whatever the session length and ``play`` plays
the same samples. A lossy file is decoded and measured; what was decided goes to
the loudness cache (``sound.normalise.cache_path``), so exporting it again renders
once, straight into the file. The audio goes to a temporary file in the
target folder (``.NAME.part-PID-XXXXXXXX``, see ``atomic``) that is renamed over the target only
when it is complete and tagged; captions are written to their own temporary
file first, and the two are renamed together or not at all
(``atomic.PartFiles.commit``). Ctrl-C, SIGTERM or a full disk remove the
temporary files and leave any earlier audio and captions untouched. A kill -9
cannot clean up after itself: it leaves only such ``.part`` files, never the
target names, and the next export to that folder removes them.

Which formats there are and how a path names one: ``formats``; how blocks
become a file (libsndfile, the 16-bit conversion): ``encoder``; the blocks'
trip to the writing process: ``offload``; tags and chapters: ``tags``.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import shutil
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from voicecoach.errors import ExportError
from voicecoach.export.encoder import measure_file, open_encoder
from voicecoach.export.formats import LOSSY_FORMATS, OPUS_SAMPLE_RATES, format_for
from voicecoach.language.ahead import PlanAhead
from voicecoach.sound.decisions import LOSSLESS_DECISION, cached_decision, update_cache
from voicecoach.sound.levels import MAX_TRUE_PEAK_DBTP, session_gain_db
from voicecoach.sound.meter import LoudnessMeter
from voicecoach.sound.normalise import cache_path, plan_blocks
from voicecoach.storage.atomic import (
    PartFiles,
    clean_stale_parts,
    refuse_unless_regular,
    write_error,
    write_part_text,
)

if TYPE_CHECKING:
    from voicecoach.export.tags import Tags
    from voicecoach.language.plan import Plan
    from voicecoach.sound.palette import Palette
    from voicecoach.speech.engine import SpeechAudio

# lossy codecs overshoot the peaks they are given: aim this much lower, then check the decoded file
_CODEC_HEADROOM_DB = 1.0

ProgressFn = Callable[[int, int], None]
SpeechLookup = Callable[[str], "SpeechAudio"]  # a speech key to its audio (``SpeechService.audio``)


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


@dataclass(frozen=True)
class _Audio:
    """What one pass writes: the plan's audio (speech, palette), its format and tags, at a gain.

    ``gain_db`` is applied to the whole render; with ``limit`` it goes through
    the peak limiter at ``ceiling_dbtp``. A correcting pass is the same audio
    with another gain (``dataclasses.replace``).
    """

    plan: Plan | PlanAhead  # a plan still settling renders as its blocks become final
    speech: SpeechLookup
    palette: Palette
    fmt: str
    tags: Tags
    block_frames: int
    gain_db: float = 0.0
    limit: bool = False
    ceiling_dbtp: float = MAX_TRUE_PEAK_DBTP


@dataclass(frozen=True)
class _Written:
    """A finished temporary file and the decision it was written with: gain, limiter, loudness."""

    part: Path
    gain_db: float
    limiter: bool
    ceiling_dbtp: float
    lufs: float
    true_peak_dbtp: float

    def decision(self) -> dict[str, float | bool]:
        """The loudness cache's record of this decision (``sound.decisions.update_cache``)."""
        return {
            "gain_db": self.gain_db,
            "limiter": self.limiter,
            "ceiling_dbtp": self.ceiling_dbtp,
            "lufs": self.lufs,
            "true_peak_dbtp": self.true_peak_dbtp,
        }


def export_plan(
    plan: Plan | PlanAhead,
    speech: SpeechLookup,
    out_path: str | os.PathLike,
    *,
    palette: Palette,
    fmt: str | None = None,
    captions: bool = False,
    progress: ProgressFn | None = None,
    block_frames: int = 32_768,
) -> ExportResult:
    """Render ``plan`` into an audio file at ``out_path``, normalised and tagged, atomically.

    ``speech`` maps a speech key to its ``SpeechAudio``. One pass renders at
    the session gain through the peak limiter into the file (measuring it on
    the way); a lossy file is then decoded and measured, and written again with
    more headroom when the codec pushed its true peak over the ceiling.
    ``progress(done, total)`` counts samples over all passes (``total`` grows
    when a pass is added). ``captions`` also writes a WebVTT file beside the
    audio (same stem). The loudness cache skips every pass but the writing one
    when this audio was exported before in the same kind of format.
    ``plan`` may be a ``PlanAhead`` whose speech is still being synthesised:
    the file is written as its blocks become final (the same file as from the
    final plan), and tags, chapters and captions come from the final plan.
    """
    from voicecoach.export.captions import captions_path_for, webvtt_text
    from voicecoach.export.tags import tags_for, write_tags

    ahead = plan if isinstance(plan, PlanAhead) and not plan.done else None
    if isinstance(plan, PlanAhead):
        plan = plan.plan  # final when ``ahead`` is None; else final once the audio is written
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
    audio = _Audio(ahead or plan, speech, palette, fmt, tags_for(plan), block_frames)
    work = _Work(progress, plan.duration_samples)

    cache = cache_path(plan, palette) if ahead is None else None  # (new speech: nothing known)
    decision_name = LOSSLESS_DECISION if fmt not in LOSSY_FORMATS else f"export-{fmt}"
    known = cached_decision(cache, decision_name, ("ceiling_dbtp", "lufs", "true_peak_dbtp"))
    targets = (target,) if captions_target is None else (target, captions_target)
    with _sigterm_cleans_up(), PartFiles() as parts:
        try:
            if known is not None:
                # this audio was exported before: its gain, limiter and loudness are known
                written = _write_known(parts, target, audio, known, work)
            else:
                written = _decide_and_write(parts, target, audio, work, cache)
                if ahead is not None:  # every phrase is synthesised now: the final plan
                    plan = ahead.plan
                    cache = cache_path(plan, palette)
                update_cache(cache, decision=(decision_name, written.decision()))
            write_tags(written.part, fmt, tags_for(plan))
            commits = [(written.part, target)]
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
        duration_s=plan.duration_samples / rate,
        integrated_lufs=written.lufs,
        true_peak_dbtp=written.true_peak_dbtp,
        captions_path=captions_target,
        gain_db=written.gain_db,
        limiter=written.limiter,
        loudness_cached=known is not None,
    )


def _write_known(
    parts: PartFiles, target: Path, audio: _Audio, known: dict, work: _Work
) -> _Written:
    """Write at a decision an earlier export of the same audio made (one pass, nothing measured)."""
    work.add_passes(1)
    written = _Written(
        part=parts.new(target),
        gain_db=float(known["gain_db"]),
        limiter=bool(known["limiter"]),
        ceiling_dbtp=float(known["ceiling_dbtp"]),
        lufs=float(known["lufs"]),
        true_peak_dbtp=float(known["true_peak_dbtp"]),
    )
    settings = replace(
        audio, gain_db=written.gain_db, limit=written.limiter, ceiling_dbtp=written.ceiling_dbtp
    )
    _write_audio(written.part, settings, work, meter=False)
    work.next_pass()
    return written


def _decide_and_write(
    parts: PartFiles, target: Path, audio: _Audio, work: _Work, cache: Path | None
) -> _Written:
    """Write at the session gain through the peak limiter, and check a lossy file's decoded peak.

    The gain is known before anything is rendered (``levels.session_gain_db``:
    every phrase is at ``SPEECH_LUFS``), so a lossless export is one pass, and
    ``play`` plays exactly these samples. The limiter holds the true peak under
    the ceiling (it leaves the samples alone where they are under it). A lossy
    codec can push the decoded peaks over: then the file is written again with
    more headroom. The result names the written temporary file (one of ``parts``).
    """
    lossy = audio.fmt in LOSSY_FORMATS
    plan = audio.plan.plan if isinstance(audio.plan, PlanAhead) else audio.plan
    gain = session_gain_db(plan.settings.voice_volume_db)
    headroom_db = _CODEC_HEADROOM_DB if lossy else 0.0
    part = parts.new(target)
    for attempt in range(3):
        work.add_passes(1 + (1 if lossy else 0))
        ceiling = MAX_TRUE_PEAK_DBTP - headroom_db
        settings = replace(audio, gain_db=gain, limit=True, ceiling_dbtp=ceiling)
        metered = _write_audio(part, settings, work, meter=not lossy)
        work.next_pass()
        if lossy:
            # a listener hears the decoded file: measure that
            lufs, peak = measure_file(part, work.at)
            work.next_pass()
        else:
            assert metered is not None
            lufs, peak = metered
        if not (lossy and peak > MAX_TRUE_PEAK_DBTP) or attempt == 2:
            break
        headroom_db += peak - MAX_TRUE_PEAK_DBTP + 0.3
    return _Written(part, gain, True, ceiling, lufs, peak)


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
    part: Path, audio: _Audio, work: _Work, *, meter: bool
) -> tuple[float, float] | None:
    """Encode ``audio`` into ``part``; with ``meter``, returns loudness and true peak of what was encoded.

    This process renders and limits; a second one meters, converts and writes
    (``offload.consume_blocks``), so the work is spread over two cores (the
    true peak is metered there too: here, it made this side the slower one).
    """
    import soundfile as sf

    from voicecoach.sound.offload import consume_blocks

    source = audio.plan
    plan = source.plan if isinstance(source, PlanAhead) else source
    blocks = plan_blocks(
        source,
        audio.speech,
        palette=audio.palette,
        gain_db=audio.gain_db,
        limit=audio.limit,
        ceiling_dbtp=audio.ceiling_dbtp,
        block_frames=audio.block_frames,
        spans_cache=None if source is not plan else cache_path(plan, audio.palette),
    )
    meter_ = LoudnessMeter(plan.sample_rate) if meter else None  # fed in the writing process
    encoder = functools.partial(open_encoder, part, audio.fmt, plan.sample_rate, audio.tags, meter_)
    try:
        return consume_blocks(
            blocks,
            encoder,
            block_frames=audio.block_frames,
            progress=work.at,
            fork=source is plan,  # no fork while speech is synthesised on another thread
        )
    except sf.LibsndfileError as e:
        if _disk_nearly_full(part.parent):
            raise OSError(errno.ENOSPC, "No space left on device") from e
        raise ExportError(f"could not write {part}: {e}") from e


def _disk_nearly_full(folder: Path) -> bool:
    try:
        return shutil.disk_usage(folder).free < 1 << 20
    except OSError:
        return False
