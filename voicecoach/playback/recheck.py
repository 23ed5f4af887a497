"""Answering a re-check without looking: keys 1-5, or taps of the space bar, in its 8 s window.

A ``[recheck WORD]`` is one plan span: the spoken question, then
``RECHECK_WINDOW_S`` of quiet (its last 8 s) in which live play takes the
answer. ``Rechecks`` is the control thread's side of it (never the audio
callback's): the player hands it each key and the position heard, and it

- records a number key 1-5 at once;
- counts taps of the space bar (1-5, more taps stay 5) and records the count
  ``TAP_SETTLE_S`` after the last tap, or when the window closes if that is
  sooner (so the confirmation comes while the person is still listening,
  and a slow tapper is not cut off by the next phrase); a new tap after that
  starts a new count that replaces the answer;
- ignores number keys outside every window, where the space bar keeps meaning
  pause and resume.

Every recorded answer plays the soft "answer" UI sound and shows on the status
line. Where the answers go is the caller's ``AnswerRecorder`` (the journal's
``PlayRecord``; None: nowhere, and no window takes keys).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from voicecoach.language.compiler import RECHECK_WINDOW_S
from voicecoach.language.plan import Plan
from voicecoach.units import seconds_to_samples

__all__ = ["ANSWER_KEYS", "AnswerRecorder", "RecheckTurn", "Rechecks", "TAP_SETTLE_S"]

ANSWER_KEYS = ("1", "2", "3", "4", "5")
MAX_TAPS = 5
TAP_SETTLE_S = 1.5  # taps are recorded this long after the last one (or when the window closes)
SHOWN_AFTER_S = 3.0  # the recorded answer stays on the status line this long after the window


class RecheckTurn(Protocol):
    """One re-check of the plan (the journal's ``RecheckTurn`` has this shape)."""

    @property
    def word(self) -> str: ...

    @property
    def which(self) -> str: ...

    @property
    def start_sample(self) -> int: ...

    @property
    def end_sample(self) -> int: ...


TurnT = TypeVar("TurnT", bound=RecheckTurn)


class AnswerRecorder(Protocol[TurnT]):
    """Where answers go: the journal's ``PlayRecord``."""

    def turn_at(self, sample: int) -> TurnT | None: ...

    def answer(self, turn: TurnT, value: int, *, at_sample: int) -> None: ...

    def replan(self, plan: Plan) -> None:
        """The plan settled further (speech synthesised during play): its turns may have moved."""


class Rechecks:
    """The answers of one live play (control thread only).

    ``key(name, position_sample)`` returns True when the key was taken as (part
    of) an answer; ``tick(position_sample, now_s)`` records taps that are due;
    ``status`` is the status line's note. ``confirm`` is called with no
    argument for every recorded answer (the player posts the UI sound).
    """

    def __init__(
        self, recorder: AnswerRecorder[Any] | None, sample_rate: int, confirm: Callable[[], object]
    ) -> None:
        self.recorder = recorder
        self.window_samples = seconds_to_samples(RECHECK_WINDOW_S, sample_rate)
        self.shown_samples = seconds_to_samples(SHOWN_AFTER_S, sample_rate)
        self.confirm = confirm
        self._taps = 0
        self._tap_turn: RecheckTurn | None = None
        self._last_tap_s = 0.0
        self._answered: tuple[RecheckTurn, int] | None = None

    def window_at(self, position_sample: int) -> RecheckTurn | None:
        """The re-check whose answer window is open at ``position_sample``, if any."""
        if self.recorder is None:
            return None
        turn = self.recorder.turn_at(position_sample)
        if turn is None or position_sample < turn.end_sample - self.window_samples:
            return None
        return turn

    def key(self, name: str, position_sample: int, now_s: float) -> bool:
        """Take ``name`` as an answer if a window is open; False: the key keeps its usual meaning."""
        turn = self.window_at(position_sample)
        if turn is None:
            return name in ANSWER_KEYS  # a number outside a window: ignored, but taken
        if name in ANSWER_KEYS:
            self._taps, self._tap_turn = 0, None
            self._record(turn, int(name), position_sample)
            return True
        if name == "space":
            if self._tap_turn is not None and self._tap_turn != turn:
                self._flush(position_sample)
            self._tap_turn = turn
            self._taps = min(MAX_TAPS, self._taps + 1)
            self._last_tap_s = now_s
            return True
        return False

    def tick(self, position_sample: int, now_s: float) -> None:
        """Record counted taps once they settle or their window has closed."""
        turn = self._tap_turn
        if turn is None:
            return
        if now_s - self._last_tap_s >= TAP_SETTLE_S or position_sample >= turn.end_sample:
            self._flush(position_sample)

    def finish(self, position_sample: int) -> None:
        """The play ends: taps still being counted are recorded (without the sound: the stream is closed)."""
        self.confirm = _silent
        self._flush(position_sample)

    def _flush(self, position_sample: int) -> None:
        turn, taps = self._tap_turn, self._taps
        self._tap_turn, self._taps = None, 0
        if turn is not None and taps:
            self._record(turn, taps, min(position_sample, turn.end_sample - 1))

    def _record(self, turn: RecheckTurn, value: int, at_sample: int) -> None:
        assert self.recorder is not None
        self.recorder.answer(turn, value, at_sample=at_sample)
        self._answered = (turn, value)
        self.confirm()

    def status(self, position_sample: int) -> str:
        """The status line's note: the open window, the taps so far, or the answer just given."""
        if self._tap_turn is not None and self._taps:
            return f"{self._tap_turn.word}: {self._taps} tap{'s' if self._taps > 1 else ''}"
        window = self.window_at(position_sample)
        if self._answered is not None:
            turn, value = self._answered
            shown = turn.start_sample <= position_sample < turn.end_sample + self.shown_samples
            if shown and window in (None, turn):  # a later window's question comes first
                return f"{turn.word} {turn.which}: {value}/5"
        if window is not None:
            return f"{window.word}? answer 1-5"
        return ""


def _silent() -> None:
    pass
