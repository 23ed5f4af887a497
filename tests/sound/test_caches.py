"""The sound stage's derived caches are really used, and their keys cannot switch them off silently.

A cache whose key cannot be made (a module missing from the code digest, say) is
only slower, never wrong, so nothing else would notice it stopped working: these
tests do. Spies go on the module that defines the spied function.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path
from types import ModuleType

import numpy as np

import voicecoach
from tests.sound.test_render import VOICE, WARM, Voices, render, session_plan
from voicecoach.sound import dsp, meanwhile, normalise, tones
from voicecoach.sound import render as render_mod
from voicecoach.speech.engine import SpeechAudio


def _forget_in_memory() -> None:
    """What a new process would know: nothing but the files."""
    render_mod._TONE_CACHE.clear()
    render_mod._SPEECH_CACHE.clear()
    render_mod._SPEECH_FILES.clear()


def _entries(cache: Path, kind: str) -> list[Path]:
    return sorted(p for p in (cache / kind).glob("*") if not p.name.startswith("."))


def _digested_modules(module: ModuleType, call: ast.Call) -> list[object]:
    """What the arguments of one ``code_digest(...)`` call in ``module`` name, resolved in it."""
    found: list[object] = []
    for arg in call.args:
        if isinstance(arg, ast.Name):
            found.append(getattr(module, arg.id))
        elif isinstance(arg, ast.Starred) and isinstance(arg.value, ast.Name):
            found.extend(getattr(module, arg.value.id))
        elif ast.unparse(arg) == "sys.modules[__name__]":
            found.append(module)
        else:
            raise AssertionError(f"{module.__name__}: cannot check code_digest({ast.unparse(arg)})")
    return found


def test_every_module_given_to_code_digest_exists_with_its_source():
    calls = 0
    for info in pkgutil.walk_packages(voicecoach.__path__, "voicecoach."):
        module = importlib.import_module(info.name)
        if module.__file__ is None or not module.__file__.endswith(".py"):
            continue
        tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", None))
            if name != "code_digest":
                continue
            calls += 1
            digested = _digested_modules(module, node)
            assert digested, f"{info.name}: code_digest() of nothing"
            for m in digested:
                assert isinstance(m, ModuleType), f"{info.name}: code_digest given {m!r}"
                assert m.__file__ is not None and Path(m.__file__).is_file(), m.__name__
    assert calls >= 3  # the tone, prepared-speech and loudness caches


def test_every_sound_cache_key_can_be_made(tmp_path, monkeypatch):
    """Each key function swallows errors (no cache is only slower): here none may happen."""
    monkeypatch.setenv("VOICECOACH_CACHE_DIR", str(tmp_path))
    plan, _ = session_plan()
    speech = next(e for e in plan.events if e.kind == "speech")
    tone = render_mod._tone_file((WARM, "bell", "", 30_000, plan.sample_rate))
    prepared = render_mod._speech_file(
        SpeechAudio(VOICE["v0"], 22_050), plan.sample_rate, speech, WARM
    )
    loudness = normalise.cache_path(plan, WARM)
    assert tone is not None and tone.parent == tmp_path / "tones"
    assert prepared is not None and prepared.parent == tmp_path / "speech-prepared"
    assert loudness is not None and loudness.parent == tmp_path / "loudness"


def test_a_second_render_reads_its_tones_and_prepared_speech_from_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("VOICECOACH_CACHE_DIR", str(tmp_path))
    plan, _ = session_plan()
    _forget_in_memory()
    first = render(plan, Voices(VOICE))
    tone_files = _entries(tmp_path, "tones")
    speech_files = _entries(tmp_path, "speech-prepared")
    kinds = {e.tone for e in plan.events if e.kind == "tone"}
    assert len(tone_files) >= len(kinds) and speech_files

    def no_synth(*args, **kwargs):
        raise AssertionError("a tone was synthesised although it is on disk")

    def no_resampling(*args, **kwargs):
        raise AssertionError("speech was prepared although it is on disk")

    monkeypatch.setattr(tones, "synth_tone", no_synth)
    monkeypatch.setattr(dsp, "resample_poly", no_resampling)
    _forget_in_memory()  # a new process: only the disk remembers
    assert np.array_equal(render(plan, Voices(VOICE)), first)
    assert _entries(tmp_path, "tones") == tone_files
    assert _entries(tmp_path, "speech-prepared") == speech_files
    _forget_in_memory()


def test_tones_made_meanwhile_are_the_renders_tones(tmp_path, monkeypatch):
    """``tones_meanwhile`` (an export's speech synthesis) leaves every tone of the plan cached."""
    import threading
    import time

    monkeypatch.setenv("VOICECOACH_CACHE_DIR", str(tmp_path))
    plan, _ = session_plan()
    _forget_in_memory()
    wanted = {
        (e.tone, e.variant, e.duration_samples)
        for e in plan.events
        if e.kind == "tone" and e.end_sample > e.start_sample
    }
    with meanwhile.tones_meanwhile(plan, WARM):
        deadline = time.monotonic() + 30
        while len(_entries(tmp_path, "tones")) < len(wanted) and time.monotonic() < deadline:
            time.sleep(0.01)
    assert not [t for t in threading.enumerate() if t.name == "voicecoach-tones"]
    assert len(_entries(tmp_path, "tones")) == len(wanted)

    def no_synth(*args, **kwargs):
        raise AssertionError("a tone was synthesised although it was made meanwhile")

    monkeypatch.setattr(tones, "synth_tone", no_synth)
    rendered = render(plan, Voices(VOICE))
    monkeypatch.undo()
    _forget_in_memory()
    monkeypatch.setenv("VOICECOACH_CACHE_DIR", str(tmp_path / "fresh"))
    assert np.array_equal(rendered, render(plan, Voices(VOICE)))  # what a plain render makes
    _forget_in_memory()


def test_tones_meanwhile_stops_with_its_body(tmp_path, monkeypatch):
    """A body that ends at once (or fails) does not leave the thread making tones behind it."""
    import threading

    monkeypatch.setenv("VOICECOACH_CACHE_DIR", str(tmp_path))
    plan, _ = session_plan()
    _forget_in_memory()
    try:
        with meanwhile.tones_meanwhile(plan, WARM):
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert not [t for t in threading.enumerate() if t.name == "voicecoach-tones"]
    kinds = {(e.tone, e.variant) for e in plan.events if e.kind == "tone"}
    assert len(_entries(tmp_path, "tones")) < len(kinds)  # stopped after the tone in hand
    _forget_in_memory()
