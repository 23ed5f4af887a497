"""A dose that fits the day: the point in every range that makes a session last N minutes.

``--minutes N`` resolves each range of a script (``[hold 30-60s]``, ``[pause
5-15s]``, any duration range the format allows) at one common point between
its ends instead of by level, so the session lasts N minutes within
``TOLERANCE_S``. The compiler itself places every cue at that point, so the
time rules hold as for any level (whole breath cycles under a hold, countdowns
on exact samples, ...) and the result is an ordinary exact plan: ``plan``,
``export`` and ``play`` give the same one.

The search: the plan's length grows with the point, by the same amount for
the same step (speech lengths are fixed), except where a ``[breathe P D]``
range adds a whole cycle. So: the shortest and longest plans first (out of
reach: a ``DoseError`` naming both); then interpolation between the two
nearest plans, bisecting when that does not close in; if that ends short of
N (a breath cycle jumped past it), the stepped ranges stay at the point below
the jump, then above it, while the others move anywhere in theirs. The
nearest plan found wins.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

from voicecoach.errors import UsageError
from voicecoach.language.plan import Plan
from voicecoach.language.script import RangePoint, Script
from voicecoach.units import format_clock, samples_to_seconds

TOLERANCE_S = 5.0  # the session lasts N minutes within this
PRECISION_S = 0.01  # the search stops this close (it usually lands within a sample)
MAX_STEPS = 60  # compiles per phase, at most
MAX_MINUTES = 240  # a session lasts at most 4 hours


class DoseError(UsageError):
    """``--minutes N`` is out of the script's reach."""


def at_point(script: Script, fraction: float, stepped: float | None = None) -> Script:
    """``script`` with every range resolved at ``fraction`` (stepped ranges at ``stepped``)."""
    point = RangePoint(fraction, fraction if stepped is None else stepped)
    return dataclasses.replace(
        script, settings=dataclasses.replace(script.settings, range_point=point)
    )


def fit_minutes(
    script: Script, compile_plan: Callable[[Script], Plan], minutes: float, *, name: str = ""
) -> Plan:
    """The plan of ``script`` lasting ``minutes`` within ``TOLERANCE_S`` (raises ``DoseError``)."""
    if not 0 < minutes <= MAX_MINUTES:
        raise DoseError(f"--minutes must be more than 0 and at most {MAX_MINUTES}, not {minutes:g}")
    target_s = minutes * 60.0
    # aimed a hair over N minutes, so a clock (which drops the fraction) shows N:00, not N-1:59
    search = _Search(script, compile_plan, target_s + PRECISION_S / 2)
    shortest = search.plan(0.0, 0.0)
    longest = search.plan(1.0, 1.0)
    low_s, high_s = _length_s(shortest), _length_s(longest)
    if not low_s - TOLERANCE_S <= target_s <= high_s + TOLERANCE_S:
        who = name or script.settings.title
        raise DoseError(
            f"{who} lasts from {format_clock(low_s)} to {format_clock(high_s)} "
            f"(every range at its low or high end); {_minutes(minutes)} is out of reach"
        )
    if target_s <= low_s:
        return shortest
    if target_s >= high_s:
        return longest
    lo, hi = (0.0, low_s), (1.0, high_s)
    lo, hi = search.narrow(lo, hi, lambda f: (f, f))
    if not search.precise():
        # a stepped range jumped past the target: hold it at either side of its jump, and
        # move the other ranges anywhere in theirs
        for stepped in (lo[0], hi[0]):
            a = (0.0, _length_s(search.plan(0.0, stepped)))
            b = (1.0, _length_s(search.plan(1.0, stepped)))
            if a[1] <= search.target_s <= b[1]:
                search.narrow(a, b, functools.partial(_with_stepped, stepped=stepped))
            if search.precise():
                break
    if search.close_enough():
        return search.best_plan()
    nearest = _length_s(search.best_plan())
    raise DoseError(
        f"{name or script.settings.title} cannot be made to last {_minutes(minutes)} within "
        f"{TOLERANCE_S:g} s: the nearest is {format_clock(nearest)} (its breathing ranges run "
        "whole cycles)"
    )


def _with_stepped(fraction: float, *, stepped: float) -> tuple[float, float]:
    return fraction, stepped


def _length_s(plan: Plan) -> float:
    return samples_to_seconds(plan.duration_samples, plan.sample_rate)


def _minutes(minutes: float) -> str:
    return f"{minutes:g} minute{'s' * (minutes != 1)}"


class _Search:
    """Compiles at range points, keeping the plan nearest the target."""

    def __init__(self, script: Script, compile_plan: Callable[[Script], Plan], target_s: float):
        self.script = script
        self.compile_plan = compile_plan
        self.target_s = target_s
        self._best: tuple[float, Plan] | None = None

    def plan(self, fraction: float, stepped: float) -> Plan:
        plan = self.compile_plan(at_point(self.script, fraction, stepped))
        miss = abs(_length_s(plan) - self.target_s)
        if self._best is None or miss < self._best[0]:
            self._best = (miss, plan)
        return plan

    def best_plan(self) -> Plan:
        assert self._best is not None
        return self._best[1]

    def precise(self) -> bool:
        return self._best is not None and self._best[0] <= PRECISION_S

    def close_enough(self) -> bool:
        return self._best is not None and self._best[0] <= TOLERANCE_S

    def narrow(
        self,
        lo: tuple[float, float],
        hi: tuple[float, float],
        point: Callable[[float], tuple[float, float]],
    ) -> tuple[tuple[float, float], tuple[float, float]]:
        """Close in on the target between ``lo`` and ``hi`` ((position, length) pairs, the
        target between their lengths); returns the last bracket."""
        interpolate = True
        for _ in range(MAX_STEPS):
            if self.precise():
                break
            (f0, l0), (f1, l1) = lo, hi
            if f1 - f0 < 1e-12:
                break
            f = (f0 + f1) / 2
            if interpolate and l1 > l0:
                f = f0 + (self.target_s - l0) * (f1 - f0) / (l1 - l0)
                f = min(max(f, f0 + (f1 - f0) * 1e-6), f1 - (f1 - f0) * 1e-6)
            length = _length_s(self.plan(*point(f)))
            if length <= self.target_s:
                shrink = (f - f0) / (f1 - f0)
                lo = (f, length)
            else:
                shrink = (f1 - f) / (f1 - f0)
                hi = (f, length)
            # interpolation that moves a bracket end by little is stuck on a kink: bisect next
            interpolate = shrink > 0.05 if interpolate else True
        return lo, hi
