"""Script -> Plan: every cue of a parsed script placed at an exact sample.

The compiler keeps the spec's time rules (SCRIPT_FORMAT.md, "Time"):

1. Items follow one another in script order; a directive starts when the
   speech before it has finished (the cursor only moves forward). Two spoken
   lines of one paragraph are ``line_pause`` apart, and so is a directive on
   a line of its own from the speech before it (a cue inside a line of prose
   starts at once); a blank line is ``paragraph_pause``.
2. Inner boundaries (breath phases, countdown seconds, wiper turns, the end
   of a hold) are computed from the directive's start as
   ``start + seconds_to_samples(offset_s)``: each lands on the sample nearest
   its true time and rounding never accumulates.
3. Speech never overlaps speech: a spoken cue that cannot finish before the
   next one is due gives a warning at its line, and the later cue is dropped
   (no boundary ever moves).
4. Ducking needs no marks of its own: the renderer ducks tones under every
   speech event (and keeps the duck down between words less than 1.5 s apart).
5. The whole plan is a pure function of the script, the engine and settings.
6. Breath tones under a hold run whole cycles only, ending at or before the
   hold's countdown (or its end): no phase is cut.
7. On guided cycles the words and the tone sound together.
8. The final bell comes ``end_quiet`` after the last sound and rings out
   (the plan ends when the bell's tone ends).

Steps (``compile_script``): collect every text that will be spoken, have the
speech service synthesise the missing ones (so lengths are real), walk the
items with a sample cursor, resolve speech overlaps, check limits, sort.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from voicecoach.errors import Diagnostic, PhraseError, ScriptError
from voicecoach.language import phrases
from voicecoach.language.limits import MAX_DIRECTIVE_S, MAX_SESSION_S
from voicecoach.language.overlaps import diagnostic_at, diagnostic_order, resolve_speech_overlaps
from voicecoach.language.plan import Event, Plan, Section
from voicecoach.language.script import (
    Bell,
    Breathe,
    Heading,
    Hold,
    Item,
    Loc,
    ParagraphBreak,
    Pause,
    Place,
    Recheck,
    Roll,
    Script,
    Settings,
    Speech,
    Wipers,
)
from voicecoach.speech.pace import words
from voicecoach.units import (
    DEFAULT_SAMPLE_RATE,
    format_clock,
    samples_to_seconds,
    seconds_to_samples,
)

DEFAULT_COUNT = 5  # a hold counts its last five seconds
HALFWAY_MIN_S = 30.0  # "halfway" only for holds this long or longer
TEN_LEFT_MIN_S = 20.0  # "ten seconds" only for holds this long or longer
MIN_PHRASE_SPACING_S = (
    2.0  # "halfway" is left out when closer than this to the countdown or "ten seconds"
)
RECHECK_WINDOW_S = 8.0  # quiet after a re-check's question, to feel and answer


class SpeechLengths(Protocol):
    """What the compiler needs from the speech service: keys and real lengths."""

    def key(self, text: str) -> str: ...

    def prepare(self, texts: Iterable[str]) -> None: ...

    def duration_samples(self, text: str, sample_rate: int) -> int: ...


class ToneLengths(Protocol):
    """What the compiler needs from the palette: the natural length of fixed tones."""

    def length_s(self, tone: str) -> float: ...


_PHASE_NAMES = {2: ("in", "out"), 3: ("in", "hold", "out"), 4: ("in", "hold", "out", "hold_empty")}
_PHASE_PHRASE = {
    "in": "breathe_in",
    "hold": "breathe_hold",
    "out": "breathe_out",
    "hold_empty": "breathe_hold_empty",
}
_PHASE_TONE = {"in": "inhale", "out": "exhale"}
# Directives that speak or sound at their start: on a line of their own they come line_pause
# after the speech before them. A pause or a placement is itself quiet.
_SPOKEN_DIRECTIVES = (Breathe, Hold, Wipers, Roll, Recheck, Bell)
_SIDES = ("left", "right")


def spoken_texts(script: Script) -> list[str]:
    """Every text the plan of ``script`` may speak, in first-use order, without repeats."""
    words = script.settings.wording()
    texts: dict[str, None] = {}
    for item in script.items:
        if isinstance(item, Speech):
            texts[item.text] = None
        elif isinstance(item, Heading) and script.settings.announce:
            texts[item.title] = None
        elif isinstance(item, Hold) and not item.quiet:
            n = item.count if item.count is not None else DEFAULT_COUNT
            for k in range(1, min(n, phrases.MAX_COUNT) + 1):
                texts[words.count(k)] = None
        elif isinstance(item, Recheck):
            texts[words.recheck(item.word)] = None
    for text in words.fixed():
        texts[text] = None
    return list(texts)


def compile_script(
    script: Script,
    speech: SpeechLengths,
    *,
    palette: ToneLengths,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    engine: str = "",
) -> Plan:
    """Compile ``script`` to a ``Plan`` at ``sample_rate``; raise ``ScriptError`` on errors.

    A phrase the engine cannot speak is reported at the first line that says it.
    """
    last_cue = next(
        (i for i in reversed(script.items) if not isinstance(i, ParagraphBreak | Heading)), None
    )
    # A session surely longer than 4 hours is refused before any speech is synthesised
    # (a line of 200,000 words would otherwise be spoken first: minutes).
    bound = _walk(
        _Builder(script.settings, _SpeechLowerBound(script), palette, sample_rate), script, last_cue
    )
    if bound.limit_reported:
        raise ScriptError(sorted(bound.errors + list(script.warnings), key=diagnostic_order))
    try:
        speech.prepare(spoken_texts(script))
    except PhraseError as e:
        raise at_its_line(script, e) from e
    builder = _walk(_Builder(script.settings, speech, palette, sample_rate), script, last_cue)
    events = resolve_speech_overlaps(builder.events, builder.warnings, sample_rate, builder.words)
    if builder.errors:
        raise ScriptError(
            sorted(builder.errors + list(script.warnings) + builder.warnings, key=diagnostic_order)
        )
    warnings = sorted(list(script.warnings) + builder.warnings, key=diagnostic_order)
    events.sort(key=lambda e: e.start_sample)  # stable: spans stay before their inner cues
    return Plan(
        title=script.settings.title,
        sample_rate=sample_rate,
        duration_samples=builder.t,
        sections=builder.sections(),
        events=tuple(events),
        settings=script.settings,
        engine=engine,
        voice=script.settings.voice,
        warnings=tuple(warnings),
        source=script.path,
    )


def at_its_line(script: Script, error: PhraseError) -> ScriptError | PhraseError:
    """A phrase's failure as a ``ScriptError`` at the first line saying it (else unchanged)."""
    loc = _first_saying(script, error.text)
    if loc is None:
        return error
    return ScriptError([diagnostic_at(loc, "error", str(error))])


def _first_saying(script: Script, text: str) -> Loc | None:
    """Where the script first says ``text`` (prose or an announced heading), if it does."""
    for item in script.items:
        if isinstance(item, Speech) and item.text == text:
            return item.loc
        if isinstance(item, Heading) and script.settings.announce and item.title == text:
            return item.loc
    return None


def _walk(builder: _Builder, script: Script, last_cue: Item | None) -> _Builder:
    """Place every item; stop as soon as the session passes 4 hours (20,000 one-hour cues
    would make hundreds of millions of events: minutes, gigabytes)."""
    for item in script.items:
        builder.add(item, final=item is last_cue)
        if builder.limit_reported:
            return builder
    builder.finish(script.items, last_cue)
    return builder


class _SpeechLowerBound:
    """Speech lengths no engine goes under: words at twice the rate (calibrated within 10%)."""

    def __init__(self, script: Script) -> None:
        self.seconds_per_word = 60.0 / (2 * script.settings.rate_wpm)

    def key(self, text: str) -> str:
        return text

    def prepare(self, texts: Iterable[str]) -> None:
        """Nothing to synthesise."""

    def duration_samples(self, text: str, sample_rate: int) -> int:
        return seconds_to_samples(words(text) * self.seconds_per_word, sample_rate)


@dataclass
class _OpenSection:
    title: str
    start_sample: int
    line: int
    file: str
    level: int
    side: str | None


@dataclass
class _Builder:
    """Walks the items with a sample cursor ``t``, collecting events and sections."""

    settings: Settings
    speech: SpeechLengths
    palette: ToneLengths
    sample_rate: int
    t: int = 0
    events: list[Event] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)
    errors: list[Diagnostic] = field(default_factory=list)
    _sections: list[_OpenSection] = field(default_factory=list)
    _last_speech_end: int = -1
    _last_prose: tuple[str, int] = ("", 0)  # (file, line) of the last prose spoken
    _last_tone_end: int = -1
    _lengths: dict[str, int] = field(default_factory=dict)
    limit_reported: bool = False

    def __post_init__(self) -> None:
        self.t = self.samples(self.settings.lead_in_s)
        self.words = self.settings.wording()

    # ---- small helpers --------------------------------------------------

    def samples(self, seconds: float) -> int:
        return seconds_to_samples(seconds, self.sample_rate)

    def resolve_s(self, spec, *, stepped: bool = False) -> float:
        """A duration as the level (or a dose's range point) resolves it."""
        point = self.settings.range_point
        at = None if point is None else (point.stepped if stepped else point.fraction)
        return spec.resolve_s(self.settings.level, at)

    def speech_len(self, text: str) -> int:
        if text not in self._lengths:
            # the speech service rounds exactly as the renderer resamples
            self._lengths[text] = max(1, self.speech.duration_samples(text, self.sample_rate))
        return self._lengths[text]

    def say(self, text: str, at: int, loc: Loc) -> int:
        """Add a speech event at sample ``at``; return its end."""
        end = at + self.speech_len(text)
        self.events.append(
            Event(
                "speech",
                at,
                end,
                loc.line,
                loc.file,
                text=text,
                speech_key=self.speech.key(text),
                col=loc.col,
            )
        )
        self._last_speech_end = max(self._last_speech_end, end)
        return end

    def tone(
        self, name: str, start: int, end: int, loc: Loc, *, variant: str = "", pan: float = 0.0
    ) -> None:
        self.events.append(
            Event(
                "tone",
                start,
                end,
                loc.line,
                loc.file,
                tone=name,
                variant=variant,
                pan=pan,
                col=loc.col,
            )
        )
        self._last_tone_end = max(self._last_tone_end, end)

    def span(self, kind: str, start: int, end: int, loc: Loc, *, text: str = "") -> None:
        if samples_to_seconds(end - start, self.sample_rate) > MAX_DIRECTIVE_S + 1e-9:
            self.errors.append(
                diagnostic_at(
                    loc,
                    "error",
                    f"{kind} would last {format_clock((end - start) / self.sample_rate)}; one directive may last at most 1 hour",
                )
            )
        self.events.append(Event(kind, start, end, loc.line, loc.file, text=text, col=loc.col))

    def ensure_section(self, loc: Loc) -> None:
        if not self._sections:
            self._sections.append(_OpenSection(self.settings.title, 0, loc.line, loc.file, 1, None))

    def after(self, span_end: int) -> None:
        """Move the cursor past a directive: its end, or its last inner speech if later."""
        self.t = max(span_end, self._last_speech_end, self.t)

    # ---- items ----------------------------------------------------------

    def add(self, item: Item, *, final: bool = False) -> None:
        """Place ``item`` at the cursor; ``final``: it is the script's last cue."""
        if not isinstance(item, Heading | ParagraphBreak):
            self.ensure_section(item.loc)
        if isinstance(item, _SPOKEN_DIRECTIVES):
            self.line_pause_before(item.loc)
        if isinstance(item, Heading):
            self.heading(item)
        elif isinstance(item, Speech):
            self.prose(item.text, item.loc)
        elif isinstance(item, ParagraphBreak):
            self.t = max(self.t, self._last_speech_end) + self.samples(
                self.settings.paragraph_pause_s
            )
        elif isinstance(item, Pause):
            start = self.t
            end = start + self.samples(self.resolve_s(item.duration))
            self.span("pause", start, end, item.loc)
            self.t = end
        elif isinstance(item, Place):
            self.place(item)
        elif isinstance(item, Breathe):
            self.breathe(item)
        elif isinstance(item, Hold):
            self.hold(item)
        elif isinstance(item, Wipers):
            self.wipers(item)
        elif isinstance(item, Roll):
            self.roll(item)
        elif isinstance(item, Bell):
            self.bell(item.loc, final=final)
        elif isinstance(item, Recheck):
            self.recheck(item)
        self.check_session_limit(item.loc)

    def heading(self, item: Heading) -> None:
        start = 0 if not self._sections and not self.events else self.t
        self._sections.append(
            _OpenSection(item.title, start, item.loc.line, item.loc.file, item.level, item.side)
        )
        if self.settings.announce:
            self.prose(item.title, item.loc)

    def prose(self, text: str, loc: Loc) -> None:
        if self.t <= self._last_speech_end:
            self.t = self._last_speech_end + self.samples(self.settings.line_pause_s)
        self.t = self.say(text, self.t, loc)
        self._last_prose = (loc.file, loc.line)

    def line_pause_before(self, loc: Loc) -> None:
        """A directive on a line of its own starts ``line_pause`` after the speech before it."""
        inline = self._last_prose == (loc.file, loc.line)
        if self.t <= self._last_speech_end and not inline:
            self.t = self._last_speech_end + self.samples(self.settings.line_pause_s)

    def place(self, item: Place) -> None:
        start = self.t
        end = start + self.samples(self.resolve_s(item.duration))
        ready = min(self.samples(self.palette.length_s("ready")), end - start)
        self.span("place", start, end, item.loc)
        self.tone("ready", end - ready, end, item.loc)
        self.t = end

    def breath_cycles(
        self,
        pattern: tuple[float, ...],
        start: int,
        cycles: int,
        guide: int,
        loc: Loc,
    ) -> int:
        """Tones for ``cycles`` whole breath cycles from ``start``, with the words on the first ``guide``.

        A phase of 0 s (no hold) is skipped: nothing is said and nothing sounds.
        Returns the end sample.
        """
        names = _PHASE_NAMES[len(pattern)]
        offset_s = 0.0
        end = start
        for cycle in range(cycles):
            for name, phase_s in zip(names, pattern, strict=True):
                if phase_s <= 0:
                    continue
                b0 = start + self.samples(offset_s)
                offset_s += phase_s
                b1 = start + self.samples(offset_s)
                if name in _PHASE_TONE:
                    self.tone(_PHASE_TONE[name], b0, b1, loc)
                if cycle < guide:
                    self.say(self.words(_PHASE_PHRASE[name]), b0, loc)
                end = b1
        return end

    def breathe(self, item: Breathe) -> None:
        cycle_s = sum(item.pattern)
        if item.cycles is not None:
            cycles = item.cycles
        else:
            cycles = max(
                1, math.floor(self.resolve_s(item.duration, stepped=True) / cycle_s + 1e-9)
            )
        guide = item.guide if item.guide is not None else self.settings.guide
        start = self.t
        end = start + self.samples(cycles * cycle_s)
        self.span("breathe", start, end, item.loc)
        self.breath_cycles(item.pattern, start, cycles, guide, item.loc)
        self.after(end)

    def hold(self, item: Hold) -> None:
        hold_s = self.resolve_s(item.duration)
        start = self.t
        end = start + self.samples(hold_s)
        self.span("hold", start, end, item.loc)
        count = 0
        if not item.quiet:
            count = item.count if item.count is not None else DEFAULT_COUNT
            if count > phrases.MAX_COUNT:
                self.errors.append(
                    diagnostic_at(
                        item.loc,
                        "error",
                        f"hold can count at most the last {phrases.MAX_COUNT} seconds "
                        f"(count {phrases.MAX_COUNT})",
                    )
                )
                count = 0
            count = min(count, math.floor(hold_s))
        if item.breathe is not None:  # time rule 6: whole cycles, before the countdown
            cycles = math.floor((hold_s - count) / sum(item.breathe) + 1e-9)
            self.breath_cycles(item.breathe, start, cycles, 0, item.loc)
        if not item.quiet:
            phrase_offsets_s: list[float] = [float(k) for k in range(1, count + 1)]
            if hold_s >= TEN_LEFT_MIN_S and count < 10:
                self.say(self.words("hold_ten_left"), end - self.samples(10.0), item.loc)
                phrase_offsets_s.append(10.0)
            halfway_left_s = hold_s / 2
            if hold_s >= HALFWAY_MIN_S and all(
                abs(halfway_left_s - o) >= MIN_PHRASE_SPACING_S for o in phrase_offsets_s
            ):
                self.say(self.words("hold_halfway"), start + self.samples(hold_s / 2), item.loc)
            for k in range(count, 0, -1):
                self.say(self.words.count(k), end - self.samples(float(k)), item.loc)
        self.t = end
        self.after(self.say(self.words("hold_release"), end, item.loc))

    def wipers(self, item: Wipers) -> None:
        sweep_s = self.resolve_s(item.sweep)
        guide = item.guide if item.guide is not None else self.settings.guide
        tick = self.samples(self.palette.length_s("tick"))
        start = self.t
        end = start + self.samples(item.count * sweep_s)
        self.span("wipers", start, end, item.loc)
        for k in range(item.count):
            side = _SIDES[k % 2]
            at = start + self.samples(k * sweep_s)
            if k < guide:
                self.say(self.words.wipers(side), at, item.loc)
            self.tone(
                "tick",
                at,
                min(at + tick, end),
                item.loc,
                variant=side,
                pan=-1.0 if side == "left" else 1.0,
            )
        self.t = end
        self.after(self.say(self.words("wipers_end"), max(end, self._last_speech_end), item.loc))

    def roll(self, item: Roll) -> None:
        roll_s = self.resolve_s(item.duration)
        stroke_s = self.resolve_s(item.stroke)
        guide = item.guide if item.guide is not None else self.settings.guide
        start = self.t
        end = start + self.samples(roll_s)
        self.span("roll", start, end, item.loc)
        k = 0
        while True:
            b0 = start + self.samples(k * stroke_s)
            if b0 >= end:
                break
            b1 = min(start + self.samples((k + 1) * stroke_s), end)
            up = k % 2 == 0
            if k < guide:
                self.say(self.words("roll_up" if up else "roll_down"), b0, item.loc)
            self.tone("stroke", b0, b1, item.loc, variant="up" if up else "down")
            k += 1
        self.t = end
        self.after(self.say(self.words("roll_end"), max(end, self._last_speech_end), item.loc))

    def recheck(self, item: Recheck) -> None:
        """The question, then RECHECK_WINDOW_S of quiet to feel and answer (one span for both)."""
        start = self.t
        asked = self.say(self.words.recheck(item.word), start, item.loc)
        end = asked + self.samples(RECHECK_WINDOW_S)
        self.span("recheck", start, end, item.loc, text=item.word)
        self.t = end

    def bell(self, loc: Loc, *, final: bool = False) -> None:
        """A bell; the ``final`` one comes ``end_quiet`` after the last sound (time rule 8)."""
        start = max(self.t, self._last_speech_end)
        last_sound = max(self._last_speech_end, self._last_tone_end)
        if final and last_sound >= 0:
            start = max(self.t, last_sound + self.samples(self.settings.end_quiet_s))
        end = start + self.samples(self.palette.length_s("bell"))
        self.span("bell", start, end, loc)
        self.tone("bell", start, end, loc)
        self.t = end

    def check_session_limit(self, loc: Loc) -> None:
        if not self.limit_reported and self.t > self.samples(MAX_SESSION_S):
            self.limit_reported = True
            self.errors.append(
                diagnostic_at(
                    loc,
                    "error",
                    f"the session would last more than 4 hours (the limit) by this point ({format_clock(self.t / self.sample_rate)})",
                )
            )

    # ---- the end ----------------------------------------------------------

    def finish(self, items: tuple[Item, ...], last_cue: Item | None) -> None:
        self.t = max(self.t, self._last_speech_end)
        if self.settings.end_bell and not isinstance(last_cue, Bell):
            loc = items[-1].loc if items else Loc("<script>", 1, 1)
            self.ensure_section(loc)
            self.bell(loc, final=True)
            self.check_session_limit(loc)

    def sections(self) -> tuple[Section, ...]:
        out = []
        for i, s in enumerate(self._sections):
            end = self._sections[i + 1].start_sample if i + 1 < len(self._sections) else self.t
            out.append(Section(s.title, s.start_sample, end, s.line, s.file, s.level, s.side))
        return tuple(out)
