"""Audio and captions committed together or not at all; stale ``.part`` files cleaned, live ones kept.

Real exports of a real script through the system engine (eSpeak NG), in both
writing paths: the encoder in a forked process, and in this one
(``VOICECOACH_NO_FORK``).
"""

from __future__ import annotations

import errno
import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from voicecoach import session as session_mod
from voicecoach.errors import ExportError
from voicecoach.export.writer import export_plan
from voicecoach.storage import atomic as atomic_mod
from voicecoach.storage.atomic import clean_stale_parts

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """---
title: {title}
engine: system
lead_in: 0.5s
---
{line}
[pause 1s]
"""
FIRST = SCRIPT.format(title="First", line="Lie on your back.")
SECOND = SCRIPT.format(title="Second", line="Roll onto your side and rest a while.")


def _export(folder: Path, text: str, name: str = "out.wav", **kw):
    script = folder / f"{abs(hash(text))}.md"
    script.write_text(text, encoding="utf-8")
    with session_mod.load(script) as session:
        return session.export(folder / name, captions=True, **kw)


def _parts(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".part-" in p.name)


@pytest.fixture(params=["fork", "no-fork"])
def writer(request, monkeypatch):
    """Both writing paths: encoder in a forked process, or in this one."""
    if request.param == "no-fork":
        monkeypatch.setenv("VOICECOACH_NO_FORK", "1")
    else:
        monkeypatch.delenv("VOICECOACH_NO_FORK", raising=False)
    return request.param


@pytest.fixture
def earlier(tmp_path):
    """A folder holding an earlier export (audio and captions) and their bytes."""
    result = _export(tmp_path, FIRST)
    assert result.captions_path is not None
    return tmp_path, result.path.read_bytes(), result.captions_path.read_bytes()


def test_a_full_disk_while_writing_captions_keeps_the_earlier_audio_and_captions(
    earlier, writer, monkeypatch
):
    folder, audio, captions = earlier

    def full(part, text):
        part.write_text(text[:10], encoding="utf-8")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic_mod, "_write_text", full)
    with pytest.raises(ExportError) as e:
        _export(folder, SECOND)
    assert str(e.value).startswith(f"disk full writing {folder / 'out.vtt'}")
    assert "out.wav and out.vtt are untouched" in str(e.value)
    assert (folder / "out.wav").read_bytes() == audio
    assert (folder / "out.vtt").read_bytes() == captions
    assert _parts(folder) == []


def test_captions_target_made_a_folder_during_the_export_keeps_the_earlier_audio(earlier, writer):
    folder, audio, _ = earlier
    vtt = folder / "out.vtt"

    def progress(done, total):  # after the up-front checks: the name becomes a folder
        if vtt.is_file():
            vtt.unlink()
            vtt.mkdir()

    with pytest.raises(ExportError, match=r"out\.vtt is a folder, not a regular file"):
        _export(folder, SECOND, progress=progress)
    assert (folder / "out.wav").read_bytes() == audio
    assert vtt.is_dir() and list(vtt.iterdir()) == []
    assert _parts(folder) == []


@pytest.mark.parametrize("before", ["earlier files", "no files"])
def test_a_failed_captions_rename_puts_the_earlier_audio_back(
    tmp_path, writer, monkeypatch, before
):
    if before == "earlier files":
        _export(tmp_path, FIRST)
        audio = (tmp_path / "out.wav").read_bytes()
        captions = (tmp_path / "out.vtt").read_bytes()
    real = os.replace
    renamed = []

    def replace(src, dst, *a, **kw):
        if str(dst).endswith(".vtt"):
            raise OSError(errno.EIO, "Input/output error")
        renamed.append(Path(dst).name)
        return real(src, dst, *a, **kw)

    monkeypatch.setattr(atomic_mod.os, "replace", replace)
    with pytest.raises(ExportError, match=r"could not write .*out\.vtt: Input/output error"):
        _export(tmp_path, SECOND)
    assert "out.wav" in renamed  # the audio really was renamed first, then put back
    if before == "earlier files":
        assert (tmp_path / "out.wav").read_bytes() == audio
        assert (tmp_path / "out.vtt").read_bytes() == captions
    else:
        assert not (tmp_path / "out.wav").exists() and not (tmp_path / "out.vtt").exists()
    assert _parts(tmp_path) == []


def test_without_hard_links_the_earlier_audio_is_put_back_from_a_copy(earlier, writer, monkeypatch):
    folder, audio, captions = earlier
    real = os.replace

    def no_links(src, dst, *a, **kw):  # as on FAT or some FUSE file systems
        raise OSError(errno.EPERM, "Operation not permitted")

    def replace(src, dst, *a, **kw):
        if str(dst).endswith(".vtt"):
            raise OSError(errno.EIO, "Input/output error")
        return real(src, dst, *a, **kw)

    monkeypatch.setattr(atomic_mod.os, "link", no_links)
    monkeypatch.setattr(atomic_mod.os, "replace", replace)
    with pytest.raises(ExportError, match=r"out\.vtt: Input/output error"):
        _export(folder, SECOND)
    assert (folder / "out.wav").read_bytes() == audio
    assert (folder / "out.vtt").read_bytes() == captions
    assert _parts(folder) == []
    monkeypatch.setattr(atomic_mod.os, "replace", real)
    result = _export(folder, SECOND)  # and a commit that succeeds removes the copy
    assert result.path.read_bytes() != audio and _parts(folder) == []


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_the_next_export_removes_stale_parts_and_only_voicecoachs(tmp_path, writer):
    dead = _dead_pid()
    stale = [
        f".out.wav.part-{dead}-deadbeef",  # the same target's
        f".out.vtt.part-{dead}-0badf00d",  # its captions'
        f".other.mp3.part-{dead}-12345678",  # another export's in the folder
    ]
    foreign = [
        ".out.wav.part-notours",  # not voicecoach's pattern
        f".out.wav.part-{dead}-DEADBEEF",
        f".notes.txt.part-{dead}-12345678",  # not a file voicecoach writes
        f"out.wav.part-{dead}-12345678",
    ]
    for name in stale + foreign:
        (tmp_path / name).write_bytes(b"left over")
    result = _export(tmp_path, FIRST)
    assert result.path.is_file()
    assert _parts(tmp_path) == sorted(foreign)


def test_a_part_of_a_living_process_is_kept(tmp_path, writer):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        live = tmp_path / f".out.wav.part-{sleeper.pid}-cafef00d"
        live.write_bytes(b"being written")
        _export(tmp_path, FIRST)
        assert live.read_bytes() == b"being written"
    finally:
        sleeper.kill()
        sleeper.wait()
    _export(tmp_path, FIRST)  # its writer gone: stale now
    assert not live.exists()


def held_export(out: str, flag: str, go: str) -> None:
    """Run in a child process: export, holding still after the first block until ``go`` exists."""
    from tests.export.test_export import make_plan, speech_lookup
    from voicecoach.export import encoder as encoder_mod
    from voicecoach.sound.palette import load_palette

    real = encoder_mod._write_block

    def held(f, block):
        real(f, block)
        Path(flag).touch()
        deadline = time.monotonic() + 120
        while not Path(go).exists() and time.monotonic() < deadline:
            time.sleep(0.02)

    encoder_mod._write_block = held
    export_plan(make_plan(), speech_lookup, out, palette=load_palette(None))


def test_a_running_exports_part_survives_another_export_into_the_folder(tmp_path, writer):
    target, flag, go = tmp_path / "slow.wav", tmp_path / "writing", tmp_path / "go"
    code = (
        "from tests.export.test_export_commit import held_export; "
        f"held_export({str(target)!r}, {str(flag)!r}, {str(go)!r})"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while not flag.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the child never started writing"
            time.sleep(0.05)
        (running,) = _parts(tmp_path)
        assert f"-{proc.pid}-" in running
        _export(tmp_path, FIRST)
        _export(tmp_path, FIRST, name="slow.wav")  # even into the same target
        assert running in _parts(tmp_path)
    finally:
        go.touch()
        _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert running not in _parts(tmp_path)


def test_the_lock_tells_a_live_writer_from_a_reused_pid(tmp_path):
    target = tmp_path / "out.wav"
    mine = os.getpid()  # a living pid: as if reused by an unrelated process
    locked = tmp_path / f".out.wav.part-{mine}-00000001"
    unlocked = tmp_path / f".out.wav.part-{mine}-00000002"
    for p in (locked, unlocked):
        p.write_bytes(b"x")
    with open(locked, "rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert clean_stale_parts(target) == []  # a living pid, lately changed: kept
        # unchanged for longer than stale_after_s and nobody holds its lock: stale
        assert clean_stale_parts(target, stale_after_s=0.0) == [unlocked]
        assert locked.exists()  # its writer holds the lock: never removed
    dead_locked = tmp_path / f".out.wav.part-{_dead_pid()}-00000003"
    dead_locked.write_bytes(b"x")
    with open(dead_locked, "rb") as held:  # e.g. a forked encoder outliving its parent a moment
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert clean_stale_parts(target) == []
    assert clean_stale_parts(target) == [dead_locked]


def test_a_successful_export_replaces_both_and_leaves_nothing_aside(earlier, writer):
    folder, audio, captions = earlier
    result = _export(folder, SECOND)
    assert result.path.read_bytes() != audio
    assert result.captions_path is not None
    assert "Roll onto your side" in result.captions_path.read_text(encoding="utf-8")
    assert _parts(folder) == []


def test_captions_may_not_take_the_audio_files_own_name(tmp_path):
    with pytest.raises(ExportError, match=r"captions of .*out\.vtt would have its very name"):
        _export(tmp_path, FIRST, name="out.vtt", fmt="wav")
    assert list(tmp_path.iterdir()) == [next(tmp_path.glob("*.md"))]
