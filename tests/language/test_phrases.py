"""The one phrase table: names, default words, overrides, and the docs generated from it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from voicecoach.language import phrases
from voicecoach.language.phrases import PHRASES, Wording

ROOT = Path(__file__).resolve().parent.parent.parent


def _generator():
    spec = importlib.util.spec_from_file_location(
        "gen_phrase_docs", ROOT / "tools" / "gen_phrase_docs.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_list_exactly_the_phrase_table():
    """docs/script-format.md embeds the generated table; regenerate with tools/gen_phrase_docs.py."""
    gen = _generator()
    text = gen.DOC.read_text(encoding="utf-8")
    assert gen.with_table(text) == text
    for name in PHRASES:
        assert f"`{name}`" in text


def test_wording_defaults_and_overrides():
    words = Wording({"wipers_left": "feet over to the left", "count_3": "three, soft"})
    assert words.wipers("left") == "feet over to the left"
    assert words.wipers("right") == PHRASES["wipers_right"]
    assert words.count(3) == "three, soft"
    assert words.count(21) == "twenty-one"
    assert Wording()("hold_release") == "and release"


def test_recheck_fills_in_the_word_spoken_plainly():
    assert (
        Wording().recheck("upper-back") == "notice your upper back: one is free, five is very tight"
    )
    assert Wording({"recheck": "how do your {word} feel?"}).recheck("calf_muscles") == (
        "how do your calf muscles feel?"
    )


@pytest.mark.parametrize(
    "name,known",
    [
        ("hold_release", True),
        ("count_1", True),
        ("count_99", True),
        ("count_0", False),
        ("count_100", False),
        ("count_07", False),
        ("nope", False),
    ],
)
def test_phrase_names(name, known):
    assert phrases.is_phrase_name(name) is known


def test_fixed_phrases_cover_every_guidance_word_once():
    fixed = Wording().fixed()
    assert "breathe in" in fixed and "knees over to the right" in fixed
    assert "paused" not in fixed and not any("{word}" in p for p in fixed)
