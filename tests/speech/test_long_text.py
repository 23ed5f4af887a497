"""Long phrases (issue 11, item 6): split at clause boundaries, joined without a click, real engines."""

from __future__ import annotations

import numpy as np
import pytest

from tests.fakes import FakePalette, FakeSpeech
from voicecoach.errors import PhraseError, ScriptError
from voicecoach.language.compiler import compile_script
from voicecoach.language.parser import parse_file
from voicecoach.speech import SpeechService, get_engine, long_text, piper, speech_key
from voicecoach.speech.system import SystemEngine

_PROSE = (
    "let your shoulders soften and your breath move slowly through the back of the ribs "
    "while the ball rests under the muscle and the floor holds you "
)


def _line(chars: int) -> str:
    """Words without any punctuation, ``chars`` characters long (no full stop, no comma)."""
    return (_PROSE * (chars // len(_PROSE) + 1))[:chars].rstrip()


ENGINES = [
    "system",
    pytest.param(
        "piper", marks=pytest.mark.skipif(not piper.is_installed(), reason="piper not installed")
    ),
]


# -- splitting (pure) ---------------------------------------------------------


def test_a_text_that_fits_is_one_unchanged_piece():
    text = "  Breathe in, and out.  "
    assert long_text.split_text(text, 300) == (long_text.Piece(text, ""),)


def test_pieces_prefer_sentence_ends_then_clauses_then_commas_then_spaces():
    text = "One two three. Four five; six seven, eight nine ten eleven"
    pieces = long_text.split_text(text, 20)
    assert [(p.text, p.join) for p in pieces] == [
        ("One two three.", "sentence"),
        ("Four five;", "clause"),
        ("six seven,", "comma"),
        ("eight nine ten", "comma"),
        ("eleven", ""),
    ]
    assert long_text.piece_text(pieces[3]) == "eight nine ten,"  # read as going on
    assert long_text.piece_text(pieces[2]) == "six seven,"


def test_pieces_are_never_longer_than_the_limit_and_lose_no_word():
    text = _line(5000) + " " + "x" * 700  # and a "word" longer than any piece
    pieces = long_text.split_text(text, 300)
    assert all(0 < len(p.text) <= 300 for p in pieces)
    assert "".join(p.text for p in pieces).replace(" ", "") == text.replace(" ", "")


def test_the_limit_follows_the_rate_within_bounds():
    assert long_text.max_piece_chars(140) == 250
    assert long_text.max_piece_chars(80) == 150  # never splits 150 characters
    assert long_text.max_piece_chars(200) == 357
    assert long_text.max_piece_chars(450) == 500


def test_short_texts_keep_their_keys_and_long_ones_key_on_the_split():
    engine = SystemEngine(workers=1)  # starts nothing: keys need no worker
    service = SpeechService(engine, voice=None, rate_wpm=140, cache=None)
    short, long = _line(250), _line(251)
    assert service.key(short) == speech_key(engine.identity(), None, 140, short)
    assert service.key(long) != speech_key(engine.identity(), None, 140, long)


# -- real engines ---------------------------------------------------------------


def _largest_step(x: np.ndarray) -> float:
    return float(np.abs(np.diff(x)).max()) if x.size > 1 else 0.0


@pytest.mark.parametrize("engine", ENGINES)
def test_a_5000_character_line_without_full_stops_is_spoken_in_pieces_joined_without_clicks(
    engine,
):
    text = _line(5000)
    service = SpeechService(get_engine(engine), voice=None, rate_wpm=140, cache=None)
    try:
        pieces = long_text.split_text(text, service.max_piece_chars)
        assert len(pieces) >= 20
        service.prepare([text])
        audio = service.audio(service.key(text))
        parts = [
            service.engine.synthesize(long_text.piece_text(p), voice=None, rate_wpm=140).samples
            for p in pieces
        ]
    finally:
        service.close()
    rate = audio.sample_rate
    pause = service._join_pauses["comma"]
    # The engine's own pause at a comma, after the trim margins: a short natural gap.
    assert 0.1 * rate < pause < 0.8 * rate
    assert len(audio.samples) == sum(len(p) for p in parts) + pause * (len(parts) - 1)
    assert audio.duration_s > 5000 / 20  # about 14 characters a second: all of it is spoken
    # Every join: the pieces end and start at silence (the trim's fades), and
    # no sample step near a join is larger than the largest inside the pieces.
    inside = max(_largest_step(p) for p in parts)
    edge = int(0.02 * rate)
    at = 0
    for part in parts[:-1]:
        end = at + len(part)
        assert abs(audio.samples[end - 1]) < 1e-3 and abs(audio.samples[end + pause]) < 1e-3
        around = audio.samples[end - edge : end + pause + edge]
        assert _largest_step(around) <= inside
        assert not audio.samples[end : end + pause].any()
        at = end + pause


def test_the_split_line_lasts_about_as_long_as_the_engine_speaks_it_whole():
    """eSpeak can still speak 5000 characters at once: the pieces sound about as long."""
    text = _line(5000)
    engine = get_engine("system")
    service = SpeechService(engine, voice=None, rate_wpm=140, cache=None)
    try:
        service.prepare([text])
        pieces = service.audio(service.key(text)).duration_s
        whole = engine.synthesize(text, voice=None, rate_wpm=140).duration_s
    finally:
        service.close()
    assert abs(pieces - whole) / whole < 0.15, (pieces, whole)


def test_a_25000_character_line_no_longer_crashes_espeak():
    engine = SystemEngine(workers=1)
    service = SpeechService(engine, voice=None, rate_wpm=140, cache=None)
    text = _line(25_000)
    try:
        service.prepare([text])
        audio = service.audio(service.key(text))
        assert engine.restarts == 0  # no crash, no timeout
    finally:
        service.close()
    assert audio.duration_s > 25_000 / 20


def test_a_phrase_that_fails_is_named_by_the_service():
    engine = SystemEngine(workers=1, call_timeout_s=0.0001, max_attempts=1)
    service = SpeechService(engine, voice=None, rate_wpm=140, cache=None)
    try:
        with pytest.raises(PhraseError) as caught:
            service.prepare(["Rest here a while."])
    finally:
        service.close()
    assert caught.value.text == "Rest here a while."
    assert 'could not speak "Rest here a while."' in str(caught.value)


class _FailingSpeech(FakeSpeech):
    def prepare(self, texts):
        for text in texts:
            if text.startswith("Soften"):
                raise PhraseError(f'could not speak "{text[:10]}...": engine crashed', text)


def test_a_phrase_that_fails_is_reported_at_its_script_line(tmp_path):
    script = tmp_path / "long.md"
    script.write_text("# Start\nRest.\n\nSoften " + _line(900) + "\n", encoding="utf-8")
    with pytest.raises(ScriptError) as caught:
        compile_script(parse_file(script), _FailingSpeech(), palette=FakePalette())
    (diagnostic,) = caught.value.diagnostics
    assert (diagnostic.file, diagnostic.line, diagnostic.col) == (str(script), 4, 1)
    assert "engine crashed" in diagnostic.message


def test_a_phrase_that_fails_before_playing_is_reported_at_its_script_line(tmp_path):
    """``play`` prepares its speech apart from compiling: the same FILE:LINE:COL."""
    from voicecoach.session import load

    script = tmp_path / "long.md"
    script.write_text("Rest.\n  Soften " + _line(900) + "\n", encoding="utf-8")
    session = load(script, engine="system")
    session._speech = _FailingSpeech()  # type: ignore[assignment]  # (a pure unit test)
    try:
        with pytest.raises(ScriptError) as caught:
            session.prepare_speech()
    finally:
        session._speech = None
    (diagnostic,) = caught.value.diagnostics
    assert (diagnostic.line, diagnostic.col) == (2, 3)
