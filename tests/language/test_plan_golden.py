"""Plans of real scripts: the golden corpus (fake lengths) and the spec's example (real engine)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.fakes import FakePalette, FakeSpeech
from voicecoach.language.compiler import compile_script
from voicecoach.language.parser import parse_file
from voicecoach.session import load

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
VALID = sorted((CORPUS / "valid").glob("*.md"))
GOLDEN = CORPUS / "plans"
SPEC_EXAMPLE = CORPUS / "valid" / "spec-example.md"


def _golden_json(path: Path) -> dict:
    script = parse_file(path, builtin_dir=CORPUS / "library")
    plan = compile_script(script, FakeSpeech(), palette=FakePalette(), sample_rate=44_100)
    doc = plan.to_json()
    doc["warnings"] = [{"line": w.line, "col": w.col, "message": w.message} for w in plan.warnings]
    return doc


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_corpus_compiles_to_its_golden_plan(path):
    """Golden plans are reviewed files; regenerate with VOICECOACH_REGEN_GOLDEN=1 after a deliberate change."""
    expected_path = GOLDEN / f"{path.stem}.plan.json"
    got = _golden_json(path)
    if os.environ.get("VOICECOACH_REGEN_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        expected_path.write_text(
            json.dumps(got, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    assert expected_path.exists(), (
        f"no golden plan for {path.name}; run with VOICECOACH_REGEN_GOLDEN=1 and review it"
    )
    assert got == json.loads(expected_path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def spec_plan():
    with load(SPEC_EXAMPLE, engine="system") as session:
        yield session.plan()


def _spans(plan, kind):
    return [e for e in plan.events if e.kind == kind]


def test_spec_example_has_the_sections_it_describes(spec_plan):
    assert [s.title for s in spec_plan.sections] == [
        "Upper Back Release",
        "Between the shoulder blades (left)",
        "Between the shoulder blades (right)",
        "Finish",
    ]
    texts = [e.text for e in spec_plan.speech_events()]
    assert "Place the ball between your left shoulder blade and your spine." in texts
    assert "Place the ball between your right shoulder blade and your spine." in texts


def test_spec_example_directives_last_exactly_what_the_script_says(spec_plan):
    sr = spec_plan.sample_rate
    assert [e.duration_samples for e in _spans(spec_plan, "pause")] == [5 * sr, 2 * sr, 2 * sr]
    assert [e.duration_samples for e in _spans(spec_plan, "place")] == [8 * sr, 8 * sr]
    assert [e.duration_samples for e in _spans(spec_plan, "breathe")] == [36 * sr, 36 * sr]
    assert [e.duration_samples for e in _spans(spec_plan, "hold")] == [
        45 * sr,
        45 * sr,
    ]  # 30-60s at standard
    assert [e.duration_samples for e in _spans(spec_plan, "wipers")] == [24 * sr, 24 * sr]
    # the script ends with [bell]: no second bell
    assert len(_spans(spec_plan, "bell")) == 1
    assert spec_plan.events[-1].end_sample == spec_plan.duration_samples


def test_spec_example_countdown_and_release_fall_on_exact_seconds(spec_plan):
    sr = spec_plan.sample_rate
    for hold in _spans(spec_plan, "hold"):
        inside = {
            e.text: e.start_sample
            for e in spec_plan.speech_events()
            if hold.start_sample <= e.start_sample <= hold.end_sample
        }
        assert inside["five"] == hold.end_sample - 5 * sr
        assert inside["one"] == hold.end_sample - sr
        assert inside["ten seconds"] == hold.end_sample - 10 * sr
        assert inside["halfway"] == hold.start_sample + round(22.5 * sr)
        assert inside["and release"] == hold.end_sample


def test_spec_example_keeps_the_time_rules_with_real_speech(spec_plan):
    speech = spec_plan.speech_events()
    for a, b in zip(speech, speech[1:], strict=False):
        assert a.end_sample <= b.start_sample
    assert spec_plan.warnings == ()
    # a directive starts when the speech before it has finished
    for span in _spans(spec_plan, "hold") + _spans(spec_plan, "place"):
        before = [e for e in speech if e.start_sample < span.start_sample]
        assert before[-1].end_sample <= span.start_sample
    doc = spec_plan.to_json()
    assert set(doc) == {"title", "duration_s", "sample_rate", "sections", "events", "warnings"}
