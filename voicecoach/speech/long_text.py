"""Long phrases spoken in pieces: split at clause boundaries, joined with the engine's own pause.

Engines cost memory and time in proportion to one sentence's length (Piper:
about 270 MiB plus 23 MiB per second of speech; a 3000-character line without
full stops took 5.5 GB) and eSpeak NG crashes on lines of 20,000 characters.
So a phrase longer than ``max_piece_chars`` is synthesised in pieces of at
most that length, cut at the best boundary found: a sentence end, then ``;``
or ``:``, then a comma, then a space (a cut at a space is read as a comma).
The pieces' audio (each trimmed with a faded edge, see ``trim``) is joined
with the silence the engine itself leaves at that punctuation, measured once
per voice and rate on a short calibration line. Shorter phrases are not
touched: they are synthesised whole, exactly as before.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from voicecoach.speech.trim import TRIM_MARGIN_S, TRIM_THRESHOLD_DB

if TYPE_CHECKING:
    import numpy as np

# Piper's peak memory follows the length of the speech (about 270 MiB plus 23
# MiB a second) and, at fast rates, the number of phonemes. Measured here on
# lines without full stops (one piece, joe voice, 2 cores): 250 characters at
# 140 wpm (20 s) ~710 MiB, 300 ~830 MiB, 400 ~975 MiB; 150 at 80 wpm 711 MiB;
# 500 at 450 wpm 695 MiB, 800 at 450 wpm 916 MiB. So a piece holds about 20 s
# of speech: the limit follows the rate, within MIN_SPLIT_CHARS..MAX_PIECE_CHARS.
# No phrase of up to 150 characters (250 at 140 wpm or faster) is ever split,
# so it sounds exactly as before (the built-in sessions' longest is 99).
MAX_PIECE_CHARS_AT_140_WPM = 250
MIN_SPLIT_CHARS = 150
MAX_PIECE_CHARS = 500
# How each kind of join is heard, and the line whose pauses measure it.
JOIN_KINDS = ("sentence", "clause", "comma")
_CALIBRATION = {
    "sentence": "Breathe out slowly. Let the jaw hang loose. Rest your arms. Stay here.",
    "clause": "Breathe out slowly; let the jaw hang loose; rest your arms; stay here.",
    "comma": "Breathe out slowly, let the jaw hang loose, rest your arms, stay here.",
}
_CALIBRATION_JOINS = 3  # boundaries in each calibration line
_FALLBACK_PAUSE_S_AT_140_WPM = {"sentence": 0.6, "clause": 0.45, "comma": 0.3}
# Bump when splitting or joining changes: goes into the cache key of split phrases only.
SPLIT_VERSION = 1
SPLIT_RECIPE = (
    f"split-v{SPLIT_VERSION}-{MAX_PIECE_CHARS_AT_140_WPM}at140-{MIN_SPLIT_CHARS}to{MAX_PIECE_CHARS}"
    f"-{hashlib.sha256(repr(_CALIBRATION).encode()).hexdigest()[:10]}"
)

_SENTENCE_END = re.compile(r"[.!?\u2026]+[\"')\]\u201d\u2019]*(?=\s)")
_CLAUSE_END = re.compile(r"[;:](?=\s)")
_COMMA = re.compile(r",(?=\s)")
_SPACE = re.compile(r"\S(?=\s)")


@dataclass(frozen=True)
class Piece:
    """One part of a long phrase: its text to synthesise and how it joins the next one."""

    text: str
    join: str  # one of JOIN_KINDS; "" for the last piece


def max_piece_chars(rate_wpm: int) -> int:
    """The longest piece synthesised at once at ``rate_wpm`` (words per minute as heard)."""
    scaled = round(MAX_PIECE_CHARS_AT_140_WPM * rate_wpm / 140)
    return max(MIN_SPLIT_CHARS, min(MAX_PIECE_CHARS, scaled))


def calibration_line(kind: str) -> str:
    """The line whose pauses give the join of ``kind`` (three boundaries of that kind)."""
    return _CALIBRATION[kind]


def split_text(text: str, max_chars: int) -> tuple[Piece, ...]:
    """``text`` in pieces of at most ``max_chars`` characters, cut at the best boundaries.

    A text that fits is one piece, unchanged. Otherwise each piece ends at
    the last sentence end in reach, else the last ``;``/``:``, else the last
    comma, else the last space (the piece then gets a comma, so it is read as
    going on), else it is cut at ``max_chars``.
    """
    if len(text) <= max_chars:
        return (Piece(text, ""),)
    pieces: list[Piece] = []
    text = text.strip()
    start = 0  # an index, not a shrinking copy: linear in the text's length
    while len(text) - start > max_chars:
        window = text[start : start + max_chars + 1]  # a boundary may sit just before a space
        piece, join = _cut(window, max_chars)
        pieces.append(Piece(piece, join))
        start += len(piece)
        while start < len(text) and text[start].isspace():
            start += 1
    if start < len(text):
        pieces.append(Piece(text[start:], ""))
    return tuple(pieces)


def _cut(window: str, max_chars: int) -> tuple[str, str]:
    """The first piece of ``window`` and how it joins; see ``split_text``."""
    for pattern, join in ((_SENTENCE_END, "sentence"), (_CLAUSE_END, "clause"), (_COMMA, "comma")):
        ends = [m.end() for m in pattern.finditer(window) if m.end() <= max_chars]
        if ends:
            return window[: ends[-1]], join
    ends = [m.end() for m in _SPACE.finditer(window) if m.end() <= max_chars]
    end = ends[-1] if ends else max_chars
    return window[:end], "comma"


def piece_text(piece: Piece) -> str:
    """What the engine is given for ``piece``: a cut without punctuation gets a comma."""
    if piece.join == "comma" and not piece.text.endswith(","):
        return piece.text + ","
    return piece.text


def pause_samples(samples: np.ndarray, sample_rate: int) -> int:
    """The join pause a calibration utterance shows: its median pause between clauses.

    The pauses are the longest quiet runs (below the trim threshold); a
    trimmed piece keeps ``TRIM_MARGIN_S`` of quiet on each side, so that much
    is taken off twice. -1 when the utterance has fewer pauses than expected.
    """
    import numpy as np

    x = np.abs(np.asarray(samples, dtype=np.float32))
    if x.size == 0 or float(x.max()) <= 0.0:
        return -1
    quiet = x <= float(x.max()) * 10.0 ** (TRIM_THRESHOLD_DB / 20.0)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], quiet.view(np.int8), [0]))))
    runs = np.sort(edges[1::2] - edges[0::2])[::-1]
    if runs.size < _CALIBRATION_JOINS:
        return -1
    median = int(np.median(runs[:_CALIBRATION_JOINS]))
    return max(0, median - 2 * int(round(TRIM_MARGIN_S * sample_rate)))


def fallback_pause_samples(kind: str, rate_wpm: int, sample_rate: int) -> int:
    """A pause for ``kind`` when the calibration line gave none (a voice that says nothing)."""
    return int(round(_FALLBACK_PAUSE_S_AT_140_WPM[kind] * 140 / rate_wpm * sample_rate))


def join_pieces(parts: list[np.ndarray], pauses: list[int]) -> np.ndarray:
    """The pieces' trimmed audio one after another, ``pauses[i]`` zero samples after part ``i``.

    Each part starts and ends with a fade (``trim``), so every join meets
    silence on both sides: no click.
    """
    import numpy as np

    out: list[np.ndarray] = []
    for i, part in enumerate(parts):
        if i and out:
            out.append(np.zeros(pauses[i - 1], dtype=np.float32))
        out.append(np.asarray(part, dtype=np.float32))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)
