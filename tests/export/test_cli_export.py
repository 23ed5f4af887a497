"""`voicecoach export` through the CLI (several scripts, --jobs, formats) and `play --from` parsing."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from tests.processes import alive, descendants
from voicecoach.cli import main
from voicecoach.cli.sessions import _parse_from
from voicecoach.errors import UsageError
from voicecoach.session import load

SHORT = """---
title: {title}
teacher: Test Teacher
lead_in: 0.5s
---
# One
Breathe in gently.
[breathe 2-2 x1 guide 0]
# Two
[hold 6s quiet]
"""


def write(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.md"
    path.write_text(SHORT.format(title=name.capitalize()), encoding="utf-8")
    return path


def test_export_several_scripts_in_parallel_to_a_folder(tmp_path):
    a, b = write(tmp_path, "alpha"), write(tmp_path, "beta")
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "voicecoach.cli", "export", str(a), str(b), "-o", str(out)]
        + ["--format", "flac", "--jobs", "2", "--captions", "--engine", "system"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("wrote ") == 2 and "LUFS" in proc.stdout
    for name in ("alpha", "beta"):
        info = sf.info(str(out / f"{name}.flac"))
        assert info.samplerate == 44_100 and info.channels == 2
        with load(tmp_path / f"{name}.md", engine="system") as session:
            assert info.frames == session.plan().duration_samples
        assert (out / f"{name}.vtt").read_text().startswith("WEBVTT")
    assert "\r" not in proc.stderr  # no progress bar when not on a terminal


def test_export_defaults_to_wav_in_the_current_folder(tmp_path, monkeypatch, capsys):
    script = write(tmp_path, "gamma")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert main(["export", str(script), "--engine", "system"]) == 0
    assert sf.info(str(work / "gamma.wav")).channels == 2


def test_export_reports_script_errors_with_their_lines(tmp_path, capsys):
    bad = tmp_path / "bad.md"
    bad.write_text("Hello.\n[hold]\n", encoding="utf-8")
    assert main(["export", str(bad), "-o", str(tmp_path / "bad.wav"), "--engine", "system"]) == 1
    _, err = capsys.readouterr()
    assert f"{bad}:2:2: error: hold needs a duration" in err
    assert not (tmp_path / "bad.wav").exists()


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    path = write(tmp_path_factory.mktemp("from"), "delta")
    with load(path, engine="system") as session:
        return session.plan()


@pytest.mark.parametrize(
    "value,seconds", [("0", 0), ("2", 2), ("0:02", 2), ("2s", 2), ("0:00:03", 3), ("1.5", 1.5)]
)
def test_from_accepts_times(plan, value, seconds):
    assert _parse_from(value, plan) == round(seconds * plan.sample_rate)


@pytest.mark.parametrize("value", ["two", "TWO", "Tw"])
def test_from_accepts_a_section_title_or_its_start(plan, value):
    (two,) = [s for s in plan.sections if s.title == "Two"]
    assert _parse_from(value, plan) == two.start_sample


@pytest.mark.parametrize(
    "value,message", [("9:59:00", "lasts only"), ("warmup", "no time and no section")]
)
def test_from_rejects_what_it_cannot_place(plan, value, message):
    with pytest.raises(UsageError, match=message):
        _parse_from(value, plan)


LONG = """---
title: {title}
lead_in: 0.5s
---
Lie still.
[pause 60m]
[pause 60m]
[pause 60m]
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("signal_name", ["SIGKILL", "SIGTERM"])
def test_export_jobs_workers_die_with_their_parent(tmp_path, signal_name):
    """Killing `export -j` (kill -9 or SIGTERM) leaves no worker rendering and writing files later."""
    import signal
    import time

    for name in ("alpha", "beta"):
        (tmp_path / f"{name}.md").write_text(LONG.format(title=name), encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "voicecoach.cli", "export", "alpha.md", "beta.md", "-o", str(out)]
        + ["--format", "mp3", "--jobs", "2", "--engine", "system"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        workers: set[int] = set()
        while time.monotonic() < deadline and len(workers) < 2:
            time.sleep(0.5)
            workers = descendants(proc.pid)
        assert len(workers) >= 2, "the export never started its workers"
        time.sleep(3)  # well into rendering three hours each
        workers = descendants(proc.pid)
        os.kill(proc.pid, getattr(signal, signal_name))
        proc.wait(timeout=30)
        deadline = time.monotonic() + 15
        while alive(workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not alive(workers), f"workers left running: {alive(workers)}"
        time.sleep(2)
        # nothing written after, and the unwound exports removed their temporary files
        assert not list(out.iterdir()), list(out.iterdir())
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 9)


# ---- issue 11, item 17: what the person asked for, or a clear refusal -------------------------


@pytest.mark.parametrize(
    "name,fmt", [("wd.mp3", "ogg"), ("wd.wav", "flac"), ("wd.ogg", "opus"), ("wd.oga", "mp3")]
)
def test_export_refuses_a_format_that_contradicts_the_extension(tmp_path, capsys, name, fmt):
    script = write(tmp_path, "epsilon")
    target = tmp_path / name
    code = main(["export", str(script), "-o", str(target), "--format", fmt, "--engine", "system"])
    _, err = capsys.readouterr()
    assert code == 2
    assert f"--format {fmt}" in err and f"'{target.suffix}'" in err, err
    assert not target.exists()


@pytest.mark.parametrize("name,fmt", [("wd.oga", "ogg"), ("wd.MP3", "mp3"), ("wd.audio", "wav")])
def test_export_accepts_a_format_that_agrees_with_the_name(tmp_path, name, fmt):
    from voicecoach.export.formats import format_for

    assert format_for(tmp_path / name, fmt) == fmt


def test_export_of_several_scripts_creates_the_output_folder(tmp_path, capsys):
    a, b = write(tmp_path, "zeta"), write(tmp_path, "eta")
    out = tmp_path / "new" / "folder"
    code = main(["export", str(a), str(b), "-o", str(out), "--jobs", "1", "--engine", "system"])
    _, err = capsys.readouterr()
    assert code == 0, err
    assert sf.info(str(out / "zeta.wav")).channels == 2 and (out / "eta.wav").is_file()


def test_export_of_several_scripts_refuses_a_file_as_the_output_folder(tmp_path, capsys):
    a, b = write(tmp_path, "theta"), write(tmp_path, "iota")
    (tmp_path / "file.wav").write_bytes(b"x")
    code = main(["export", str(a), str(b), "-o", str(tmp_path / "file.wav"), "--engine", "system"])
    _, err = capsys.readouterr()
    assert code == 2 and "must be a folder" in err, err


@pytest.fixture(scope="module")
def long_plan(tmp_path_factory):
    path = tmp_path_factory.mktemp("from-long") / "long.md"
    path.write_text("---\ntitle: Long\n---\n# One\nRest.\n[hold 5m quiet]\n", encoding="utf-8")
    with load(path, engine="system") as session:
        return session.plan()


@pytest.mark.parametrize(
    "value,seconds",
    [("2m", 120), ("120", 120), ("2m30s", 150), ("1m 5s", 65), ("90s", 90), ("1:30", 90)],
)
def test_from_accepts_durations_like_the_scripts(long_plan, value, seconds):
    assert _parse_from(value, long_plan) == round(seconds * long_plan.sample_rate)


@pytest.mark.parametrize("value", ["1:75", "0:60", "1:2", "1:60:00", "-5", "nan", "inf", "1e9"])
def test_from_rejects_clock_times_that_are_not_clock_times(long_plan, value):
    with pytest.raises(UsageError, match=r"--from"):
        _parse_from(value, long_plan)
