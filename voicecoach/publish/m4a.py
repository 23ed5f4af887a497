"""M4A (AAC) episodes: the loudness-checked WAV export, encoded by ffmpeg, and checked again.

voicecoach's own exports write MP3 and Opus through libsndfile, with their loudness and
true peak checked. For M4A the WAV export (the session gain, true peak at most -1 dBTP, the
same audio) is encoded to AAC by ffmpeg with the same tags and chapters (an ffmetadata file:
ffmpeg writes a QuickTime chapter track, the one Apple's players read), then decoded and
measured by ffmpeg's ``ebur128`` meter. AAC overshoots the peaks it is given a little
(about 0.3 dB seen here): when the decoded true peak is above -1 dBTP, the file is encoded
again that much quieter. The loudness then stays within 1 LU of the WAV's, or the episode
is refused.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from voicecoach.errors import ExportError, UsageError
from voicecoach.export.tags import Tags

AAC_BITRATE = "128k"
MAX_TRUE_PEAK_DBTP = -1.0
LOUDNESS_TOLERANCE_LU = 1.0  # from the WAV's: what the codec may change
_PEAK_MARGIN_DB = 0.1


@dataclass(frozen=True)
class M4AResult:
    integrated_lufs: float
    true_peak_dbtp: float
    gain_db: float  # applied to the WAV export before encoding (0 or negative)


def ffmpeg_path() -> str:
    path = shutil.which("ffmpeg")
    if path is None:
        raise UsageError(
            "--format m4a needs ffmpeg (Debian/Ubuntu: apt-get install ffmpeg); "
            "or publish mp3, which every podcast app plays"
        )
    return path


def _escape(value: str) -> str:
    """ffmetadata escapes '=', ';', '#', '\\' and newlines with a backslash."""
    return re.sub(r"([=;#\\\n])", r"\\\1", value)


def ffmetadata(tags: Tags) -> str:
    lines = [";FFMETADATA1", f"title={_escape(tags.title)}", f"album={_escape(tags.album)}"]
    if tags.artist:
        lines.append(f"artist={_escape(tags.artist)}")
    if tags.description:
        lines.append(f"comment={_escape(tags.description)}")
    for ch in tags.chapters:
        lines += [
            "[CHAPTER]",
            "TIMEBASE=1/1000",
            f"START={ch.start_ms}",
            f"END={ch.end_ms}",
            f"title={_escape(ch.title)}",
        ]
    return "\n".join(lines) + "\n"


def _run(args: list[str]) -> str:
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=3600)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ExportError(f"ffmpeg failed: {e}") from e
    if proc.returncode != 0:
        raise ExportError(f"ffmpeg failed: {proc.stderr.strip()[-500:]}")
    return proc.stderr


def measure(path: Path) -> tuple[float, float]:
    """(integrated loudness in LUFS, true peak in dBTP) of a file, by ffmpeg's ebur128 filter."""
    log = _run(
        [ffmpeg_path(), "-nostdin", "-hide_banner", "-i", str(path)]
        + ["-af", "ebur128=peak=true", "-f", "null", "-"]
    )
    summary = log[log.rfind("Summary:") :]
    lufs = re.search(r"I:\s+(-?[\d.]+|-inf) LUFS", summary)
    peak = re.search(r"Peak:\s+(-?[\d.]+|-inf) dBFS", summary)
    if lufs is None or peak is None:
        raise ExportError(f"could not measure the loudness of {path}")
    return float(lufs[1]), float(peak[1])


def encode_m4a(wav: Path, target: Path, tags: Tags, wav_lufs: float) -> M4AResult:
    """Encode the WAV export ``wav`` (measured at ``wav_lufs``) to ``target`` (AAC in MP4), tagged,
    chapters included."""
    ffmpeg = ffmpeg_path()
    meta = target.with_name(target.name + ".ffmeta")
    meta.write_text(ffmetadata(tags), encoding="utf-8")
    try:
        gain_db = 0.0
        for _attempt in range(2):
            args = [ffmpeg, "-nostdin", "-v", "error", "-y", "-i", str(wav), "-i", str(meta)]
            args += ["-map", "0:a", "-map_metadata", "1", "-map_chapters", "1"]
            if gain_db:
                args += ["-af", f"volume={gain_db:.2f}dB"]
            args += ["-c:a", "aac", "-b:a", AAC_BITRATE, "-movflags", "+faststart"]
            args += ["-f", "ipod", str(target)]
            _run(args)
            lufs, peak = measure(target)
            if peak <= MAX_TRUE_PEAK_DBTP:
                break
            gain_db -= peak - MAX_TRUE_PEAK_DBTP + _PEAK_MARGIN_DB
        else:
            raise ExportError(f"{target}: true peak {peak:.1f} dBTP after encoding, above -1")
    finally:
        meta.unlink(missing_ok=True)
    if abs(lufs - wav_lufs) > LOUDNESS_TOLERANCE_LU:
        raise ExportError(
            f"{target}: {lufs:.1f} LUFS after encoding, not the {wav_lufs:.1f} LUFS it was given"
        )
    return M4AResult(lufs, peak, gain_db)
