"""The practice journal (issue 14): a real SQLite file, real processes writing and locking it,
damaged files and a read-only folder; none of them may stop a session."""

from __future__ import annotations

import ctypes
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.pulse import REPO
from voicecoach.errors import JournalError, UsageError, VoicecoachError
from voicecoach.journal import Journal, Practice, Rating, Stats, schema, stats, trends
from voicecoach.journal.recorder import PlayRecord, recheck_turns, section_at, session_key
from voicecoach.session import load

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday


def _start(j: Journal, session: str = "upper-back", **kw) -> int:
    fields = dict(
        session=session,
        title="Upper Back",
        script_sha256="ab" * 32,
        level="standard",
        engine="system",
    )
    fields.update(kw)
    return j.start(**fields)


def test_a_practice_reads_back_with_its_answers(tmp_path):
    j = Journal(tmp_path / "data" / "journal.sqlite3")  # the folder is made on first write
    assert j.practices() == ()
    a = _start(j, started=T0)
    j.record_answer(a, "upper-back", 4, at_s=60.0, which="before")
    j.record_answer(a, "upper-back", 3, at_s=61.0, which="before")  # changed its mind: replaced
    j.record_answer(a, "upper-back", 2, at_s=900.0, which="after")
    j.record_answer(a, "neck", 5, at_s=70.0, which="before")
    j.end(a, finished=True, ended=T0 + timedelta(minutes=17))
    b = _start(j, "neck", started=T0 + timedelta(days=1), voice="en-us")
    j.end(
        b,
        finished=False,
        stopped_at_s=431.5,
        stopped_section="Right side",
        ended=T0 + timedelta(days=1, minutes=8),
    )
    got = j.practices()
    assert [p.id for p in got] == [b, a]  # newest first
    newest, oldest = got
    assert isinstance(newest, Practice)
    assert (newest.finished, newest.stopped_at_s, newest.stopped_section) == (
        False,
        431.5,
        "Right side",
    )
    assert newest.voice == "en-us" and newest.rechecks == ()
    assert oldest.finished and oldest.stopped_at_s is None and oldest.duration_s == 17 * 60
    assert oldest.rating("upper-back") == Rating("upper-back", 3, 2)
    assert oldest.rating("upper-back").change == -1
    assert oldest.rating("neck") == Rating("neck", 5, None)
    assert oldest.started == T0
    assert [p.id for p in j.practices(session="upper-back")] == [a]
    assert [p.id for p in j.practices(since=T0 + timedelta(hours=1))] == [b]
    assert j.last_practised() == {"upper-back": T0, "neck": T0 + timedelta(days=1)}
    assert j.stats(now=T0 + timedelta(days=1, hours=1)) == Stats(2, 25.0, 2)
    assert j.stats(session="neck", now=T0 + timedelta(days=3)).streak_days == 0
    (trend,) = [t for t in j.trends() if t.word == "upper-back"]
    assert trend.changes() == (-1,)
    record = oldest.to_json()
    assert record["rechecks"] == {
        "upper-back": {"before": 3, "after": 2},
        "neck": {"before": 5, "after": None},
    }
    assert datetime.fromisoformat(record["started"]) == T0


def test_the_journal_is_readable_by_its_owner_alone(tmp_path):
    path = tmp_path / "data" / "journal.sqlite3"
    j = Journal(path)
    pid = _start(j)
    conn = sqlite3.connect(path)  # a reader holds the -wal and -shm files open
    conn.execute("SELECT count(*) FROM practice").fetchone()
    j.end(pid, finished=True)
    modes = {p.name: p.stat().st_mode & 0o777 for p in path.parent.iterdir()}
    conn.close()
    assert modes == {
        "journal.sqlite3": 0o600,
        "journal.sqlite3-wal": 0o600,
        "journal.sqlite3-shm": 0o600,
    }
    assert path.parent.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize(
    "value,which", [(0, "before"), (6, "after"), (2.5, "before"), (True, "after"), (3, "later")]
)
def test_a_wrong_answer_is_refused(tmp_path, value, which):
    j = Journal(tmp_path / "j.sqlite3")
    pid = _start(j)
    with pytest.raises(UsageError):
        j.record_answer(pid, "upper-back", value, at_s=1.0, which=which)
    assert j.practices()[0].rechecks == ()


def test_forget_one_session_or_all_and_the_words_are_gone_from_the_file(tmp_path):
    path = tmp_path / "j.sqlite3"
    j = Journal(path)
    for session in ("upper-back", "feet", "upper-back"):
        pid = _start(j, session)
        j.record_answer(pid, "a-very-particular-word", 4, at_s=1.0, which="before")
        j.end(pid, finished=True)
    assert j.forget("upper-back") == 2
    assert [p.session for p in j.practices()] == ["feet"]
    assert j.forget() == 1
    assert j.practices() == ()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("j.sqlite3"))
    assert b"a-very-particular-word" not in raw and b"upper-back" not in raw
    assert Journal(tmp_path / "none.sqlite3").forget() == 0


def test_stats_count_this_week_and_the_streak():
    def practice(i: int, started: datetime, minutes: float) -> Practice:
        return Practice(
            i,
            "s",
            "S",
            "",
            "standard",
            "system",
            None,
            started,
            started + timedelta(minutes=minutes),
            True,
        )

    now = (T0 + timedelta(days=3, hours=10)).astimezone()  # Thursday
    local_monday = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=3)
    ps = [
        practice(1, now - timedelta(days=1), 10),  # Wednesday
        practice(2, now - timedelta(days=2), 15),  # Tuesday
        practice(3, now - timedelta(days=2, hours=1), 5),
        practice(6, local_monday + timedelta(hours=8), 20),  # Monday
        practice(4, local_monday - timedelta(days=1), 30),  # Sunday of last week
        practice(5, now - timedelta(days=9), 12),
    ]
    s = stats(ps, now=now)
    assert s.practices == 6
    assert s.minutes_this_week == pytest.approx(50)
    assert s.streak_days == 4  # Sunday to Wednesday; none yet today does not break it
    assert stats(ps, now=now + timedelta(days=1)).streak_days == 0  # Friday: Thursday missed
    assert stats([], now=now).streak_days == 0


def test_trends_per_session_and_area_oldest_first():
    def practice(i: int, session: str, day: int, *ratings: Rating) -> Practice:
        t = T0 + timedelta(days=day)
        return Practice(
            i,
            session,
            session.title(),
            "",
            "standard",
            "system",
            None,
            t,
            t,
            True,
            rechecks=ratings,
        )

    ps = [
        practice(3, "neck", 2, Rating("neck", 3, 1)),
        practice(2, "neck", 1, Rating("neck", 4, None)),
        practice(1, "neck", 0, Rating("neck", 4, 3), Rating("jaw", 2, 2)),
        practice(4, "feet", 0),
    ]
    got = trends(ps)
    assert [(t.session, t.word) for t in got] == [("neck", "jaw"), ("neck", "neck")]
    neck = got[1]
    assert [p.before for p in neck.points] == [4, 4, 3]
    assert neck.changes() == (-1, -2)


# ---- the file: schema versions, two processes, damage, locks, a read-only folder ----------------


def test_a_journal_from_a_newer_voicecoach_is_refused_not_changed(tmp_path):
    path = tmp_path / "j.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {schema.VERSION + 1}")
    conn.close()
    with pytest.raises(JournalError, match="newer voicecoach"):
        Journal(path).practices()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.VERSION + 1
    assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0


def _child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


WRITER = textwrap.dedent(
    """
    import sys, time
    from voicecoach.journal import Journal
    j = Journal(sys.argv[1], timeout_s=10.0)
    print("ready", flush=True)
    sys.stdin.readline()  # start together
    k = 0
    end = time.monotonic() + float(sys.argv[3])
    while time.monotonic() < end:
        pid = j.start(session=sys.argv[2], title="t", script_sha256="x", level="gentle",
                      engine="system")
        j.record_answer(pid, "area", 1 + k % 5, at_s=k, which="before")
        j.record_answer(pid, "area", 1 + (k + 1) % 5, at_s=k + 1, which="after")
        j.end(pid, finished=k % 2 == 0, stopped_at_s=k, stopped_section="s")
        k += 1
    print(k, flush=True)
    """
)


def test_two_processes_write_at_once(tmp_path):
    """Each writes whole practices for 2 s (a start, two answers, an end: four transactions)."""
    path = tmp_path / "j.sqlite3"
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), name, "2.0"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_child_env(),
            text=True,
        )
        for name in ("first", "second")
    }
    for p in procs.values():
        assert p.stdout.readline().strip() == "ready"
    for p in procs.values():
        p.stdin.write("go\n")
        p.stdin.flush()
    written = {}
    for name, p in procs.items():
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        written[name] = int(out)
    got = Journal(path).practices()
    assert len(got) == sum(written.values()) and min(written.values()) >= 50, written
    for name, n in written.items():
        mine = [p for p in got if p.session == name]
        assert len(mine) == n
        assert all(p.ended is not None and p.rating("area").change is not None for p in mine)
    # interleaved: the two really wrote at the same time
    order = [p.session for p in sorted(got, key=lambda p: p.id)]
    switches = sum(a != b for a, b in zip(order, order[1:], strict=False))
    assert switches >= 10, written


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_file_raises_one_journal_error(tmp_path, damage):
    path = tmp_path / "j.sqlite3"
    if damage == "garbage":
        path.write_bytes(os.urandom(8192))
    else:
        j = Journal(path)
        for k in range(300):
            pid = _start(j, f"session-{k}", title="x" * 200)
            j.end(pid, finished=True)
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        size = path.stat().st_size
        assert size > 40_000
        with open(path, "r+b") as f:
            f.truncate(size // 3)
    j = Journal(path)
    for call in (j.practices, lambda: _start(j), j.forget):
        with pytest.raises(JournalError, match="damaged") as info:
            call()
        assert isinstance(info.value, VoicecoachError)
        assert str(path) in str(info.value)


def test_an_empty_file_becomes_a_new_journal(tmp_path):
    path = tmp_path / "j.sqlite3"
    path.write_bytes(b"")
    pid = _start(Journal(path))
    assert [p.id for p in Journal(path).practices()] == [pid]


LOCKER = textwrap.dedent(
    """
    import sqlite3, sys, time
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    print("locked", flush=True)
    sys.stdin.readline()
    conn.execute("COMMIT")
    """
)


def test_a_journal_locked_by_another_process_raises_after_the_timeout(tmp_path):
    path = tmp_path / "j.sqlite3"
    j = Journal(path, timeout_s=0.3)
    _start(j)
    locker = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert locker.stdout.readline().strip() == "locked"
        t = time.monotonic()
        with pytest.raises(JournalError, match="locked"):
            _start(Journal(path, timeout_s=0.3))
        assert time.monotonic() - t < 3.0
    finally:
        locker.stdin.write("\n")
        locker.stdin.flush()
        locker.wait(timeout=10)
    _start(j)  # free again: it writes
    assert len(j.practices()) == 2


def _without_root_powers() -> None:
    """In a child run as root: drop the capabilities that let root write anywhere."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2, 3):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP, effective at exec
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


READ_ONLY = textwrap.dedent(
    """
    import sys
    from voicecoach.errors import JournalError
    from voicecoach.journal import Journal
    for what in ("write", "read"):
        try:
            j = Journal(sys.argv[1])
            if what == "write":
                j.start(session="s", title="t", script_sha256="x", level="deep", engine="system")
            print(what, "ok", len(j.practices()))
        except JournalError as e:
            print(what, "JournalError", e)
    """
)


@pytest.mark.parametrize("exists", [False, True])
def test_a_read_only_data_folder_raises_one_journal_error(tmp_path, exists):
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / "journal.sqlite3"
    if exists:
        _start(Journal(path))
        for p in folder.glob("journal.sqlite3-*"):
            p.unlink()  # closed cleanly: no -wal or -shm left
        path.chmod(0o444)
    folder.chmod(0o555)
    try:
        r = subprocess.run(
            [sys.executable, "-c", READ_ONLY, str(path)],
            capture_output=True,
            text=True,
            env=_child_env(),
            timeout=60,
            preexec_fn=_without_root_powers if os.geteuid() == 0 else None,
        )
    finally:
        folder.chmod(0o755)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("write JournalError "), r.stdout
    assert "cannot be written" in lines[0] and str(path) in lines[0]
    if not exists:
        assert lines[1] == "read ok 0"  # nothing to read: empty, not an error
    else:
        assert lines[1].startswith("read "), r.stdout  # readable or a JournalError, never a crash
    assert sorted(p.name for p in folder.iterdir()) == (["journal.sqlite3"] if exists else [])


# ---- recording a play ------------------------------------------------------------------------------

RECHECKS = """---
title: Re-checks
lead_in: 0.5s
---
# Start
[recheck neck]
[recheck jaw]
# Middle
Rest.
[pause 2s]
# End
[recheck neck]
[recheck neck]
"""


@pytest.fixture(scope="module")
def recheck_plan(tmp_path_factory):
    path = tmp_path_factory.mktemp("script") / "rechecks.md"
    path.write_text(RECHECKS, encoding="utf-8")
    with load(path, engine="system") as session:
        return session.plan(), session.script, path


def test_the_first_recheck_of_an_area_is_before_and_later_ones_after(recheck_plan):
    plan, _, _ = recheck_plan
    turns = recheck_turns(plan)
    assert [(t.word, t.which) for t in turns] == [
        ("neck", "before"),
        ("jaw", "before"),
        ("neck", "after"),
        ("neck", "after"),
    ]
    assert all(t.end_sample - t.start_sample > 8 * plan.sample_rate for t in turns)
    assert [section_at(plan, t.start_sample) for t in turns] == ["Start", "Start", "End", "End"]


def test_a_play_record_writes_answers_and_where_it_stopped(recheck_plan, tmp_path):
    plan, script, path = recheck_plan
    j = Journal(tmp_path / "j.sqlite3")
    notices: list[str] = []
    rec = PlayRecord.begin(j, plan, script, session=session_key(path), notice=notices.append)
    turns = recheck_turns(plan)
    for turn, value in zip(turns, (4, 3, 2, 1), strict=True):
        assert rec.turn_at(turn.start_sample + 1) == turn
        rec.answer(turn, value, at_sample=turn.end_sample - 1)
    middle = next(s for s in plan.sections if s.title == "Middle")
    rec.end(completed=False, stopped_at_sample=middle.start_sample + 10)
    (p,) = j.practices()
    assert notices == []
    assert p.session == str(path.resolve()) and p.title == "Re-checks"
    assert p.engine == "system" and p.level == "standard" and len(p.script_sha256) == 64
    assert p.rating("neck") == Rating("neck", 4, 1)  # the last "after" answer counts
    assert p.rating("jaw") == Rating("jaw", 3, None)
    assert p.stopped_section == "Middle" and not p.finished
    assert p.stopped_at_s == pytest.approx((middle.start_sample + 10) / plan.sample_rate)


def test_a_journal_that_cannot_be_written_is_said_once_and_never_raises(recheck_plan, tmp_path):
    plan, script, path = recheck_plan
    bad = tmp_path / "j.sqlite3"
    bad.write_bytes(b"this is not a database, just text " * 200)
    notices: list[str] = []
    rec = PlayRecord.begin(Journal(bad), plan, script, session="x", notice=notices.append)
    rec.answer(recheck_turns(plan)[0], 3, at_sample=0)
    rec.end(completed=True, stopped_at_sample=plan.duration_samples)
    assert len(notices) == 1
    assert notices[0].startswith("the journal could not be written: the journal file is damaged")


def test_builtin_sessions_are_named_and_files_are_paths(tmp_path):
    from voicecoach.storage.resources import builtin_scripts_dir

    assert session_key(builtin_scripts_dir() / "upper-back.md") == "upper-back"
    other = tmp_path / "upper-back.md"
    assert session_key(other) == str(other.resolve())
    assert session_key(Path("scripts/../scripts/feet.md").resolve()) in (
        "feet",
        str(Path("scripts/feet.md").resolve()),
    )


# The schema of the first journal (version 1), as that release made it: kept here verbatim, so
# the test does not depend on the migration list it checks.
V1_SCHEMA = """
CREATE TABLE practice (
    id INTEGER PRIMARY KEY, session TEXT NOT NULL, title TEXT NOT NULL,
    script_sha256 TEXT NOT NULL, level TEXT NOT NULL, engine TEXT NOT NULL, voice TEXT,
    started TEXT NOT NULL, ended TEXT, finished INTEGER NOT NULL DEFAULT 0,
    stopped_at_s REAL, stopped_section TEXT
);
CREATE TABLE answer (
    practice_id INTEGER NOT NULL REFERENCES practice(id) ON DELETE CASCADE,
    word TEXT NOT NULL, which TEXT NOT NULL CHECK (which IN ('before', 'after')),
    value INTEGER NOT NULL CHECK (value BETWEEN 1 AND 5), at_s REAL NOT NULL,
    PRIMARY KEY (practice_id, word, which)
);
CREATE INDEX practice_session ON practice(session, started);
PRAGMA user_version = 1;
INSERT INTO practice VALUES (7, 'upper-back', 'Upper Back Release', 'cd', 'deep', 'piper', NULL,
    '2026-11-20T08:00:00.000000+00:00', '2026-11-20T08:19:00.000000+00:00', 1, NULL, NULL);
INSERT INTO answer VALUES (7, 'upper-back', 'before', 4, 95.5), (7, 'upper-back', 'after', 2, 1100);
"""


def test_a_journal_made_with_the_version_1_schema_is_migrated(tmp_path):
    path = tmp_path / "journal.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(V1_SCHEMA)
    conn.close()
    j = Journal(path)
    (old,) = j.practices()
    assert (old.id, old.session, old.level, old.engine, old.finished) == (
        7,
        "upper-back",
        "deep",
        "piper",
        True,
    )
    assert old.rating("upper-back") == Rating("upper-back", 4, 2) and old.minutes is None
    assert old.duration_s == 19 * 60
    new = _start(j, minutes=12.0)
    assert j.practices()[0].id == new and j.practices()[0].minutes == 12.0
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.VERSION == 2
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
