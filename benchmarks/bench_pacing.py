"""Benchmark: pacing as a listener lying on the ball meets it, measured on the plan and the export.

Nobody listens here, so every built-in session (``voicecoach list``; ``parts/``
are includes) is compiled at one level (default ``standard``) with one engine
(default: the default engine), exported to WAV through the library API, and
measured. Per session:

- **prose rate**: words per minute of each prose line (a speech event that
  comes from a prose line of the script, not from a directive: countdown
  numbers, breath guidance, wiper/roll words and any other built-in phrase are
  left out). ``plan``: words / the event's length in the plan (the engine's
  trimmed audio). ``export``: words / the voiced extent of that span in the
  exported file (10 ms frames above max(the span's loudest frame - 35 dB, the
  ducked-tone floor just outside the span + 10 dB)). Median and range over
  lines. Words are runs of letters/digits (``side-to-side`` is three words, as
  spoken).
- **line gap**: median silence between two prose lines of one paragraph (the
  second on the next source line of the same file, or with only comment lines
  between; no inline cue after the first or before the second).
  **paragraph gap**: median silence before the first line of a paragraph (a
  blank line above it), counted from the last sound of the plan before it
  (speech, a tone, or a directive's span such as ``[pause 5s]``): in the
  built-in scripts almost every paragraph ends with a cue, so this is the
  paragraph pause as heard. (Prose-to-prose gaps across a blank line are in
  the JSON as ``paragraph_gap_prose_to_prose_s``.)
- **breath in holds**: every ``hold`` span with breath tones under it; a
  phase is *cut* when an inhale/exhale tone is shorter than its phase of the
  hold's ``breathe`` pattern (from the parsed script's ``Hold.breathe``, else
  from the source line); *count on tone* when a countdown word falls on an
  inhale/exhale tone.
- **quiet before the bell**: the final bell's start minus the end of the last
  speech before it; **bell tail**: the level of the file's last 100 ms
  relative to the bell's peak (100 ms windows) and the level where the bell's
  fade-out starts (palette ``bell.fade_out_s``): a bell that rings out has
  decayed far below its peak before the fade.
- **tone levels relative to the voice** (LU): ``voicecoach.sound.balance``, the
  measure a palette's ``loudness_lufs`` is set by (BS.1770 loudness over each
  tone type's own events clear of speech and of other tones; the voice over
  its speech events). The figure is tone minus voice, marked ``*`` where no
  event of that tone was clear of speech (parts of events were measured);
  ``stroke - breath`` is the stroke against the mean of inhale and exhale.
- **duck** (time rule 4): in every gap shorter than 1.5 s between two
  spoken events with a tone under it, the tone's level relative to the same
  tone unducked; reported for the gaps between countdown words ("five" ..
  "one") and for all such gaps. The unducked tone is the renderer's own tone
  (``voicecoach.sound.render.cached_tone``) times this export's gain for that tone
  and variant (estimated over its spans outside speech); so ``-15`` means the
  tone stays 15 dB down in the gaps, near ``0`` that it pumps back up between
  words. Median over gaps and the least-ducked gap. (If the renderer's tone
  cannot be had: the tone's mean level outside speech, marked "plain".)

``--spectrogram OUT.png`` draws one session (``--picture-session``, default
upper-back): the plan's lanes (sections, spans, tones, prose and built-in
speech), the export's level (100 ms RMS) and its spectrogram, on one time
axis; ``--window 7:40-8:05`` zooms in.

    .venv/bin/python benchmarks/bench_pacing.py [--engine system|piper] [--level standard]
        [--sessions upper-back,feet] [--json OUT.json] [--spectrogram OUT.png]
        [--picture-session NAME] [--window M:SS-M:SS] [--keep DIR] [--cold]
"""

from __future__ import annotations

import argparse
import json
import linecache
import math
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TONE_TYPES = ("inhale", "exhale", "stroke", "tick", "ready", "bell")
BREATH_TONES = ("inhale", "exhale")
SPEECH_MARGIN_S = 0.3  # speech and this much around it are not a tone's own span
FRAME_S = 0.01  # frames for the voiced extent
VOICED_BELOW_PEAK_DB = 35.0
VOICED_OVER_FLOOR_DB = 10.0
FLOOR_BEFORE_S = 0.03  # fully ducked, no speech yet (palette lead_s)
FLOOR_AFTER_S = 0.02  # speech over, duck only starting to ramp up
BELL_WINDOW_S = 0.1
SHORT_GAP_S = 1.5  # time rule 4: words closer than this keep tones ducked between them
SAMPLE_SLACK = 2  # phase boundaries are rounded to samples independently
NAMED_PATTERNS = {"box": (4, 4, 4, 4), "relax": (4, 7, 8), "calm": (4, 6), "resonance": (5.5, 5.5)}
_WORD_RE = re.compile(r"[A-Za-z0-9]+(?:['\u2019][A-Za-z]+)*")


# ---- pure helpers ----------------------------------------------------------------


def count_words(text: str) -> int:
    """Spoken words: runs of letters/digits (an apostrophe inside keeps one word)."""
    return len(_WORD_RE.findall(text))


def merge_spans(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, non-overlapping union of half-open spans; empty ones dropped."""
    out: list[tuple[int, int]] = []
    for a, b in sorted(s for s in spans if s[1] > s[0]):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def subtract_spans(
    spans: Iterable[tuple[int, int]], cuts: Iterable[tuple[int, int]]
) -> list[tuple[int, int]]:
    """The parts of ``spans`` outside every span of ``cuts`` (half-open, merged, sorted)."""
    cut = merge_spans(cuts)
    out: list[tuple[int, int]] = []
    for a, b in merge_spans(spans):
        pos = a
        for c0, c1 in cut:
            if c1 <= pos:
                continue
            if c0 >= b:
                break
            if c0 > pos:
                out.append((pos, c0))
            pos = max(pos, c1)
            if pos >= b:
                break
        if pos < b:
            out.append((pos, b))
    return out


def summary(values: Sequence[float]) -> dict:
    """Median, min, max and count (NaN when empty)."""
    if not values:
        return {"median": math.nan, "min": math.nan, "max": math.nan, "n": 0}
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def parse_pattern(line: str) -> tuple[float, ...] | None:
    """The ``breathe`` pattern of a ``[hold ... breathe P]`` source line, if any."""
    m = re.search(r"\bbreathe\s+([A-Za-z]+|[0-9.]+(?:-[0-9.]+)+)", line)
    if not m:
        return None
    word = m.group(1)
    if word in NAMED_PATTERNS:
        return tuple(float(x) for x in NAMED_PATTERNS[word])
    try:
        return tuple(float(x) for x in word.split("-"))
    except ValueError:
        return None


def breath_phases(pattern: Sequence[float]) -> dict[str, float]:
    """Expected inhale and exhale lengths of a 2/3/4-phase pattern (in-out, in-hold-out[-hold])."""
    if len(pattern) == 2:
        return {"inhale": pattern[0], "exhale": pattern[1]}
    return {"inhale": pattern[0], "exhale": pattern[2]}


def fmt_clock(seconds: float) -> str:
    m, s = divmod(seconds, 60)
    return f"{int(m)}:{s:04.1f}"


def parse_clock(text: str) -> float:
    """``7:49.9`` or ``469.9`` to seconds."""
    if ":" in text:
        m, s = text.split(":", 1)
        return int(m) * 60 + float(s)
    return float(text)


# ---- the script side -------------------------------------------------------------


def fixed_phrases(settings=None) -> set[str]:
    """Every built-in phrase text a script may say (lower case), its say.NAME words included."""
    from voicecoach.language.phrases import Wording

    words = settings.wording() if settings is not None else Wording()
    out = set(words.fixed()) | {words.count(k) for k in range(1, 100)} | {words("paused")}
    return {t.strip().lower() for t in out}


def source_line(file: str, line: int) -> str:
    return linecache.getline(file, line).rstrip("\r\n")


def _cue_at_or_after(text: str, col: int) -> bool:
    """Whether an unescaped ``[`` opens a cue at or after 1-based column ``col``."""
    return any(m.start() + 1 >= col for m in re.finditer(r"(?<!\\)\[", text))


def _cue_before(text: str, col: int) -> bool:
    return any(m.start() + 1 < col for m in re.finditer(r"(?<!\\)\[", text))


def _after_blank(file: str, line: int) -> bool:
    """Whether the nearest line above ``line`` that is not a comment is blank."""
    for n in range(line - 1, 0, -1):
        text = source_line(file, n)
        if not _is_comment(text):
            return not text.strip()
    return False


def _is_comment(text: str) -> bool:
    s = text.strip()
    return s.startswith("//") or (s.startswith("<!--") and s.endswith("-->"))


@dataclass(frozen=True)
class ScriptFacts:
    prose_locs: frozenset  # (file, line, col) of prose speech
    hold_patterns: dict  # (file, line, col) -> breathe pattern or None


def script_facts(script) -> ScriptFacts:
    """Prose locations and hold breath patterns from the parsed script (duck-typed)."""
    prose, holds = set(), {}
    for item in script.items:
        kind = type(item).__name__
        loc = getattr(item, "loc", None)
        if loc is None:
            continue
        key = (loc.file, loc.line, loc.col)
        if kind == "Speech":
            prose.add(key)
        elif kind == "Hold":
            holds[key] = getattr(item, "breathe", None)
    return ScriptFacts(frozenset(prose), holds)


# ---- the exported audio ----------------------------------------------------------


class ExportAudio:
    """An exported WAV read span by span (seek + read: memory stays small)."""

    def __init__(self, path: Path):
        import soundfile as sf

        self._f = sf.SoundFile(path)
        self.rate = self._f.samplerate
        self.frames = self._f.frames

    def close(self) -> None:
        self._f.close()

    def read(self, a: int, b: int) -> np.ndarray:
        a, b = max(0, a), min(self.frames, b)
        if b <= a:
            return np.zeros((0, self._f.channels))
        self._f.seek(a)
        return self._f.read(b - a, dtype="float64", always_2d=True)

    def energy(self, a: int, b: int) -> np.ndarray:
        """Per-sample x^2 summed over channels."""
        x = self.read(a, b)
        return (x * x).sum(axis=1)

    def window_db(self, a: int, b: int) -> float:
        e = self.energy(a, b)
        return 10 * math.log10(float(e.mean()) / 2) if e.size and e.mean() > 0 else -math.inf


def frames_db(energy: np.ndarray, frame: int) -> np.ndarray:
    n = len(energy) // frame
    if n == 0:
        return np.zeros(0)
    ms = energy[: n * frame].reshape(n, frame).mean(axis=1)
    with np.errstate(divide="ignore"):
        return 10 * np.log10(ms)


def voiced_extent_samples(audio: ExportAudio, a: int, b: int) -> int:
    """Length of the part of speech span [a, b) above the voiced threshold (whole frames)."""
    rate = audio.rate
    frame = max(1, int(FRAME_S * rate))
    before, after = int(FLOOR_BEFORE_S * rate), int(FLOOR_AFTER_S * rate)
    inside = frames_db(audio.energy(a, b), frame)
    if inside.size == 0:
        return 0
    floor_parts = [audio.energy(max(0, a - before), a), audio.energy(b, b + after)]
    floor_e = np.concatenate(floor_parts)
    floor_db = 10 * math.log10(float(floor_e.mean())) if floor_e.size and floor_e.any() else -300
    threshold = max(float(inside.max()) - VOICED_BELOW_PEAK_DB, floor_db + VOICED_OVER_FLOOR_DB)
    loud = np.nonzero(inside > threshold)[0]
    if loud.size == 0:
        return 0
    return int((loud[-1] - loud[0] + 1) * frame)


# ---- one session -----------------------------------------------------------------


def _spans(events) -> list[tuple[int, int]]:
    return [(e.start_sample, e.end_sample) for e in events]


def measure_session(name: str, engine: str | None, level: str, out_dir: Path) -> dict:
    import voicecoach

    t0 = time.perf_counter()
    session = voicecoach.load(name, engine=engine, level=level)
    try:
        plan = session.plan()
        wav = out_dir / f"{Path(name).stem}-{session.engine_name}-{level}.wav"
        session.export(wav)
        facts = script_facts(session.script)
        palette = session.palette
        engine_name = session.engine_name
    finally:
        session.close()
    t_export = time.perf_counter() - t0
    audio = ExportAudio(wav)
    try:
        if audio.rate != plan.sample_rate:
            raise SystemExit(f"{wav}: {audio.rate} Hz, the plan is {plan.sample_rate} Hz")
        result = {
            "session": name,
            "engine": engine_name,
            "level": level,
            "duration_s": plan.duration_s,
            "export_s": t_export,
            "wav": str(wav),
        }
        result.update(_pace(plan, facts, audio))
        result.update(_breath_in_holds(plan, facts))
        result.update(_ending(plan, audio, palette))
        result.update(_tone_levels(plan, audio))
        result.update(_duck(plan, audio, palette))
    finally:
        audio.close()
    return result


def _is_prose(ev, facts: ScriptFacts, fixed: set[str]) -> bool:
    if ev.kind != "speech" or ev.text.strip().lower() in fixed:
        return False
    if facts.prose_locs:
        return (ev.file, ev.line, ev.col) in facts.prose_locs
    line = source_line(ev.file, ev.line).lstrip()  # no parsed script: a directive line starts "["
    return not line.startswith(("[", "#"))


def _pace(plan, facts: ScriptFacts, audio: ExportAudio) -> dict:
    rate = plan.sample_rate
    fixed = fixed_phrases(plan.settings)
    speech = sorted(plan.speech_events(), key=lambda e: (e.start_sample, e.end_sample))
    prose = [e for e in speech if _is_prose(e, facts, fixed) and not e.truncated]
    wpm_plan, wpm_export, words_total, plan_s_total, voiced_s_total = [], [], 0, 0.0, 0.0
    per_line = []
    for e in prose:
        words = count_words(e.text)
        if words == 0 or e.duration_samples <= 0:
            continue
        dur_s = e.duration_samples / rate
        voiced_s = voiced_extent_samples(audio, e.start_sample, e.end_sample) / rate
        wpm_plan.append(words / dur_s * 60)
        if voiced_s > 0:
            wpm_export.append(words / voiced_s * 60)
        words_total += words
        plan_s_total += dur_s
        voiced_s_total += voiced_s
        per_line.append(
            {
                "line": f"{Path(e.file).name}:{e.line}",
                "at_s": e.start_sample / rate,
                "words": words,
                "plan_s": dur_s,
                "voiced_s": voiced_s,
                "text": e.text,
            }
        )
    line_gaps, prose_para_gaps = [], []
    prose_ids = {id(e) for e in prose}
    for e1, e2 in zip(speech, speech[1:], strict=False):
        if id(e1) not in prose_ids or id(e2) not in prose_ids or e1.file != e2.file:
            continue
        if e2.line <= e1.line:
            continue
        if _cue_at_or_after(source_line(e1.file, e1.line), e1.col + 1) or _cue_before(
            source_line(e2.file, e2.line), e2.col
        ):
            continue
        between = [source_line(e1.file, n) for n in range(e1.line + 1, e2.line)]
        if any(t.strip() and not _is_comment(t) for t in between):
            continue
        gap_s = (e2.start_sample - e1.end_sample) / rate
        (prose_para_gaps if any(not t.strip() for t in between) else line_gaps).append(gap_s)
    # A paragraph's first line (a blank line before it, comments aside), whatever came before:
    # the silence since the last sound of the plan (speech, tone or a directive's span).
    para_gaps = []
    for e in prose:
        if _cue_before(source_line(e.file, e.line), e.col) or not _after_blank(e.file, e.line):
            continue
        ends = [x.end_sample for x in plan.events if x.start_sample < e.start_sample]
        if ends:
            para_gaps.append((e.start_sample - max(ends)) / rate)
    return {
        "prose_lines": len(wpm_plan),
        "wpm_plan": summary(wpm_plan),
        "wpm_export": summary(wpm_export),
        "wpm_plan_overall": words_total / plan_s_total * 60 if plan_s_total else math.nan,
        "wpm_export_overall": words_total / voiced_s_total * 60 if voiced_s_total else math.nan,
        "line_gap_s": summary(line_gaps),
        "paragraph_gap_s": summary(para_gaps),
        "paragraph_gap_prose_to_prose_s": summary(prose_para_gaps),
        "fixed_speech_events": sum(
            1 for e in speech if e.text.strip().lower() in fixed or id(e) not in prose_ids
        ),
        "prose": per_line,
    }


def _breath_in_holds(plan, facts: ScriptFacts) -> dict:
    rate = plan.sample_rate
    numbers = _number_words()
    tones = [e for e in plan.tone_events() if e.tone in BREATH_TONES]
    holds = [e for e in plan.events if e.kind == "hold"]
    checked, cut, on_tone, after_count = 0, [], [], []
    for h in holds:
        under = [t for t in tones if h.start_sample <= t.start_sample < h.end_sample]
        if not under:
            continue
        checked += 1
        key = (h.file, h.line, h.col)
        pattern = _numbers(facts.hold_patterns.get(key)) or parse_pattern(
            source_line(h.file, h.line)
        )
        where = f"{Path(h.file).name}:{h.line} at {fmt_clock(h.start_sample / rate)}"
        if pattern:
            expected = breath_phases(pattern)
            for t in under:
                want = int(round(expected[t.tone] * rate))
                if t.duration_samples < want - SAMPLE_SLACK:
                    cut.append(
                        f"{where}: {t.tone} {t.duration_samples / rate:.1f}/{expected[t.tone]:g} s"
                    )
        count = [
            s
            for s in plan.speech_events()
            if h.start_sample <= s.start_sample < h.end_sample and s.text.strip().lower() in numbers
        ]
        hit = [
            s.text
            for s in count
            if any(t.start_sample < s.end_sample and s.start_sample < t.end_sample for t in under)
        ]
        if hit:
            on_tone.append(f"{where}: {', '.join(hit)}")
        if count:
            first = min(s.start_sample for s in count)
            if max(t.end_sample for t in under) > first:
                after_count.append(where)
    return {
        "holds_with_breath": checked,
        "breath_phases_cut": cut,
        "countdown_on_breath_tone": on_tone,
        "breath_tones_into_countdown": after_count,
    }


def _numbers(value) -> tuple[float, ...] | None:
    """A pattern from the parsed script if it is a plain sequence of 2-4 numbers, else None."""
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return out if 2 <= len(out) <= 4 else None


def _number_words() -> set[str]:
    from voicecoach.language.phrases import number_word

    return {number_word(k) for k in range(100)}


def _ending(plan, audio: ExportAudio, palette) -> dict:
    rate = plan.sample_rate
    bells = [e for e in plan.tone_events() if e.tone == "bell"]
    if not bells:
        return {"quiet_before_bell_s": math.nan, "bell_tail_db": math.nan}
    bell = max(bells, key=lambda e: e.start_sample)
    before = [e.end_sample for e in plan.speech_events() if e.start_sample < bell.start_sample]
    quiet_s = (bell.start_sample - max(before)) / rate if before else math.nan
    w = int(BELL_WINDOW_S * rate)
    e = audio.energy(bell.start_sample, bell.end_sample)
    if e.size >= w:
        c = np.concatenate([[0.0], np.cumsum(e)])
        hop = max(1, w // 10)
        peak_ms = float(((c[w::hop] - c[: len(c) - w : hop]) / w).max())
    else:
        peak_ms = float(e.mean()) if e.size else 0.0
    peak_db = 10 * math.log10(peak_ms) if peak_ms > 0 else -math.inf
    end = audio.frames
    tail_db = 10 * math.log10(max(float(audio.energy(end - w, end).mean()), 1e-30)) - peak_db
    fade_s = getattr(getattr(palette, "bell", None), "fade_out_s", None)
    fade_db = math.nan
    if fade_s:
        f0 = bell.end_sample - int(round(fade_s * rate))
        fade_db = 10 * math.log10(max(float(audio.energy(f0 - w, f0).mean()), 1e-30)) - peak_db
    return {
        "quiet_before_bell_s": quiet_s,
        "bell_start_s": bell.start_sample / rate,
        "bell_ends_at_file_end": bell.end_sample >= plan.duration_samples,
        "bell_tail_db": tail_db,
        "bell_at_fade_start_db": fade_db,
        "bell_fade_out_s": fade_s,
    }


def _outside_speech(plan, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    m = int(SPEECH_MARGIN_S * plan.sample_rate)
    cuts = [(e.start_sample - m, e.end_sample + m) for e in plan.speech_events()]
    return subtract_spans(spans, cuts)


def _tone_levels(plan, audio: ExportAudio) -> dict:
    """Each tone type against the voice, by the one balance measure (``voicecoach.sound.balance``)."""
    from voicecoach.sound.balance import measure_balance

    balance = measure_balance(plan, audio.read(0, audio.frames))
    levels: dict[str, dict] = {}
    for t in balance.tones:
        levels[t.tone] = {
            "events": t.events,
            "measured_s": t.measured_s,
            "lufs": t.lufs,
            "whole": t.whole,
            "vs_voice_lu": t.lufs - balance.voice_lufs if math.isfinite(t.lufs) else math.nan,
        }
    breath = [levels[k]["vs_voice_lu"] for k in BREATH_TONES if k in levels]
    breath = [b for b in breath if math.isfinite(b)]
    stroke = levels.get("stroke", {}).get("vs_voice_lu", math.nan)
    return {
        "voice_lufs": balance.voice_lufs,
        "tones": levels,
        "stroke_minus_breath_lu": stroke - statistics.mean(breath) if breath else math.nan,
    }


def _synth(palette, ev, rate) -> np.ndarray | None:
    """The tone as the renderer makes it, before gains (None if the renderer's API moved)."""
    try:
        from voicecoach.sound.render import cached_tone

        return np.asarray(
            cached_tone(palette, ev.tone, ev.duration_samples, rate, ev.variant), dtype=np.float64
        )
    except Exception:  # a benchmark: fall back to the plain comparison
        return None


def _duck(plan, audio: ExportAudio, palette) -> dict:
    """Tone level in the gaps of each countdown against the same tone unducked (rule 4).

    The unducked reference is the renderer's tone times this export's gain for that tone
    (export energy / synthesised energy over its spans outside speech); if the renderer's
    tone cannot be had, the tone's mean level outside speech (``duck_method`` "plain").
    """
    rate = plan.sample_rate
    numbers = _number_words()
    tones = [e for e in plan.tone_events() if e.end_sample > e.start_sample]
    speech = sorted(plan.speech_events(), key=lambda e: e.start_sample)
    # Rule 4: between spoken words less than 1.5 s apart the duck stays down. Every such gap
    # with a tone under it, keyed by the countdown's hold when both words are countdown numbers.
    gaps = []  # (key, start, end, tones under it)
    holds = [e for e in plan.events if e.kind == "hold"]
    for w1, w2 in zip(speech, speech[1:], strict=False):
        a, b = w1.end_sample, w2.start_sample
        if not 0 < b - a < SHORT_GAP_S * rate:
            continue
        under = [t for t in tones if t.start_sample < b and a < t.end_sample]
        if not under:
            continue
        hold = None
        if {w1.text.strip().lower(), w2.text.strip().lower()} <= numbers:
            hold = next((h for h in holds if h.start_sample <= a < h.end_sample), None)
        gaps.append((hold, a, b, under))
    kinds = {(t.tone, t.variant) for g in gaps for t in g[3]}
    method = "synth"
    gain: dict[tuple[str, str], float] = {}  # export energy per unit of synthesised energy
    plain: dict[tuple[str, str], float] = {}  # mean export energy per sample, outside speech
    for kind in sorted(kinds):
        free_export = free_synth = 0.0
        free_n = 0
        for ev in (t for t in tones if (t.tone, t.variant) == kind):
            x = _synth(palette, ev, rate) if method == "synth" else None
            if x is None:
                method = "plain"
            for a, b in _outside_speech(plan, [(ev.start_sample, ev.end_sample)]):
                free_export += float(audio.energy(a, b).sum())
                free_n += b - a
                if x is not None:
                    free_synth += 2 * float(
                        (x[a - ev.start_sample : b - ev.start_sample] ** 2).sum()
                    )
        gain[kind] = free_export / free_synth if free_synth > 0 else math.nan
        plain[kind] = free_export / free_n if free_n else math.nan
    countdown: dict[int, tuple] = {}
    other: list[float] = []
    for h, a, b, under in gaps:
        exp_e = max(float(audio.energy(a, b).sum()), 1e-30)
        ref_e = 0.0
        for t in under:
            lo, hi = max(a, t.start_sample), min(b, t.end_sample)
            if method == "synth":
                x = _synth(palette, t, rate)
                if x is not None:
                    seg = x[lo - t.start_sample : hi - t.start_sample]
                    ref_e += gain[(t.tone, t.variant)] * 2 * float((seg**2).sum())
            else:
                ref_e += plain[(t.tone, t.variant)] * (hi - lo)
        if not (ref_e > 0 and math.isfinite(ref_e)):
            continue
        db = 10 * math.log10(exp_e / ref_e)
        if h is None:
            other.append(db)
        else:
            countdown.setdefault(id(h), (h, []))[1].append(db)
    per_countdown = [
        {
            "hold": f"{Path(h.file).name}:{h.line} at {fmt_clock(h.start_sample / rate)}",
            "gaps_db": [round(d, 1) for d in dbs],
        }
        for h, dbs in countdown.values()
    ]
    in_countdowns = [d for _, dbs in countdown.values() for d in dbs]
    return {
        "duck_countdowns": len(per_countdown),
        "duck_gap_db": summary(in_countdowns),
        "duck_per_countdown": per_countdown,
        "duck_short_gaps_db": summary(in_countdowns + other),
        "duck_other_short_gaps_db": [round(d, 1) for d in other],
        "duck_method": method,
        "duck_depth_db": getattr(getattr(palette, "ducking", None), "depth_db", None),
    }


# ---- the picture -----------------------------------------------------------------

_TONE_COLOURS = {
    "inhale": "#2a9d8f",
    "exhale": "#457b9d",
    "stroke": "#e76f51",
    "tick": "#8338ec",
    "ready": "#f4a261",
    "bell": "#d62828",
}


def draw_session(
    name: str,
    engine: str | None,
    level: str,
    wav: Path,
    out_png: Path,
    window: tuple[float, float] | None,
) -> None:
    """Plan lanes, the export's level and its spectrogram, on one time axis."""
    try:
        import matplotlib
    except ImportError:
        sys.exit("--spectrogram needs matplotlib: .venv/bin/pip install matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import soundfile as sf
    from scipy.signal import resample_poly, spectrogram

    import voicecoach

    with voicecoach.load(name, engine=engine, level=level) as session:
        plan = session.plan()
        facts = script_facts(session.script)
    rate = plan.sample_rate
    t0, t1 = window if window else (0.0, plan.duration_s)
    t1 = min(t1, plan.duration_s)
    a, b = int(t0 * rate), int(min(t1, plan.duration_s) * rate)
    with sf.SoundFile(wav) as f:
        f.seek(a)
        x = f.read(b - a, dtype="float32", always_2d=True).mean(axis=1)
    span_s = t1 - t0
    fig, (ax_plan, ax_level, ax_spec) = plt.subplots(
        3,
        1,
        sharex=True,
        figsize=(20.0 if span_s > 150 else 14.0, 10),
        gridspec_kw={"height_ratios": [3, 1.2, 2.2]},
    )
    fixed = fixed_phrases(plan.settings)
    lanes: list[str] = []

    def lane(label: str) -> int:
        if label not in lanes:
            lanes.append(label)
        return lanes.index(label)

    for label in ("prose", "phrase", *TONE_TYPES):
        lane(label)
    for ev in plan.events:
        s, e = ev.start_sample / rate, ev.end_sample / rate
        if e < t0 or s > t1:
            continue
        if ev.kind == "speech":
            prose = _is_prose(ev, facts, fixed)
            y = lane("prose" if prose else "phrase")
            ax_plan.barh(y, e - s, left=s, height=0.7, color="#264653" if prose else "#6c757d")
            if span_s <= 150:
                ax_plan.text(s, y + 0.42, ev.text[:24], fontsize=6, rotation=20, clip_on=True)
        elif ev.kind == "tone":
            y = lane(ev.tone)
            ax_plan.barh(y, e - s, left=s, height=0.7, color=_TONE_COLOURS.get(ev.tone, "k"))
        else:
            y = lane(ev.kind)
            ax_plan.barh(y, e - s, left=s, height=0.5, color="#adb5bd", edgecolor="#495057")
    for sec in plan.sections:
        s = sec.start_sample / rate
        if t0 <= s <= t1:
            for ax in (ax_plan, ax_level, ax_spec):
                ax.axvline(s, color="k", lw=0.6, ls=":")
            ax_plan.text(s, len(lanes) - 0.2, sec.title[:28], fontsize=7, va="bottom")
    ax_plan.set_yticks(range(len(lanes)), lanes)
    ax_plan.set_ylim(-0.7, len(lanes) + 0.8)
    ax_plan.invert_yaxis()
    ax_plan.set_title(
        f"{plan.title} ({name}, {session.engine_name}, {level}): plan lanes, level, spectrogram"
    )
    hop = max(1, int(0.1 * rate))
    n = len(x) // hop
    ms = (x[: n * hop].astype(np.float64) ** 2).reshape(n, hop).mean(axis=1)
    with np.errstate(divide="ignore"):
        level_db = 10 * np.log10(np.maximum(ms, 1e-12))
    ax_level.plot(t0 + (np.arange(n) + 0.5) * hop / rate, level_db, lw=0.6, color="k")
    ax_level.set_ylim(-90, 0)
    ax_level.set_ylabel("RMS 100 ms\n(dBFS)")
    ax_level.grid(alpha=0.3)
    target = 11_025 if rate % 11_025 == 0 else 8_000
    g = math.gcd(target, rate)
    y = resample_poly(x, target // g, rate // g) if rate != target else x
    nper = 1024 if span_s > 120 else 512
    f_hz, t_s, sxx = spectrogram(y, fs=target, nperseg=nper, noverlap=nper // 2)
    with np.errstate(divide="ignore"):
        sdb = 10 * np.log10(np.maximum(sxx, 1e-14))
    ax_spec.pcolormesh(
        t0 + t_s, f_hz, sdb, shading="auto", cmap="magma", vmin=-110, vmax=-30, rasterized=True
    )
    ax_spec.set_ylim(0, 4000)
    ax_spec.set_ylabel("Hz")
    ax_spec.set_xlabel("time (s)")
    ax_spec.set_xlim(t0, t1)
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)


# ---- the report ------------------------------------------------------------------


def _f(x, spec: str = ".0f", dash: str = "-") -> str:
    return dash if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, spec)


def _mr(s: dict, spec: str) -> str:
    if not s["n"]:
        return "-"
    return f"{_f(s['median'], spec)} ({_f(s['min'], spec)}-{_f(s['max'], spec)})"


def markdown_tables(results: list[dict]) -> str:
    head1 = (
        "| session | length | prose wpm, plan: median (range) | prose wpm, export | "
        "line gap median | paragraph gap median | breath phases cut in holds | "
        "count on a breath tone | quiet before bell | bell: fade start / last 100 ms |"
    )
    rows = [head1, "| " + " | ".join(["---"] * (head1.count("|") - 1)) + " |"]
    for r in results:
        rows.append(
            "| "
            + " | ".join(
                [
                    r["session"],
                    fmt_clock(r["duration_s"]),
                    _mr(r["wpm_plan"], ".0f"),
                    _mr(r["wpm_export"], ".0f"),
                    _f(r["line_gap_s"]["median"], ".2f") + " s",
                    _f(r["paragraph_gap_s"]["median"], ".2f") + " s",
                    f"{len(r['breath_phases_cut'])} of {r['holds_with_breath']} holds"
                    if r["holds_with_breath"]
                    else "no breath holds",
                    str(len(r["countdown_on_breath_tone"])),
                    _f(r["quiet_before_bell_s"], ".1f") + " s",
                    f"{_f(r['bell_at_fade_start_db'], '.0f')} / {_f(r['bell_tail_db'], '.0f')} dB",
                ]
            )
            + " |"
        )
    kinds = list(TONE_TYPES)
    kinds += sorted({k for r in results for k in r["tones"]} - set(TONE_TYPES))
    head2 = (
        "| session | voice LUFS | "
        + " | ".join(f"{k} vs voice" for k in kinds)
        + " | stroke - breath | duck between countdown words: median (least) |"
        + " duck in every gap < 1.5 s with a tone: median (least) |"
    )
    rows += ["", head2, "| " + " | ".join(["---"] * (head2.count("|") - 1)) + " |"]
    for r in results:
        cells = [r["session"], _f(r["voice_lufs"], ".1f")]
        for k in kinds:
            t = r["tones"].get(k, {"events": 0, "whole": True, "vs_voice_lu": math.nan})
            v = _f(t["vs_voice_lu"], "+.1f")
            if t["events"] and not t["whole"] and math.isfinite(t["vs_voice_lu"]):
                v += "*"
            cells.append(v)
        cells.append(_f(r["stroke_minus_breath_lu"], "+.1f"))
        d, g = r["duck_gap_db"], r["duck_short_gaps_db"]
        cells.append(
            f"{_f(d['median'], '+.1f')} ({_f(d['max'], '+.1f')}) dB, {r['duck_countdowns']} counts"
            if d["n"]
            else "no tone under a count"
        )
        cells.append(
            f"{_f(g['median'], '+.1f')} ({_f(g['max'], '+.1f')}) dB, {g['n']} gaps"
            if g["n"]
            else "-"
        )
        if r.get("duck_method") == "plain":
            cells[-1] += " (plain)"
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _plain(x):
    """JSON-safe: NaN and infinities as null."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    return x


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--engine", choices=("system", "piper"), default=None)
    ap.add_argument("--level", default="standard", choices=("gentle", "standard", "deep"))
    ap.add_argument("--sessions", help="comma-separated names (default: every built-in session)")
    ap.add_argument("--json", type=Path, help="also write every figure here")
    ap.add_argument("--spectrogram", type=Path, help="draw one session to this PNG")
    ap.add_argument("--picture-session", default="upper-back")
    ap.add_argument("--window", help="picture only this stretch, e.g. 7:40-8:05")
    ap.add_argument("--keep", type=Path, help="keep the exported WAVs in this folder")
    ap.add_argument("--cold", action="store_true", help="a private, empty speech cache")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.cold:
            os.environ["VOICECOACH_CACHE_DIR"] = str(Path(tmp) / "cache")
        from voicecoach.library import builtin_names

        names = (
            [n.strip() for n in args.sessions.split(",") if n.strip()]
            if args.sessions
            else builtin_names()
        )
        out_dir = args.keep or Path(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        results = []
        from voicecoach.errors import VoicecoachError

        failed = []
        for name in names:
            try:
                r = measure_session(name, args.engine, args.level, out_dir)
            except VoicecoachError as e:  # a session that does not compile is reported, not fatal
                print(f"{name}: not measured: {e}", file=sys.stderr)
                failed.append({"session": name, "error": str(e)})
                continue
            print(
                f"{name}: {fmt_clock(r['duration_s'])}, exported in {r['export_s']:.1f} s",
                file=sys.stderr,
            )
            results.append(r)
        if args.spectrogram:
            pic = args.picture_session
            wav = next((Path(r["wav"]) for r in results if r["session"] == pic), None)
            if wav is None:
                wav = Path(measure_session(pic, args.engine, args.level, out_dir)["wav"])
            window = None
            if args.window:
                lo, hi = args.window.split("-", 1)
                window = (parse_clock(lo), parse_clock(hi))
            draw_session(pic, args.engine, args.level, wav, args.spectrogram, window)
            print(f"picture: {args.spectrogram}", file=sys.stderr)
    engine = results[0]["engine"] if results else args.engine
    print(f"## Pacing: engine {engine}, level {args.level}\n")
    print(markdown_tables(results))
    print(
        "\n(* no event of that tone was clear of speech: parts of events measured. Tone levels in LU against the "
        "voice's loudness over its speech spans; duck: dB against the same tone unducked.)"
    )
    for f in failed:
        print(f"- {f['session']}: not measured: {f['error']}")
    for r in results:
        for key in ("breath_phases_cut", "countdown_on_breath_tone"):
            for item in r[key]:
                print(f"- {r['session']}: {key.replace('_', ' ')}: {item}")
    if args.json:
        args.json.write_text(
            json.dumps(
                _plain({"level": args.level, "sessions": results, "failed": failed}), indent=1
            )
        )


if __name__ == "__main__":
    main()
