"""The journal's SQLite file: writing practices and answers, reading them back.

One file, ``journal.sqlite3`` in the user's data folder (``resources.data_root``).
Every call opens its own short connection, so a play that lasts an hour holds
no lock, and two players (or a player and ``history``) can write at once: the
file is in WAL mode and a writer waits up to ``timeout_s`` for another one's
lock. Any failure (a damaged or foreign file, a lock held too long, a
read-only folder, a full disk) is raised as one ``JournalError`` saying what
happened and where the file is; callers that play turn it into a notice.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from voicecoach.errors import JournalError, UsageError
from voicecoach.journal import schema, summary
from voicecoach.journal.entries import MAX_RATING, MIN_RATING, WHICH, Practice, Rating, Stats, Trend

FILE_NAME = "journal.sqlite3"
DEFAULT_TIMEOUT_S = 2.0  # how long a writer waits for another's lock (they hold it for ms)


def default_path() -> Path:
    from voicecoach.storage.resources import data_root

    return data_root() / FILE_NAME


def _stamp(t: datetime | None) -> str:
    """A time as stored: ISO 8601 in UTC, always the same width, so text order is time order."""
    t = datetime.now(UTC) if t is None else t
    if t.tzinfo is None:
        raise UsageError("journal times must carry a timezone (datetime.now(UTC), not now())")
    return t.astimezone(UTC).isoformat(timespec="microseconds")


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


class Journal:
    """The practice journal at ``path`` (default: ``journal.sqlite3`` in the user's data folder).

    Opening is lazy: nothing touches the disk until the first call. Writers:
    ``start``, ``record_answer``, ``end``, ``forget``; readers: ``practices``, ``stats``,
    ``trends``, ``last_practised``.
    """

    def __init__(
        self, path: str | os.PathLike | None = None, *, timeout_s: float = DEFAULT_TIMEOUT_S
    ):
        self.path = Path(path) if path is not None else default_path()
        self.timeout_s = timeout_s
        self._ready = False

    def __repr__(self) -> str:
        return f"<Journal {str(self.path)!r}>"

    # ---- connections -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _connect(self, *, create: bool = True) -> Iterator[sqlite3.Connection]:
        """A connection with the schema current; every failure becomes a ``JournalError``."""
        conn = None
        try:
            if create and not self.path.exists():
                # private: the folder and the file for this user alone (SQLite gives its -wal
                # and -shm files the database file's permissions)
                self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            conn = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
            conn.execute("PRAGMA foreign_keys = ON")
            # in WAL mode: never corrupt, and a commit is lost only to a power cut (not to a
            # crash); no fsync per commit, which would cost ~20 ms on each write of a play
            conn.execute("PRAGMA synchronous = NORMAL")
            if not self._ready:
                self._set_up(conn)
                self._ready = True
            yield conn
        except (sqlite3.Error, OSError, ValueError) as e:
            raise JournalError(f"{_what(e)} ({self.path})") from e
        finally:
            if conn is not None:
                conn.close()

    def _set_up(self, conn: sqlite3.Connection) -> None:
        """WAL mode and the current schema, retried while another process holds the file.

        Switching a new file to WAL takes an exclusive lock for which SQLite does not wait
        (its busy handler is not called for it): two players starting on a new journal
        at once saw "database is locked" at once. Retried for up to ``timeout_s``.
        """
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    conn.execute("PRAGMA journal_mode = WAL")
                schema.migrate(conn)
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) and "busy" not in str(e):
                    raise
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.02)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (taken at once, so a busy file waits here, not half-way)."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # ---- writing -------------------------------------------------------------------------------

    def start(
        self,
        *,
        session: str,
        title: str,
        script_sha256: str,
        level: str,
        engine: str,
        voice: str | None = None,
        minutes: float | None = None,
        started: datetime | None = None,
    ) -> int:
        """Record that a play begins; returns the practice's id (for ``record_answer`` and ``end``)."""
        with self._writing() as conn:
            cur = conn.execute(
                "INSERT INTO practice"
                " (session, title, script_sha256, level, engine, voice, minutes, started)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (session, title, script_sha256, level, engine, voice, minutes, _stamp(started)),
            )
            return int(cur.lastrowid or 0)

    def record_answer(
        self, practice_id: int, word: str, value: int, *, at_s: float, which: str
    ) -> None:
        """Record a re-check answer: ``value`` 1 (free) to 5 (very tight) for the area ``word``,
        given at ``at_s`` seconds of session time. ``which`` is ``"before"`` (the first re-check of
        ``word`` in the session) or ``"after"`` (a later one). A second answer to the same re-check
        replaces the first (a person may change their mind inside the window)."""
        if which not in WHICH:
            raise UsageError(f"which must be 'before' or 'after', not {which!r}")
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not MIN_RATING <= value <= MAX_RATING
        ):
            raise UsageError(f"a re-check answer is a whole number from 1 to 5, not {value!r}")
        with self._writing() as conn:
            conn.execute(
                "INSERT INTO answer (practice_id, word, which, value, at_s) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (practice_id, word, which) DO UPDATE"
                " SET value = excluded.value, at_s = excluded.at_s",
                (practice_id, word, which, value, float(at_s)),
            )

    def end(
        self,
        practice_id: int,
        *,
        finished: bool,
        stopped_at_s: float | None = None,
        stopped_section: str | None = None,
        ended: datetime | None = None,
    ) -> None:
        """Record how a play ended: ``finished``, or stopped at ``stopped_at_s`` in ``stopped_section``."""
        with self._writing() as conn:
            conn.execute(
                "UPDATE practice SET ended = ?, finished = ?, stopped_at_s = ?, stopped_section = ?"
                " WHERE id = ?",
                (
                    _stamp(ended),
                    int(finished),
                    None if finished else stopped_at_s,
                    None if finished else stopped_section,
                    practice_id,
                ),
            )

    def forget(self, session: str | None = None) -> int:
        """Delete every practice (or those of ``session``) for good; returns how many.

        Deleted pages are overwritten with zeros (``secure_delete``) and the write-ahead
        log is emptied, so the answers are gone from the disk, not only from the tables.
        """
        if not self.path.exists():
            return 0
        with self._connect() as conn:
            conn.execute("PRAGMA secure_delete = ON")
            conn.execute("BEGIN IMMEDIATE")
            try:
                where, args = ("WHERE session = ?", (session,)) if session is not None else ("", ())
                n = conn.execute(f"DELETE FROM practice {where}", args).rowcount
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return int(n)

    # ---- reading -------------------------------------------------------------------------------

    def practices(
        self, *, since: datetime | None = None, session: str | None = None
    ) -> tuple[Practice, ...]:
        """The practices started at or after ``since`` (of ``session`` only, if given), newest first.

        A journal that does not exist yet is empty (and is not made by reading it).
        """
        if not self.path.exists():
            return ()
        clauses, args = [], []
        if since is not None:
            clauses.append("started >= ?")
            args.append(_stamp(since))
        if session is not None:
            clauses.append("session = ?")
            args.append(session)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._connect(create=False) as conn:
            rows = conn.execute(
                "SELECT id, session, title, script_sha256, level, engine, voice, started, ended,"
                f" finished, stopped_at_s, stopped_section, minutes FROM practice {where}"
                " ORDER BY started DESC, id DESC",
                args,
            ).fetchall()
            answers: dict[int, dict[str, dict[str, int]]] = {}
            if rows:
                ids = [r[0] for r in rows]
                marks = ",".join("?" * len(ids)) if len(ids) < 900 else None
                query = "SELECT practice_id, word, which, value FROM answer"
                query += f" WHERE practice_id IN ({marks})" if marks else ""
                query += " ORDER BY practice_id, at_s"
                for pid, word, which, value in conn.execute(query, ids if marks else ()):
                    answers.setdefault(pid, {}).setdefault(word, {})[which] = value
        return tuple(_practice(r, answers.get(r[0], {})) for r in rows)

    def stats(
        self,
        *,
        since: datetime | None = None,
        session: str | None = None,
        now: datetime | None = None,
    ) -> Stats:
        """Practices, minutes this week and streak (see ``summary.stats``) of those chosen."""
        return summary.stats(
            self.practices(since=since, session=session), now=now or datetime.now(UTC)
        )

    def trends(
        self, *, since: datetime | None = None, session: str | None = None
    ) -> tuple[Trend, ...]:
        """Per session and area, the before and after answers over time (``summary.trends``)."""
        return summary.trends(self.practices(since=since, session=session))

    def last_practised(self) -> dict[str, datetime]:
        """When each session was last started."""
        if not self.path.exists():
            return {}
        with self._connect(create=False) as conn:
            rows = conn.execute("SELECT session, MAX(started) FROM practice GROUP BY session")
            return {s: datetime.fromisoformat(t) for s, t in rows}


def _practice(row: tuple, answers: dict[str, dict[str, int]]) -> Practice:
    (pid, session, title, sha, level, engine, voice, started, ended, finished, at_s, section) = row[
        :12
    ]
    ratings = tuple(
        Rating(word, values.get("before"), values.get("after")) for word, values in answers.items()
    )
    started_t = _time(started)
    assert started_t is not None
    return Practice(
        id=pid,
        session=session,
        title=title,
        script_sha256=sha,
        level=level,
        engine=engine,
        voice=voice,
        started=started_t,
        ended=_time(ended),
        finished=bool(finished),
        stopped_at_s=at_s,
        stopped_section=section,
        minutes=row[12],
        rechecks=ratings,
    )


def _what(e: BaseException) -> str:
    """A failure in a person's words (sqlite's own message kept, it names the cause)."""
    text = str(e) or type(e).__name__
    if isinstance(e, sqlite3.DatabaseError) and ("not a database" in text or "malformed" in text):
        return f"the journal file is damaged ({text}); move it away to start a new journal"
    if isinstance(e, sqlite3.OperationalError) and "locked" in text:
        return f"the journal is locked by another program ({text})"
    if isinstance(e, sqlite3.OperationalError) and ("readonly" in text or "unable to open" in text):
        return f"the journal's folder or file cannot be written ({text})"
    if isinstance(e, OSError):
        if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return f"the journal's folder or file cannot be written ({e.strerror})"
        return e.strerror or text
    return text
