"""The on-disk speech cache: real files, real concurrent processes, real damage."""

from __future__ import annotations

import multiprocessing
import os
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from voicecoach.speech.cache import (
    SpeechCache,
    cache_clear,
    cache_info,
    default_cache_dir,
    speech_key,
)
from voicecoach.speech.engine import SpeechAudio

RATE = 22_050


def _audio(seed: int, seconds: float = 0.5, rate: int = RATE) -> SpeechAudio:
    """Deterministic 16-bit-exact test audio (what engines produce)."""
    rng = np.random.default_rng(seed)
    pcm = rng.integers(-20_000, 20_000, int(seconds * rate)).astype(np.int16)
    return SpeechAudio(samples=pcm.astype(np.float32) / 32768.0, sample_rate=rate)


def test_key_depends_on_every_field_and_nothing_else():
    base = speech_key("system:x", None, 150, "Breathe in.")
    assert base == speech_key("system:x", None, 150, "Breathe in.")
    assert len(base) == 64 and int(base, 16) >= 0
    others = {
        speech_key("system:y", None, 150, "Breathe in."),
        speech_key("system:x", "en-us", 150, "Breathe in."),
        speech_key("system:x", None, 151, "Breathe in."),
        speech_key("system:x", None, 150, "Breathe in"),
        # fields cannot bleed into each other
        speech_key("system:x\x1f", None, 150, "Breathe in."),
    }
    assert base not in others and len(others) == 5


def test_store_then_load_round_trips_exactly(tmp_path):
    cache = SpeechCache(tmp_path)
    audio = _audio(1)
    key = speech_key("t", None, 150, "one")
    info = cache.store(key, audio)
    assert (info.frames, info.sample_rate) == (len(audio.samples), RATE)
    assert cache.info(key) == info
    back = cache.load(key)
    assert back.sample_rate == RATE and back.samples.dtype == np.float32
    assert np.array_equal(back.samples, audio.samples)
    assert cache.path_for(key).parent.name == key[:2]
    assert not [p for p in cache.path_for(key).parent.iterdir() if p.name.startswith(".tmp")]


def test_missing_entry_reads_as_none(tmp_path):
    cache = SpeechCache(tmp_path)
    key = speech_key("t", None, 150, "absent")
    assert cache.info(key) is None and cache.load(key) is None


def test_truncated_entry_is_detected_from_the_header_alone(tmp_path):
    cache = SpeechCache(tmp_path)
    key = speech_key("t", None, 150, "cut short")
    cache.store(key, _audio(2))
    path = cache.path_for(key)
    for size in (path.stat().st_size - 1, 40, 31, 0):
        with open(path, "r+b") as f:
            f.truncate(size)
        assert cache.info(key) is None
        assert cache.load(key) is None


@pytest.mark.parametrize("offset", [0, 9, 13, 17, 25, 29, 32, 1000, -1])
def test_any_flipped_byte_is_detected_by_load(tmp_path, offset):
    cache = SpeechCache(tmp_path)
    key = speech_key("t", None, 150, f"flip {offset}")
    cache.store(key, _audio(3))
    path = cache.path_for(key)
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))
    assert cache.load(key) is None
    if 0 <= offset < 32:
        assert cache.info(key) is None  # header damage is caught cheaply too


def test_info_is_cheap_for_a_30_minute_script(tmp_path):
    cache = SpeechCache(tmp_path)
    keys = [speech_key("t", None, 150, f"phrase {i}") for i in range(300)]
    for i, key in enumerate(keys):
        cache.store(key, _audio(i, seconds=3.0))
    started = time.perf_counter()
    infos = [cache.info(key) for key in keys]
    elapsed = time.perf_counter() - started
    assert all(info is not None and info.frames == 3 * RATE for info in infos)
    assert elapsed < 0.1, f"300 header reads took {elapsed:.3f} s"


def test_stats_and_clear_count_entries_and_leftover_temp_files(tmp_path):
    cache = SpeechCache(tmp_path / "speech")
    assert cache.stats() == {"path": str(tmp_path / "speech"), "entries": 0, "bytes": 0}
    keys = [speech_key("t", None, 150, f"n{i}") for i in range(5)]
    for i, key in enumerate(keys):
        cache.store(key, _audio(i, seconds=0.1))
    stats = cache.stats()
    assert stats["entries"] == 5
    assert stats["bytes"] == sum(cache.path_for(k).stat().st_size for k in keys)
    # a temp file left by a killed writer: kept while fresh, removed when stale
    leftover = cache.path_for(keys[0]).parent / ".tmp-abc.vcs"
    leftover.write_bytes(b"partial")
    assert cache.stats()["entries"] == 5 and leftover.exists()
    old = time.time() - 2 * 3600
    os.utime(leftover, (old, old))
    cache.stats()
    assert not leftover.exists()
    leftover.write_bytes(b"partial")
    assert cache.clear() == 5
    assert cache.stats()["entries"] == 0
    assert not any(Path(tmp_path / "speech").rglob("*.vcs"))


def test_default_location_honours_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("VOICECOACH_CACHE_DIR", str(tmp_path / "vc"))
    assert default_cache_dir() == tmp_path / "vc" / "speech"
    SpeechCache().store(speech_key("t", None, 150, "x"), _audio(9, seconds=0.1))
    info = cache_info()
    assert info["path"] == str(tmp_path / "vc" / "speech") and info["entries"] == 1
    assert cache_clear() == 1
    assert cache_info()["entries"] == 0
    monkeypatch.delenv("VOICECOACH_CACHE_DIR")
    assert default_cache_dir().name == "speech" and "voicecoach" in str(default_cache_dir())


# -- two processes at once ---------------------------------------------------


def _writer(root: str, worker: int, rounds: int, start_at: float) -> int:
    """In a separate process: write shared and own keys many times, reading back."""
    cache = SpeechCache(root)
    while time.time() < start_at:  # start both writers together
        time.sleep(0.001)
    bad = 0
    for r in range(rounds):
        for name in ("shared-a", "shared-b", f"own-{worker}-{r % 5}"):
            key = speech_key("t", None, 150, name)
            cache.store(key, _audio(zlib.crc32(name.encode()) % 1000, seconds=0.3))
            if cache.load(key) is None:  # a reader never sees a partial entry
                bad += 1
    return bad


def test_two_processes_writing_same_and_different_keys_leave_whole_entries(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    start_at = time.time() + 2.0
    with ctx.Pool(2) as pool:
        results = [
            pool.apply_async(_writer, (str(tmp_path), worker, 40, start_at)) for worker in (1, 2)
        ]
        bad = [r.get(timeout=60) for r in results]
    assert bad == [0, 0]
    cache = SpeechCache(tmp_path)
    names = ["shared-a", "shared-b"] + [f"own-{w}-{i}" for w in (1, 2) for i in range(5)]
    for name in names:
        loaded = cache.load(speech_key("t", None, 150, name))
        assert loaded is not None, name
        assert np.array_equal(
            loaded.samples, _audio(zlib.crc32(name.encode()) % 1000, seconds=0.3).samples
        )
    assert cache.stats()["entries"] == len(names)
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".tmp")]
