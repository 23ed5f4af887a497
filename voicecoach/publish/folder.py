"""The site's folder: what may be replaced, one publish at a time, leftovers of killed
publishes, and the swap that puts a finished build in the old site's place in one step
(see ``site`` for the steps that use them)."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from voicecoach.errors import UsageError
from voicecoach.publish.model import MANIFEST_NAME, MANIFEST_VERSION
from voicecoach.storage.atomic import fsync_dir, pid_alive


def read_manifest(site: Path) -> dict:
    """The previous publish's manifest; ``{}`` when there is none this version can read."""
    try:
        data = json.loads((site / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and data.get("version") == MANIFEST_VERSION else {}


def check_output(out: Path) -> None:
    """Refuse a folder publish must not replace: a link, a file, or one it did not make."""
    if out.is_symlink():
        raise UsageError(f"{out} is a symbolic link; give the site's real folder")
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} is a file; -o names the site's folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST_NAME).is_file():
        raise UsageError(
            f"{out} is not empty and was not made by voicecoach publish; "
            "name a new or empty folder (publish replaces the whole folder)"
        )


_LEFTOVER = re.compile(r"\.(?P<site>.+)\.(?:publish|old)-(?P<pid>[0-9]+)-[0-9a-f]{8}")


def remove_leftovers(out: Path) -> None:
    """Folders left beside the site by a publish that was killed (its process is gone)."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(out.parent):
            m = _LEFTOVER.fullmatch(entry.name)
            if m and m["site"] == out.name and not pid_alive(int(m["pid"])):
                shutil.rmtree(entry.path, ignore_errors=True)


@contextlib.contextmanager
def publish_lock(out: Path) -> Iterator[None]:
    """One publish into a site at a time (an ``flock`` on a file beside it)."""
    try:
        import fcntl
    except ImportError:  # no flock: nothing to hold
        yield
        return
    lock_path = out.parent / f".{out.name}.publish-lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            raise UsageError(f"another publish into {out} is running; wait for it") from e
        yield
    finally:
        os.close(fd)


def link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where not offered."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    at_fdcwd, rename_exchange = -100, 2
    done = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    if done == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EPERM, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def sync_tree(folder: Path) -> None:
    """Every file and folder of the new site on disk before it replaces the old one."""
    for path in sorted(folder.rglob("*"), reverse=True):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        elif path.is_dir():
            fsync_dir(path)
    fsync_dir(folder)


def swap_in(build: Path, out: Path) -> None:
    """Put the finished ``build`` where ``out`` is, then remove the old site."""
    if not out.exists():
        os.rename(build, out)
        return
    if _exchange(build, out):
        shutil.rmtree(build, ignore_errors=True)  # now the old site
        return
    old = out.parent / f".{out.name}.old-{os.getpid()}-{secrets.token_hex(4)}"
    os.rename(out, old)
    os.rename(build, out)
    shutil.rmtree(old, ignore_errors=True)
