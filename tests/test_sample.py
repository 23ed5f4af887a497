"""audio/sample.ogg (linked from the README) is what voicecoach exports today (time rule 5)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voicecoach.session import load
from voicecoach.speech import default_engine_name

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_sample_is_a_fresh_export_of_its_script(tmp_path, monkeypatch):
    """Regenerate with: voicecoach export docs/sample-session.md -o audio/sample.ogg."""
    if default_engine_name() != "piper":
        pytest.skip("the sample is exported with the natural voice (piper), not installed here")
    monkeypatch.setenv("VOICECOACH_CACHE_DIR", str(tmp_path / "cache"))  # an empty cache
    out = tmp_path / "sample.ogg"
    with load(ROOT / "docs" / "sample-session.md") as session:
        session.export(out)
    fresh, fresh_rate = sf.read(out, dtype="float32")
    kept, kept_rate = sf.read(ROOT / "audio" / "sample.ogg", dtype="float32")
    # Ogg pages carry a random stream serial number, so compare the decoded audio
    assert (fresh_rate, fresh.shape) == (kept_rate, kept.shape)
    assert np.array_equal(fresh, kept)
