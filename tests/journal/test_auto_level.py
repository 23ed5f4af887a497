"""`play --level auto` (issue 14): the level from the journal, and `list`'s practised marks."""

# ruff: noqa: F811  (pytest fixtures imported from tests/pulse.py are redefined as arguments)
from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta

import pytest

from tests.pty_process import PtyProcess
from tests.pulse import REPO, pulse_server  # noqa: F401
from voicecoach.cli import main
from voicecoach.cli.browse import _practised_mark
from voicecoach.journal import Journal, Practice, Rating
from voicecoach.journal.auto_level import auto_level, choose_level

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def _p(day: int, level: str, *ratings: tuple[int | None, int | None], finished=True, at_s=None):
    t = T0 + timedelta(days=day)
    rechecks = tuple(Rating(f"area{k}", b, a) for k, (b, a) in enumerate(ratings))
    return Practice(
        day,
        "s",
        "S",
        "",
        level,
        "system",
        None,
        t,
        t + timedelta(minutes=15),
        finished,
        at_s,
        None,
        None,
        rechecks,
    )


@pytest.mark.parametrize(
    "practices,level,reason",
    [
        ([], "gentle", "This is your first time with this session, so gentle."),
        (
            [_p(0, "deep", (4, 2), finished=False, at_s=431)],
            "standard",
            "Last time you stopped early at 7:11, so one step gentler: standard.",
        ),
        (
            [_p(0, "gentle", finished=False)],
            "gentle",
            "Last time you stopped early, so gentle again: gentle.",
        ),
        (
            [_p(0, "standard", (2, 3))],
            "gentle",
            "Last time area0 felt tighter after than before, so one step gentler: gentle.",
        ),
        (
            [_p(0, "standard", (4, 3), (2, 4))],
            "gentle",  # one freer, one much tighter: worse
            "Last time area0 and area1 felt tighter after than before, so one step gentler: gentle.",
        ),
        (
            [_p(1, "standard", (4, 2)), _p(0, "gentle", (3, 2))],
            "deep",
            "Your last two sessions finished with area0 feeling freer after, so one step deeper: deep.",
        ),
        (
            [_p(0, "standard", (4, 2)), _p(1, "deep", (3, 2))],
            "deep",  # order given does not matter
            "Your last two sessions finished with area0 feeling freer after, so deep again: deep.",
        ),
        (
            [_p(1, "standard", (4, 2)), _p(0, "standard", (3, 3))],
            "standard",
            "The same level as last time: standard.",
        ),
        (
            [_p(2, "standard", (4, 2)), _p(1, "standard", (3, 2), finished=False)],
            "standard",
            "The same level as last time: standard.",
        ),
        (
            [_p(1, "standard", (4, None)), _p(0, "standard", (3, 2))],
            "standard",
            "The same level as last time: standard.",
        ),  # no after: not known to be better
        ([_p(0, "deep")], "deep", "The same level as last time: deep."),
    ],
)
def test_choose_level(practices, level, reason):
    choice = choose_level(practices)
    assert (choice.level, choice.reason) == (level, reason)


def test_auto_level_reads_the_journal_and_survives_a_damaged_one(tmp_path):
    j = Journal(tmp_path / "j.sqlite3")
    for day, (before, after) in enumerate([(4, 3), (4, 2)]):
        pid = j.start(
            session="upper-back",
            title="U",
            script_sha256="",
            level="standard",
            engine="system",
            started=T0 + timedelta(days=day),
        )
        j.record_answer(pid, "upper-back", before, at_s=1, which="before")
        j.record_answer(pid, "upper-back", after, at_s=2, which="after")
        j.end(pid, finished=True)
    assert auto_level("upper-back", journal=j).level == "deep"
    assert auto_level("feet", journal=j).level == "gentle"
    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(b"nonsense" * 512)
    notices: list[str] = []
    choice = auto_level("upper-back", journal=Journal(bad), notice=notices.append)
    assert choice.level is None and "could not be read" in choice.reason
    assert len(notices) == 1 and notices[0].startswith("the journal could not be read: ")


SCRIPT = """---
title: Auto level
lead_in: 0.2s
end_bell: no
---
# Only
Rest.
[pause 1-3s]
"""


@pytest.mark.slow
def test_play_level_auto_says_why_and_plays_that_level(pulse_server, tmp_path):
    script = tmp_path / "auto.md"
    script.write_text(SCRIPT, encoding="utf-8")
    env = {
        **pulse_server.environ(),
        "VOICECOACH_DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": str(REPO),
    }
    said = []
    for _ in range(2):
        cli = PtyProcess(
            [
                sys.executable,
                "-m",
                "voicecoach.cli",
                "play",
                str(script),
                "--engine",
                "system",
                "--level",
                "auto",
            ],
            env,
        )
        assert cli.wait(timeout_s=60) == 0, bytes(cli.output)
        cli.close()
        said.append(bytes(cli.output).decode("utf-8", "replace"))
    assert (
        "voicecoach: level gentle: This is your first time with this session, so gentle." in said[0]
    )
    assert "voicecoach: level gentle: The same level as last time: gentle." in said[1]
    levels = [p.level for p in Journal(tmp_path / "data" / "journal.sqlite3").practices()]
    assert levels == ["gentle", "gentle"]


def test_list_marks_sessions_never_practised_or_not_for_a_week(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VOICECOACH_DATA_DIR", str(tmp_path / "data"))
    j = Journal()
    now = datetime.now(UTC)
    for name, days in (("upper-back", 1), ("feet", 9)):
        j.start(
            session=name,
            title=name,
            script_sha256="",
            level="standard",
            engine="system",
            started=now - timedelta(days=days),
        )
    assert main(["list", "--engine", "system"]) == 0
    lines = {
        line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line[:1].strip()
    }
    assert lines["upper-back"].endswith("Upper Back Release")
    assert lines["feet"].endswith("(not practised for 9 days)")
    assert lines["wind-down"].endswith("(never practised)")
    assert main(["list", "--json"]) == 0
    records = {r["name"]: r["last_practised"] for r in json.loads(capsys.readouterr().out)}
    assert records["wind-down"] is None
    assert datetime.fromisoformat(records["feet"]) < now - timedelta(days=8)
    assert _practised_mark(now - timedelta(days=7), now) == "  (not practised for 7 days)"
    assert _practised_mark(now - timedelta(days=6, hours=23), now) == ""
