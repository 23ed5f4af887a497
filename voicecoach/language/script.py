"""The parsed script: front-matter settings and a flat sequence of items.

The parser (``voicecoach.language.parser``) produces a ``Script`` in which includes are
already expanded, ``sides`` sections are already repeated once per side and
``{side}`` is already replaced. Durations stay as ``DurationSpec`` (a range
until the compiler resolves it by level). Nothing here knows about samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from voicecoach.language.phrases import Wording
from voicecoach.speech.service import ENGINE_NAMES

LEVELS = ("gentle", "standard", "deep")
ENGINES = ENGINE_NAMES  # the speech engines a script may name (one home: speech.service)


@dataclass(frozen=True)
class Loc:
    """Where an item came from: file path as given, 1-based line and column."""

    file: str
    line: int
    col: int


@dataclass(frozen=True)
class DurationSpec:
    """A fixed duration (``low_s == high_s``) or a range chosen by level."""

    low_s: float
    high_s: float

    @classmethod
    def fixed(cls, seconds: float) -> DurationSpec:
        return cls(seconds, seconds)

    @property
    def is_range(self) -> bool:
        return self.low_s != self.high_s

    def resolve_s(self, level: str, at: float | None = None) -> float:
        """gentle -> low end, standard -> middle, deep -> high end; or, when ``at`` is given
        (a dose: ``--minutes``), that far from the low end (0) to the high end (1)."""
        if at is not None:
            return self.low_s + min(max(at, 0.0), 1.0) * (self.high_s - self.low_s)
        if level == "gentle":
            return self.low_s
        if level == "deep":
            return self.high_s
        return (self.low_s + self.high_s) / 2


@dataclass(frozen=True)
class RangePoint:
    """Where every range resolves instead of by level, found by ``voicecoach.language.dose`` for ``--minutes``.

    ``fraction`` is the point from each range's low end (0) to its high end (1);
    ``stepped`` the same for the ranges whose effect moves in whole steps (a
    ``[breathe P D]`` runs whole cycles), so a dose can move them apart.
    """

    fraction: float
    stepped: float


@dataclass(frozen=True)
class Settings:
    """Front matter, validated, with the spec's defaults."""

    title: str
    teacher: str | None = None
    description: str | None = None
    equipment: str | None = None
    muscles: str | None = None
    engine: str | None = None  # None: piper when installed, else system
    voice: str | None = None
    rate_wpm: int = 140  # as heard: the engines are calibrated to it
    level: str = "standard"
    lead_in_s: float = 3.0
    line_pause_s: float = 0.8  # between two spoken lines of one paragraph
    paragraph_pause_s: float = 1.6  # at a blank line
    end_quiet_s: float = 6.0  # between the last spoken word and the final bell
    guide: int = 2
    announce: bool = False
    end_bell: bool = True
    voice_volume_db: float = 0.0
    tone_volume_db: float = -6.0
    palette: str | None = None  # None: the default palette
    range_point: RangePoint | None = None  # set by --minutes: ranges resolve here, not by level
    say: tuple[tuple[str, str], ...] = ()  # (phrase name, words): the say.NAME overrides
    # (key, line, col) of each front-matter value, so a later failure (an unknown palette or
    # voice) is reported at its line; not part of what the settings mean
    where: tuple[tuple[str, int, int], ...] = field(default=(), compare=False, repr=False)

    def location(self, key: str) -> tuple[int, int] | None:
        """``(line, col)`` of front-matter ``key``'s value, if the script set it."""
        return next(((line, col) for k, line, col in self.where if k == key), None)

    def wording(self) -> Wording:
        """The built-in phrases with this script's ``say.NAME`` overrides."""
        return Wording(dict(self.say))


# ---- items -----------------------------------------------------------------


@dataclass(frozen=True)
class Heading:
    """Starts a section. ``side`` is set inside an expanded ``sides`` section."""

    loc: Loc
    title: str
    level: int  # 1, 2 or 3
    side: str | None = None


@dataclass(frozen=True)
class Speech:
    """A piece of prose to speak (escapes resolved, ``{side}`` replaced)."""

    loc: Loc
    text: str


@dataclass(frozen=True)
class ParagraphBreak:
    """A blank line: a pause of ``paragraph_pause``."""

    loc: Loc


@dataclass(frozen=True)
class Pause:
    loc: Loc
    duration: DurationSpec


@dataclass(frozen=True)
class Place:
    loc: Loc
    duration: DurationSpec  # default 5s


@dataclass(frozen=True)
class Breathe:
    """``pattern`` holds 2 (in-out), 3 (in-hold-out) or 4 (in-hold-out-hold) phase lengths in seconds.

    A hold phase may be 0 (no hold: nothing is said, no tone).

    Exactly one of ``cycles`` and ``duration`` is set. ``guide`` is None when
    the script did not say (use ``Settings.guide``).
    """

    loc: Loc
    pattern: tuple[float, ...]
    cycles: int | None = None
    duration: DurationSpec | None = None
    guide: int | None = None


@dataclass(frozen=True)
class Hold:
    """``count`` None means the default countdown; ``breathe`` is a pattern to tone under the hold."""

    loc: Loc
    duration: DurationSpec
    count: int | None = None
    quiet: bool = False
    breathe: tuple[float, ...] | None = None


@dataclass(frozen=True)
class Wipers:
    loc: Loc
    count: int
    sweep: DurationSpec  # default 3s
    guide: int | None = None


@dataclass(frozen=True)
class Roll:
    loc: Loc
    duration: DurationSpec
    stroke: DurationSpec  # default 4s
    guide: int | None = None


@dataclass(frozen=True)
class Bell:
    loc: Loc


@dataclass(frozen=True)
class Recheck:
    """A re-check of the area named ``word``: a spoken question, then a window to answer."""

    loc: Loc
    word: str


Item = (
    Heading
    | Speech
    | ParagraphBreak
    | Pause
    | Place
    | Breathe
    | Hold
    | Wipers
    | Roll
    | Bell
    | Recheck
)


@dataclass(frozen=True)
class Script:
    """A whole parsed script. ``warnings`` are non-fatal diagnostics."""

    path: str
    settings: Settings
    items: tuple[Item, ...]
    warnings: tuple = field(default=())  # tuple[Diagnostic, ...]

    def __repr__(self) -> str:
        return f"<Script {self.settings.title!r} from {self.path!r}, {len(self.items)} items>"
