"""Tone synthesis and sound palettes, measured on the generated samples."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest

from tests.meters import pyloudnorm_span_lufs
from voicecoach.errors import LibraryError, RenderError
from voicecoach.sound.levels import db_to_gain
from voicecoach.sound.palette import Palette, load_palette, palette_names
from voicecoach.sound.tones import TONES, synth_tone, tone_loudness_lufs
from voicecoach.storage.resources import palettes_dir

SR = 44_100
PALETTES = ("warm", "bright")


def centroid_hz(x: np.ndarray, sample_rate: int) -> float:
    """Spectral centroid (power-weighted mean frequency) of ``x``."""
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / sample_rate)
    return float(np.sum(freqs * spec) / np.sum(spec))


def peak_hz(x: np.ndarray, sample_rate: int) -> float:
    """Frequency of the strongest spectral bin (zero-padded for resolution)."""
    n = 1 << 18
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)), n=n))
    return float(np.argmax(spec) * sample_rate / n)


def natural_samples(palette: Palette, tone: str, sample_rate: int = SR) -> int:
    if tone in ("ready", "tick", "bell"):
        return int(round(palette.length_s(tone) * sample_rate))
    return 3 * sample_rate


# ---- palettes -------------------------------------------------------------------


def test_both_builtin_palettes_load_and_default_is_warm():
    assert {"warm", "bright"} <= set(palette_names())
    assert load_palette(None).name == "warm"
    for name in PALETTES:
        p = load_palette(name)
        assert p.name == name
        assert p.description
        assert p.ducking.depth_db >= 12
        for tone in ("ready", "tick", "bell"):
            assert p.length_s(tone) > 0
    assert load_palette("bright") != load_palette("warm")
    assert load_palette("bright").bell.length_s >= 3.0
    hash(load_palette("warm"))  # usable as a cache key


def test_unknown_palette_name_lists_the_known_ones():
    with pytest.raises(LibraryError) as info:
        load_palette("purple")
    message = str(info.value)
    assert "purple" in message and "warm" in message and "bright" in message


def test_palette_by_path_relative_to_script_folder(tmp_path: Path):
    data = json.loads((palettes_dir() / "warm.json").read_text())
    data["name"] = "mine"
    data["bell"]["fundamental_hz"] = 150.0
    (tmp_path / "sounds").mkdir()
    (tmp_path / "sounds" / "mine.json").write_text(json.dumps(data))
    p = load_palette("sounds/mine.json", relative_to=tmp_path)
    assert p.name == "mine"
    assert p.bell.fundamental_hz == 150.0
    assert load_palette(str(tmp_path / "sounds" / "mine.json")) == p


def test_partial_palette_takes_the_rest_from_its_base(tmp_path: Path):
    path = tmp_path / "deep.json"
    path.write_text(json.dumps({"base": "warm", "bell": {"fundamental_hz": 110.0}}))
    p = load_palette(str(path))
    warm = load_palette("warm")
    assert p.name == "deep"
    assert p.bell.fundamental_hz == 110.0
    assert p.bell.partials == warm.bell.partials
    assert p.inhale == warm.inhale


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        (
            json.dumps({"base": "warm", "tick": {"length_s": "short"}}),
            "'tick.length_s' must be a number",
        ),
        (json.dumps({"base": "warm", "tick": {"length_s": -1}}), "'tick.length_s' must be between"),
        (
            json.dumps({"base": "warm", "bell": {"partials": []}}),
            "'bell.partials' must be a non-empty list",
        ),
        (
            json.dumps({"base": "warm", "bell": {"partials": [[1, 2]]}}),
            "bell.partials[0] must be a list of 3",
        ),
        (json.dumps({"base": "warm", "inhale": {"colour": 3}}), "unknown field 'inhale.colour'"),
        (
            json.dumps({"base": "warm", "ducking": {"depth_db": 6}}),
            "'ducking.depth_db' must be between 12",
        ),
        (json.dumps({"base": "warm", "pan_amount": True}), "'pan_amount' must be a number"),
        (json.dumps({"name": "x", "pan_amount": 0.5}), "missing field 'soft_db'"),
        (
            json.dumps({"base": "warm", "bell": {"fade_out_s": 20}}),
            "'bell.fade_out_s' must be shorter",
        ),
        (
            json.dumps({"base": "warm", "bell": {"level_db": -8}}),
            "field 'bell.level_db' is now 'bell.loudness_lufs': palette levels are loudness now",
        ),
        (
            json.dumps({"base": "warm", "tick": {"loudness_lufs": -3}}),
            "'tick.loudness_lufs' must be between -60 and -10, got -3",
        ),
    ],
)
def test_bad_palette_file_is_a_render_error_naming_file_and_field(
    tmp_path: Path, content, expected
):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(RenderError) as info:
        load_palette(str(path))
    assert str(path) in str(info.value)
    assert expected in str(info.value)


def test_missing_palette_file_and_unknown_base(tmp_path: Path):
    with pytest.raises(RenderError, match="not found"):
        load_palette("nowhere.json", relative_to=tmp_path)
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"base": "neon"}))
    with pytest.raises(LibraryError, match="neon"):
        load_palette(str(path))


def test_length_s_only_for_fixed_length_tones():
    with pytest.raises(RenderError, match="inhale"):
        load_palette("warm").length_s("inhale")


# ---- every tone -------------------------------------------------------------------


@pytest.mark.parametrize("name", PALETTES)
@pytest.mark.parametrize("tone", TONES)
@pytest.mark.parametrize("sample_rate", [8_000, 44_100, 48_000])
def test_tone_shape_loudness_and_silent_ends(name, tone, sample_rate):
    palette = load_palette(name)
    n = natural_samples(palette, tone, sample_rate)
    x = synth_tone(palette, tone, n, sample_rate)
    assert x.dtype == np.float32 and x.ndim == 1 and len(x) == n
    assert np.all(np.isfinite(x))
    # the palette's level is the tone's loudness over its span, by an independent meter
    target = getattr(palette, tone).loudness_lufs
    assert pyloudnorm_span_lufs(x, sample_rate) == pytest.approx(target, abs=0.01)
    assert tone_loudness_lufs(x, sample_rate) == pytest.approx(target, abs=0.01)
    peak = float(np.max(np.abs(x)))
    assert peak < db_to_gain(-6.0)  # loudness-set levels leave plenty of headroom
    # faded at both ends: no click at onset or offset
    onset = max(2, sample_rate // 10_000)  # 0.1 ms: a step here would click
    assert np.max(np.abs(x[:onset])) < 0.02 * peak
    edge = max(1, sample_rate // 1000)  # 1 ms
    assert np.max(np.abs(x[-edge:])) < 0.01 * peak
    assert abs(x[-1]) < 1e-3 * peak


@pytest.mark.parametrize("name", PALETTES)
def test_a_steady_hum_and_a_swelling_breath_at_one_level_are_equally_loud(name):
    """The point of loudness levels: by peak, the steady stroke came out 5 dB over the breath."""
    palette = dataclasses.replace(
        load_palette(name),
        stroke=dataclasses.replace(load_palette(name).stroke, loudness_lufs=-30.0),
        inhale=dataclasses.replace(load_palette(name).inhale, loudness_lufs=-30.0),
    )
    hum = synth_tone(palette, "stroke", 4 * SR, SR, variant="up")
    breath = synth_tone(palette, "inhale", 4 * SR, SR)
    hum_lufs, breath_lufs = pyloudnorm_span_lufs(hum, SR), pyloudnorm_span_lufs(breath, SR)
    assert hum_lufs == pytest.approx(breath_lufs, abs=0.01)
    # ... while their peaks differ by several dB: equal peaks would not have been equal loudness
    peak_db = 20 * np.log10(np.max(np.abs(breath)) / np.max(np.abs(hum)))
    assert abs(peak_db) > 3


@pytest.mark.parametrize("seconds", [2.0, 4.0, 7.5])
def test_a_stretching_tone_has_its_level_whatever_its_length(seconds):
    palette = load_palette("warm")
    n = int(seconds * SR)
    for tone in ("inhale", "exhale", "stroke"):
        x = synth_tone(palette, tone, n, SR, variant="up" if tone == "stroke" else "")
        target = getattr(palette, tone).loudness_lufs
        assert pyloudnorm_span_lufs(x, SR) == pytest.approx(target, abs=0.01)
    down = synth_tone(palette, "stroke", n, SR, variant="down")
    expected = palette.stroke.loudness_lufs + palette.stroke.down_gain_db
    assert pyloudnorm_span_lufs(down, SR) == pytest.approx(expected, abs=0.01)


def test_a_tone_shorter_than_400_ms_is_measured_over_one_400_ms_block():
    palette = load_palette("warm")
    n = natural_samples(palette, "tick")
    assert n < 0.4 * SR
    tick = synth_tone(palette, "tick", n, SR)
    # over its own 0.25 s it would read louder; over one gating block it reads its level
    assert pyloudnorm_span_lufs(tick, SR) == pytest.approx(palette.tick.loudness_lufs, abs=0.01)
    own_span = pyloudnorm_span_lufs(tick, SR, min_window_s=0.0)
    assert own_span == pytest.approx(palette.tick.loudness_lufs + 10 * np.log10(0.4 * SR / n), 0.01)
    # and padding the span with silence (a longer plan span) does not change the figure
    assert tone_loudness_lufs(np.pad(tick, (0, SR // 10)), SR) == pytest.approx(
        palette.tick.loudness_lufs, abs=0.01
    )


def test_frequency_domain_k_weighting_equals_filtering_in_time():
    t = np.arange(3 * SR) / SR
    for f_hz in (60.0, 997.0, 6000.0):
        x = 0.1 * np.sin(2 * np.pi * f_hz * t)
        stereo = np.stack([x, x], axis=1)
        gated = pyloudnorm.Meter(SR).integrated_loudness(stereo)  # steady: gating changes nothing
        assert tone_loudness_lufs(x, SR) == pytest.approx(gated, abs=0.01)
    assert tone_loudness_lufs(np.zeros(100), SR) == -np.inf


@pytest.mark.parametrize("name", PALETTES)
@pytest.mark.parametrize("tone", ["ready", "tick", "bell"])
def test_struck_tones_have_no_harsh_attack(name, tone):
    """Calm for eyes closed: every strike rises over several milliseconds, not in one step."""
    palette = load_palette(name)
    x = np.abs(synth_tone(palette, tone, natural_samples(palette, tone), SR))
    peak = float(x.max())
    assert float(x[: SR // 1000].max()) < 0.1 * peak  # the first millisecond
    assert float(x[: 2 * SR // 1000].max()) < 0.35 * peak  # the first two


@pytest.mark.parametrize("tone", TONES)
def test_tones_are_deterministic(tone):
    palette = load_palette("warm")
    n = natural_samples(palette, tone)
    assert np.array_equal(synth_tone(palette, tone, n, SR), synth_tone(palette, tone, n, SR))


@pytest.mark.parametrize("name", PALETTES)
def test_inhale_brightens_and_exhale_darkens(name):
    palette = load_palette(name)
    n = 4 * SR
    third = n // 3
    inhale = synth_tone(palette, "inhale", n, SR)
    exhale = synth_tone(palette, "exhale", n, SR)
    assert centroid_hz(inhale[-third:], SR) > 1.5 * centroid_hz(inhale[:third], SR)
    assert centroid_hz(exhale[-third:], SR) < centroid_hz(exhale[:third], SR) / 1.5

    def rms(x):
        return float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))

    # the inhale swells, the exhale softens (middle thirds avoid the fades)
    assert rms(inhale[third : 2 * third]) < rms(inhale[2 * third : -SR // 2])
    assert rms(exhale[third : 2 * third]) < rms(exhale[SR // 4 : third])


def test_stroke_up_rises_and_down_falls():
    palette = load_palette("warm")
    n = 4 * SR
    q = n // 5
    up = synth_tone(palette, "stroke", n, SR, variant="up")
    down = synth_tone(palette, "stroke", n, SR, variant="down")
    s = palette.stroke
    assert peak_hz(up[:q], SR) == pytest.approx(s.low_hz, rel=0.05)
    assert peak_hz(up[-q:], SR) == pytest.approx(s.high_hz, rel=0.05)
    assert peak_hz(down[:q], SR) == pytest.approx(s.high_hz, rel=0.05)
    assert peak_hz(down[-q:], SR) == pytest.approx(s.low_hz, rel=0.05)


def test_right_tick_is_pitched_above_left_tick():
    palette = load_palette("warm")
    n = natural_samples(palette, "tick")
    left = peak_hz(synth_tone(palette, "tick", n, SR, variant="left"), SR)
    right = peak_hz(synth_tone(palette, "tick", n, SR, variant="right"), SR)
    assert left == pytest.approx(palette.tick.frequency_hz, rel=0.02)
    assert right / left == pytest.approx(palette.tick.right_pitch_ratio, rel=0.02)


@pytest.mark.parametrize("name", PALETTES)
def test_bell_is_a_long_decaying_inharmonic_bowl(name):
    palette = load_palette(name)
    n = natural_samples(palette, "bell")
    assert n >= 5 * SR
    x = synth_tone(palette, "bell", n, SR).astype(np.float64)
    window_rms = [float(np.sqrt(np.mean(x[i : i + SR] ** 2))) for i in range(0, n - SR + 1, SR)]
    assert all(b < a for a, b in zip(window_rms[::2], window_rms[2::2], strict=False))
    assert window_rms[-1] < 0.2 * window_rms[0]
    # the strongest partial above the fundamental is not a whole multiple of it
    f0 = palette.bell.fundamental_hz
    spec = np.abs(np.fft.rfft(x[: 2 * SR] * np.hanning(2 * SR)))
    freqs = np.fft.rfftfreq(2 * SR, 1 / SR)
    above = freqs > 1.5 * f0
    second = freqs[above][np.argmax(spec[above])]
    ratio = second / f0
    assert abs(ratio - round(ratio)) > 0.15


def test_fixed_length_tone_cut_short_still_ends_silently_and_pads_when_long():
    palette = load_palette("warm")
    natural = natural_samples(palette, "bell")
    short = synth_tone(palette, "bell", natural // 3, SR)
    assert len(short) == natural // 3 and abs(short[-1]) < 1e-4
    # cutting keeps the natural level: the first millisecond of a tick is not boosted to its peak
    first_ms = synth_tone(palette, "tick", SR // 1000, SR)
    natural = synth_tone(palette, "tick", natural_samples(palette, "tick"), SR)
    assert np.max(np.abs(first_ms)) < 0.5 * np.max(np.abs(natural))
    long = synth_tone(palette, "tick", 2 * natural_samples(palette, "tick"), SR)
    assert not np.any(long[natural_samples(palette, "tick") :])


def test_soft_variant_is_quieter_by_soft_db():
    palette = load_palette("warm")
    n = natural_samples(palette, "ready")
    loud = np.max(np.abs(synth_tone(palette, "ready", n, SR)))
    soft = np.max(np.abs(synth_tone(palette, "ready", n, SR, variant="soft")))
    assert 20 * np.log10(loud / soft) == pytest.approx(palette.soft_db, abs=0.01)


def test_unknown_tone_and_empty_duration():
    palette = load_palette("warm")
    with pytest.raises(RenderError, match="unknown tone 'gong'"):
        synth_tone(palette, "gong", 100, SR)
    assert len(synth_tone(palette, "inhale", 0, SR)) == 0


@pytest.mark.parametrize("name", ["warm", "bright"])
def test_the_bell_rings_out_before_its_fade(name):
    """Time rule 8: the bell decays on its own; the closing fade only tidies the last whisper."""
    p = load_palette(name)
    sr = 44_100
    x = np.asarray(synth_tone(p, "bell", round(p.bell.length_s * sr), sr), dtype=np.float64)
    energy = (x * x).sum(axis=1) if x.ndim > 1 else x * x
    w = sr // 10
    level_db = 10 * np.log10(energy[: len(energy) // w * w].reshape(-1, w).mean(axis=1) + 1e-30)
    fade_start = round((p.bell.length_s - p.bell.fade_out_s) * sr) // w
    assert level_db[fade_start - 1] - level_db.max() <= -30.0


@pytest.mark.parametrize(
    "text,message",
    [
        ('{"base": "warm", "bell": {"loudness_lufs": -' + "1" * 5000 + "}}", "not usable JSON"),
        ("[" * 5000 + "]" * 5000, "not usable JSON"),
        (
            '{"base": "warm", "bell": {"partials": [' + ", ".join(["[1.5, 0.1, 1.0]"] * 40) + "]}}",
            "at most 32",
        ),
        ('{"base": "warm", "description": "' + "x" * 70_000 + '"}', "at most 64 KB"),
    ],
)
def test_a_hostile_palette_is_a_clear_error_and_cheap(tmp_path, text, message):
    """A 5000-digit number, deep nesting, 20,000 partials: refused at once (issue 11, items 5 and 11)."""
    path = tmp_path / "p.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RenderError, match=message):
        load_palette(str(path))
