"""``play --level auto``: the level chosen from the journal, with the reason in one sentence.

The rules (issue 14): the first time, gentle; after a session stopped early,
or one that left an area feeling worse than before, one step gentler; after
two finished sessions in a row that left it feeling better, one step deeper;
otherwise the level used last.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from voicecoach.errors import JournalError
from voicecoach.journal.entries import Practice
from voicecoach.language.script import LEVELS
from voicecoach.units import format_clock


@dataclass(frozen=True)
class LevelChoice:
    """``level`` None: the script's own (the journal could not be read)."""

    level: str | None
    reason: str


def _step(level: str, by: int) -> str:
    i = LEVELS.index(level) if level in LEVELS else LEVELS.index("standard")
    return LEVELS[min(max(i + by, 0), len(LEVELS) - 1)]


def _felt(p: Practice) -> int | None:
    """The sum of the after-minus-before changes of the areas re-checked both times (None: none were)."""
    changes = [r.change for r in p.rechecks if r.change is not None]
    return sum(changes) if changes else None


def _areas(p: Practice) -> str:
    words = [r.word for r in p.rechecks if r.change is not None]
    return " and ".join(words) if len(words) <= 2 else "the areas you re-checked"


def choose_level(practices: Sequence[Practice]) -> LevelChoice:
    """The level for the next play of a session, from its ``practices`` (any order)."""
    if not practices:
        return LevelChoice("gentle", "This is your first time with this session, so gentle.")
    ordered = sorted(practices, key=lambda p: (p.started, p.id), reverse=True)
    last = ordered[0]
    gentler = _step(last.level, -1)
    step_down = "one step gentler" if gentler != last.level else "gentle again"
    if not last.finished:
        where = f" at {format_clock(last.stopped_at_s)}" if last.stopped_at_s is not None else ""
        return LevelChoice(
            gentler, f"Last time you stopped early{where}, so {step_down}: {gentler}."
        )
    felt = _felt(last)
    if felt is not None and felt > 0:
        return LevelChoice(
            gentler,
            f"Last time {_areas(last)} felt tighter after than before, so {step_down}: {gentler}.",
        )
    if len(ordered) >= 2:
        before = ordered[1]
        both_better = all(
            p.finished and (_felt(p) or 0) < 0 and _felt(p) is not None for p in (last, before)
        )
        if both_better:
            deeper = _step(last.level, +1)
            step_up = "one step deeper" if deeper != last.level else "deep again"
            return LevelChoice(
                deeper,
                f"Your last two sessions finished with {_areas(last)} feeling freer after, "
                f"so {step_up}: {deeper}.",
            )
    return LevelChoice(last.level, f"The same level as last time: {last.level}.")


def auto_level(
    session: str, *, journal=None, notice: Callable[[str], None] | None = None
) -> LevelChoice:
    """``choose_level`` for ``session`` from the journal (default: the user's); a journal that
    cannot be read gives the script's own level, and says why through ``notice``."""
    from voicecoach.journal.store import Journal

    try:
        practices = (journal or Journal()).practices(session=session)
    except JournalError as e:
        if notice is not None:
            notice(f"the journal could not be read: {e}")
        return LevelChoice(None, "The journal could not be read, so the script's own level.")
    return choose_level(practices)
