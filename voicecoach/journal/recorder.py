"""Writing one live play into the journal, without ever stopping it.

``PlayRecord.begin`` records the start; the player reports re-check answers
with ``answer``; ``end`` records how it ended. A journal that cannot be
written (damaged, locked, a read-only folder) is said once through
``notice`` ("the journal could not be written: ...") and the play goes on
unrecorded.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voicecoach.errors import JournalError
from voicecoach.journal.store import Journal

if TYPE_CHECKING:
    from voicecoach.language.plan import Plan
    from voicecoach.language.script import Script

NOTICE = "the journal could not be written: {}"


def session_key(path: str | Path) -> str:
    """How the journal names a session: a built-in's name (``upper-back``), else the file's absolute path."""
    from voicecoach.storage.resources import builtin_scripts_dir

    p = Path(path).resolve()
    if p.suffix == ".md" and p.parent == builtin_scripts_dir().resolve():
        return p.stem
    return str(p)


def script_sha256(script: Script) -> str:
    """SHA-256 of the text of the script and of every file it includes, in the order first used."""
    files = dict.fromkeys([script.path, *(item.loc.file for item in script.items)])
    h = hashlib.sha256()
    for name in files:
        try:
            data = Path(name).read_bytes()
        except OSError:
            data = b""
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()


@dataclass(frozen=True)
class RecheckTurn:
    """A re-check of the plan: its area and whether it is the session's before or after."""

    word: str
    which: str  # "before" (the first re-check of ``word``) or "after" (a later one)
    start_sample: int
    end_sample: int


def recheck_turns(plan: Plan) -> tuple[RecheckTurn, ...]:
    """The plan's re-checks in time order: the first of each area is its before, later ones its after."""
    seen: set[str] = set()
    turns = []
    for e in plan.events:
        if e.kind != "recheck":
            continue
        turns.append(
            RecheckTurn(
                e.text, "after" if e.text in seen else "before", e.start_sample, e.end_sample
            )
        )
        seen.add(e.text)
    return tuple(turns)


def section_at(plan: Plan, sample: int) -> str | None:
    """The title of the (innermost) section playing at ``sample``."""
    title = None
    for s in plan.sections:
        if s.start_sample <= sample:
            title = s.title
    return title


def _print_notice(message: str) -> None:
    print(f"voicecoach: {message}", file=sys.stderr, flush=True)


class PlayRecord:
    """One play being written into the journal (``practice_id`` None: it could not be)."""

    def __init__(
        self,
        journal: Journal,
        plan: Plan,
        *,
        notice: Callable[[str], None] | None = None,
    ):
        self.journal = journal
        self.plan = plan
        self.notice = notice or _print_notice
        self.practice_id: int | None = None
        self.failed = False
        self.turns = recheck_turns(plan)

    @classmethod
    def begin(
        cls,
        journal: Journal,
        plan: Plan,
        script: Script,
        *,
        session: str,
        minutes: float | None = None,
        notice: Callable[[str], None] | None = None,
    ) -> PlayRecord:
        """Record the start of a play of ``plan`` (compiled from ``script``); never raises JournalError."""
        record = cls(journal, plan, notice=notice)
        s = plan.settings
        record._try(
            lambda: setattr(
                record,
                "practice_id",
                journal.start(
                    session=session,
                    title=plan.title,
                    script_sha256=script_sha256(script),
                    level=s.level,
                    engine=plan.engine,
                    voice=plan.voice,
                    minutes=minutes,
                ),
            )
        )
        return record

    def _try(self, write: Callable[[], Any]) -> None:
        if self.failed:
            return
        try:
            write()
        except JournalError as e:
            self.failed = True  # said once; the rest of the play goes unrecorded
            self.notice(NOTICE.format(e))

    def replan(self, plan: Plan) -> None:
        """The plan settled further while playing (speech synthesised ahead): take its turns."""
        self.plan = plan
        self.turns = recheck_turns(plan)

    def turn_at(self, sample: int) -> RecheckTurn | None:
        """The re-check whose question or window is playing at ``sample``, if any."""
        return next((t for t in self.turns if t.start_sample <= sample < t.end_sample), None)

    def answer(self, turn: RecheckTurn, value: int, *, at_sample: int) -> None:
        """Record ``value`` (1-5) as the answer to ``turn``, given at plan sample ``at_sample``."""
        pid = self.practice_id
        if pid is None:
            return
        at_s = at_sample / self.plan.sample_rate
        self._try(
            lambda: self.journal.record_answer(pid, turn.word, value, at_s=at_s, which=turn.which)
        )

    def end(self, *, completed: bool, stopped_at_sample: int | None) -> None:
        """Record how the play ended (``stopped_at_sample`` None: unknown, e.g. the device was lost)."""
        pid = self.practice_id
        if pid is None:
            return
        at_s = None if stopped_at_sample is None else stopped_at_sample / self.plan.sample_rate
        section = None if stopped_at_sample is None else section_at(self.plan, stopped_at_sample)
        self._try(
            lambda: self.journal.end(
                pid, finished=completed, stopped_at_s=at_s, stopped_section=section
            )
        )
