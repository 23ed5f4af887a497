"""Hardening against hostile folders and scripts (issue 11, security items).

Each test plants what an attacker could leave beside a shared session (a
Python module, a FIFO, an escape sequence, a palette path) and checks that
it does nothing.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import voicecoach
from voicecoach.cli import main
from voicecoach.speech.worker import Worker

# Standard-library names the speech worker and multiprocessing's spawn children
# import while they start (the issue reproduced it with queue.py).
_PLANTED_NAMES = ("queue", "pickle", "struct", "threading", "tempfile", "socket", "subprocess")

SHORT = """---
title: {title}
teacher: Test Teacher
lead_in: 0.5s
---
# One
Breathe in gently.
[hold 2s quiet]
"""


def _plant_modules(folder: Path) -> Path:
    """Write modules that leave a marker file when imported; return the marker's path."""
    marker = folder / "planted-module-ran"
    for name in _PLANTED_NAMES:
        (folder / f"{name}.py").write_text(
            f"open({str(marker)!r}, 'a').write({name!r} + '\\n')\n", encoding="utf-8"
        )
    return marker


def test_speech_worker_ignores_modules_in_the_working_folder(tmp_path, monkeypatch):
    marker = _plant_modules(tmp_path)
    monkeypatch.chdir(tmp_path)
    worker = Worker("builtins:dict", {"a": 1}, label="test")
    try:
        assert worker.call("get", "a") == 1
    finally:
        worker.close()
    assert not marker.exists(), marker.read_text()


def test_check_in_a_folder_with_a_planted_module_runs_none_of_it(tmp_path):
    """The issue's reproduction: `voicecoach check` of a script beside a planted queue.py."""
    marker = _plant_modules(tmp_path)
    script = tmp_path / "session.md"
    script.write_text(SHORT.format(title="Planted"), encoding="utf-8")
    proc = _run_cli(tmp_path, "check", "session.md", "--engine", "system")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not marker.exists(), marker.read_text()


def test_parallel_export_children_ignore_modules_in_the_working_folder(tmp_path):
    """`export --jobs 2`: multiprocessing's spawn children start as `python -c` too."""
    for name in ("alpha", "beta"):
        (tmp_path / f"{name}.md").write_text(SHORT.format(title=name), encoding="utf-8")
    (tmp_path / "out").mkdir()
    marker = _plant_modules(tmp_path)
    proc = _run_cli(
        tmp_path,
        *("export", "alpha.md", "beta.md", "-o", "out", "--format", "wav", "--jobs", "2"),
        *("--engine", "system"),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "out" / "alpha.wav").is_file() and (tmp_path / "out" / "beta.wav").is_file()
    assert not marker.exists(), marker.read_text()


def _run_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI in ``cwd`` as the installed console script does: cwd not on sys.path."""
    code = "import sys; del sys.path[0]; from voicecoach.cli import main; sys.exit(main())"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        env=_env_with_this_tree(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def _env_with_this_tree() -> dict[str, str]:
    env = dict(os.environ)
    tree = str(Path(voicecoach.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([tree, *filter(None, [env.get("PYTHONPATH")])])
    return env


# -- 2. export -o never replaces what is not a regular file --------------------


def _special_target(kind: str, folder: Path) -> Path:
    """An existing export target that is not a regular file."""
    path = folder / "out.wav"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "symlink":
        victim = folder / "victim.txt"
        victim.write_text("keep me\n", encoding="utf-8")
        path.symlink_to(victim)
    elif kind == "dangling symlink":
        path.symlink_to(folder / "nowhere.wav")
    elif kind == "device":
        if os.geteuid() != 0:
            pytest.skip("making a device node needs root")
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))  # like /dev/null
    else:
        raise AssertionError(kind)
    return path


def _kind_of(path: Path) -> int:
    return stat.S_IFMT(path.lstat().st_mode)


@pytest.mark.parametrize(
    "kind,word",
    [
        ("fifo", "a FIFO"),
        ("symlink", "a symbolic link"),
        ("dangling symlink", "a symbolic link"),
        ("device", "a device"),
    ],
)
def test_export_refuses_a_target_that_is_not_a_regular_file(tmp_path, capsys, kind, word):
    script = tmp_path / "s.md"
    script.write_text(SHORT.format(title="Target"), encoding="utf-8")
    target = _special_target(kind, tmp_path)
    before = _kind_of(target)
    code = main(["export", str(script), "-o", str(target), "--engine", "system"])
    _, err = capsys.readouterr()
    assert code == 1
    assert f"{target} is {word}, not a regular file" in err
    assert _kind_of(target) == before  # still there, untouched
    if kind == "symlink":
        assert (tmp_path / "victim.txt").read_text(encoding="utf-8") == "keep me\n"
    assert not list(tmp_path.glob(".out.wav.part-*"))


def test_export_refuses_a_captions_target_that_is_not_a_regular_file(tmp_path, capsys):
    script = tmp_path / "s.md"
    script.write_text(SHORT.format(title="Captions"), encoding="utf-8")
    os.mkfifo(tmp_path / "out.vtt")
    code = main(
        ["export", str(script), "-o", str(tmp_path / "out.wav"), "--captions", "--engine", "system"]
    )
    _, err = capsys.readouterr()
    assert code == 1
    assert f"{tmp_path / 'out.vtt'} is a FIFO, not a regular file" in err
    assert stat.S_ISFIFO((tmp_path / "out.vtt").lstat().st_mode)
    assert not (tmp_path / "out.wav").exists()  # refused before any audio was written


def test_export_replaces_an_existing_regular_file(tmp_path, capsys):
    script = tmp_path / "s.md"
    script.write_text(SHORT.format(title="Regular"), encoding="utf-8")
    target = tmp_path / "out.wav"
    target.write_bytes(b"old")
    assert main(["export", str(script), "-o", str(target), "--engine", "system"]) == 0
    assert target.read_bytes()[:4] == b"RIFF"
