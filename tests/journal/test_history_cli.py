"""`voicecoach history` (issue 14, item 3) on a real journal file in a private data folder."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from voicecoach.cli import main
from voicecoach.journal import Journal
from voicecoach.storage.resources import builtin_scripts_dir

NOW = datetime.now(UTC)


@pytest.fixture
def journal(tmp_path, monkeypatch) -> Journal:
    monkeypatch.setenv("VOICECOACH_DATA_DIR", str(tmp_path / "data"))
    return Journal()


def _practise(j: Journal, session: str, days_ago: float, before, after, *, finished=True, **kw):
    t = NOW - timedelta(days=days_ago)
    pid = j.start(
        session=session,
        title=session.title(),
        script_sha256="0" * 64,
        level=kw.pop("level", "standard"),
        engine="system",
        started=t,
        **kw,
    )
    if before is not None:
        j.record_answer(pid, session, before, at_s=80.0, which="before")
    if after is not None:
        j.record_answer(pid, session, after, at_s=900.0, which="after")
    stopped = {} if finished else {"stopped_at_s": 431.0, "stopped_section": "Higher up, left side"}
    j.end(pid, finished=finished, ended=t + timedelta(minutes=17), **stopped)
    return pid


@pytest.fixture
def filled(journal) -> Journal:
    _practise(journal, "upper-back", 40, 5, 4)
    _practise(journal, "upper-back", 3, 4, 2)
    _practise(journal, "feet", 2, 3, None, finished=False)
    _practise(journal, "upper-back", 1, 4, 1, minutes=17.0)
    return journal


def test_json_lists_practices_newest_first_as_the_issue_says(filled, capsys):
    assert main(["history", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["session"] for r in records] == ["upper-back", "feet", "upper-back", "upper-back"]
    required = {
        "session",
        "title",
        "level",
        "started",
        "ended",
        "finished",
        "stopped_at_s",
        "rechecks",
    }
    assert all(required <= r.keys() for r in records)
    newest, feet = records[0], records[1]
    assert newest["rechecks"] == {"upper-back": {"before": 4, "after": 1}}
    assert (
        newest["finished"] is True and newest["stopped_at_s"] is None and newest["minutes"] == 17.0
    )
    assert feet["rechecks"] == {"feet": {"before": 3, "after": None}}
    assert feet["finished"] is False and feet["stopped_at_s"] == 431.0
    started = [datetime.fromisoformat(r["started"]) for r in records]
    assert all(t.tzinfo is not None for t in started) and started == sorted(started, reverse=True)
    ended = datetime.fromisoformat(newest["ended"])
    assert ended - started[0] == timedelta(minutes=17)


@pytest.mark.parametrize(
    "args,sessions",
    [
        (["--since", "30d"], ["upper-back", "feet", "upper-back"]),
        (["--since", "2w", "upper-back"], ["upper-back", "upper-back"]),
        (["--since", "36h"], ["upper-back"]),
        (["upper-back"], ["upper-back"] * 3),
        ([str(builtin_scripts_dir() / "feet.md")], ["feet"]),  # a path names the same session
        (
            ["--since", (NOW - timedelta(days=2, hours=1)).date().isoformat()],
            ["upper-back", "feet"],
        ),
    ],
)
def test_since_and_session_choose_practices(filled, capsys, args, sessions):
    assert main(["history", "--json", *args]) == 0
    assert [r["session"] for r in json.loads(capsys.readouterr().out)] == sessions


def test_a_wrong_since_is_a_usage_error(filled, capsys):
    assert main(["history", "--since", "yesterday"]) == 2
    assert "--since needs an age like 30d" in capsys.readouterr().err


def test_text_shows_the_counts_a_sparkline_per_area_and_recent_practices(filled, capsys):
    assert main(["history"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("4 practices · ") and "streak 3 days" in lines[0]
    (trend,) = [line for line in lines if "upper-back · upper-back" in line]
    assert "▅▆▇" in trend and "last 4 → 1" in trend  # 1, 2 and 3 freer: rising bars
    assert "feet · feet" in out  # a before without an after: no bar yet
    assert "stopped at 7:11 in 'Higher up, left side'" in out
    assert "17 min" in out


def test_export_writes_a_csv_row_per_practice_and_area(filled, tmp_path, capsys):
    out = tmp_path / "history.csv"
    assert main(["history", "--export", str(out)]) == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [(r["session"], r["before"], r["after"]) for r in rows] == [
        ("upper-back", "4", "1"),
        ("feet", "3", ""),
        ("upper-back", "4", "2"),
        ("upper-back", "5", "4"),
    ]
    assert rows[1]["finished"] == "no" and rows[1]["stopped_section"] == "Higher up, left side"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no leftovers
    assert main(["history", "--export", "-", "feet"]) == 0
    assert len(list(csv.DictReader(io.StringIO(capsys.readouterr().out)))) == 1


def test_svg_draws_before_and_after(filled, tmp_path):
    out = tmp_path / "history.svg"
    assert main(["history", "--svg", str(out), "upper-back"]) == 0
    text = out.read_text(encoding="utf-8")
    assert text.lstrip().startswith("<?xml") and "</svg>" in text
    assert "Upper-Back: upper-back" in text or "upper-back" in text


def test_svg_without_answers_says_so(journal, tmp_path, capsys):
    _practise(journal, "feet", 1, None, None)
    assert main(["history", "--svg", str(tmp_path / "h.svg")]) == 2
    assert "no re-check answers to draw yet" in capsys.readouterr().err
    assert not (tmp_path / "h.svg").exists()


def test_forget_asks_first_or_needs_yes(filled, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["history", "--forget", "upper-back"]) == 2
    assert "add --yes" in capsys.readouterr().err
    assert len(filled.practices()) == 4
    assert main(["history", "--forget", "upper-back", "--yes"]) == 0
    assert capsys.readouterr().out.strip() == "forgot 3 practices of upper-back"
    assert [p.session for p in filled.practices()] == ["feet"]
    assert main(["history", "--forget", "--yes"]) == 0
    assert filled.practices() == ()


def test_an_empty_journal_says_so(journal, capsys):
    assert main(["history"]) == 0
    assert "no practices in the journal yet" in capsys.readouterr().out
    assert main(["history", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_a_damaged_journal_is_one_line(journal, capsys):
    journal.path.parent.mkdir(parents=True)
    journal.path.write_bytes(b"\x00garbage" * 1000)
    assert main(["history"]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("voicecoach: error: the journal file is damaged")
