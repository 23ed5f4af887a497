"""Hardening against hostile folders and scripts (issue 11, security items).

Each test plants what an attacker could leave beside a shared session (a
Python module, a FIFO, an escape sequence, a palette path) and checks that
it does nothing.
"""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import voicecoach
from voicecoach.cli import cli, main
from voicecoach.library import write_new_script
from voicecoach.playback.status import StatusLine
from voicecoach.session import load
from voicecoach.sound import decisions, limiter, render
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


# -- 3. control characters from a script are shown escaped ---------------------

# The parser refuses C0 controls such as ESC, but its diagnostics quote the
# line; C1 controls (CSI as one character, U+009B) and bidi overrides
# (U+202E) are allowed in text and reach `plan`, titles and the status line.
ESC_SCRIPT = "---\ntitle: Red \x1b[31mTitle\n---\nBreathe \x1b[31m in.\n"
HOSTILE_TEXT = "Breathe \x9b31m in \x9b2J and \u202eout."
HOSTILE = f"""---
title: Red \x9b31mTitle\u202e
teacher: Test Teacher
lead_in: 0.5s
---
# Side \x9d0;pwned\x9c one
{HOSTILE_TEXT}
[hold 2s quiet]
"""
_RAW = ("\x1b", "\x9b", "\x9c", "\x9d", "\u202e", "\x07")


def _assert_no_raw_controls(text: str) -> None:
    for ch in _RAW:
        assert ch not in text, f"raw {ch!r} reached the terminal"


@pytest.fixture
def hostile(tmp_path) -> Path:
    path = tmp_path / "hostile.md"
    path.write_text(HOSTILE, encoding="utf-8")
    return path


def test_diagnostic_caret_lines_show_escape_sequences_escaped(tmp_path):
    bad = tmp_path / "bad.md"
    bad.write_text(ESC_SCRIPT, encoding="utf-8")
    result = CliRunner().invoke(cli, ["check", str(bad), "--engine", "system"], color=True)
    assert result.exit_code == 1
    _assert_no_raw_controls(result.output)
    lines = result.stdout.splitlines()
    for line_no, col, source in [
        (2, 12, "title: Red \\x1b[31mTitle"),
        (4, 9, "Breathe \\x1b[31m in."),
    ]:
        head = f"{bad}:{line_no}:{col}: error: character U+001B is not allowed in a script"
        (i,) = [n for n, line in enumerate(lines) if line.startswith(head)]
        assert lines[i + 1] == f"    {source}"
        assert lines[i + 2] == " " * (4 + col - 1) + "^"  # under the backslash of \x1b


def test_plan_table_shows_control_characters_escaped(hostile):
    result = CliRunner().invoke(cli, ["plan", str(hostile), "--engine", "system"], color=True)
    assert result.exit_code == 0, result.output
    _assert_no_raw_controls(result.output)
    head = result.stdout.splitlines()[0]
    assert head.startswith("Red \\x9b31mTitle\\u202e  (")
    assert "Breathe \\x9b31m in \\x9b2J and \\u202eout." in result.stdout
    assert "Side \\x9d0;pwned\\x9c one" in result.stdout


def test_plan_json_escapes_control_characters_as_json(hostile):
    result = CliRunner().invoke(
        cli, ["plan", str(hostile), "--json", "--engine", "system"], color=True
    )
    assert result.exit_code == 0, result.output
    _assert_no_raw_controls(result.output)
    doc = json.loads(result.stdout)  # the same text, written with \\u escapes
    assert doc["title"] == "Red \x9b31mTitle\u202e"
    assert HOSTILE_TEXT in [e.get("text") for e in doc["events"]]


def test_error_messages_escape_text_from_the_script(tmp_path):
    script = tmp_path / "voice.md"
    script.write_text("---\ntitle: T\nvoice: evil\x9b2J\u202e\n---\nHello.\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["check", str(script), "--engine", "system"], color=True)
    assert result.exit_code == 1
    _assert_no_raw_controls(result.output)
    assert "evil\\x9b2J\\u202e" in result.output


def test_status_line_escapes_section_titles():
    out = io.StringIO()
    status = StatusLine(out)
    status.show("playing 0:01/0:10  Side \x1b]0;pwned\x07  | Breathe \x9b2J |", key="a")
    status.message("stopped in 'Side \u202eone'")
    _assert_no_raw_controls(out.getvalue())
    assert "Side \\x1b]0;pwned\\x07" in out.getvalue() and "\\u202eone" in out.getvalue()


# -- 4. a script's palette stays inside its folder tree or the built-ins --------


def _palette_json(name: str) -> str:
    return json.dumps({"base": "warm", "name": name, "bell": {"fundamental_hz": 150.0}})


def _script_with_palette(folder: Path, palette: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "s.md"
    script.write_text(
        f"---\ntitle: Palette\npalette: {palette}\n---\nHello.\n[bell]\n", encoding="utf-8"
    )
    return script


@pytest.mark.parametrize(
    "palette",
    ["/etc/passwd", "../outside.json", "{outside}", "linked.json", "sub/../../outside.json"],
)
def test_a_script_cannot_load_a_palette_from_outside_its_folder(tmp_path, capsys, palette):
    (tmp_path / "outside.json").write_text(_palette_json("outside"), encoding="utf-8")
    folder = tmp_path / "session"
    script = _script_with_palette(folder, palette.format(outside=tmp_path / "outside.json"))
    (folder / "linked.json").symlink_to(tmp_path / "outside.json")
    (folder / "sub").mkdir()
    code = main(["check", str(script), "--engine", "system"])
    out, _ = capsys.readouterr()
    assert code == 1
    assert "leads outside this script's folder and the built-in palettes" in out
    assert "not valid JSON" not in out  # refused before it was read


def test_a_palette_inside_the_script_folder_tree_still_loads(tmp_path, capsys):
    folder = tmp_path / "session"
    (folder / "sounds").mkdir(parents=True)
    (folder / "sounds" / "mine.json").write_text(_palette_json("mine"), encoding="utf-8")
    script = _script_with_palette(folder, "sounds/mine.json")
    assert main(["check", str(script), "--engine", "system"]) == 0
    with load(script, engine="system") as session:
        assert session.palette.name == "mine"
    builtin = _script_with_palette(tmp_path / "b", "bright")
    with load(builtin, engine="system") as session:
        assert session.palette.name == "bright"


# -- 4. derived-cache files are written through exclusive new temporary files ---
# Before, each writer opened a temporary name it could predict (pid, thread id)
# with open(..., "wb"), which follows a link planted at that name.


def _planted_links(folder: Path, names: list[str], victim: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).symlink_to(victim)


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n", encoding="utf-8")
    return victim


def _ids() -> tuple[int, int]:
    return os.getpid(), threading.get_ident()


def test_tone_and_prepared_speech_files_do_not_follow_planted_links(tmp_path):
    victim = _victim(tmp_path)
    folder = tmp_path / "cache" / "tones"
    target = folder / "abc.npy"
    pid, tid = _ids()
    _planted_links(folder, [f"abc.{pid}.{tid}.tmp"], victim)
    x = np.linspace(-0.5, 0.5, 1000, dtype=np.float32)
    render._save_array(target, x)
    assert victim.read_text(encoding="utf-8") == "keep me\n"
    assert not target.is_symlink() and np.array_equal(render._load_array(target, len(x)), x)
    assert stat.S_IMODE(target.stat().st_mode) & 0o077 == 0  # private, like the speech cache
    assert sorted(p.name for p in folder.iterdir()) == sorted(["abc.npy", f"abc.{pid}.{tid}.tmp"])


def test_loudness_entries_do_not_follow_planted_links(tmp_path):
    victim = _victim(tmp_path)
    folder = tmp_path / "cache" / "loudness"
    target = folder / "abc.json"
    pid, _ = _ids()
    _planted_links(folder, [f"abc.{pid}.tmp"], victim)
    made = {"gain_db": 1.5, "limiter": True}
    decisions.update_cache(target, decision=("export-lossless", made))
    assert victim.read_text(encoding="utf-8") == "keep me\n"
    assert not target.is_symlink()
    assert decisions.cached_decision(target, "export-lossless") == made


def test_limiter_spans_do_not_follow_planted_links(tmp_path):
    victim = _victim(tmp_path)
    folder = tmp_path / "cache" / "loudness"
    target = folder / "abc.limiter.bin"
    pid, tid = _ids()
    _planted_links(folder, [f"abc.limiter.bin.{pid}.{tid}.tmp"], victim)
    writer = limiter.SpanWriter(target, b"k" * 16)
    writer(0, np.ones(4))
    writer.finish()
    assert victim.read_text(encoding="utf-8") == "keep me\n"
    assert target.is_file() and not target.is_symlink()
    assert [p.name for p in folder.iterdir() if p.name.endswith(".tmp")] == [
        f"abc.limiter.bin.{pid}.{tid}.tmp"
    ]  # only the planted link: no temporary file left behind


def test_new_script_does_not_follow_a_planted_link(tmp_path):
    victim = _victim(tmp_path)
    folder = tmp_path / "scripts"
    _planted_links(folder, [f".mine.md.tmp-{os.getpid()}"], victim)
    path = write_new_script("mine", folder)
    assert victim.read_text(encoding="utf-8") == "keep me\n"
    assert path == folder / "mine.md" and path.read_text(encoding="utf-8").startswith("---")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask  # an ordinary file, not 0600
