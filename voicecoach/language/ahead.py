"""A plan that settles while its speech is synthesised: play starts before the last phrase exists.

The compiler places every cue from the lengths of the phrases before it
(time rules 1-3: the cursor only moves forward, inner boundaries are offsets
from a directive's start, a dropped cue depends on the speech before it). So
a plan compiled with *estimated* lengths for the phrases not synthesised yet
is exact up to the start of the first speech event whose length was
estimated: every event that starts before it is where the final plan puts it.
``PlanAhead`` compiles such a plan at once, then synthesises the phrases in the
order they are heard (all at once, on every worker of the engine) on a
background thread, compiling again as they come back; ``settled_sample``
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

RECOMPILE_S = (
    0.25  # while phrases come back: compile anew at most this often (after the first three)
)


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
        self._compiling = threading.Lock()
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
        """Compile with what is synthesised; returns the texts still to synthesise, in heard order.

        One compile at a time (two threads may ask): a later compile knows at least as
        much, so the settled point never moves back.
        """
        with self._compiling:
            return self._compile_now()

    def _compile_now(self) -> list[str]:
        lengths = _KnownOrEstimated(self.service)
        plan = self._compile_plan(lengths)
        missing = lengths.estimated_keys
        first_missing = plan.duration_samples
        todo: dict[str, None] = {}
        for e in plan.events:  # sorted by start
            if e.kind == "speech" and e.speech_key in missing:
                first_missing = min(first_missing, e.start_sample)
                todo[e.text] = None
        # (a phrase whose cue was dropped, since the one before it runs on, was estimated
        # but is not in the plan: it is never said, so its length changes nothing)
        with self._lock:
            self.plan = plan
            self.done = not todo
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
        """Synthesise in heard order until the plan is final.

        All that is missing goes to the engine's workers at once, in heard order;
        with ``first_small`` the plan is compiled anew as phrases come back (the
        first ones at once, then at most every ``RECOMPILE_S``), so the settled
        point moves while the workers go on. Then again for what a cue cut off
        by a longer phrase needs (rare), until nothing is estimated.
        """
        service = self.service
        assert service is not None
        # one count over every round for whoever follows the synthesis (a progress line)
        report = service.progress
        later = [t for t in self._later if not service.is_ready(t)]
        todo = self._todo  # from the compile just made: synthesis starts at once
        total, base = len(todo) + len(later), 0
        came = (
            threading.Event()
        )  # a phrase came back (set under the service's lock: no compiling there)
        finished = threading.Event()

        def arrived(done: int, _of: int) -> None:
            if report is not None:
                report(base + done, total)
            if done:
                came.set()

        def compile_as_they_come() -> None:
            first = 0
            while not finished.is_set():
                if not came.wait(0.1):
                    continue
                came.clear()
                self._update()
                first += 1
                if first >= 3:  # the first phrases at once, then not more often than this
                    finished.wait(RECOMPILE_S)

        compiler = None
        if first_small:
            compiler = threading.Thread(target=compile_as_they_come, name="voicecoach-compile")
            compiler.daemon = True
            compiler.start()
        service.progress = arrived
        try:
            if report is not None and total:
                report(0, total)
            while todo and not self._stop:
                service.prepare(todo)
                base += len(todo)
                self._todo = todo = self._update()
                total = max(total, base + len(todo) + len(later))
            if later and not self._stop:
                service.prepare(later)
        finally:
            service.progress = report
            finished.set()
            if compiler is not None:
                compiler.join()
        if report is not None:
            report(total, total)

    def stop(self) -> None:
        """Stop after the batch in progress (the session ended)."""
        self._stop = True

    def join(self, timeout_s: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout_s)


def fixed(plan: Plan) -> PlanAhead:
    """A ``PlanAhead`` whose plan is already final (everything synthesised)."""
    return PlanAhead(lambda lengths: plan, None)
