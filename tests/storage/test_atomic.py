"""``storage.atomic.replacing``: the one way a single file is written whole or not at all."""

from __future__ import annotations

import os
import stat

import pytest

from voicecoach.storage import atomic


def _names(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_the_target_is_replaced_whole_and_no_temporary_file_stays(tmp_path):
    target = tmp_path / "entry.bin"
    target.write_bytes(b"old")
    with atomic.replacing(target, prefix=".tmp-", suffix=".vcs") as f:
        f.write(b"new ")
        (temp,) = [n for n in _names(tmp_path) if n != "entry.bin"]
        assert temp.startswith(".tmp-") and temp.endswith(".vcs")  # beside it, named as asked
        assert target.read_bytes() == b"old"  # nothing seen before the block ends
        f.write(b"bytes")
    assert target.read_bytes() == b"new bytes"
    assert _names(tmp_path) == ["entry.bin"]


def test_a_failed_write_leaves_the_target_as_it_was(tmp_path):
    target = tmp_path / "entry.bin"
    target.write_bytes(b"old")
    with pytest.raises(OSError, match="disk full"), atomic.replacing(target) as f:
        f.write(b"half")
        raise OSError("disk full")
    assert target.read_bytes() == b"old"
    assert _names(tmp_path) == ["entry.bin"]


def test_a_failed_rename_removes_the_temporary_file(tmp_path):
    target = tmp_path / "a-folder"
    target.mkdir()  # a file cannot be renamed over a folder
    with pytest.raises(OSError), atomic.replacing(target) as f:
        f.write(b"x")
    assert _names(tmp_path) == ["a-folder"]


def test_the_folder_is_made_and_permissions_follow_private(tmp_path):
    private = tmp_path / "new" / "cache.bin"
    with atomic.replacing(private, durable=False) as f:
        f.write(b"x")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    shared = tmp_path / "script.md"
    with atomic.replacing(shared, private=False) as f:
        f.write(b"x")
    assert stat.S_IMODE(shared.stat().st_mode) == 0o666 & ~atomic.umask()


@pytest.mark.parametrize("durable", [True, False])
def test_durable_means_fsync(tmp_path, monkeypatch, durable):
    synced = []
    real = os.fsync

    def counted(fd):
        synced.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", counted)  # defined in os; atomic calls os.fsync
    with atomic.replacing(tmp_path / "f", durable=durable) as f:
        f.write(b"x")
    assert bool(synced) == durable
    if durable:
        assert len(synced) == 2  # the file, then its folder after the rename
