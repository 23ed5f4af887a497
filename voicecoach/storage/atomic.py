"""Atomic files: written under a temporary name beside the target, renamed over it when complete.

A file that replaces a target (or takes a new name) is written here, in one of two ways:

- ``replacing(target)``: one file (a cache entry, a new script): a context
  manager giving a binary file on a fresh ``mkstemp`` temporary file beside
  the target (``O_EXCL``, mode 0600, a random name), ``fsync``-ed when
  ``durable``, renamed over the target when the block ends, removed when it
  raises. Readers never see half a file; two writers of the same target
  both leave a whole one.
- ``PartFiles``: the files of an export in a person's folder (audio and
  captions, a timeline SVG through ``atomic_write_text``): locked temporary
  files that ``clean_stale_parts`` can tell from a living writer's, always
  ``fsync``-ed, several committed together or not at all. The rest of this
  docstring is about them.

A temporary file is ``.NAME.part-PID-XXXXXXXX`` (``NAME`` the target's name,
``PID`` the writing process, 8 random hex digits), made with ``O_EXCL`` and
held under an ``flock`` by the process that writes it (and the forked
process that may encode into it) until it is renamed or removed. One
``PartFiles`` gathers the temporary files of one write: ``commit`` renames
them over their targets all together or not at all, and whatever was not
committed is removed when the ``with`` block ends (an error, Ctrl-C).

Several files committed together (audio and its captions) are renamed one
after the other, the first ones with their earlier file kept aside as a hard
link (a temporary file too) until the last rename succeeded; when a rename
fails, the earlier renames are undone from those links. What remains after a
kill -9 or a power cut:

- before the first rename: only temporary files; every target is as it was;
- between the renames (two ``rename`` calls with no data written between,
  both files already on disk): the new audio beside the old captions, and the
  old audio kept as ``.NAME.part-PID-XXXXXXXX`` until the next export into
  that folder removes it (rename it back by hand to recover it);
- after the last rename: both files new (a leftover link is removed later).

A power cut before the closing ``fsync`` of the folder may keep either
rename or both. ``clean_stale_parts`` removes temporary files whose writer
is gone: never one whose lock is held, nor one of a living process.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from voicecoach.errors import ExportError

try:
    import fcntl
except ImportError:  # Windows: no flock; the pid in the name is all there is
    fcntl = None  # type: ignore[assignment]

_PART_MARK = ".part-"
_PART_NAME = re.compile(r"\.(?P<name>.+)\.part-(?P<pid>[0-9]+)-[0-9a-f]{8}")
# names voicecoach writes beside an audio export: the folder-wide clean-up looks only at these
_OWN_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".oga", ".mp3", ".opus", ".vtt"})
# an unlocked temporary file of a living pid, unchanged this long, is stale all the same (the
# pid was reused); a writer that holds its lock is never disturbed, however long it takes
STALE_AFTER_S = 600.0


def _part_name(target: Path) -> str:
    return f".{target.name}{_PART_MARK}{os.getpid()}-{secrets.token_hex(4)}"


def _lock(path: Path) -> int | None:
    """Open ``path`` and take its ``flock`` without waiting: the descriptor, or ``None``."""
    if fcntl is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (one of another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, OSError):
        return False
    return True


def clean_stale_parts(
    target: str | os.PathLike, *, stale_after_s: float = STALE_AFTER_S
) -> list[Path]:
    """Remove temporary files left in ``target``'s folder by writes that were killed; returns them.

    Only voicecoach's own names are looked at (``.NAME.part-PID-XXXXXXXX``
    with ``NAME`` the target's, or an audio or ``.vtt`` file's). One is
    stale when nobody holds its lock and its writer ``PID`` is gone (or it is
    unchanged for ``stale_after_s``: the pid was reused). A file whose lock
    cannot be tested (no ``flock`` here) is kept while its pid lives.
    """
    target = Path(target)
    removed: list[Path] = []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return removed
    for entry in entries:
        match = _PART_NAME.fullmatch(entry.name)
        if match is None:
            continue
        name = match["name"]
        if name != target.name and Path(name).suffix.lower() not in _OWN_SUFFIXES:
            continue
        path = Path(entry.path)
        fd = _lock(path)
        if fd is None and fcntl is not None:
            continue  # locked by its writer (or not ours to open)
        try:
            info = os.lstat(path)
            if not stat.S_ISREG(info.st_mode):
                continue
            unchanged_s = time.time() - max(info.st_mtime, info.st_ctime)
            if pid_alive(int(match["pid"])) and (fd is None or unchanged_s < stale_after_s):
                continue
            path.unlink()
            removed.append(path)
        except OSError:
            continue
        finally:
            if fd is not None:
                os.close(fd)
    return removed


def fsync_dir(folder: Path) -> None:
    """Make the renames in ``folder`` durable (where the system allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def new_temp_beside(
    target: Path, *, prefix: str | None = None, suffix: str = ".tmp"
) -> tuple[int, Path]:
    """A new temporary file beside ``target``, for writing then renaming over it: ``(fd, path)``.

    Made with ``mkstemp`` (``O_EXCL``, mode 0600, a random name): never a file
    or link that was already there. Named ``prefix`` (default ``.NAME.``), the
    random part, ``suffix``. The folder is made if missing; raises ``OSError``.
    """
    import tempfile  # here: importing it costs a warm `plan` several ms

    target.parent.mkdir(parents=True, exist_ok=True)
    if prefix is None:
        prefix = f".{target.name}."
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=prefix, suffix=suffix)
    return fd, Path(name)


@contextlib.contextmanager
def replacing(
    target: Path,
    *,
    durable: bool = True,
    private: bool = True,
    prefix: str | None = None,
    suffix: str = ".tmp",
) -> Iterator[BinaryIO]:
    """Write ``target`` whole or not at all: yields a binary file to write it into.

    The file is a new temporary one beside ``target`` (``new_temp_beside``,
    named by ``prefix`` and ``suffix``); when the block ends it is flushed,
    ``fsync``-ed and the folder synced after the rename when ``durable`` (a
    cache entry lost in a crash is only made again: not durable), given the
    usual permissions (0666 less the umask) unless ``private`` (0600), and
    renamed over ``target``. When the block raises (or the rename fails) the
    temporary file is removed and the exception goes on; ``target`` is as it was.
    Raises ``OSError`` (the caller words it).
    """
    fd, temp = new_temp_beside(target, prefix=prefix, suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            if durable:
                f.flush()
                os.fsync(f.fileno())
        if not private:
            os.chmod(temp, 0o666 & ~umask())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    if durable:
        fsync_dir(target.parent)


_SPECIAL_FILES = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a folder"),
)


def refuse_unless_regular(target: Path) -> None:
    """Raise ``ExportError`` when ``target`` exists and is not a regular file.

    The rename at the end of a write would replace whatever has the name: a
    device node, a FIFO, or a symbolic link (not the file it points to).
    """
    try:
        mode = os.lstat(target).st_mode
    except FileNotFoundError:
        return
    except OSError as e:
        raise ExportError(f"cannot write {target}: {e.strerror or e}") from e
    for test, what in _SPECIAL_FILES:
        if test(mode):
            raise ExportError(
                f"{target} is {what}, not a regular file: voicecoach only replaces regular "
                "files; give another name"
            )


def write_error(e: OSError, target: Path, targets: tuple[Path, ...] = ()) -> ExportError:
    """The ``ExportError`` for a failed write of ``target``, saying the earlier ``targets`` are kept."""
    kept = " and ".join(t.name for t in targets or (target,))
    if e.errno == errno.ENOSPC:
        return ExportError(
            f"disk full writing {target}; no file was written and any earlier {kept} "
            f"{'is' if len(targets) < 2 else 'are'} untouched"
        )
    if len(targets) < 2:
        return ExportError(f"could not write {target}: {e.strerror or e}")
    return ExportError(
        f"could not write {target}: {e.strerror or e}; no file was written and any earlier "
        f"{kept} are untouched"
    )


class PartFiles:
    """The temporary files of one write: made, locked, committed together, or removed at the end.

    Use as a context manager; ``new(target)`` gives a fresh empty temporary
    file beside ``target``; ``commit`` renames finished ones over their
    targets. On leaving the block every file not committed is removed and
    every lock released.
    """

    def __init__(self) -> None:
        self._locks: dict[Path, int | None] = {}  # temporary file -> its lock descriptor
        self._kept: set[Path] = set()

    def __enter__(self) -> PartFiles:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for part in list(self._locks):
            if part not in self._kept:
                with contextlib.suppress(FileNotFoundError):
                    part.unlink()
            self._release(part)

    def new(self, target: Path) -> Path:
        """A fresh, exclusive, locked temporary file beside ``target``."""
        fd = -1
        while fd < 0:
            part = target.parent / _part_name(target)
            with contextlib.suppress(FileExistsError):
                fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # a file system without locks: the pid in the name protects it
                os.close(fd)
                fd = -1
        self._locks[part] = fd if fd >= 0 else None
        return part

    def _release(self, part: Path) -> None:
        fd = self._locks.pop(part, None)
        if fd is not None:
            os.close(fd)

    def _set_aside(self, target: Path) -> Path | None:
        """Keep ``target``'s present file under a temporary name (a hard link), or ``None`` if there is none."""
        while True:
            aside = target.parent / _part_name(target)
            try:
                os.link(target, aside)
            except FileNotFoundError:
                return None
            except FileExistsError:
                continue
            except OSError:  # no hard links on this file system: a copy
                aside = self.new(target)
                shutil.copyfile(target, aside)
                return aside
            self._locks[aside] = _lock(aside)
            return aside

    def commit(self, pairs: list[tuple[Path, Path]]) -> None:
        """Rename each ``(part, target)`` over its target: all of them, or, on any failure, none.

        Raises ``ExportError`` (naming the target that failed) after putting
        back the files already replaced.
        """
        targets = tuple(target for _, target in pairs)
        current = targets[0]
        try:
            mask = umask()
            for part, target in pairs:
                current = target
                refuse_unless_regular(target)  # again: it may have been made since the write began
                os.chmod(part, 0o666 & ~mask)
                with open(part, "rb+") as f:
                    os.fsync(f.fileno())
            done: list[tuple[Path, Path | None]] = []
            try:
                for i, (part, target) in enumerate(pairs):
                    current = target
                    aside = self._set_aside(target) if i < len(pairs) - 1 else None
                    os.replace(part, target)
                    self._release(part)
                    done.append((target, aside))
            except BaseException:
                self._put_back(done)
                raise
        except OSError as e:
            raise write_error(e, current, targets if len(targets) > 1 else ()) from e
        fsync_dir(targets[0].parent)
        for _, aside in done:  # every rename made: the earlier files are not needed any more
            if aside is not None:
                with contextlib.suppress(FileNotFoundError):
                    aside.unlink()
                self._release(aside)

    def _put_back(self, done: list[tuple[Path, Path | None]]) -> None:
        """Undo the renames in ``done``: each target gets its earlier file back (or none, as before)."""
        for target, aside in reversed(done):
            try:
                if aside is None:
                    target.unlink()
                else:
                    os.replace(aside, target)
                    self._release(aside)
            except OSError as e:
                if aside is not None:
                    self._kept.add(aside)
                raise ExportError(
                    f"could not put back the earlier {target} after a failed write ({e.strerror or e})"
                    + (f": it is kept as {aside}" if aside is not None else "")
                ) from e


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write a text file atomically (temporary file beside it, then rename)."""
    target = Path(path)
    with PartFiles() as parts:
        parts.commit([(write_part_text(parts, target, text), target)])


def write_part_text(
    parts: PartFiles, target: Path, text: str, *, together: tuple[Path, ...] = ()
) -> Path:
    """Write ``text`` to a new temporary file for ``target``; returns it (commit it with ``parts``).

    ``together``: every target of the commit, named in the error as untouched.
    """
    try:
        part = parts.new(target)  # fails first when the folder is missing or read-only
        _write_text(part, text)
    except OSError as e:
        raise write_error(e, target, together) from e
    return part


def _write_text(part: Path, text: str) -> None:
    """Write ``text`` into ``part`` as UTF-8 (a seam: tests replace it to simulate a full disk)."""
    with open(part, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
