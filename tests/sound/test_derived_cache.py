"""The derived caches (tones, prepared speech, loudness decisions, limiter spans): checked entries."""

from __future__ import annotations

import json

import pytest

from tests.export.test_export import make_plan, speech_lookup
from voicecoach.export.writer import export_plan
from voicecoach.sound import render as render_mod
from voicecoach.sound.palette import load_palette

# where each kind of derived entry lives under the cache folder
KINDS = {
    "tones": "tones/*",
    "prepared speech": "speech-prepared/*",
    "limiter spans": "loudness/*.limiter.bin",
    "loudness decision": "loudness/*.json",
}


def _forget_in_memory() -> None:
    """What a new process would know: nothing but the files."""
    render_mod._TONE_CACHE.clear()
    render_mod._SPEECH_CACHE.clear()
    render_mod._SPEECH_FILES.clear()


def _damage(path) -> bytes:
    """Flip 16 bytes in the middle of the file (aligned, so whole samples change); returns the damaged bytes."""
    data = bytearray(path.read_bytes())
    mid = (len(data) // 2) & ~15
    data[mid : mid + 16] = bytes(b ^ 0xFF for b in data[mid : mid + 16])
    path.write_bytes(bytes(data))
    return bytes(data)


def _change_gain(path) -> bytes:
    """Add 5 dB to every decision's ``gain_db`` in a loudness entry, keeping it valid JSON."""
    data = json.loads(path.read_text(encoding="utf-8"))
    decisions = data["decisions"]
    assert decisions
    for decision in decisions.values():
        decision["gain_db"] += 5.0
    path.write_text(json.dumps(data), encoding="utf-8")
    return path.read_bytes()


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_damaged_entry_is_removed_and_made_again(tmp_path, monkeypatch, kind):
    cache = tmp_path / "cache"
    monkeypatch.setenv("VOICECOACH_CACHE_DIR", str(cache))
    plan, palette = make_plan(), load_palette(None)
    _forget_in_memory()
    clean = export_plan(plan, speech_lookup, tmp_path / "clean.wav", palette=palette)
    assert clean.limiter  # so the export keeps limiter spans too
    entries = sorted(p for p in cache.glob(KINDS[kind]) if not p.name.startswith("."))
    assert entries, f"no {kind} entry after an export"
    made = {p: p.read_bytes() for p in entries}
    damaged = {p: (_change_gain(p) if kind == "loudness decision" else _damage(p)) for p in entries}
    assert all(damaged[p] != made[p] for p in entries)

    _forget_in_memory()
    again = export_plan(plan, speech_lookup, tmp_path / "again.wav", palette=palette)
    assert (tmp_path / "again.wav").read_bytes() == (tmp_path / "clean.wav").read_bytes()
    assert again.gain_db == clean.gain_db
    for path in entries:  # each bad entry was replaced by a sound one
        assert path.is_file() and path.read_bytes() != damaged[path]
    _forget_in_memory()
    export_plan(plan, speech_lookup, tmp_path / "third.wav", palette=palette)
    assert (tmp_path / "third.wav").read_bytes() == (tmp_path / "clean.wav").read_bytes()
