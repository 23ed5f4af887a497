"""The library API: load a script, then plan, export or play it.

    import voicecoach
    session = voicecoach.load("upper-back")          # a built-in name or a path
    print(session.plan().duration_s)
    session.export("upper-back.mp3", captions=True)

The CLI is a thin layer over this module.
"""

from __future__ import annotations

import contextlib
import dataclasses
import linecache
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voicecoach.errors import (
    Diagnostic,
    LibraryError,
    PhraseError,
    RenderError,
    ScriptError,
    SpeechError,
    UsageError,
    VoiceError,
)
from voicecoach.export.formats import OPUS_SAMPLE_RATE
from voicecoach.language.limits import RATE_RANGE_WPM
from voicecoach.language.plan import Plan
from voicecoach.language.script import ENGINES, LEVELS, Script
from voicecoach.library import resolve_script
from voicecoach.units import DEFAULT_SAMPLE_RATE, SUPPORTED_SAMPLE_RATES

if TYPE_CHECKING:
    from voicecoach.export.writer import ExportResult
    from voicecoach.journal.store import Journal
    from voicecoach.language.ahead import PlanAhead
    from voicecoach.language.compiler import SpeechLengths
    from voicecoach.sound.palette import Palette
    from voicecoach.speech import SpeechService
    from voicecoach.speech.engine import SpeechAudio


LEAD_IN_RANGE_S = (0, 600)  # the lead-in an option may set (``--lead-in``, ``load(lead_in=)``)


@dataclass(frozen=True)
class Overrides:
    """Command-line choices that win over a script's front matter (None: keep the script's)."""

    level: str | None = None
    voice: str | None = None
    rate_wpm: int | None = None
    engine: str | None = None
    lead_in_s: float | None = None
    minutes: float | None = None  # a dose: every range resolved so the session lasts this long

    def __post_init__(self) -> None:
        if self.minutes is not None and self.level is not None:
            raise UsageError("--minutes chooses the point in every range itself; leave out --level")
        if self.level is not None and self.level not in LEVELS:
            raise UsageError(f"level must be one of {', '.join(LEVELS)}, not {self.level!r}")
        if self.engine is not None and self.engine not in ENGINES:
            raise UsageError(f"engine must be one of {', '.join(ENGINES)}, not {self.engine!r}")
        low_wpm, high_wpm = RATE_RANGE_WPM
        if self.rate_wpm is not None and not low_wpm <= self.rate_wpm <= high_wpm:
            raise UsageError(
                f"rate must be {low_wpm} to {high_wpm} words per minute, not {self.rate_wpm}"
            )
        low_s, high_s = LEAD_IN_RANGE_S
        if self.lead_in_s is not None and not low_s <= self.lead_in_s <= high_s:
            raise UsageError(f"lead-in must be {low_s} to {high_s} seconds, not {self.lead_in_s}")


def parse_script(path: Path) -> Script:
    """Parse a script file, with includes resolved against the built-in library too."""
    from voicecoach.language.parser import parse_file
    from voicecoach.storage.resources import builtin_scripts_dir

    return parse_file(path, builtin_dir=builtin_scripts_dir())


class Session:
    """One script with its options; plans are compiled on demand and kept per sample rate."""

    def __init__(
        self,
        script: Script,
        path: Path,
        overrides: Overrides | None = None,
        *,
        use_cache: bool = True,
    ):
        self.path = path
        self.script = _apply(script, overrides or Overrides())
        self.minutes = (overrides or Overrides()).minutes
        self.use_cache = use_cache
        self._speech: SpeechService | None = None
        self._palette: Palette | None = None
        self._plans: dict[int, Plan] = {}

    @property
    def settings(self):
        return self.script.settings

    @property
    def engine_name(self) -> str:
        from voicecoach.speech import default_engine_name

        return self.settings.engine or default_engine_name()

    @property
    def speech(self) -> SpeechService:
        if self._speech is None:
            from voicecoach.speech import open_speech

            with self._at_front_matter():
                self._speech = open_speech(
                    self.engine_name,
                    voice=self.settings.voice,
                    rate_wpm=self.settings.rate_wpm,
                    use_cache=self.use_cache,
                )
        return self._speech

    @property
    def palette(self) -> Palette:
        if self._palette is None:
            from voicecoach.sound.palette import load_palette

            with self._at_front_matter():
                self._palette = load_palette(self.settings.palette, relative_to=self.path.parent)
        return self._palette

    @contextlib.contextmanager
    def _at_front_matter(self) -> Iterator[None]:
        """A bad ``palette:``, ``voice:`` or ``engine:`` is reported at its front-matter line."""
        try:
            yield
        except (RenderError, LibraryError, SpeechError) as e:
            if isinstance(e, VoiceError):
                key = "voice"
            elif isinstance(e, SpeechError):
                key = "engine"
            else:
                key = "palette"
            where = self.settings.location(key)
            if where is None:
                raise
            line, col = where
            file = self.script.path
            source = linecache.getline(file, line).rstrip("\r\n") or None
            raise ScriptError([Diagnostic(file, line, col, "error", str(e), source)]) from e

    def plan(self, *, sample_rate: int = DEFAULT_SAMPLE_RATE) -> Plan:
        """The compiled plan at ``sample_rate`` Hz (raises ScriptError on errors).

        The speech it says is synthesised first (what is missing, in one batch
        on every worker: ``PlanAhead.complete``), only the phrases it says.
        """
        if sample_rate not in self._plans:
            self._plans[sample_rate] = self.plan_ahead(sample_rate=sample_rate).complete()
        return self._plans[sample_rate]

    def _compile(self, speech: SpeechLengths, sample_rate: int) -> Plan:
        """The plan with the speech lengths of ``speech`` (the service, or estimates)."""
        if sample_rate not in SUPPORTED_SAMPLE_RATES:
            rates = ", ".join(str(r) for r in SUPPORTED_SAMPLE_RATES)
            raise UsageError(f"sample rate must be one of {rates} Hz, not {sample_rate}")
        from voicecoach.language.compiler import compile_script

        palette = self.palette

        def compile_plan(script: Script) -> Plan:
            return compile_script(
                script, speech, palette=palette, sample_rate=sample_rate, engine=self.engine_name
            )

        with self._at_front_matter():
            if self.minutes is None:
                return compile_plan(self.script)
            from voicecoach.language.dose import fit_minutes

            return fit_minutes(self.script, compile_plan, self.minutes, name=self.path.stem)

    def estimate(self, *, sample_rate: int = DEFAULT_SAMPLE_RATE) -> tuple[Plan, bool]:
        """The plan at once, never waiting for synthesis: ``(plan, exact)``.

        Phrases not in the speech cache yet get lengths estimated from the rate;
        ``exact`` is True when none had to be (then it is the plan ``plan()`` gives).
        """
        if sample_rate in self._plans:
            return self._plans[sample_rate], True
        from voicecoach.language.estimate import EstimatedSpeech

        lengths = EstimatedSpeech(self.speech)
        return self._compile(lengths, sample_rate), lengths.estimated == 0

    def export(
        self,
        out: str | os.PathLike | None = None,
        *,
        fmt: str | None = None,
        captions: bool = False,
        sample_rate: int | None = None,
        progress: Any = None,
    ) -> ExportResult:
        """Render the session to an audio file (atomically). Returns an ``ExportResult``."""
        from voicecoach.export.formats import format_for
        from voicecoach.export.writer import export_plan

        target = default_output_path(self.path, out, fmt)
        chosen = format_for(target, fmt)
        if sample_rate is None:
            sample_rate = OPUS_SAMPLE_RATE if chosen == "opus" else DEFAULT_SAMPLE_RATE
        # With a slow engine (piper) speech not synthesised yet is, in heard order, while the
        # file is written as far as the plan is final (``language.ahead``): the render
        # overlaps the synthesis. A fast one synthesises first, then the export renders in
        # two processes (no fork while another thread runs).
        ahead = self.plan_ahead(sample_rate=sample_rate)
        if not ahead.done:
            if self.speech.engine.slow:
                ahead.start()
            else:
                from voicecoach.language.ahead import fixed
                from voicecoach.sound.meanwhile import tones_meanwhile

                with tones_meanwhile(ahead.plan, self.palette):  # a core is idle meanwhile
                    ahead = fixed(self.plan(sample_rate=sample_rate))
        from voicecoach.sound.blas import one_blas_thread

        try:
            with one_blas_thread():
                return export_plan(
                    ahead,
                    self.speech.audio,
                    target,
                    palette=self.palette,
                    fmt=chosen,
                    captions=captions,
                    progress=progress,
                )
        finally:
            self._let_go(ahead, sample_rate)

    def _let_go(self, ahead: PlanAhead, sample_rate: int) -> None:
        """After an export or a play: stop synthesising; keep the plan if it became final."""
        ahead.stop()  # (what is being synthesised stops with the workers, at close)
        ahead.join(0.5)
        if ahead.done and ahead.error is None:
            self._plans[sample_rate] = ahead.plan

    def plan_ahead(self, *, sample_rate: int = DEFAULT_SAMPLE_RATE, later: tuple[str, ...] = ()):
        """The plan at once, settling while a thread synthesises its speech in heard order.

        A ``voicecoach.language.ahead.PlanAhead``: its ``plan`` is final up to
        ``settled_sample`` (all of it once ``done``: then it is ``plan()``'s);
        call ``start()`` to begin synthesising. ``later`` are phrases to
        synthesise after the plan's. Script errors are raised here, at once.
        """
        from voicecoach.language.ahead import PlanAhead
        from voicecoach.language.compiler import at_its_line
        from voicecoach.sound.render import lookahead_samples

        speech = self.speech
        if sample_rate in self._plans:  # final already ("later" is still synthesised on start)
            compiled = self._plans[sample_rate]
            return PlanAhead(lambda lengths: compiled, speech, later=later)

        def explain(error: BaseException) -> BaseException:
            """A phrase's failure at its line; a voice's or engine's at its front-matter line."""
            if isinstance(error, PhraseError):
                return at_its_line(self.script, error)
            try:
                with self._at_front_matter():
                    raise error
            except BaseException as e:  # (the same error when it is not the front matter's)
                return e

        return PlanAhead(
            lambda lengths: self._compile(lengths, sample_rate),
            speech,
            lookahead_samples=lookahead_samples(self.palette, sample_rate),
            later=later,
            explain=explain,
            causal=self.minutes is None,  # a dose fits every range to the whole length
        )

    def with_level(self, level: str) -> Session:
        """The same parsed script at another level, sharing this session's speech service and palette.

        Close this session when done, not the copy (they share one speech worker).
        """
        other = Session(self.script, self.path, Overrides(level=level), use_cache=self.use_cache)
        other._speech, other._palette = self.speech, self.palette
        return other

    def with_minutes(self, minutes: float) -> Session:
        """The same parsed script as a dose of ``minutes`` (see ``with_level``; ``voicecoach.language.dose``)."""
        other = Session(
            self.script, self.path, Overrides(minutes=minutes), use_cache=self.use_cache
        )
        other._speech, other._palette = self.speech, self.palette
        return other

    def prepare_speech(self) -> None:
        """Synthesise, in one batch, everything a session may say: its script and "paused" (for play)."""
        from voicecoach.language.compiler import at_its_line, spoken_texts

        paused = self.script.settings.wording()("paused")
        try:
            self.speech.prepare([*spoken_texts(self.script), paused])
        except PhraseError as e:
            raise at_its_line(self.script, e) from e

    def play(
        self,
        *,
        start_sample: int = 0,
        sample_rate: int = DEFAULT_SAMPLE_RATE,
        journal: Journal | None = None,
        record: bool = True,
        notice: Callable[[str], None] | None = None,
        intro: str | None = None,
        **options,
    ):
        """Play live through a sound device. Options: see ``voicecoach.playback.player.play_plan``.

        The play is recorded in ``journal`` (default: the user's) unless ``record`` is False;
        a journal that cannot be written is said through ``notice`` (default: a line on
        stderr) and never stops the session. ``intro`` is a sentence said in the session's voice
        before the lead-in (synthesised and cached like any phrase).
        """
        from voicecoach.journal.recorder import PlayRecord, session_key
        from voicecoach.journal.store import Journal
        from voicecoach.playback.devices import resolve_device
        from voicecoach.playback.player import play_plan

        resolve_device(options.get("device"))  # no device: say so before synthesising speech
        paused_words = self.script.settings.wording()("paused")
        said = None
        if intro:  # said before the lead-in: needed first
            self.speech.prepare([intro])
            said = self.speech.audio(self.speech.key(intro))
        # The plan at once; what is not synthesised yet is, ahead of the playhead, while it plays.
        ahead = self.plan_ahead(sample_rate=sample_rate, later=(paused_words,)).start()

        def paused() -> SpeechAudio | None:
            if not self.speech.is_ready(paused_words):
                return None  # a soft two-note sound says "paused" until the word is ready
            return self.speech.audio(self.speech.key(paused_words))

        entry = None
        if record:
            entry = PlayRecord.begin(
                journal or Journal(),
                ahead.plan,
                self.script,
                session=session_key(self.path),
                minutes=self.minutes,
                notice=notice,
            )
        from voicecoach.sound.blas import one_blas_thread

        try:
            with one_blas_thread():
                report = play_plan(
                    ahead,
                    self.speech.audio,
                    palette=self.palette,
                    start_sample=start_sample,
                    paused_speech=paused,
                    recorder=entry,
                    intro_speech=said,
                    **options,
                )
        except BaseException:
            if entry is not None:
                entry.end(completed=False, stopped_at_sample=None)
            raise
        finally:
            self._let_go(ahead, sample_rate)
        if entry is not None:
            entry.end(completed=report.completed, stopped_at_sample=report.stopped_at_sample)
        return report

    def close(self) -> None:
        if self._speech is not None:
            self._speech.close()
            self._speech = None

    def __repr__(self) -> str:
        s = self.settings
        return f"<Session {s.title!r} from {str(self.path)!r}, level {s.level}, engine {self.engine_name}>"

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _apply(script: Script, o: Overrides) -> Script:
    changes: dict[str, Any] = {
        k: v
        for k, v in (
            ("level", o.level),
            ("voice", o.voice),
            ("rate_wpm", o.rate_wpm),
            ("engine", o.engine),
            ("lead_in_s", o.lead_in_s),
        )
        if v is not None
    }
    if not changes:
        return script
    # a value given as an option is no longer the front matter's: its errors are the option's
    front_keys = {"rate_wpm": "rate", "lead_in_s": "lead_in"}
    overridden = {front_keys.get(k, k) for k in changes}
    changes["where"] = tuple(w for w in script.settings.where if w[0] not in overridden)
    return dataclasses.replace(script, settings=dataclasses.replace(script.settings, **changes))


def default_output_path(script_path: Path, out: str | os.PathLike | None, fmt: str | None) -> Path:
    """``<script name>.<ext>`` in the current folder, or inside ``out`` when it is a folder."""
    ext = (fmt or "wav").lower()
    if out is None:
        return Path.cwd() / f"{script_path.stem}.{ext}"
    target = Path(out)
    if target.is_dir():
        return target / f"{script_path.stem}.{ext}"
    return target


LOAD_OPTIONS = ("level", "voice", "rate", "engine", "lead_in", "minutes", "use_cache")


def load(
    name_or_path: str | os.PathLike,
    *,
    level: str | None = None,
    voice: str | None = None,
    rate: int | None = None,
    engine: str | None = None,
    lead_in: float | str | None = None,
    minutes: float | None = None,
    use_cache: bool = True,
    **unknown: Any,
) -> Session:
    """Load a built-in session by name (``"upper-back"``, or words of its title: ``"back of the neck"``)
    or a script by path. Options win over the script's front matter, like the CLI's options:

    - ``level``: ``"gentle"``, ``"standard"`` or ``"deep"`` (how ranges resolve);
    - ``voice``: a voice name or id of the engine;
    - ``rate``: words per minute as heard, 80-450;
    - ``engine``: ``"system"`` or ``"piper"``;
    - ``lead_in``: silence before the first cue, in seconds or as a duration (``"10s"``);
    - ``minutes``: a dose: every range (holds, pauses...) resolved at the point that makes the
      session last this many minutes within 5 s, instead of by level (``voicecoach.language.dose``);
    - ``use_cache``: keep synthesised speech in the cache (default True).
    """
    if unknown:
        import difflib

        name = next(iter(unknown))
        close = difflib.get_close_matches(name, LOAD_OPTIONS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UsageError(
            f"unknown option {name!r} for load{hint} (the options are {', '.join(LOAD_OPTIONS)})"
        )
    path = resolve_script(name_or_path)
    o = Overrides(
        level=level,
        voice=voice,
        rate_wpm=rate,
        engine=engine,
        lead_in_s=_seconds(lead_in),
        minutes=minutes,
    )
    return Session(parse_script(path), path, o, use_cache=use_cache)


def _seconds(value: float | str | None) -> float | None:
    """``lead_in`` as given: seconds, or a duration like ``"10s"`` / ``"1m"``."""
    if value is None or isinstance(value, int | float):
        return None if value is None else float(value)
    from voicecoach.language.tokens import duration_text_s

    seconds = duration_text_s(str(value))
    if seconds is None:
        raise UsageError(f"lead_in must be seconds or a duration like '10s', not {value!r}")
    return seconds


__all__ = ["Overrides", "Session", "SessionInfo", "load", "default_output_path", "session_info"]


@dataclass(frozen=True)
class SessionInfo:
    name: str
    path: str
    title: str
    teacher: str | None
    description: str | None
    equipment: str | None
    muscles: str | None
    duration_s_by_level: dict  # level -> seconds (None if the script does not compile)
    estimated: bool  # lengths estimated from the rate: some speech is not synthesised yet
    sections: tuple = ()  # (title, start_s) at the session's own level

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "path": self.path,
            "title": self.title,
            "teacher": self.teacher,
            "description": self.description,
            "equipment": self.equipment,
            "muscles": self.muscles,
            "duration_s": self.duration_s_by_level,
            "estimated": self.estimated,
            "sections": [{"title": t, "start_s": s} for t, s in self.sections],
        }


def session_info(name: str, *, engine: str | None = None, exact: bool = False) -> SessionInfo:
    """What ``list`` and ``show`` tell of a session, with its length at each level.

    Lengths come at once (``Session.estimate``), estimated where speech is not
    cached yet; ``exact=True`` synthesises what is missing instead.
    """
    path = resolve_script(name)
    base = load(path, engine=engine)
    durations: dict[str, float | None] = {}
    estimated = False
    sections: tuple = ()
    try:
        for level in LEVELS:
            session = base.with_level(level)
            if exact:
                plan, known = session.plan(), True
            else:
                plan, known = session.estimate()
            estimated = estimated or not known
            durations[level] = round(plan.duration_s, 3)
            if level == base.settings.level:
                sections = tuple(
                    (s.title, round(s.start_sample / plan.sample_rate, 3)) for s in plan.sections
                )
    except ScriptError:
        durations = {level: None for level in LEVELS}
    finally:
        base.close()
    s = base.settings
    return SessionInfo(
        name,
        str(path),
        s.title,
        s.teacher,
        s.description,
        s.equipment,
        s.muscles,
        durations,
        estimated,
        sections,
    )
