"""The command line: exit codes, messages a person can act on, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from voicecoach.cli import main

CORPUS = Path(__file__).parent / "corpus"
SPEC_EXAMPLE = CORPUS / "valid" / "spec-example.md"
REPO = Path(__file__).resolve().parent.parent


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_check_valid_script_exits_0(capsys):
    code, out, _ = run(capsys, "check", str(SPEC_EXAMPLE), "--engine", "system")
    assert code == 0
    assert out.strip().endswith("ok (0 errors, 0 warnings)")


def test_check_reports_every_error_with_line_col_and_caret(tmp_path, capsys):
    bad = tmp_path / "bad.md"
    bad.write_text("Hello.\n[hold 45]\n[hodl 30s]\n[breathe x3]\n", encoding="utf-8")
    code, out, _ = run(capsys, "check", str(bad), "--engine", "system")
    assert code == 1
    lines = out.splitlines()
    heads = [line for line in lines if ": error: " in line]
    assert heads[0] == f"{bad}:2:7: error: add a unit: 45s"
    assert heads[1].startswith(f"{bad}:3:2: error: unknown directive 'hodl'; did you mean 'hold'?")
    assert heads[2].startswith(
        f"{bad}:4:2: error: breathe needs a breath pattern, like 4-2-6 or box"
    )
    # the source line and a caret under the column
    i = lines.index(heads[0])
    assert lines[i + 1] == "    [hold 45]"
    assert lines[i + 2] == "          ^"
    assert "FAILED (3 errors" in out


def test_check_json_for_editors(tmp_path, capsys):
    bad = tmp_path / "bad.md"
    bad.write_text("[pause]\n", encoding="utf-8")
    code, out, _ = run(capsys, "check", "--json", str(bad), str(SPEC_EXAMPLE), "--engine", "system")
    assert code == 1
    doc = json.loads(out)
    assert [d["ok"] for d in doc] == [False, True]
    assert doc[0]["diagnostics"][0]["line"] == 1 and doc[0]["diagnostics"][0]["severity"] == "error"


def test_check_warnings_only_exits_0(tmp_path, capsys):
    warn = tmp_path / "warn.md"
    warn.write_text("---\ntitel: Oops\n---\nHello.\n", encoding="utf-8")
    code, out, _ = run(capsys, "check", str(warn), "--engine", "system")
    assert code == 0
    assert "warning:" in out and "title" in out


def test_plan_json_follows_the_schema(capsys):
    code, out, _ = run(capsys, "plan", str(SPEC_EXAMPLE), "--json", "--engine", "system")
    assert code == 0
    doc = json.loads(out)
    assert doc["sample_rate"] == 44_100 and doc["title"] == "Upper Back Release"
    assert {"kind", "start_s", "end_s", "line"} <= set(doc["events"][0])
    assert doc["events"][-1]["end_s"] == doc["duration_s"]


def test_plan_table_shows_sections_and_total(capsys):
    code, out, _ = run(capsys, "plan", str(SPEC_EXAMPLE), "--engine", "system", "--level", "deep")
    assert code == 0
    assert "sections:" in out and "Between the shoulder blades (right)" in out
    assert "total: " in out and "60.00 s" in out  # 30-60s at level deep


@pytest.mark.parametrize(
    "args,code,message",
    [
        (["plan"], 2, "Missing argument"),
        (["plan", "x.md", "--level", "hard"], 2, "'hard' is not one of"),
        (["plan", "x.md", "--rate", "20"], 2, "20 is not in the range 80<=x<=450"),
        (["frobnicate"], 2, "No such command"),
        (["plan", "no-such-file.md"], 1, "no such script file: no-such-file.md"),
        (["plan", "upper-bak"], 1, "did you mean upper-back"),
        (["plan", str(SPEC_EXAMPLE), "--sample-rate", "12345"], 2, "sample rate must be one of"),
        (["export", "a.md", "b.md", "-o", "out.wav"], 2, "-o must be a folder"),
        (["plan", ""], 2, "no script given"),
        (["new", "/proc/no-such-dir/x"], 1, "cannot write /proc/no-such-dir/x.md"),
    ],
)
def test_usage_and_lookup_errors(capsys, args, code, message):
    got, out, err = run(capsys, *args)
    assert got == code
    assert message in out + err
    assert "Traceback" not in out + err


@pytest.mark.parametrize(
    "content",
    [
        b"\xff\xfe\x00garbage\x00\x80",
        b"[" * 5000,
        b"---\n" + b"x: y\n" * 100,
        b"\x00" * 100,
        b"[sides]\n{side}\n",
    ],
)
def test_broken_input_never_prints_a_traceback(tmp_path, content):
    bad = tmp_path / "broken.md"
    bad.write_bytes(content)
    proc = subprocess.run(
        [sys.executable, "-m", "voicecoach.cli", "check", str(bad), "--engine", "system"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    assert f"{bad}:1:" in proc.stdout + proc.stderr


def test_internal_bug_prints_one_line_and_keeps_the_report(monkeypatch, capsys):
    import voicecoach.session

    def boom(*a, **k):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(voicecoach.session, "load", boom)
    code, out, err = run(capsys, "plan", str(SPEC_EXAMPLE))
    assert code == 1
    (line,) = err.strip().splitlines()
    assert "internal error (RuntimeError: simulated bug)" in line
    report = Path(line.rsplit("full report in ", 1)[1])
    assert "Traceback" in report.read_text() and "simulated bug" in report.read_text()
    report.unlink()


def test_new_writes_a_script_that_passes_check(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "new", "evening-stretch")
    assert code == 0 and (tmp_path / "evening-stretch.md").exists()
    text = (tmp_path / "evening-stretch.md").read_text()
    for directive in (
        "[pause",
        "[place",
        "[breathe",
        "[hold",
        "[wipers",
        "[roll",
        "[bell",
        "[sides",
        "[include",
    ):
        assert directive in text, directive
    assert "title: Evening stretch" in text
    for level in ("gentle", "standard", "deep"):
        code, out, _ = run(
            capsys, "check", "evening-stretch.md", "--engine", "system", "--level", level
        )
        assert code == 0 and "0 errors, 0 warnings" in out, out
    code, _, err = run(capsys, "new", "evening-stretch")
    assert code == 1 and "already exists" in err


def test_list_json_names_every_builtin_session(capsys):
    code, out, _ = run(capsys, "list", "--json", "--engine", "system")
    assert code == 0
    doc = {d["name"]: d for d in json.loads(out)}
    assert {"upper-back", "wind-down", "full-upper-body"} <= set(doc)
    assert "parts" not in "".join(doc)
    ub = doc["upper-back"]
    assert ub["equipment"] and ub["muscles"]
    gentle, standard, deep = (ub["duration_s"][k] for k in ("gentle", "standard", "deep"))
    assert gentle < standard < deep


def test_cache_info_and_clear(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("VOICECOACH_CACHE_DIR", str(tmp_path / "cache"))
    run(capsys, "plan", str(SPEC_EXAMPLE), "--engine", "system")
    code, out, _ = run(capsys, "cache", "info")
    assert code == 0 and str(tmp_path / "cache") in out
    entries = int(out.split("speech:")[1].split()[0])
    assert entries > 10
    (tmp_path / "cache" / "tones").mkdir(parents=True, exist_ok=True)
    (tmp_path / "cache" / "tones" / "t.npy").write_bytes(b"x" * 10)
    code, out, _ = run(capsys, "cache", "info")
    assert "tones: 1 files" in out
    code, out, _ = run(capsys, "cache", "clear")
    assert (
        code == 0
        and f"removed {entries} entries (and 1 loudness, tone and prepared-speech files)" in out
    )
    assert not (tmp_path / "cache" / "tones" / "t.npy").exists()


def test_voices_lists_english_system_voices(capsys):
    code, out, _ = run(capsys, "voices", "--engine", "system")
    assert code == 0
    assert "English" in out


def test_console_script_is_installed():
    exe = Path(sys.executable).parent / "voicecoach"
    proc = subprocess.run(
        [str(exe), "--help"], capture_output=True, text=True, env=dict(os.environ)
    )
    assert proc.returncode == 0 and "play" in proc.stdout and "export" in proc.stdout


def test_speech_progress_reports_each_synthesised_phrase(tmp_path, monkeypatch):
    from voicecoach.speech import open_speech

    monkeypatch.setenv("VOICECOACH_CACHE_DIR", str(tmp_path / "cache"))
    calls = []
    with open_speech("system", voice=None, rate_wpm=150) as speech:
        speech.progress = lambda done, total: calls.append((done, total))
        speech.prepare(["One phrase.", "Another phrase.", "One phrase.", "A third."])
        speech.prepare(["Another phrase."])  # cached now: nothing to report
    assert calls[0] == (0, 3) and calls[-1] == (3, 3) and len(calls) == 4


def test_list_answers_at_once_on_an_empty_cache_with_estimates(tmp_path, monkeypatch, capsys):
    """No synthesis for `list`: lengths estimated from the rate, marked ~, until the speech is cached."""
    monkeypatch.setenv("VOICECOACH_CACHE_DIR", str(tmp_path / "cache"))
    code, out, _ = run(capsys, "list", "--engine", "system", "--json")
    assert code == 0
    infos = {i["name"]: i for i in json.loads(out)}
    assert infos and all(i["estimated"] for i in infos.values())
    assert not list((tmp_path / "cache").rglob("*.vcs"))  # nothing was synthesised
    estimate = infos["wind-down"]["duration_s"]["standard"]
    assert run(capsys, "plan", "wind-down", "--engine", "system")[0] == 0
    assert list((tmp_path / "cache").rglob("*.vcs"))  # plan synthesised (the check above can fail)
    code, out, _ = run(capsys, "list", "--engine", "system", "--json")
    exact = {i["name"]: i for i in json.loads(out)}["wind-down"]
    assert exact["estimated"] is False
    assert abs(exact["duration_s"]["standard"] - estimate) <= 0.15 * estimate
    code, out, _ = run(capsys, "list", "--engine", "system")
    assert "~" in out and "estimated from the speaking rate" in out


def test_list_max_filters_by_length_and_show_lists_sections(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VOICECOACH_CACHE_DIR", str(tmp_path / "cache"))
    code, out, _ = run(capsys, "list", "--engine", "system", "--max", "10m", "--json")
    short = json.loads(out)
    assert short and all(i["duration_s"]["standard"] <= 600 for i in short)
    code, out, _ = run(capsys, "list", "--engine", "system", "--json")
    assert len(json.loads(out)) > len(short)
    code, _, err = run(capsys, "list", "--max", "soon")
    assert code != 0 and "--max needs a duration, like 15m" in err
    code, out, _ = run(capsys, "show", "back of the neck", "--engine", "system")
    assert code == 0
    assert out.startswith("Back of the Neck") and "sections:" in out and "Base of the skull" in out
    assert "length (gentle / standard / deep):" in out and "equipment:" in out


@pytest.mark.parametrize(
    "front,where,message",
    [
        ("palette: nope", "2:10", "unknown palette 'nope'"),
        ("palette: p.json", "2:10", "palette is not usable JSON"),
        ("voice: zzzz-no-such-voice", "2:8", "unknown voice 'zzzz-no-such-voice'"),
    ],
)
def test_front_matter_failures_name_their_line(tmp_path, capsys, front, where, message):
    """An unknown palette or voice is reported at its front-matter line (issue 11, item 11)."""
    (tmp_path / "p.json").write_text('{"base": "warm", "bell": {"length_s": ' + "9" * 5000 + "}}")
    script = tmp_path / "s.md"
    script.write_text(f"---\n{front}\n---\nRest.\n", encoding="utf-8")
    code, out, err = run(capsys, "check", str(script), "--engine", "system")
    assert code == 1
    assert f"s.md:{where}: error: " in out and message in out, out + err
    assert "internal error" not in out + err
