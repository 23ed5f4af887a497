"""Directives: one ``[...]`` cue of a script parsed into an item (or reported).

``parse_cue`` reads a cue's tokens (``tokens.classify``) and hands them to the
parser of its directive (``[pause]``, ``[place]``, ``[breathe]``, ``[hold]``,
``[wipers]``, ``[roll]``, ``[bell]``, ``[recheck]``; a bare duration is a
pause), which checks every option at its column; ``parse_sides`` reads the
names of a ``[sides]`` line. ``[include]`` is handled by ``includes``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from voicecoach.language.limits import (
    MAX_CUE_TOKENS,
    MAX_DIRECTIVE_S,
    MAX_ERRORS_PER_LINE,
    MIN_PHASE_S,
)
from voicecoach.language.lines import CueSeg, SidesRec
from voicecoach.language.report import Reporter, did_you_mean
from voicecoach.language.script import (
    Bell,
    Breathe,
    DurationSpec,
    Hold,
    Item,
    Loc,
    Pause,
    Place,
    Recheck,
    Roll,
    Wipers,
)
from voicecoach.language.tokens import (
    NAMED_PATTERNS,
    UNIT_WORDS,
    Token,
    classify,
    format_seconds,
)

DEFAULT_PLACE_S = 5.0
DEFAULT_SWEEP_S = 3.0
DEFAULT_STROKE_S = 4.0
DEFAULT_SIDES = ("left", "right")

DIRECTIVES = (
    "pause",
    "place",
    "breathe",
    "hold",
    "wipers",
    "roll",
    "bell",
    "recheck",
    "sides",
    "include",
)

_NUMBER_RE = re.compile(r"\d+(?:\.\d+)?|\.\d+")


_USAGE = {
    "pause": "[pause 5s]",
    "place": "[place 8s]",
    "breathe": "[breathe 4-2-6 x3] or [breathe box 2m], optionally with guide N",
    "hold": "[hold 45s], optionally with count N, quiet, breathe 4-6",
    "wipers": "[wipers x8 3s], optionally with guide N",
    "roll": "[roll 1m stroke 4s], optionally with guide N",
    "bell": "[bell]",
    "recheck": "[recheck shoulders]",
}
_OPTIONS = {
    "pause": (),
    "place": (),
    "breathe": ("guide", *NAMED_PATTERNS),
    "hold": ("count", "quiet", "breathe"),
    "wipers": ("guide",),
    "roll": ("stroke", "guide"),
    "bell": (),
    "recheck": (),
}
_KIND_NAMES = {
    "duration": "duration",
    "count": "count",
    "pattern": "breath pattern",
    "word": "word",
}


class _Cue:
    """Helpers shared by the directive parsers: token stream, errors at token columns."""

    def __init__(self, name: str, keyword_col: int, line: int, tokens: list[Token], rep: Reporter):
        self.name = name
        self.keyword_col = keyword_col
        self.line = line
        self.tokens = tokens
        self.rep = rep
        self.failed = False
        self._pos = 0
        self._options: set[str] = set()  # option words given so far (see option_once)

    def __iter__(self) -> Iterator[Token]:
        # a cue of 300,000 bad words is not reported word by word (see MAX_ERRORS_PER_LINE)
        while (
            self._pos < len(self.tokens) and self.rep.line_errors(self.line) < MAX_ERRORS_PER_LINE
        ):
            tok = self.tokens[self._pos]
            self._pos += 1
            yield tok

    def next_raw(self) -> Token | None:
        if self._pos < len(self.tokens):
            tok = self.tokens[self._pos]
            self._pos += 1
            return tok
        return None

    def error(self, col: int, message: str) -> None:
        self.failed = True
        self.rep.error(self.line, col, message)

    def unexpected(self, tok: Token) -> None:
        if tok.kind == "bad":
            self.error(tok.col, str(tok.value))
        elif tok.kind == "word":
            options = _OPTIONS[self.name]
            hint = "" if self.rep.full() else did_you_mean(str(tok.value), options)
            if not hint:
                hint = f"; write it like {_USAGE[self.name]}"
            self.error(tok.col, f"unknown option '{tok.text}' for {self.name}{hint}")
        elif tok.kind == "pattern" and self.name != "breathe":
            self.error(
                tok.col, f"'{tok.text}' has no unit: for a range of seconds write {tok.text}s"
            )
        else:
            kind = _KIND_NAMES[tok.kind]
            self.error(
                tok.col,
                f"unexpected {kind} '{tok.text}' in {self.name}; write it like {_USAGE[self.name]}",
            )

    def first(self, kept: Token | None, tok: Token, what: str) -> Token:
        """Keep the first token of its kind; a later one is reported as a second ``what``."""
        if kept is None:
            return tok
        self.duplicate(tok, what)
        return kept

    def option_once(self, tok: Token) -> None:
        """Note option word ``tok``; a second one of the same name is reported (the later counts)."""
        name = str(tok.value)
        if name in self._options:
            self.duplicate(tok, name)
        self._options.add(name)

    def duplicate(self, tok: Token, what: str) -> None:
        if tok.kind == "word" and tok.value == what:  # an option word given twice
            self.error(tok.col, f"'{tok.text}' is given twice in {self.name}")
        else:
            self.error(tok.col, f"{self.name} takes one {what}; '{tok.text}' is a second one")

    def missing(self, message: str) -> None:
        if not self.failed:  # a malformed token already explains what is missing
            self.error(self.keyword_col, message)

    def option_int(self, opt: Token, minimum: int, example: str) -> int | None:
        tok = self.next_raw()
        what = "a whole number" if minimum == 0 else f"a whole number of at least {minimum}"
        if tok is None or not (tok.text.isascii() and tok.text.isdigit() and len(tok.text) < 7):
            self.error(tok.col if tok else opt.col, f"{opt.text} needs {what}, like {example}")
            return None
        value = int(tok.text)
        if value < minimum:
            self.error(tok.col, f"{opt.text} needs {what}, like {example}")
            return None
        return value

    def option_duration(self, opt: Token, example: str) -> DurationSpec | None:
        tok = self.next_raw()
        if tok is None or tok.kind != "duration":
            if tok is not None and tok.kind == "bad":
                self.error(tok.col, str(tok.value))
            else:
                self.error(
                    tok.col if tok else opt.col, f"{opt.text} needs a duration, like {example}"
                )
            return None
        return tok.as_duration()

    def option_pattern(self, opt: Token, example: str) -> tuple[float, ...] | None:
        tok = self.next_raw()
        pattern = _pattern_of(tok) if tok is not None else None
        if pattern is None:
            if tok is not None and tok.kind == "bad":
                self.error(tok.col, str(tok.value))
            else:
                self.error(
                    tok.col if tok else opt.col,
                    f"{opt.text} needs a breath pattern, like {example}",
                )
        return pattern

    def too_long(self, tok_col: int, seconds: float) -> bool:
        if seconds > MAX_DIRECTIVE_S:
            self.error(
                tok_col,
                f"a directive lasts at most 1 hour; this {self.name} would last {format_seconds(seconds)}",
            )
            return True
        return False


def _pattern_of(tok: Token) -> tuple[float, ...] | None:
    if tok.kind == "pattern":
        return tok.as_pattern()
    if tok.kind == "word" and tok.value in NAMED_PATTERNS:
        return NAMED_PATTERNS[str(tok.value)]
    return None


def _join_spaced_units(tokens: list[Token]) -> list[Token]:
    """``30 sec``: one error at the number saying to drop the space, not two errors."""
    out: list[Token] = []
    for tok in tokens:
        prev = out[-1] if out else None
        if (
            prev is not None
            and prev.kind == "bad"
            and _NUMBER_RE.fullmatch(prev.text)
            and tok.kind == "word"
            and tok.text.lower() in UNIT_WORDS
        ):
            joined = prev.text + tok.text
            out[-1] = Token(
                joined, prev.col, "bad", f"write the unit right after the number: {joined}"
            )
            continue
        out.append(tok)
    return out


def parse_cue(seg: CueSeg, matches: list[re.Match], line: int, rep: Reporter) -> Item | None:
    """Parse one ``[ ... ]`` cue (not sides/include) into an item, or report why not."""
    loc = Loc(rep.file, line, seg.col)
    if not matches:
        rep.error(line, seg.col, "empty cue; write a directive like [pause 5s] or [bell]")
        return None
    # No directive takes more than 8 tokens, and a line stops at MAX_ERRORS_PER_LINE errors:
    # the rest of a 300,000-word cue is never looked at (classifying it all took seconds).
    tokens = _join_spaced_units(
        [classify(m.group(0), seg.content_col + m.start()) for m in matches[:MAX_CUE_TOKENS]]
    )
    head = tokens[0]
    if head.kind == "word" and head.value in _USAGE:
        cue = _Cue(str(head.value), head.col, line, tokens[1:], rep)
        item = _DIRECTIVE_PARSERS[cue.name](cue, loc)
        return None if cue.failed else item
    if head.kind == "duration":  # a bare [D] or [range] is a pause
        cue = _Cue("pause", head.col, line, tokens, rep)
        item = _parse_pause(cue, loc)
        return None if cue.failed else item
    if head.kind == "bad":
        rep.error(line, head.col, str(head.value))
    elif head.kind == "word":
        hint = "" if rep.full() else did_you_mean(str(head.value), DIRECTIVES)
        if not hint:
            hint = f"; expected one of {', '.join(DIRECTIVES)}"
        rep.error(line, head.col, f"unknown directive '{head.text}'{hint}")
    elif head.kind == "pattern" and len(head.as_pattern()) == 2:
        rep.error(
            line, head.col, f"'{head.text}' has no unit: for a range of seconds write {head.text}s"
        )
    else:
        rep.error(
            line,
            head.col,
            f"a cue starts with a directive or a duration, like [breathe {head.text}] or [5s]"
            if head.kind == "pattern"
            else f"a cue starts with a directive or a duration, like [wipers {head.text}] or [5s]",
        )
    return None


def _parse_pause(cue: _Cue, loc: Loc) -> Item | None:
    duration: Token | None = None
    for tok in cue:
        if tok.kind == "duration":
            duration = cue.first(duration, tok, "duration")
        else:
            cue.unexpected(tok)
    if duration is None:
        cue.missing("pause needs a duration, like 5s")
        return None
    spec = duration.as_duration()
    cue.too_long(duration.col, spec.high_s)
    return Pause(loc, spec)


def _parse_place(cue: _Cue, loc: Loc) -> Item | None:
    duration: Token | None = None
    for tok in cue:
        if tok.kind == "duration":
            duration = cue.first(duration, tok, "duration")
        else:
            cue.unexpected(tok)
    if duration is None:
        return Place(loc, DurationSpec.fixed(DEFAULT_PLACE_S))
    spec = duration.as_duration()
    cue.too_long(duration.col, spec.high_s)
    return Place(loc, spec)


def _parse_breathe(cue: _Cue, loc: Loc) -> Item | None:
    pattern: tuple[float, ...] | None = None
    count: Token | None = None
    duration: Token | None = None
    guide: int | None = None
    for tok in cue:
        found = _pattern_of(tok)
        if found is not None:
            if pattern is not None:
                cue.duplicate(tok, "breath pattern")
            pattern = pattern or found
        elif tok.kind in ("count", "duration"):
            if count is not None or duration is not None:
                cue.error(
                    tok.col,
                    f"breathe takes either a count (x5) or a duration (2m), not both; '{tok.text}' is extra",
                )
            elif tok.kind == "count":
                count = tok
            else:
                duration = tok
        elif tok.is_word("guide"):
            cue.option_once(tok)
            guide = cue.option_int(tok, 0, "guide 2")
        else:
            cue.unexpected(tok)
    if pattern is None:
        cue.missing("breathe needs a breath pattern, like 4-2-6 or box")
        return None
    if count is None and duration is None:
        cue.missing("breathe needs a count or a duration, like x3 or 2m")
        return None
    cycle_s = sum(pattern)
    if count is not None:
        cue.too_long(count.col, cycle_s * count.as_count())
        return Breathe(loc, pattern, cycles=count.as_count(), guide=guide)
    assert duration is not None  # a count or a duration, checked above
    spec = duration.as_duration()
    cue.too_long(duration.col, max(spec.high_s, cycle_s))
    return Breathe(loc, pattern, duration=spec, guide=guide)


def _parse_hold(cue: _Cue, loc: Loc) -> Item | None:
    duration: Token | None = None
    count: int | None = None
    count_tok: Token | None = None
    quiet = False
    breathe: tuple[float, ...] | None = None
    for tok in cue:
        if tok.kind == "duration":
            duration = cue.first(duration, tok, "duration")
        elif tok.kind == "word" and tok.value in ("count", "quiet", "breathe"):
            cue.option_once(tok)
            if tok.is_word("count"):
                count_tok = tok
                count = cue.option_int(tok, 1, "count 5")
            elif tok.is_word("quiet"):
                quiet = True
            else:
                breathe = cue.option_pattern(tok, "4-6 or calm")
        else:
            cue.unexpected(tok)
    if duration is None:
        cue.missing("hold needs a duration, like 45s")
        return None
    spec = duration.as_duration()
    cue.too_long(duration.col, spec.high_s)
    if quiet and count_tok is not None:
        cue.error(count_tok.col, "a quiet hold has no countdown; remove 'quiet' or 'count'")
    elif count is not None and count_tok is not None and count > spec.low_s:
        cue.error(
            count_tok.col,
            f"count {count} is longer than the hold ({format_seconds(spec.low_s)})",
        )
    return Hold(loc, spec, count=count, quiet=quiet, breathe=breathe)


def _parse_wipers(cue: _Cue, loc: Loc) -> Item | None:
    count: Token | None = None
    sweep: Token | None = None
    guide: int | None = None
    for tok in cue:
        if tok.kind == "count":
            count = cue.first(count, tok, "count")
        elif tok.kind == "duration":
            sweep = cue.first(sweep, tok, "duration")
        elif tok.is_word("guide"):
            cue.option_once(tok)
            guide = cue.option_int(tok, 0, "guide 2")
        else:
            cue.unexpected(tok)
    if count is None:
        cue.missing("wipers needs a count of sweeps, like x8")
        return None
    spec = sweep.as_duration() if sweep is not None else DurationSpec.fixed(DEFAULT_SWEEP_S)
    if sweep is not None and spec.low_s < MIN_PHASE_S:
        cue.error(sweep.col, f"a wiper sweep lasts at least {MIN_PHASE_S:g}s, like 3s")
        return None
    n = count.as_count()
    cue.too_long(count.col, n * spec.high_s)
    return Wipers(loc, n, spec, guide=guide)


def _parse_roll(cue: _Cue, loc: Loc) -> Item | None:
    duration: Token | None = None
    stroke: DurationSpec | None = None
    stroke_tok: Token | None = None
    guide: int | None = None
    for tok in cue:
        if tok.kind == "duration":
            duration = cue.first(duration, tok, "duration")
        elif tok.is_word("stroke"):
            cue.option_once(tok)
            stroke_tok = tok
            stroke = cue.option_duration(tok, "stroke 4s")
        elif tok.is_word("guide"):
            cue.option_once(tok)
            guide = cue.option_int(tok, 0, "guide 2")
        else:
            cue.unexpected(tok)
    if duration is None:
        cue.missing("roll needs a duration, like 1m")
        return None
    spec = duration.as_duration()
    cue.too_long(duration.col, spec.high_s)
    stroke = stroke or DurationSpec.fixed(DEFAULT_STROKE_S)
    if stroke_tok is not None and stroke.low_s < MIN_PHASE_S:
        cue.error(
            stroke_tok.col, f"a rolling stroke lasts at least {MIN_PHASE_S:g}s, like stroke 4s"
        )
        return None
    if stroke.low_s > spec.low_s and stroke_tok is not None:
        cue.error(
            stroke_tok.col,
            f"a stroke ({format_seconds(stroke.low_s)}) cannot be longer than the roll "
            f"({format_seconds(spec.low_s)})",
        )
    return Roll(loc, spec, stroke, guide=guide)


def _parse_recheck(cue: _Cue, loc: Loc) -> Item | None:
    word: Token | None = None
    for tok in cue:
        if tok.kind == "word" and word is None:
            word = tok
        elif tok.kind == "word":
            cue.error(
                tok.col,
                f"recheck names one area, like [recheck shoulders]; join words with '-', "
                f"like {word.text if word else ''}-{tok.text}",
            )
        else:
            cue.unexpected(tok)
    if word is None:
        cue.missing("recheck needs the area to re-check, like [recheck shoulders]")
        return None
    return Recheck(loc, str(word.value))


def _parse_bell(cue: _Cue, loc: Loc) -> Item | None:
    for tok in cue:
        cue.error(tok.col, f"bell takes nothing; write [bell] (not '{tok.text}')")
    return Bell(loc)


_DIRECTIVE_PARSERS = {
    "pause": _parse_pause,
    "place": _parse_place,
    "breathe": _parse_breathe,
    "hold": _parse_hold,
    "wipers": _parse_wipers,
    "roll": _parse_roll,
    "bell": _parse_bell,
    "recheck": _parse_recheck,
}


def parse_sides(seg: CueSeg, tokens: list[re.Match], line: int, rep: Reporter) -> SidesRec | None:
    """The side names of a ``[sides ...]`` line (default: left and right), or None if reported."""
    names: list[str] = []
    ok = True
    for m in tokens[1:]:
        tok = classify(m.group(0), seg.content_col + m.start())
        if tok.kind != "word":
            rep.error(line, tok.col, f"a side is a name, like left or right (not '{tok.text}')")
            ok = False
        elif tok.text in names:
            rep.error(line, tok.col, f"side '{tok.text}' is listed twice")
            ok = False
        else:
            names.append(tok.text)
    if not ok:
        return None
    return SidesRec(line, seg.col, tuple(names) or DEFAULT_SIDES)
