"""Exported files read back by real decoders (soundfile, ffprobe, ffmpeg's ebur128), and atomic writes."""

from __future__ import annotations

import errno
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.meters import ffmpeg_ebur128
from voicecoach.errors import ExportError, UsageError
from voicecoach.export import encoder as encoder_mod
from voicecoach.export.captions import webvtt_text
from voicecoach.export.formats import FORMATS, format_for
from voicecoach.export.writer import export_plan
from voicecoach.language.plan import Event, Plan, Section
from voicecoach.language.script import Settings
from voicecoach.sound import limiter, normalise
from voicecoach.sound.decisions import CACHE_VERSION
from voicecoach.sound.levels import (
    MAX_TRUE_PEAK_DBTP,
    MIX_OFFSET_LU,
    TARGET_LUFS,
    session_gain_db,
)
from voicecoach.sound.palette import load_palette
from voicecoach.sound.truepeak import TruePeakMeter
from voicecoach.speech.engine import SpeechAudio

REPO = Path(__file__).resolve().parents[2]
needs_ffmpeg = pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
    reason="ffmpeg/ffprobe are not installed",
)

# ---- a hand-made plan with synthetic speech ---------------------------------------------


def _voice_like(seconds: float, seed: int, rate: int = 22_050) -> np.ndarray:
    """A vowel-ish signal: harmonics of a gliding pitch, syllable-rate bursts, sharp consonant clicks."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 110 + 20 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    x = sum(np.sin(k * phase) / k for k in range(1, 12))
    syllables = np.clip(np.sin(2 * np.pi * 4 * t), 0, None) ** 0.5
    x = x * syllables + 0.3 * rng.normal(size=len(t)) * (syllables > 0.95)
    x *= np.minimum(1.0, np.minimum(t, t[::-1]) / 0.02)
    x = 0.3 * x / np.abs(x).max()
    for at in rng.integers(rate // 10, len(t) - rate // 10, 6):  # plosives: short, loud
        x[at : at + 30] += 0.6 * np.hanning(30) * rng.choice([-1, 1])
    return x.astype(np.float32)


SPEECH = {
    "k1": ("Lie on your back and let your arms rest.", _voice_like(2.0, 1)),
    "k2": ("Place the ball under your left shoulder.", _voice_like(2.5, 2)),
    "k3": ("Breathe in & out <slowly> --> then rest.", _voice_like(1.8, 3)),
}


def speech_lookup(key: str) -> SpeechAudio:
    return SpeechAudio(SPEECH[key][1], 22_050)


def make_plan(sample_rate: int = 44_100, *, extra_silence_s: float = 0.0) -> Plan:
    """Three sections, three utterances, a ready chime and a closing bell, all at exact samples."""
    palette = load_palette(None)
    sr = sample_rate

    def at(seconds: float) -> int:
        return int(round(seconds * sr))

    events = []
    starts = {"k1": at(0.5), "k2": at(3.0), "k3": at(7.0 + extra_silence_s)}
    for line, (key, start) in enumerate(starts.items(), start=1):
        audio = speech_lookup(key)
        events.append(
            Event(
                "speech",
                start,
                start + audio.duration_samples_at(sr),
                line,
                text=SPEECH[key][0],
                speech_key=key,
            )
        )
    ready_start = at(6.0)
    events.append(
        Event("tone", ready_start, ready_start + at(palette.length_s("ready")), 4, tone="ready")
    )
    bell_start = at(9.5 + extra_silence_s)
    bell_end = bell_start + at(palette.length_s("bell"))
    events.append(Event("tone", bell_start, bell_end, 5, tone="bell"))
    events.sort(key=lambda e: (e.start_sample, e.end_sample))
    sections = (
        Section("Settle in, slowly", 0, at(3.0), 1),  # longest first: mutagen orders by size
        Section("Left side", at(3.0), at(7.0 + extra_silence_s), 2),
        Section("Right", at(7.0 + extra_silence_s), bell_end, 3),
    )
    settings = Settings(
        title="Export Test", teacher="Jane Doe", description="A short session & a test."
    )
    return Plan("Export Test", sr, bell_end, sections, tuple(events), settings, engine="test")


def _export(tmp: Path, fmt: str, **kw):
    rate = 48_000 if fmt == "opus" else 44_100
    plan = make_plan(rate)
    out = tmp / f"session.{fmt}"
    return plan, export_plan(plan, speech_lookup, out, palette=load_palette(None), **kw)


# ---- decoders ------------------------------------------------------------------------------------


def ffprobe(path: Path) -> dict:
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_chapters",
            "-show_format",
            "-show_streams",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)


def probe_tags(info: dict) -> dict:
    tags = {k.lower(): v for k, v in info["format"].get("tags", {}).items()}
    for stream in info["streams"]:
        tags.update({k.lower(): v for k, v in stream.get("tags", {}).items()})
    return tags


_VTT_TIME = r"(\d{2}):(\d{2}):(\d{2})\.(\d{3})"


def parse_webvtt(text: str) -> list[tuple[int, int, str]]:
    """A strict reader for what we write: header, then numbered cues; returns (start_ms, end_ms, text)."""
    blocks = text.strip("\n").split("\n\n")
    assert blocks[0].startswith("WEBVTT")
    cues = []
    for block in blocks[1:]:
        lines = block.split("\n")
        assert lines[0].isdigit(), block
        m = re.fullmatch(_VTT_TIME + " --> " + _VTT_TIME, lines[1])
        assert m, lines[1]
        g = [int(x) for x in m.groups()]
        start = ((g[0] * 60 + g[1]) * 60 + g[2]) * 1000 + g[3]
        end = ((g[4] * 60 + g[5]) * 60 + g[6]) * 1000 + g[7]
        payload = "\n".join(lines[2:])
        assert "-->" not in payload and "<" not in payload
        cues.append((start, end, payload))
    return cues


# ---- every format, read back ---------------------------------------------------------------------


# every phrase is at the speech level, then the session gain: the voice lands here
VOICE_AT_LUFS = TARGET_LUFS - MIX_OFFSET_LU


def speech_lufs(path, plan) -> float:
    """BS.1770 loudness (pyloudnorm) of the file's speech alone: its speech events' spans joined."""
    import pyloudnorm

    x, rate = sf.read(str(path), dtype="float64", always_2d=True)
    spans = [x[e.start_sample : e.end_sample] for e in plan.speech_events()]
    return float(pyloudnorm.Meter(rate).integrated_loudness(np.concatenate(spans)))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("formats")
    results = {}
    for fmt in sorted(FORMATS):
        plan, result = _export(tmp, fmt, captions=(fmt == "mp3"))
        results[fmt] = (plan, result)
    return results


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_format_reads_back_with_right_length_rate_and_channels(exported, fmt):
    plan, result = exported[fmt]
    assert result.format == fmt and result.path.exists()
    info = sf.info(str(result.path))
    assert info.samplerate == plan.sample_rate
    assert info.channels == 2
    if fmt in ("wav", "flac"):
        assert info.frames == plan.duration_samples
    else:  # codec padding and priming
        assert abs(info.frames - plan.duration_samples) <= 0.06 * plan.sample_rate
    data, _ = sf.read(str(result.path), dtype="float32")
    assert np.abs(data).max() > 0.3  # there is sound in it, not silence
    assert result.duration_s == pytest.approx(plan.duration_s)


@needs_ffmpeg
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_tags_and_chapters_readable_by_ffprobe(exported, fmt):
    plan, result = exported[fmt]
    info = ffprobe(result.path)
    tags = probe_tags(info)
    assert tags["title"] == "Export Test"
    assert tags["artist"] == "Jane Doe"
    assert tags["album"] == "voicecoach"
    assert "A short session & a test." in tags.get("comment", "") + tags.get("description", "")
    # in time order as the file lists them: players that go by file order step through them
    chapters = info["chapters"]
    assert [c["tags"]["title"] for c in chapters] == [s.title for s in plan.sections]
    for chapter, section in zip(chapters, plan.sections, strict=True):
        assert float(chapter["start_time"]) == pytest.approx(
            section.start_sample / plan.sample_rate, abs=0.0011
        )


@needs_ffmpeg
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_loudness_by_an_independent_meter(exported, fmt):
    _, result = exported[fmt]
    plan, _ = exported[fmt]
    lufs, peak = ffmpeg_ebur128(result.path)
    assert peak <= MAX_TRUE_PEAK_DBTP + 0.2
    # the voice is at the target (the whole file is as loud as its share of speech makes it)
    assert speech_lufs(result.path, plan) == pytest.approx(VOICE_AT_LUFS, abs=0.5)
    # what export reports was measured on what it wrote, and agrees with ffmpeg
    assert result.integrated_lufs == pytest.approx(lufs, abs=0.15)
    assert result.true_peak_dbtp <= MAX_TRUE_PEAK_DBTP


def test_synthetic_speech_needs_the_limiter(exported):
    # the test voice has a high crest factor: a plain gain cannot reach -16 LUFS under -1 dBTP
    _, result = exported["wav"]
    assert result.limiter
    assert result.gain_db > 0


def test_captions_are_webvtt_one_cue_per_phrase_in_time(exported):
    plan, result = exported["mp3"]
    assert result.captions_path == result.path.with_suffix(".vtt")
    cues = parse_webvtt(result.captions_path.read_text(encoding="utf-8"))
    speech = plan.speech_events()
    assert len(cues) == len(speech) == 3
    for (start_ms, end_ms, text), event in zip(cues, speech, strict=True):
        assert start_ms == round(event.start_sample * 1000 / plan.sample_rate)
        assert end_ms == round(event.end_sample * 1000 / plan.sample_rate)
        assert text.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">") == event.text
    assert [o.name for o in result.path.parent.iterdir() if ".part-" in o.name] == []


def test_webvtt_text_escapes_markup():
    text = webvtt_text(make_plan())
    assert "Breathe in &amp; out &lt;slowly&gt; --&gt; then rest." in text


# ---- formats and arguments -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "fmt", "expected"),
    [
        ("a.wav", None, "wav"),
        ("a.FLAC", None, "flac"),
        ("a.ogg", None, "ogg"),
        ("a.oga", None, "ogg"),
        ("a.mp3", None, "mp3"),
        ("a.opus", None, "opus"),
        ("a.bin", "mp3", "mp3"),
        ("a", "OPUS", "opus"),
        ("a.oga", "vorbis", "ogg"),
    ],
)
def test_format_for(path, fmt, expected):
    assert format_for(path, fmt) == expected


@pytest.mark.parametrize(
    ("path", "fmt", "message"),
    [
        ("a.aiff", None, "cannot tell the format of a.aiff (extension '.aiff')"),
        ("noext", None, "(no extension)"),
        ("a.wav", "m4a", "unknown format 'm4a'"),
        ("a.wav", "vorbis", "--format vorbis contradicts the extension '.wav' of a.wav"),
    ],
)
def test_format_for_refuses_unknown(path, fmt, message):
    with pytest.raises(UsageError) as e:
        format_for(path, fmt)
    assert message in str(e.value)


def test_opus_needs_an_opus_rate(tmp_path):
    with pytest.raises(ExportError, match="compile the plan at 48000 Hz"):
        export_plan(
            make_plan(44_100), speech_lookup, tmp_path / "x.opus", palette=load_palette(None)
        )
    assert list(tmp_path.iterdir()) == []


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ExportError, match="does not exist"):
        export_plan(
            make_plan(), speech_lookup, tmp_path / "nope" / "x.wav", palette=load_palette(None)
        )


def test_progress_counts_up_to_the_total(tmp_path, monkeypatch):
    monkeypatch.setenv("VOICECOACH_CACHE_DIR", str(tmp_path / "cache"))  # nothing measured yet
    calls = []
    plan = make_plan()
    export_plan(
        plan,
        speech_lookup,
        tmp_path / "p.flac",
        palette=load_palette(None),
        progress=lambda d, t: calls.append((d, t)),
    )
    done = [d for d, _ in calls]
    assert done == sorted(done)
    assert all(d <= t for d, t in calls)
    final_done, final_total = calls[-1]
    assert final_done == final_total
    assert final_total % plan.duration_samples == 0
    assert final_total // plan.duration_samples == 1  # one pass: the gain is known beforehand
    assert max(t for _, t in calls) == final_total


def test_the_gain_is_the_session_gain_and_the_limiter_holds_the_ceiling(tmp_path, monkeypatch):
    monkeypatch.setenv("VOICECOACH_CACHE_DIR", str(tmp_path / "cache"))
    plan = make_plan()
    result = export_plan(plan, speech_lookup, tmp_path / "g.wav", palette=load_palette(None))
    assert result.gain_db == session_gain_db(plan.settings.voice_volume_db)
    assert result.limiter
    x, _ = sf.read(str(result.path), dtype="float64", always_2d=True)
    meter = TruePeakMeter()
    meter.feed(x.astype(np.float32))
    assert meter.dbtp() <= MAX_TRUE_PEAK_DBTP + 0.05


def test_second_export_reuses_the_loudness_and_writes_the_same_audio(tmp_path, monkeypatch):
    monkeypatch.setenv("VOICECOACH_CACHE_DIR", str(tmp_path / "cache"))
    plan, palette = make_plan(), load_palette(None)

    def passes(path):
        calls = []
        result = export_plan(
            plan, speech_lookup, path, palette=palette, progress=lambda d, t: calls.append(t)
        )
        return result, calls[-1] // plan.duration_samples

    first, first_passes = passes(tmp_path / "a.wav")
    again, again_passes = passes(tmp_path / "b.wav")
    as_flac, flac_passes = passes(tmp_path / "c.flac")
    assert not first.loudness_cached and first.limiter and first_passes == 1
    assert again.loudness_cached and again_passes == 1
    assert as_flac.loudness_cached and flac_passes == 1
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()
    assert (again.gain_db, again.integrated_lufs, again.true_peak_dbtp) == (
        first.gain_db,
        first.integrated_lufs,
        first.true_peak_dbtp,
    )
    wav, _ = sf.read(tmp_path / "a.wav", dtype="int16")
    flac, _ = sf.read(tmp_path / "c.flac", dtype="int16")
    assert np.abs(wav.astype(int) - flac).max() <= 1  # the same samples (FLAC rounds on its own)
    # play finds the export's decision: it plays exactly what the file holds, measuring nothing
    from voicecoach.playback.gain import LiveGain

    loud = LiveGain.of_plan(plan)
    assert (loud.gain_db, loud.limit) == (first.gain_db, first.limiter)


def test_exporting_in_one_process_or_two_writes_the_same_bytes(tmp_path, monkeypatch):
    """The metering and writing side runs in a forked process where it can (offload.py)."""
    from voicecoach.sound import offload

    plan, palette = make_plan(), load_palette(None)
    results = []
    for name, no_fork in (("forked", ""), ("inline", "1")):
        monkeypatch.setenv("VOICECOACH_CACHE_DIR", str(tmp_path / f"cache-{name}"))
        monkeypatch.setenv("VOICECOACH_NO_FORK", no_fork)
        assert offload.forking() is (name == "forked" and sys.platform.startswith("linux"))
        result = export_plan(plan, speech_lookup, tmp_path / f"{name}.wav", palette=palette)
        results.append((result.gain_db, result.integrated_lufs, result.true_peak_dbtp))
    assert results[0] == results[1]
    assert (tmp_path / "forked.wav").read_bytes() == (tmp_path / "inline.wav").read_bytes()


def test_broken_loudness_cache_only_costs_a_pass(tmp_path, monkeypatch):
    monkeypatch.setenv("VOICECOACH_CACHE_DIR", str(tmp_path / "cache"))
    from voicecoach.sound.normalise import cache_path

    plan, palette = make_plan(), load_palette(None)
    path = cache_path(plan, palette)
    path.parent.mkdir(parents=True)
    path.write_text(
        json.dumps({"version": CACHE_VERSION, "decisions": {"export-lossless": {"gain_db": "x"}}})
    )
    result = export_plan(plan, speech_lookup, tmp_path / "a.wav", palette=palette)
    assert not result.loudness_cached
    assert speech_lufs(result.path, plan) == pytest.approx(VOICE_AT_LUFS, abs=0.5)
    assert result.true_peak_dbtp <= MAX_TRUE_PEAK_DBTP


def test_a_repeat_render_replays_the_limiters_spans_to_the_same_samples(tmp_path, monkeypatch):
    monkeypatch.setenv("VOICECOACH_CACHE_DIR", str(tmp_path / "cache"))
    plan, palette = make_plan(), load_palette(None)
    cache = normalise.cache_path(plan, palette)
    spans_file = limiter.limiter_spans_path(cache, 14.0, -1.0, 4096)[0]

    def render(gain_db, spans_cache, stop_after=None):
        blocks = normalise.plan_blocks(
            plan, speech_lookup, palette=palette, gain_db=gain_db, limit=True,
            block_frames=4096, spans_cache=spans_cache,
        )  # fmt: skip
        if stop_after is not None:
            for _ in range(stop_after):
                next(blocks)
            blocks.close()
            return None
        return np.concatenate(list(blocks))

    fresh = render(14.0, None)
    assert float(np.abs(fresh).max()) < 0.95  # the limiter really works here
    render(14.0, cache, stop_after=3)  # an export stopped early keeps nothing
    assert sorted(p.name for p in cache.parent.iterdir()) == []
    assert np.array_equal(render(14.0, cache), fresh)  # runs the limiter, records its spans
    assert spans_file.is_file() and not list(cache.parent.glob("*.tmp"))

    real_gain_span = limiter._Limiter.gain_span

    def no_limiter(*args):
        raise AssertionError("the limiter ran although its spans were recorded")

    monkeypatch.setattr(limiter._Limiter, "gain_span", no_limiter)
    assert np.array_equal(render(14.0, cache), fresh)  # replayed: the same samples, bit for bit
    with pytest.raises(AssertionError, match="the limiter ran"):
        render(15.0, cache)  # another gain: the recorded spans do not apply
    monkeypatch.setattr(limiter._Limiter, "gain_span", real_gain_span)
    louder = render(15.0, cache)
    assert np.array_equal(louder, render(15.0, None)) and not np.array_equal(louder, fresh)
    # a damaged file is ignored (the limiter runs again) and replaced
    spans_file.write_bytes(spans_file.read_bytes()[:-9])
    assert np.array_equal(render(15.0, cache), louder)
    monkeypatch.setattr(limiter._Limiter, "gain_span", no_limiter)
    assert np.array_equal(render(15.0, cache), louder)


def test_pcm16_conversion_is_libsndfiles_bit_for_bit(tmp_path):
    rng = np.random.default_rng(5)
    x = rng.uniform(-1.2, 1.2, (200_000, 2)).astype(np.float32)  # some over full scale
    x[:2000] = rng.normal(0, 1e-6, (2000, 2))  # around zero, where rounding rules differ
    x[2000:4000] = (rng.integers(-32768, 32767, (2000, 2)) + 0.5) / np.float32(32768)  # ties
    x[4000:6000] = rng.integers(-32768, 32767, (2000, 2)) / np.float32(32768)
    x[6000] = [1.0, -1.0]
    sf.write(tmp_path / "ref.wav", x, 44_100, subtype="PCM_16")
    reference, _ = sf.read(tmp_path / "ref.wav", dtype="int16")
    np.testing.assert_array_equal(encoder_mod.pcm16(x), reference)


# ---- atomic writes -------------------------------------------------------------------------------

OLD_BYTES = b"an earlier export that must survive"


def _parts(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if ".part-" in p.name]


def test_full_disk_leaves_old_file_untouched(tmp_path, monkeypatch):
    target = tmp_path / "out.flac"
    target.write_bytes(OLD_BYTES)
    calls = tmp_path / "calls"  # a file: the writing may happen in a forked process
    real = encoder_mod._write_block

    def failing(f, block):
        with open(calls, "a") as log:
            log.write("x")
        if len(calls.read_text()) > 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(f, block)

    monkeypatch.setattr(encoder_mod, "_write_block", failing)
    with pytest.raises(ExportError) as e:
        export_plan(make_plan(), speech_lookup, target, palette=load_palette(None), captions=True)
    assert str(e.value).startswith(f"disk full writing {target}")
    assert calls.read_text() == "xxx"  # it failed mid-write, not before
    assert target.read_bytes() == OLD_BYTES
    assert _parts(tmp_path) == []
    assert not target.with_suffix(".vtt").exists()


def test_ctrl_c_leaves_old_file_untouched(tmp_path, monkeypatch):
    target = tmp_path / "out.wav"
    target.write_bytes(OLD_BYTES)

    def interrupted(f, block):
        raise KeyboardInterrupt

    monkeypatch.setattr(encoder_mod, "_write_block", interrupted)
    with pytest.raises(KeyboardInterrupt):
        export_plan(make_plan(), speech_lookup, target, palette=load_palette(None))
    assert target.read_bytes() == OLD_BYTES
    assert _parts(tmp_path) == []


def child_export(out: str, flag: str) -> None:
    """Run in a child process: export slowly, touching ``flag`` once audio is being written."""
    real = encoder_mod._write_block

    def slow(f, block):
        real(f, block)
        Path(flag).touch()
        time.sleep(0.05)

    encoder_mod._write_block = slow
    try:
        export_plan(make_plan(extra_silence_s=20.0), speech_lookup, out, palette=load_palette(None))
    except ExportError as e:
        print(f"error: {e}", flush=True)
        sys.exit(3)


def _start_child(target: Path, flag: Path) -> subprocess.Popen:
    code = f"from tests.export.test_export import child_export; child_export({str(target)!r}, {str(flag)!r})"
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not flag.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the child never started writing"
        time.sleep(0.05)
    return proc


def test_kill_9_leaves_only_a_part_file_which_the_next_export_removes(tmp_path):
    target = tmp_path / "out.wav"
    target.write_bytes(OLD_BYTES)
    proc = _start_child(target, tmp_path / "writing")
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert target.read_bytes() == OLD_BYTES
    leftovers = _parts(tmp_path)
    assert len(leftovers) == 1
    assert re.fullmatch(rf"\.out\.wav\.part-{proc.pid}-[0-9a-f]{{8}}", leftovers[0].name)
    # its lock goes with the last process of the export (the forked encoder follows in a moment)
    wait_unlocked(leftovers[0])
    export_plan(make_plan(), speech_lookup, target, palette=load_palette(None))
    assert _parts(tmp_path) == []
    assert sf.info(str(target)).frames == make_plan().duration_samples


def wait_unlocked(path: Path, timeout_s: float = 10.0) -> None:
    """Wait until nobody holds ``path``'s flock."""
    import fcntl

    deadline = time.monotonic() + timeout_s
    with open(path, "rb") as f:
        while True:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                assert time.monotonic() < deadline, f"{path} stayed locked"
                time.sleep(0.02)


def test_sigterm_removes_the_part_file_and_says_so(tmp_path):
    target = tmp_path / "out.ogg"
    target.write_bytes(OLD_BYTES)
    proc = _start_child(target, tmp_path / "writing")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    assert "stopped by SIGTERM" in out and "untouched" in out
    assert target.read_bytes() == OLD_BYTES
    assert _parts(tmp_path) == []


# ---- the real compiler and speech engine ---------------------------------------------------------

REAL_SCRIPT = """---
title: Real Export
teacher: Jane Doe
description: Exported through the real pipeline.
engine: system
lead_in: 0.5s
---
Lie on your back and let your arms rest.

# Left side
Place the ball under your left shoulder.
[hold 5s quiet]

# Right side
Now the right side.
[bell]
"""


@needs_ffmpeg
def test_real_session_exports_mp3_with_chapters_captions_and_loudness(tmp_path):
    session_mod = pytest.importorskip(
        "voicecoach.session", reason="voicecoach.session is not written yet"
    )
    script = tmp_path / "real.md"
    script.write_text(REAL_SCRIPT, encoding="utf-8")
    with session_mod.load(script) as session:
        plan = session.plan()
        result = session.export(tmp_path / "real.mp3", captions=True)
    info = ffprobe(result.path)
    titles = [
        c["tags"]["title"] for c in sorted(info["chapters"], key=lambda c: float(c["start_time"]))
    ]
    assert titles == [s.title for s in plan.sections]
    assert "Left side" in titles and "Right side" in titles
    cues = parse_webvtt(result.captions_path.read_text(encoding="utf-8"))
    assert len(cues) == len(plan.speech_events())
    assert cues[0][2] == "Lie on your back and let your arms rest."
    lufs, peak = ffmpeg_ebur128(result.path)
    assert speech_lufs(result.path, plan) == pytest.approx(VOICE_AT_LUFS, abs=0.5)
    assert TARGET_LUFS - 2.0 < lufs < TARGET_LUFS + 0.5  # a short script: bell and silence count
    assert peak <= MAX_TRUE_PEAK_DBTP + 0.2
    assert abs(sf.info(str(result.path)).frames - plan.duration_samples) <= 0.06 * plan.sample_rate


COLD_SCRIPT = """---
title: Written while synthesised
lead_in: 1s
---

# One
Lie down and let the floor hold you.
Place the ball between your shoulder blades.
[breathe 2-1-2 x2]

# Two
Let the ball sink in.
[hold 6s]
Roll off the ball slowly.
"""


@pytest.mark.parametrize("fmt", ["wav", "mp3"])
def test_a_cold_export_is_written_while_its_speech_is_synthesised_and_is_the_warm_file(
    tmp_path, monkeypatch, fmt
):
    """With a slow engine the file grows before the last phrase exists, and is byte for byte
    a warm export's (eSpeak NG standing in for piper, each batch made 0.3 s slower)."""
    from voicecoach.session import load
    from voicecoach.sound import render
    from voicecoach.speech.service import SpeechService

    monkeypatch.setenv("VOICECOACH_CACHE_DIR", str(tmp_path / "cache"))
    script = tmp_path / "cold.md"
    script.write_text(COLD_SCRIPT, encoding="utf-8")
    events: list[str] = []
    real_prepare, real_render = SpeechService.prepare, render.render_blocks

    def prepare(self, texts):  # each batch takes 0.3 s more: the render must not wait for all
        texts = list(texts)
        if any(not self.is_ready(t) for t in texts):
            time.sleep(0.3)
            events.append("synthesised")
        return real_prepare(self, texts)

    def render_blocks(*args, **kwargs):
        events.append("rendered")
        return real_render(*args, **kwargs)

    monkeypatch.setattr(SpeechService, "prepare", prepare)
    monkeypatch.setattr(render, "render_blocks", render_blocks)
    from voicecoach.speech.system import SystemEngine

    monkeypatch.setattr(SystemEngine, "slow", True)  # as piper: write while synthesising
    with load(script, engine="system") as session:
        assert not session.estimate()[1]
        cold = session.export(tmp_path / f"cold.{fmt}", captions=True)
    assert events.index("rendered") < len(events) - 1 - events[::-1].index("synthesised"), (
        "nothing was rendered before the last phrase was synthesised"
    )
    with load(script, engine="system") as session:  # everything cached: the final plan at once
        assert session.estimate()[1]
        warm = session.export(tmp_path / f"warm.{fmt}", captions=True)
    if fmt == "wav":
        assert (tmp_path / "cold.wav").read_bytes() == (tmp_path / "warm.wav").read_bytes()
    else:  # MP3: the same decoded samples and the same chapters
        a, _ = sf.read(str(cold.path), dtype="int16")
        b, _ = sf.read(str(warm.path), dtype="int16")
        assert np.array_equal(a, b)
    assert cold.captions_path.read_text() == warm.captions_path.read_text()
    assert cold.duration_s == warm.duration_s and cold.gain_db == warm.gain_db
