"""``publish``: scripts to a static site (audio, transcripts, chapters, feed, page), built beside
the previous one and swapped in whole at the end.

Steps:

1. Check the options and the output folder (a new or empty folder, or a site made here).
2. Load every script and, for each level and dose (``--minutes``), hash what its files are
   made from (``episode_key``): the parsed script with its includes, the level or the
   minutes, engine, voice, rate, palette, format and voicecoach's version.
3. In a new folder beside the site (``.SITE.publish-PID-XXXXXXXX``): files whose key the
   previous site's manifest holds are hard-linked from it (copied where links are refused).
   The plan of every dose to render is fitted first, so a dose out of a script's reach
   stops the publish before anything is rendered. Then the others are exported (audio
   with ID3 chapters, WebVTT, JSON chapters; the timeline SVG of each session at the
   level or dose its page shows first).
4. Write the cover art (kept when the title is the same), the page, the feed, the QR codes,
   the page's assets and the manifest.
5. Swap the new folder with the old one in one ``renameat2(RENAME_EXCHANGE)`` where Linux
   offers it (else two renames), then remove the old one.

Anything that stops the build (an error, Ctrl-C, kill -9) leaves the previous site whole;
a later publish removes the folders that a dead publish left.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import re
import secrets
import shutil
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from voicecoach import __version__
from voicecoach.errors import ExportError, UsageError
from voicecoach.export.tags import tags_for
from voicecoach.language.dose import MAX_MINUTES
from voicecoach.language.script import LEVELS
from voicecoach.publish.chapters import chapters_json
from voicecoach.publish.feed import FEED_NAME, PAGE_NAME, feed_xml
from voicecoach.publish.folder import (
    check_output,
    link_or_copy,
    publish_lock,
    read_manifest,
    remove_leftovers,
    swap_in,
    sync_tree,
)
from voicecoach.publish.model import (
    MANIFEST_NAME,
    MANIFEST_VERSION,
    MIME_TYPES,
    Episode,
    SessionEntry,
    SiteInfo,
    dose_id,
    dose_label,
)
from voicecoach.storage.atomic import fsync_dir

FORMATS = ("mp3", "opus", "m4a")
SAMPLE_RATES = {"mp3": 44_100, "opus": 48_000, "m4a": 44_100}
MEDIA_DIR = "sessions"
ASSETS_DIR = "assets"
QR_FEED = "qr-feed.svg"
QR_PAGE = "qr-page.svg"

Progress = Callable[[str], None]


@dataclass(frozen=True)
class PublishOptions:
    """What ``voicecoach publish`` takes besides the scripts and the folder.

    Each session is published at every level of ``levels`` and at every dose of
    ``minutes`` (an episode lasting that many minutes within 5 s; ``voicecoach.language.dose``).
    ``levels=()`` with ``minutes=(15,)``: one 15-minute episode per session.
    """

    base_url: str | None = None
    levels: tuple[str, ...] = LEVELS
    minutes: tuple[float, ...] = ()
    title: str | None = None
    format: str = "mp3"
    engine: str | None = None
    voice: str | None = None
    rate: int | None = None

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise UsageError(f"format must be mp3, opus or m4a, not {self.format!r}")
        if self.format == "m4a":
            from voicecoach.publish.m4a import ffmpeg_path

            ffmpeg_path()  # refused at once where ffmpeg is missing
        if not self.levels and not self.minutes:
            raise UsageError(
                "--levels needs at least one of gentle, standard, deep (or give --minutes N)"
            )
        for minutes in self.minutes:
            if not 0 < minutes <= MAX_MINUTES:
                raise UsageError(
                    f"--minutes must be more than 0 and at most {MAX_MINUTES}, not {minutes:g}"
                )
        if len({dose_id(m) for m in self.minutes}) != len(self.minutes):
            raise UsageError("the same length is named twice in --minutes")
        for level in self.levels:
            if level not in LEVELS:
                raise UsageError(f"unknown level {level!r}: use gentle, standard and/or deep")
        if len(set(self.levels)) != len(self.levels):
            raise UsageError(f"a level is named twice in --levels {','.join(self.levels)}")
        if self.base_url is not None:
            from urllib.parse import urlsplit

            parts = urlsplit(self.base_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise UsageError(
                    f"--base-url must be an http:// or https:// address, like "
                    f"http://192.168.1.20:8765/ (not {self.base_url!r})"
                )

    @property
    def variants(self) -> tuple[tuple[str, float | None], ...]:
        """Each episode of a session as ``(id, minutes)``: the levels in the order gentle,
        standard, deep (minutes None), then the doses from the shortest (id like "15min")."""
        levels = tuple((level, None) for level in LEVELS if level in self.levels)
        doses = tuple((dose_id(m), float(m)) for m in sorted(self.minutes))
        return levels + doses


def parse_levels(text: str) -> tuple[str, ...]:
    """``"gentle,deep"`` -> ``("gentle", "deep")``, in the order gentle, standard, deep."""
    names = [w.strip() for w in text.split(",") if w.strip()]
    for name in names:
        if name not in LEVELS:
            raise UsageError(
                f"unknown level {name!r} in --levels: use gentle, standard and/or deep"
            )
    return tuple(level for level in LEVELS if level in names)


@dataclass
class PublishReport:
    """What a publish did: the site, and which episodes were made anew or kept."""

    site: Path
    info: SiteInfo
    rendered: list[str] = field(default_factory=list)  # "name/level" or "name/15min"
    kept: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def _now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _name_of(path: Path) -> str:
    """A session's name in file names and URLs: the script's stem, made URL-safe."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem).strip("-.").lower()
    return name or "session"


@functools.cache
def code_hash() -> str:
    """A hash of voicecoach's own code: a changed renderer makes new files, version bump or not."""
    package = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        h.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def episode_key(session, fmt: str) -> str:
    """A hash of everything an episode's files are made from (``session`` at its level or dose).

    The parsed script (includes expanded, so an edited include changes it), its settings
    with the level, the dose's minutes, the engine with its voice and rate (the speech key of a fixed phrase
    names them), the palette's every parameter, the format and sample rate, and the
    version and code of voicecoach and of this site's layout.
    """
    script = session.script
    parts = {
        "layout": MANIFEST_VERSION,
        "voicecoach": __version__,
        "code": code_hash(),
        "format": fmt,
        "sample_rate": SAMPLE_RATES[fmt],
        "engine": session.engine_name,
        "speech": session.speech.key("voicecoach publish"),
        "settings": repr(script.settings),
        "minutes": session.minutes,
        "items": repr(script.items),
        "palette": repr(session.palette),
    }
    text = json.dumps(parts, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ---- building ---------------------------------------------------------------------------


def _episode_files(name: str, level: str, fmt: str, timeline: bool) -> dict[str, str]:
    stem = f"{MEDIA_DIR}/{name}-{level}"
    return {
        "audio": f"{stem}.{fmt}",
        "transcript": f"{stem}.vtt",
        "chapters_json": f"{stem}.chapters.json",
        "timeline": f"{stem}.timeline.svg" if timeline else "",
    }


def _preload_timeline() -> None:
    """Import matplotlib (about 0.6 s) on a thread while the first export waits for its speech.

    A drawing that starts first waits for the import lock.
    """

    def load() -> None:
        with contextlib.suppress(Exception):
            import matplotlib.backends.backend_svg  # noqa: F401
            import matplotlib.figure  # noqa: F401
            import matplotlib.font_manager  # noqa: F401
            import matplotlib.patches  # noqa: F401
            import matplotlib.style  # noqa: F401
            import matplotlib.textpath  # noqa: F401
            import matplotlib.ticker  # noqa: F401

            from voicecoach.export import timeline  # noqa: F401

    threading.Thread(target=load, name="voicecoach-preload-timeline", daemon=True).start()


def _draw_timeline(session, fmt: str, target: Path) -> None:
    from voicecoach.export.timeline import write_svg

    write_svg(session.plan(sample_rate=SAMPLE_RATES[fmt]), target)


def _render(
    session, name: str, level: str, fmt: str, key: str, build: Path, *, timeline: bool
) -> Episode:
    """Export one session at one level or dose (``level`` its id) into ``build``: audio,
    captions, chapters (and the session's timeline picture when ``timeline``)."""
    files = _episode_files(name, level, fmt, timeline)
    sample_rate = SAMPLE_RATES[fmt]
    audio = build / files["audio"]
    # m4a: the WAV export (same audio, loudness checked), then encoded by ffmpeg (see m4a.py)
    written = audio.with_suffix(".wav") if fmt == "m4a" else audio
    result = session.export(
        written, fmt="wav" if fmt == "m4a" else fmt, captions=True, sample_rate=sample_rate
    )
    if result.captions_path != build / files["transcript"]:
        raise ExportError(f"captions of {audio} were written to {result.captions_path}")
    plan = session.plan(sample_rate=sample_rate)
    tags = tags_for(plan)
    chapters = tags.chapters  # the same chapters as the file's own (ID3 CHAP frames in MP3)
    if fmt == "m4a":
        from voicecoach.publish.m4a import encode_m4a

        encode_m4a(written, audio, tags, result.integrated_lufs)
        written.unlink()
    (build / files["chapters_json"]).write_text(
        chapters_json(chapters, title=plan.title), encoding="utf-8"
    )
    if timeline:
        _draw_timeline(session, fmt, build / files["timeline"])
    return Episode(
        name=name,
        level=level,
        key=key,
        mime=MIME_TYPES[fmt],
        audio_bytes=audio.stat().st_size,
        duration_s=round(plan.duration_s, 6),
        chapters=chapters,
        published=_now_iso(),
        minutes=session.minutes,
        **files,
    )


def _keep(old: Episode, old_site: Path, build: Path) -> bool:
    """Link the files of an unchanged episode into the build; False when one is missing."""
    sources = [old_site / f for f in old.files]
    if not all(p.is_file() and not p.is_symlink() for p in sources):
        return False
    if (old_site / old.audio).stat().st_size != old.audio_bytes:
        return False
    for relative, source in zip(old.files, sources, strict=True):
        link_or_copy(source, build / relative)
    return True


def publish(
    scripts: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    options: PublishOptions | None = None,
    *,
    progress: Progress | None = None,
) -> PublishReport:
    """Publish ``scripts`` (built-in names or paths) as a site in the folder ``out``."""
    opts = options or PublishOptions()
    say = progress or (lambda _message: None)
    if not scripts:
        raise UsageError("name at least one session or script to publish")
    site_dir = Path(out)
    if not site_dir.name or site_dir.name in (".", ".."):
        site_dir = site_dir.resolve()
    check_output(site_dir)
    base_url = opts.base_url
    if base_url is not None and not base_url.endswith("/"):
        base_url += "/"
    try:
        site_dir.parent.mkdir(parents=True, exist_ok=True)
        report = _publish_into(site_dir, scripts, opts, base_url, say)
    except OSError as e:  # a full disk, a folder that cannot be written...
        raise ExportError(f"cannot publish into {site_dir}: {e.strerror or e}") from e
    return report


def _publish_into(
    site_dir: Path,
    scripts: Sequence[str | os.PathLike],
    opts: PublishOptions,
    base_url: str | None,
    say: Progress,
) -> PublishReport:
    """Steps 2 to 5, holding the site's lock."""
    from voicecoach.publish.art import write_cover
    from voicecoach.publish.page import ASSETS, page_html
    from voicecoach.publish.qr import write_qr_svg
    from voicecoach.session import load

    with publish_lock(site_dir):
        remove_leftovers(site_dir)
        manifest = read_manifest(site_dir) if site_dir.is_dir() else {}
        old_episodes: dict[tuple[str, str], Episode] = {}
        for d in manifest.get("episodes", []):
            with contextlib.suppress(KeyError, TypeError, ValueError):
                e = Episode.from_json(d)
                old_episodes[(e.name, e.level)] = e

        build = site_dir.parent / f".{site_dir.name}.publish-{os.getpid()}-{secrets.token_hex(4)}"
        build.mkdir()
        try:
            (build / MEDIA_DIR).mkdir()
            report = _build(scripts, site_dir, build, opts, base_url, old_episodes, load, say)
            info = report.info
            cover_title = info.title
            old_cover_ok = manifest.get("cover_title") == cover_title and all(
                (site_dir / n).is_file() for n in (info.cover, info.icon)
            )
            if old_cover_ok:
                for n in (info.cover, info.icon):
                    link_or_copy(site_dir / n, build / n)
            else:
                write_cover(cover_title, build / info.cover, build / info.icon)
            assets = build / ASSETS_DIR
            assets.mkdir()
            static = Path(__file__).resolve().parent / "static"
            for asset in ASSETS:
                shutil.copyfile(static / asset, assets / asset)
            qr_feed = qr_page = None
            if base_url:
                qr_feed, qr_page = QR_FEED, QR_PAGE
                write_qr_svg(info.url(FEED_NAME), build / QR_FEED, title="QR code of the feed")
                write_qr_svg(base_url, build / QR_PAGE, title="QR code of the page")
            (build / PAGE_NAME).write_text(
                page_html(info, qr_feed=qr_feed, qr_page=qr_page), encoding="utf-8"
            )
            (build / FEED_NAME).write_bytes(feed_xml(info))
            new_manifest = {
                "version": MANIFEST_VERSION,
                "voicecoach": __version__,
                "title": info.title,
                "cover_title": cover_title,
                "base_url": base_url,
                "format": opts.format,
                "levels": list(opts.levels),
                "minutes": sorted(opts.minutes),
                "episodes": [e.to_json() for e in info.episodes],
            }
            (build / MANIFEST_NAME).write_text(
                json.dumps(new_manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
            )
            sync_tree(build)
            swap_in(build, site_dir)
            fsync_dir(site_dir.parent)
        except BaseException:
            shutil.rmtree(build, ignore_errors=True)
            raise
    current = {(e.name, e.level) for e in report.info.episodes}
    report.removed = sorted(f"{n}/{lv}" for n, lv in old_episodes if (n, lv) not in current)
    return report


def _build(
    scripts: Sequence[str | os.PathLike],
    site_dir: Path,
    build: Path,
    opts: PublishOptions,
    base_url: str | None,
    old_episodes: dict[tuple[str, str], Episode],
    load: Callable[..., Any],
    say: Progress,
) -> PublishReport:
    """Steps 2 and 3: load every script, then keep or render each episode into ``build``."""
    fmt = opts.format
    sessions: list[SessionEntry] = []
    report = PublishReport(site_dir, SiteInfo("", base_url, fmt, ()))
    seen: dict[str, str] = {}
    loaded = []
    # every script is loaded (parsed) before anything is rendered: a typo fails at once
    try:
        for script in scripts:
            base = load(script, engine=opts.engine, voice=opts.voice, rate=opts.rate)
            loaded.append(base)
            name = _name_of(base.path)
            if name in seen:
                raise UsageError(
                    f"two sessions would be named {name!r}: {seen[name]} and {base.path}; "
                    "rename one of the scripts"
                )
            seen[name] = str(base.path)
        # keep what is unchanged; fit every dose to render before rendering anything, so a
        # dose out of a script's reach stops the publish at once (DoseError names the script)
        slots: list[list[Episode | _Pending]] = []
        for base in loaded:
            slots.append(_keep_or_plan(base, site_dir, build, opts, old_episodes, report, say))
        for base, session_slots in zip(loaded, slots, strict=True):
            episodes = []
            for slot in session_slots:
                if isinstance(slot, Episode):
                    episodes.append(slot)
                    continue
                say(f"rendering {slot.name} ({slot.label})...")
                if not report.rendered:
                    _preload_timeline()
                episodes.append(
                    _render(
                        slot.session,
                        slot.name,
                        slot.variant,
                        fmt,
                        slot.key,
                        build,
                        timeline=slot.pictured,
                    )
                )
                report.rendered.append(f"{slot.name}/{slot.variant}")
            s = base.settings
            sessions.append(
                SessionEntry(
                    _name_of(base.path),
                    s.title,
                    s.teacher,
                    s.description,
                    s.equipment,
                    s.muscles,
                    tuple(episodes),
                )
            )
    finally:
        for base in loaded:
            base.close()
    teachers = {s.teacher for s in sessions if s.teacher}
    title = opts.title or (sessions[0].title if len(sessions) == 1 else _default_title(sessions))
    report.info = SiteInfo(
        title=title,
        base_url=base_url,
        format=fmt,
        sessions=tuple(sessions),
        teacher=teachers.pop() if len(teachers) == 1 else None,
    )
    return report


@dataclass(frozen=True)
class _Pending:
    """An episode to render: its session (at its level or dose) and where it goes."""

    session: Any
    name: str
    variant: str  # the level, or the dose's id ("15min")
    label: str
    key: str
    pictured: bool


def _keep_or_plan(
    base,
    site_dir: Path,
    build: Path,
    opts: PublishOptions,
    old_episodes: dict[tuple[str, str], Episode],
    report: PublishReport,
    say: Progress,
) -> list[Episode | _Pending]:
    """One session's episodes in order: kept ones linked into ``build``, the others pending
    (a pending dose's plan already fitted: ``DoseError`` when out of reach)."""
    fmt = opts.format
    name = _name_of(base.path)
    variants = opts.variants
    # one timeline picture per session, at the level or dose the page shows first
    pictured = "standard" if "standard" in opts.levels else variants[0][0]
    slots: list[Episode | _Pending] = []
    for variant, minutes in variants:
        session = base.with_level(variant) if minutes is None else base.with_minutes(minutes)
        label = variant if minutes is None else dose_label(minutes)
        key = episode_key(session, fmt)
        old = old_episodes.get((name, variant))
        if old is not None and old.key == key:
            if variant != pictured and old.timeline:  # the variants published changed
                old = dataclasses.replace(old, timeline="")
            if _keep(old, site_dir, build):
                if variant == pictured and not old.timeline:
                    files = _episode_files(name, variant, fmt, True)
                    _draw_timeline(session, fmt, build / files["timeline"])
                    old = dataclasses.replace(old, timeline=files["timeline"])
                slots.append(old)
                report.kept.append(f"{name}/{variant}")
                say(f"kept {name} ({label}): unchanged")
                continue
        if minutes is not None:
            say(f"fitting {name} to {label}...")
            session.plan(sample_rate=SAMPLE_RATES[fmt])  # kept for the export
        slots.append(_Pending(session, name, variant, label, key, variant == pictured))
    return slots


def _default_title(sessions: list[SessionEntry]) -> str:
    return (
        "Class: " + ", ".join(s.title for s in sessions[:3]) + (" ..." if len(sessions) > 3 else "")
    )
