"""A plan that settles while its speech is synthesised: play starts before the last phrase exists.

The compiler places every cue from the lengths of the phrases before it
(time rules 1-3: the cursor only moves forward, inner boundaries are offsets
from a directive's start, a dropped cue depends on the speech before it). So
a plan compiled with *estimated* lengths for the phrases not synthesised yet
is exact up to the start of the first speech event whose length was
estimated: every event that starts before it is where the final plan puts it.
``PlanAhead`` compiles such a plan at once, then synthesises the phrases in the
order they are heard (the first one alone, then in growing batches) on a
background thread, compiling again after each batch; ``settled_sample``
(less the renderer's look-ahead, given by the caller) only moves forward.
When every phrase is synthesised the plan is the one ``Session.plan`` gives
(time rule 5: a pure function of the script and the lengths).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from voicecoach.language.estimate import estimated_speech_s
from voicecoach.language.plan import Plan
from voicecoach.units import seconds_to_samples

if TYPE_CHECKING:
    from voicecoach.speech import SpeechService

FIRST_BATCHES = (1, 1, 2, 4, 8)  # phrases per synthesis batch, then the last size again


class _KnownOrEstimated:
    """The compiler's speech lengths: exact where synthesised, else estimated (never synthesises)."""

    def __init__(self, service: SpeechService | None) -> None:
        self.service = service
        self.estimated_keys: set[str] = set()

    def key(self, text: str) -> str:
        assert self.service is not None
        return self.service.key(text)

    def prepare(self, texts: Iterable[str]) -> None:
        """Nothing: the background thread synthesises."""

    def duration_samples(self, text: str, sample_rate: int) -> int:
        assert self.service is not None
        if self.service.is_ready(text):
            return self.service.duration_samples(text, sample_rate)
        self.estimated_keys.add(self.service.key(text))
        return seconds_to_samples(estimated_speech_s(text, self.service.rate_wpm), sample_rate)


class PlanAhead:
    """The plan so far and how much of it is final, while a thread synthesises the rest.

    ``compile_plan(lengths)`` compiles the session with the given speech
    lengths (the session's compiler, dose included). ``later`` are phrases to
    synthesise after the plan's (play's "paused"). ``explain`` turns a synthesis
    error into the one to report (a phrase's failure at its script line).
    ``causal`` is False when an event's place depends on later phrases too
    (``--minutes`` fits every range to the whole length): then nothing is
    settled until every phrase is synthesised. ``lookahead_samples``
    is how far past a sample the renderer looks (ducking): ``render_bound`` is
    the settled point less that. ``changed`` is set after every new plan.
    """

    def __init__(
        self,
        compile_plan: Callable[[_KnownOrEstimated], Plan],
        service: SpeechService | None,
        *,
        lookahead_samples: int = 0,
        later: Sequence[str] = (),
        explain: Callable[[BaseException], BaseException] = lambda e: e,
        causal: bool = True,
    ) -> None:
        self._compile_plan = compile_plan
        self.service = service
        self.lookahead_samples = lookahead_samples
        self._later = list(later)
        self._explain = explain
        self.causal = causal
        self._lock = threading.Lock()
        self.changed = threading.Condition(self._lock)
        self.error: BaseException | None = None
        self._stop = False
        self._thread: threading.Thread | None = None
        self.plan: Plan
        self.settled_sample: int
        self.done: bool
        self._todo = self._update()  # a script error is raised here, before anything plays

    # -- the plan so far -------------------------------------------------------------------

    def _update(self) -> list[str]:
        """Compile with what is synthesised; returns the texts still to synthesise, in heard order."""
        lengths = _KnownOrEstimated(self.service)
        plan = self._compile_plan(lengths)
        missing = lengths.estimated_keys
        first_missing = plan.duration_samples
        todo: dict[str, None] = {}
        for e in plan.events:  # sorted by start
            if e.kind == "speech" and e.speech_key in missing:
                first_missing = min(first_missing, e.start_sample)
                todo[e.text] = None
        with self._lock:
            self.plan = plan
            self.done = not missing
            if self.done:
                self.settled_sample = plan.duration_samples
            elif self.causal:
                self.settled_sample = first_missing
            else:  # every range depends on every length (a dose): nothing is final before the end
                self.settled_sample = 0
            self.changed.notify_all()
        return list(todo)

    @property
    def render_bound(self) -> int:
        """Samples before this render exactly as in the final plan (the plan's end once done).

        The settled point, less the renderer's look-ahead when a tone sounds within
        it (its ducking depends on speech to come); the events are in start order.
        """
        if self.done:
            return self.plan.duration_samples
        settled = self.settled_sample
        near = settled - self.lookahead_samples
        # the look-ahead is the tones' ducking: where no tone sounds, the voice alone is final
        for e in self.plan.events:
            if e.start_sample >= settled:
                break
            if e.kind == "tone" and e.end_sample > near and e.end_sample > e.start_sample:
                return max(0, near)
        return settled

    def wait_changed(self, timeout_s: float) -> None:
        """Wait for a new plan (or the end of synthesis, or an error) at most ``timeout_s``."""
        with self._lock:
            if not self.done and self.error is None:
                self.changed.wait(timeout_s)

    # -- the synthesising thread -----------------------------------------------------------

    def start(self) -> PlanAhead:
        """Synthesise the rest on a background thread (nothing to do when already done)."""
        if not self.done or self._later:
            self._thread = threading.Thread(
                target=self._run, name="voicecoach-synthesis", daemon=True
            )
            self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self._synthesise(first_small=True)
        except BaseException as e:  # given to the player through ``error``
            with self._lock:
                self.error = self._explain(e)
                self.changed.notify_all()

    def complete(self) -> Plan:
        """Synthesise everything here and now (all of it in one batch, on every worker): the final plan.

        Only the phrases the plan says are synthesised (not every phrase the
        script could say), so this is what ``Session.plan`` does.
        """
        try:
            self._synthesise(first_small=False)
        except BaseException as e:
            raise self._explain(e) from e
        return self.plan

    def _synthesise(self, *, first_small: bool) -> None:
        """Synthesise in heard order, compiling anew after each batch, until the plan is final.

        ``first_small``: batches of ``FIRST_BATCHES`` (the first phrases soonest),
        else all that is missing at once (each round: what a cut-off cue needs next).
        """
        batches = iter(FIRST_BATCHES)
        size = 1
        todo = self._todo  # from the compile just made: synthesis starts at once
        service = self.service
        assert service is not None
        # one count over every batch for whoever follows the synthesis (a progress line)
        report, service.progress = service.progress, None
        later = [t for t in self._later if not service.is_ready(t)]
        total, done = len(todo) + len(later), 0
        try:
            if report is not None and total:
                report(0, total)
            while todo and not self._stop:
                size = next(batches, size) if first_small else len(todo)
                service.prepare(todo[:size])
                done += len(todo[:size])
                self._todo = todo = self._update()
                total = max(total, done + len(todo) + len(later))
                if report is not None:
                    report(done, total)
            if later and not self._stop:
                service.prepare(later)
                if report is not None:
                    report(total, total)
        finally:
            service.progress = report

    def stop(self) -> None:
        """Stop after the batch in progress (the session ended)."""
        self._stop = True

    def join(self, timeout_s: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout_s)


def fixed(plan: Plan) -> PlanAhead:
    """A ``PlanAhead`` whose plan is already final (everything synthesised)."""
    return PlanAhead(lambda lengths: plan, None)
