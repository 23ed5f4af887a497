"""The cache folder's entries: checked files for the derived caches, and one size cap for all.

Kinds (each a folder of ``resources.cache_root()``): ``speech`` (the
utterances, ``speech/cache.py``), ``loudness`` (measurements and decisions,
``*.json``), ``limiter`` (the limiter's gain spans, ``loudness/*.limiter.bin``),
``tones`` and ``speech-prepared`` (arrays, ``*.f32``). Everything but speech is
derived: remade from the speech and the plan when missing.

Integrity: every entry carries a CRC-32 of its content, checked when it is
read (an array: a 32-byte header with its own CRC, then the float32 payload;
a JSON entry: a ``"crc32"`` member over the rest; limiter spans: the last 4
bytes). A bad entry is removed and counts as missing, so it is made again.
CRC-32 catches damage (flipped bytes, a torn or edited file), not a deliberate
forgery. A file checked once by a process is not hashed again while its inode,
size, mtime and ctime stay the same (a write, even one that restores the mtime,
changes the ctime).

The cap: the whole cache (all kinds) is kept under ``cache_max_bytes()`` (1 GB
unless ``$VOICECOACH_CACHE_MAX_MB`` says otherwise) by least-recent use. An entry's
mtime is its last use, to the hour: reading one touches it (``touched``; atime is not
used, since ``relatime`` mounts rarely update it). Before a process writes an
entry it calls ``reserve``: at its first write, and whenever its own writes
would pass the cap, the cache is scanned and the least recently used files
removed until the rest fit in 90% of the cap with the new entry.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import struct
import threading
import time
import zlib
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from voicecoach.errors import UsageError
from voicecoach.storage.resources import cache_root

if TYPE_CHECKING:
    import numpy as np  # imported where arrays are read or written: a warm `plan` needs no numpy

CACHE_MAX_ENV = "VOICECOACH_CACHE_MAX_MB"
DEFAULT_CACHE_MAX_BYTES = 1_000_000_000  # 1 GB
KINDS = ("speech", "loudness", "limiter", "tones", "speech-prepared")
_FOLDERS = ("speech", "loudness", "tones", "speech-prepared")
_TRIM_TO = 0.9  # a trim leaves this fraction of the cap, so the next writes do not scan again
_STALE_TEMP_S = 3600.0  # a temporary file older than this was left by a killed process
_TOUCH_AFTER_S = 3600.0  # an entry used within the hour is not touched again (fewer writes)


# ---- the cap -----------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def code_digest(*modules: ModuleType) -> str:
    """A digest of numpy's version and the source of ``modules``: part of every derived-cache key.

    A changed synthesiser, resampler or meter never reads what the old one wrote. The
    modules are objects, not names, so moving or renaming one cannot switch a cache off.
    """
    import numpy as np

    h = hashlib.sha256(np.__version__.encode("utf-8"))
    for module in modules:
        if module.__file__ is None:
            raise ValueError(f"{module.__name__} has no source file to digest")
        h.update(Path(module.__file__).read_bytes())
    return h.hexdigest()


def cache_max_bytes() -> int:
    """The cap on the whole cache, in bytes: ``$VOICECOACH_CACHE_MAX_MB`` megabytes, else 1 GB."""
    value = os.environ.get(CACHE_MAX_ENV, "").strip()
    if not value:
        return DEFAULT_CACHE_MAX_BYTES
    try:
        mb = float(value)
    except ValueError:
        mb = float("nan")
    if not (mb >= 0 and mb < 1e9):
        raise UsageError(
            f"{CACHE_MAX_ENV} must be a number of megabytes (e.g. 2000), got {value!r}"
        )
    return int(mb * 1e6)


def kind_of(path: Path, root: Path) -> str | None:
    """The kind of a file of the cache folder ``root`` (``None``: not a cache file)."""
    try:
        folder = path.relative_to(root).parts[0]
    except (ValueError, IndexError):
        return None
    if folder == "loudness":
        return "limiter" if ".limiter.bin" in path.name else "loudness"
    return folder if folder in _FOLDERS else None


def _is_temp(name: str) -> bool:
    return name.startswith(".")  # temporary files: ".tmp-*" (speech), ".<entry>.*.tmp" (derived)


def cache_files(root: Path | None = None) -> list[tuple[str, Path, int, float]]:
    """Every file of the cache: ``(kind, path, bytes, mtime)``."""
    root = cache_root() if root is None else root
    found = []
    todo = [root / name for name in _FOLDERS]
    while todo:
        folder = todo.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    todo.append(Path(entry.path))
                    continue
                if not entry.is_file(follow_symlinks=False):
                    continue
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            path = Path(entry.path)
            kind = kind_of(path, root)
            if kind is not None:
                found.append((kind, path, st.st_size, st.st_mtime))
    return found


def usage(root: Path | None = None) -> dict[str, tuple[int, int]]:
    """``{kind: (files, bytes)}`` for every kind, in ``KINDS`` order."""
    out = dict.fromkeys(KINDS, (0, 0))
    for kind, _, size, _ in cache_files(root):
        files, total = out[kind]
        out[kind] = (files + 1, total + size)
    return out


def trim(max_bytes: int, root: Path | None = None) -> int:
    """Remove the least recently used files until the cache holds at most ``max_bytes``; returns what is left.

    Temporary files are counted but only removed when stale (a live one belongs
    to a process writing now).
    """
    now = time.time()
    files = cache_files(root)
    total = sum(size for _, _, size, _ in files)
    for _, path, size, mtime in sorted(files, key=lambda f: f[3]):
        if total <= max_bytes:
            break
        if _is_temp(path.name) and now - mtime < _STALE_TEMP_S:
            continue
        with contextlib.suppress(OSError):
            path.unlink()
            total -= size
    return total


_ESTIMATES: dict[Path, int] = {}  # cache folder -> its size as this process last knew it
_RESERVE_LOCK = threading.Lock()  # held while scanning: not the lock readers take
_LOCK = threading.Lock()


def reserve(nbytes: int) -> bool:
    """Make room for a new entry of ``nbytes`` before writing it; ``False``: it is larger than the cap."""
    root = cache_root()
    cap = cache_max_bytes()
    if nbytes > cap:
        return False
    with _RESERVE_LOCK:
        total = _ESTIMATES.get(root)
        if total is None or total + nbytes > cap:
            total = trim(max(0, int(cap * _TRIM_TO) - nbytes), root)
        _ESTIMATES[root] = total + nbytes
    return True


def touched(fd: int, st: os.stat_result) -> os.stat_result:
    """Mark the open entry ``fd`` (stat ``st``) as used now (its mtime); returns its new stat."""
    if time.time() - st.st_mtime < _TOUCH_AFTER_S:
        return st
    try:
        os.utime(fd)
        return os.fstat(fd)
    except OSError:
        return st


# ---- checked entries ---------------------------------------------------------------

_VERIFIED: dict[str, tuple[int, int, int, int]] = {}  # path -> identity when its CRC was checked
_VERIFIED_MAX = 8192


def _identity(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _remember_checked(path: Path, st: os.stat_result) -> None:
    with _LOCK:
        if len(_VERIFIED) >= _VERIFIED_MAX:
            _VERIFIED.clear()
        _VERIFIED[str(path)] = _identity(st)


def _was_checked(path: Path, st: os.stat_result) -> bool:
    with _LOCK:
        return _VERIFIED.get(str(path)) == _identity(st)


def discard(path: Path) -> None:
    """Remove a bad entry (it is made again when next needed)."""
    with _LOCK:
        _VERIFIED.pop(str(path), None)
    with contextlib.suppress(OSError):
        path.unlink()


def write_atomic(path: Path, chunks: list[bytes] | tuple[bytes, ...]) -> None:
    """Write an entry: room reserved under the cap, then ``atomic.replacing`` (not durable: remade if lost).

    Never raises ``OSError`` (no cache is only slower).
    """
    from voicecoach.storage.atomic import replacing  # here: a warm `plan` writes nothing

    if not reserve(sum(len(c) for c in chunks)):
        return
    with contextlib.suppress(OSError), replacing(path, durable=False) as f:
        for chunk in chunks:
            f.write(chunk)


# Arrays (tones, prepared speech), little-endian:
#   0   8  magic b"VCARRAY1"
#   8   4  format version (1)
#   12  4  bytes per item (4: float32)
#   16  8  item count
#   24  4  CRC-32 of the payload
#   28  4  CRC-32 of bytes 0..27
#   32  .. payload
_ARRAY_MAGIC = b"VCARRAY1"
_ARRAY_VERSION = 1
_ARRAY_HEAD = struct.Struct("<8sIIQI")
_ARRAY_HEADER_BYTES = _ARRAY_HEAD.size + 4
ARRAY_SUFFIX = ".f32"


def save_array(path: Path | None, x: np.ndarray) -> None:
    """Store a float32 array as a checked entry (atomic; any failure only skips it)."""
    if path is None:
        return
    import numpy as np

    payload = np.ascontiguousarray(x, dtype="<f4")
    head = _ARRAY_HEAD.pack(_ARRAY_MAGIC, _ARRAY_VERSION, 4, len(payload), zlib.crc32(payload.data))
    write_atomic(path, (head, struct.pack("<I", zlib.crc32(head)), payload.tobytes()))


def load_array(path: Path | None, count: int, *, mapped: bool = False) -> np.ndarray | None:
    """The checked float32 array of ``count`` items at ``path`` (read-only; mapped when ``mapped``), or ``None``.

    ``None`` when it is missing; a damaged or foreign one is also removed.
    """
    if path is None:
        return None
    try:
        with open(path, "rb") as f:
            x = _read_array(path, f, count, mapped)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        x = None
    if x is None:
        discard(path)
    return x


def _read_array(path: Path, f, count: int, mapped: bool) -> np.ndarray | None:
    import numpy as np

    st = os.fstat(f.fileno())
    header = f.read(_ARRAY_HEADER_BYTES)
    if not _array_header_ok(header, count) or st.st_size != _ARRAY_HEADER_BYTES + 4 * count:
        return None
    x: np.ndarray
    if mapped:
        x = np.memmap(f, dtype="<f4", mode="r", offset=_ARRAY_HEADER_BYTES, shape=(count,))
    else:
        x = np.frombuffer(f.read(4 * count), dtype="<f4")
    if len(x) != count:
        return None
    if not _was_checked(path, st):
        (crc,) = struct.unpack_from("<I", header, 24)
        if zlib.crc32(x.data) != crc:
            return None
        _remember_checked(path, touched(f.fileno(), st))
    return x


def _array_header_ok(header: bytes, count: int) -> bool:
    if len(header) != _ARRAY_HEADER_BYTES:
        return False
    magic, version, item_bytes, n, _ = _ARRAY_HEAD.unpack_from(header)
    (header_crc,) = struct.unpack_from("<I", header, _ARRAY_HEAD.size)
    return (
        magic == _ARRAY_MAGIC
        and version == _ARRAY_VERSION
        and item_bytes == 4
        and n == count
        and zlib.crc32(header[: _ARRAY_HEAD.size]) == header_crc
    )


# JSON entries (loudness): an object whose "crc32" member is the CRC-32 of the others,
# written compactly with sorted keys (``_canonical``), so a reader computes it again.


def _canonical(data: dict) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode("utf-8")


def save_json(path: Path | None, data: dict) -> None:
    """Store a JSON object as a checked entry (atomic; any failure only skips it)."""
    if path is None:
        return
    body = {k: v for k, v in data.items() if k != "crc32"}
    blob = _canonical({**body, "crc32": zlib.crc32(_canonical(body))})
    write_atomic(path, (blob,))


def load_json(path: Path | None) -> dict | None:
    """The checked JSON object at ``path`` (without its ``crc32``), or ``None``; a bad one is removed."""
    if path is None:
        return None
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            raw = f.read()
            touched(f.fileno(), st)
    except OSError:
        return None
    try:
        data = json.loads(raw)
        crc = data.pop("crc32")
        if not isinstance(data, dict) or zlib.crc32(_canonical(data)) != crc:
            raise ValueError
    except (ValueError, AttributeError, KeyError, TypeError):
        discard(path)
        return None
    return data


def crc_of_file(fd: int, size: int, chunk_bytes: int = 1 << 20) -> int | None:
    """CRC-32 of the first ``size`` bytes of an open file, read in chunks (``None`` if shorter)."""
    crc, pos = 0, 0
    while pos < size:
        raw = os.pread(fd, min(chunk_bytes, size - pos), pos)
        if not raw:
            return None
        crc = zlib.crc32(raw, crc)
        pos += len(raw)
    return crc


def checked_fd(path: Path, fd: int) -> bool:
    """Whether the open file ``fd`` ends with the CRC-32 of the rest (cached per identity); touches it."""
    st = os.fstat(fd)
    if _was_checked(path, st):
        return True
    if st.st_size < 4:
        return False
    (stored,) = struct.unpack("<I", os.pread(fd, 4, st.st_size - 4))
    if crc_of_file(fd, st.st_size - 4) != stored:
        return False
    _remember_checked(path, touched(fd, st))
    return True
