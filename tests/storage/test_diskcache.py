"""The whole cache under one cap, least recently used first; ``cache info`` adds every kind up."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

from tests.test_cli import run
from voicecoach.sound import decisions, limiter
from voicecoach.speech.cache import SpeechCache
from voicecoach.speech.engine import SpeechAudio
from voicecoach.storage import diskcache

CAP_BYTES = 500_000


def _files_bytes(root) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


@pytest.fixture
def small_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("VOICECOACH_CACHE_DIR", str(cache))
    monkeypatch.setenv(diskcache.CACHE_MAX_ENV, str(CAP_BYTES / 1e6))
    diskcache._ESTIMATES.clear()
    yield cache
    diskcache._ESTIMATES.clear()


def _one_of_each_kind(cache):
    """A speech entry, a tone, prepared speech, a loudness entry and limiter spans (about 60 KB each)."""
    speech = SpeechCache()
    key = "ab" * 32
    speech.store(key, SpeechAudio(np.full(30_000, 0.25, dtype=np.float32), 22_050))
    tone = cache / "tones" / f"t{diskcache.ARRAY_SUFFIX}"
    diskcache.save_array(tone, np.full(15_000, 0.5, dtype=np.float32))
    prepared = cache / "speech-prepared" / f"p{diskcache.ARRAY_SUFFIX}"
    diskcache.save_array(prepared, np.full(15_000, 0.1, dtype=np.float32))
    decision = cache / "loudness" / "x.json"
    decisions.update_cache(
        decision, decision=("export-lossless", {"gain_db": 1.5, "limiter": True})
    )
    spans = cache / "loudness" / "x.limiter.bin"
    writer = limiter.SpanWriter(spans, b"k" * 16)
    writer(0, np.full(7_500, 0.9))
    writer.finish()
    return speech, key, [speech.path_for(key), tone, prepared, decision, spans]


def test_the_cache_stays_under_its_cap_removing_the_least_recently_used_first(small_cache):
    speech, key, (speech_file, tone, prepared, decision, spans) = _one_of_each_kind(small_cache)
    made = [speech_file, tone, prepared, decision, spans]
    assert all(p.is_file() for p in made)
    for i, path in enumerate(made):  # made long ago, in this order
        os.utime(path, (1_000_000 + 100 * i, 1_000_000 + 100 * i))
    # the two oldest are used now (read back): they become the most recently used
    assert speech.load(key) is not None
    assert diskcache.load_array(tone, 15_000) is not None
    order = [prepared, decision, spans, speech_file, tone]  # least recently used first

    written = []
    for i in range(8):  # new prepared speech, 60 KB each, past the cap
        path = small_cache / "speech-prepared" / f"new{i}{diskcache.ARRAY_SUFFIX}"
        diskcache.save_array(path, np.full(15_000, i / 10, dtype=np.float32))
        written.append(path)
        assert _files_bytes(small_cache) <= CAP_BYTES
        assert path.is_file()  # the entry just written stays
        gone = [p for p in order + written if not p.is_file()]
        assert gone == (order + written)[: len(gone)], "removed out of least-recent-use order"
        if i == 4:  # by now the cache passed the cap once: the unused ones went, the used ones stay
            assert gone == [prepared, decision, spans]
    assert not speech_file.exists() and not tone.exists()  # later, they went too, in turn


def test_an_entry_larger_than_the_cap_is_not_kept(small_cache):
    path = small_cache / "tones" / f"big{diskcache.ARRAY_SUFFIX}"
    diskcache.save_array(path, np.zeros(CAP_BYTES // 4 + 1, dtype=np.float32))
    assert not path.exists() and _files_bytes(small_cache) == 0


def test_cache_info_adds_every_kind_up_to_the_files_on_disk(small_cache, capsys):
    _one_of_each_kind(small_cache)
    (small_cache / "tones" / ".t.f32.123.tmp").write_bytes(b"x" * 1000)  # a write under way
    code, out, _ = run(capsys, "cache", "info")
    assert code == 0 and f"path: {small_cache}" in out
    total = _files_bytes(small_cache)
    head = re.search(r"size: ([\d.]+) MB in (\d+) files \((\d+) bytes\); cap ([\d.]+) MB", out)
    assert head, out
    assert int(head[3]) == total and int(head[2]) == 6
    assert float(head[1]) == pytest.approx(total / 1e6, abs=0.05)
    assert float(head[4]) == CAP_BYTES / 1e6
    rows = re.findall(r"^([a-z-]+): (\d+) (?:entries|files), ([\d.]+) MB", out, re.M)
    assert [name for name, _, _ in rows] == list(diskcache.KINDS)
    assert [int(n) for _, n, _ in rows] == [1, 1, 1, 2, 1]  # the tones' temporary file counts too
    assert sum(float(mb) for _, _, mb in rows) == pytest.approx(total / 1e6, abs=0.05 * 5)
    by_kind = diskcache.usage()
    assert sum(size for _, size in by_kind.values()) == total
    assert by_kind["limiter"] == (1, (small_cache / "loudness" / "x.limiter.bin").stat().st_size)


def test_a_bad_cap_is_a_clear_error(small_cache, monkeypatch, capsys):
    monkeypatch.setenv(diskcache.CACHE_MAX_ENV, "lots")
    code, _, err = run(capsys, "cache", "info")
    assert code == 2 and "VOICECOACH_CACHE_MAX_MB must be a number of megabytes" in err
