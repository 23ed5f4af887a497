"""Time rule 5 end to end: export, ``cache clear``, export again: the same bytes, for each engine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from voicecoach.speech import piper

SCRIPT = """---
title: Same Every Time
lead_in: 0.5s
---
# Arrive
Lie on your back with your knees bent, and let the floor hold you.
Place the ball between your shoulder blade and your spine.
[breathe 2-1-3 x2 guide 2]
[hold 12s count 5]
"""


def _voicecoach(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "voicecoach.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def _speech_entries(cache: Path) -> int:
    return sum(1 for _ in (cache / "speech").glob("*/*.vcs"))


@pytest.mark.parametrize(
    "engine",
    [
        "system",
        pytest.param(
            "piper",
            marks=pytest.mark.skipif(not piper.is_installed(), reason="piper is not installed"),
        ),
    ],
)
def test_export_after_cache_clear_gives_the_same_bytes(tmp_path, engine):
    script = tmp_path / "same.md"
    script.write_text(SCRIPT, encoding="utf-8")
    cache = tmp_path / "cache"  # private and empty: every utterance is synthesised
    env = {**os.environ, "VOICECOACH_CACHE_DIR": str(cache)}
    first, second = tmp_path / "first.wav", tmp_path / "second.wav"

    _voicecoach(env, "export", str(script), "-o", str(first), "--engine", engine)
    assert _speech_entries(cache) >= 8  # prose, breath guidance, countdown
    _voicecoach(env, "cache", "clear")
    assert _speech_entries(cache) == 0
    _voicecoach(env, "export", str(script), "-o", str(second), "--engine", engine)
    assert _speech_entries(cache) >= 8

    a, b = first.read_bytes(), second.read_bytes()
    assert len(a) > 44_100 * 4  # seconds of stereo 16-bit audio, not an empty file
    assert a == b
