"""Tags and chapters of exported files, from the plan's front matter and sections.

Title, teacher as artist, description and album "voicecoach" for every
format. Chapters: Vorbis ``CHAPTERnnn`` / ``CHAPTERnnnNAME`` comments for
FLAC, Ogg Vorbis and Opus; ID3v2 ``CHAP`` frames under one ``CTOC`` for MP3
(and in the ID3 chunk of WAV files). mutagen writes them all, on the finished
temporary file, before it is renamed into place.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from voicecoach.errors import ExportError
from voicecoach.units import format_timestamp_ms, samples_to_ms

if TYPE_CHECKING:
    from mutagen._vorbis import VCommentDict
    from mutagen.id3 import ID3, Frame

ALBUM = "voicecoach"


@dataclass(frozen=True)
class Chapter:
    """One chapter: a section's title and its span in milliseconds."""

    title: str
    start_ms: int
    end_ms: int


@dataclass(frozen=True)
class Tags:
    title: str
    artist: str | None = None
    description: str | None = None
    album: str = ALBUM
    chapters: tuple[Chapter, ...] = ()


def tags_for(plan) -> Tags:
    """Tags for a plan: title, teacher, description and one chapter per section."""
    settings = plan.settings
    sr = plan.sample_rate
    chapters = tuple(
        Chapter(s.title, samples_to_ms(s.start_sample, sr), samples_to_ms(s.end_sample, sr))
        for s in plan.sections
        if s.end_sample > s.start_sample
    )
    return Tags(
        title=plan.title or settings.title,
        artist=settings.teacher,
        description=settings.description,
        chapters=chapters,
    )


def vorbis_comments(tags: Tags) -> list[tuple[str, str]]:
    """The Vorbis comments (key, value) for FLAC, Ogg Vorbis and Opus, chapters numbered from 001."""
    out = [("TITLE", tags.title), ("ALBUM", tags.album)]
    if tags.artist:
        out.append(("ARTIST", tags.artist))
    if tags.description:
        out += [("DESCRIPTION", tags.description), ("COMMENT", tags.description)]
    for i, ch in enumerate(tags.chapters, start=1):
        out += [
            (f"CHAPTER{i:03d}", format_timestamp_ms(ch.start_ms)),
            (f"CHAPTER{i:03d}NAME", ch.title),
        ]
    return out


def soundfile_strings(tags: Tags) -> dict[str, str]:
    """The strings libsndfile itself writes (WAV ``LIST/INFO``): title, artist, comment, album."""
    out = {"title": tags.title, "album": tags.album}
    if tags.artist:
        out["artist"] = tags.artist
    if tags.description:
        out["comment"] = tags.description
    return out


def _id3_frames(tags: Tags) -> list[Frame]:
    from mutagen.id3 import CHAP, COMM, CTOC, TALB, TIT2, TPE1, CTOCFlags

    frames: list[Frame] = [TIT2(encoding=3, text=tags.title), TALB(encoding=3, text=tags.album)]
    if tags.artist:
        frames.append(TPE1(encoding=3, text=tags.artist))
    if tags.description:
        frames.append(COMM(encoding=3, lang="eng", desc="", text=tags.description))
    if tags.chapters:
        ids = [f"chp{i}" for i in range(1, len(tags.chapters) + 1)]
        frames.append(
            CTOC(
                element_id="toc",
                flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED,
                child_element_ids=ids,
                sub_frames=[TIT2(encoding=3, text="Chapters")],
            )
        )
        for cid, ch in zip(ids, tags.chapters, strict=True):
            frames.append(
                CHAP(
                    element_id=cid,
                    start_time=ch.start_ms,
                    end_time=ch.end_ms,
                    start_offset=0xFFFFFFFF,  # "use the times" (ID3v2 chapter spec)
                    end_offset=0xFFFFFFFF,
                    sub_frames=[TIT2(encoding=3, text=ch.title)],
                )
            )
    return frames


def write_tags(path: str | os.PathLike, fmt: str, tags: Tags) -> None:
    """Write ``tags`` into the finished file at ``path`` (one of the export formats)."""
    try:
        if fmt in ("flac", "ogg", "opus"):
            from mutagen.flac import FLAC
            from mutagen.oggopus import OggOpus
            from mutagen.oggvorbis import OggVorbis

            audio = {"flac": FLAC, "ogg": OggVorbis, "opus": OggOpus}[fmt](path)
            if audio.tags is None:
                audio.add_tags()
            # mutagen declares ``tags`` as None (its unannotated class default); here they exist
            comments = cast("VCommentDict", audio.tags)
            for key, _ in vorbis_comments(tags):
                if key in comments:
                    del comments[key]
            for key, value in vorbis_comments(tags):
                comments[key] = value
            audio.save()
        elif fmt == "mp3":
            from mutagen.id3 import ID3

            id3 = ID3()
            for frame in _id3_frames(tags):
                id3.add(frame)
            id3.save(path, v2_version=4)
            _chapters_in_time_order(path, fmt)
        elif fmt == "wav":
            from mutagen.wave import WAVE

            wave = WAVE(path)
            if wave.tags is None:
                wave.add_tags()
            id3_chunk = cast("ID3", wave.tags)  # as above: mutagen declares ``tags`` as None
            for frame in _id3_frames(tags):
                id3_chunk.add(frame)
            wave.save(v2_version=4)
            _chapters_in_time_order(path, fmt)
        else:
            raise ExportError(f"no tag writer for format {fmt!r}")
    except ExportError:
        raise
    except Exception as e:  # mutagen raises its own error types and plain OSError
        raise ExportError(f"could not write tags into {path}: {e}") from e


# ---- ID3 chapters in time order ----------------------------------------------------
#
# mutagen writes ID3 frames sorted by their size, so the CHAP frames land in the file out of
# time order; the CTOC frame still orders them, but ffprobe and ffmpeg-based players list
# chapters in file order ("next chapter" jumped about). So after saving, the CHAP frames of
# the tag are put back in time order, in place: the same frames, moved among the places CHAP
# frames had, so the tag keeps its size. Only a plain ID3v2.4 tag (no unsynchronisation, no
# extended header, no frame flags: what mutagen writes) is touched; anything else is left.


def _chapters_in_time_order(path: str | os.PathLike, fmt: str) -> None:
    with open(path, "r+b") as f:
        at = 0 if fmt == "mp3" else _wav_id3_chunk(f)
        if at is None:
            return
        f.seek(at)
        header = f.read(10)
        if len(header) < 10 or header[:4] != b"ID3\x04" or header[5] != 0:
            return
        body = f.read(_syncsafe(header[6:10]))
        frames = _id3_frames_of(body)
        chapters = [frame for frame in frames if frame[:4] == b"CHAP"]
        if len(chapters) < 2 or any(frame[8:10] != b"\0\0" for frame in chapters):
            return
        in_order = iter(sorted(chapters, key=_chap_start_ms))
        moved = b"".join(next(in_order) if frame[:4] == b"CHAP" else frame for frame in frames)
        f.seek(at + 10)
        f.write(moved)


def _syncsafe(four: bytes) -> int:
    return (four[0] << 21) | (four[1] << 14) | (four[2] << 7) | four[3]


def _id3_frames_of(body: bytes) -> list[bytes]:
    """The frames of an ID3v2.4 tag body, each with its 10-byte header (padding excluded)."""
    frames, pos = [], 0
    while pos + 10 <= len(body) and body[pos] != 0:
        end = pos + 10 + _syncsafe(body[pos + 4 : pos + 8])
        if end > len(body):
            break
        frames.append(body[pos:end])
        pos = end
    return frames


def _chap_start_ms(frame: bytes) -> int:
    """A CHAP frame's start time: after its header and its null-terminated element id."""
    content = frame[10:]
    after_id = content.index(b"\0") + 1
    return int.from_bytes(content[after_id : after_id + 4], "big")


def _wav_id3_chunk(f) -> int | None:
    """Where the ID3 tag of a RIFF/WAVE file starts (its "id3 " chunk's data), or None."""
    f.seek(0)
    if f.read(12)[8:12] != b"WAVE":
        return None
    while True:
        head = f.read(8)
        if len(head) < 8:
            return None
        size = int.from_bytes(head[4:8], "little")
        if head[:4] in (b"id3 ", b"ID3 "):
            return f.tell()
        f.seek(size + (size & 1), os.SEEK_CUR)
