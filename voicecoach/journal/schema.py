"""The journal's tables, and the migrations from each older schema (``PRAGMA user_version``).

``MIGRATIONS[k]`` takes a database at version ``k`` to ``k + 1`` (version 0:
a new, empty file). A migration is only ever added, never changed: databases
made by every earlier release must keep opening.
"""

from __future__ import annotations

import sqlite3

MIGRATIONS: tuple[str, ...] = (
    # 1: the first journal: one row per play, one row per answered re-check
    """
    CREATE TABLE practice (
        id INTEGER PRIMARY KEY,
        session TEXT NOT NULL,
        title TEXT NOT NULL,
        script_sha256 TEXT NOT NULL,
        level TEXT NOT NULL,
        engine TEXT NOT NULL,
        voice TEXT,
        started TEXT NOT NULL,
        ended TEXT,
        finished INTEGER NOT NULL DEFAULT 0,
        stopped_at_s REAL,
        stopped_section TEXT
    );
    CREATE TABLE answer (
        practice_id INTEGER NOT NULL REFERENCES practice(id) ON DELETE CASCADE,
        word TEXT NOT NULL,
        which TEXT NOT NULL CHECK (which IN ('before', 'after')),
        value INTEGER NOT NULL CHECK (value BETWEEN 1 AND 5),
        at_s REAL NOT NULL,
        PRIMARY KEY (practice_id, word, which)
    );
    CREATE INDEX practice_session ON practice(session, started);
    """,
    # 2: the dose asked for with --minutes (NULL: the level chose the ranges)
    """
    ALTER TABLE practice ADD COLUMN minutes REAL;
    """,
)

VERSION = len(MIGRATIONS)


def version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database on ``conn`` (in autocommit mode) to ``VERSION``; returns the version found.

    Runs in one write transaction, looking at the version again inside it, so two
    processes opening an old file at once migrate it once. Raises ``ValueError`` for a
    database made by a newer voicecoach (its tables may mean something else).
    """
    found = version(conn)
    if found == VERSION:
        return found
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = version(conn)
        if found > VERSION:
            raise ValueError(
                f"it was made by a newer voicecoach (schema {found}; this one knows up to {VERSION})"
            )
        for step in MIGRATIONS[found:]:
            for statement in _statements(step):
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return found


def _statements(script: str) -> list[str]:
    """A migration's statements (``executescript`` would commit the open transaction)."""
    return [s.strip() for s in script.split(";") if s.strip()]
