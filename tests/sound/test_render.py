"""The streaming renderer, measured on the rendered audio of hand-built plans.

The renderer is the unit under test, so speech comes from a synthetic lookup
(a voiced buzz at eSpeak's 22050 Hz) rather than a speech engine.
"""

from __future__ import annotations

import dataclasses
import time
import tracemalloc

import numpy as np
import pytest

from voicecoach.errors import RenderError, UsageError
from voicecoach.language.plan import Event, Plan
from voicecoach.language.script import Settings
from voicecoach.sound.palette import load_palette
from voicecoach.sound.render import DUCK_HOLD_GAP_S, duck_regions, render_blocks
from voicecoach.speech.engine import SpeechAudio

SR = 44_100
VOICE_SR = 22_050
WARM = load_palette("warm")
CLICK_STEP = 0.05  # largest sample-to-sample step allowed outside speech


def ms(x: float) -> int:
    return int(round(x * SR / 1000))


def fake_voice(seconds: float, f0_hz: float = 140.0) -> np.ndarray:
    """A buzzy 'voice' at 22050 Hz: harmonics of ``f0_hz`` under a syllable envelope."""
    t = np.arange(int(seconds * VOICE_SR)) / VOICE_SR
    x = sum(np.sin(2 * np.pi * k * f0_hz * t) / k for k in range(1, 12))
    env = 0.6 + 0.4 * np.sin(2 * np.pi * 4 * t)
    return (0.5 * x / np.max(np.abs(x)) * env).astype(np.float32)


class Voices:
    """A speech lookup over a fixed table, counting calls."""

    def __init__(self, table: dict[str, np.ndarray], rate: int = VOICE_SR):
        self.table = table
        self.rate = rate
        self.calls: list[str] = []

    def __call__(self, key: str) -> SpeechAudio:
        self.calls.append(key)
        return SpeechAudio(self.table[key], self.rate)


def speech_event(key: str, start: int, audio: np.ndarray, *, rate: int = SR, **kw) -> Event:
    n = int(round(len(audio) * rate / VOICE_SR))
    return Event("speech", start, start + n, 1, text=key, speech_key=key, **kw)


def tone_event(tone: str, start: int, end: int, line: int = 1, **kw) -> Event:
    return Event("tone", start, end, line, tone=tone, **kw)


def make_plan(events, duration_samples: int, *, rate: int = SR, **settings) -> Plan:
    events = tuple(sorted(events, key=lambda e: (e.start_sample, e.end_sample)))
    return Plan(
        title="test",
        sample_rate=rate,
        duration_samples=duration_samples,
        sections=(),
        events=events,
        settings=Settings(title="test", **settings),
    )


def render(plan: Plan, speech=None, palette=WARM, **kw) -> np.ndarray:
    blocks = list(render_blocks(plan, speech or Voices({}), palette=palette, **kw))
    return np.concatenate(blocks) if blocks else np.zeros((0, 2), np.float32)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.asarray(x, np.float64) ** 2)))


def db(ratio: float) -> float:
    return 20 * np.log10(ratio)


def centroid_hz(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    return float(np.sum(np.fft.rfftfreq(len(x), 1 / SR) * spec) / np.sum(spec))


# ---- a realistic mixed plan, shared by several tests ----------------------------

VOICE = {f"v{i}": fake_voice(1.0 + 0.3 * i) for i in range(4)}


def session_plan(palette=WARM) -> tuple[Plan, list[tuple[int, int]]]:
    """Speech, a breath cycle, wiper ticks, a roll, a ready chime and a bell; and the speech spans."""
    ev = []
    t = ms(500) + 3
    sp = speech_event("v0", t, VOICE["v0"])
    ev.append(sp)
    t = sp.end_sample + ms(700)
    ev += [
        tone_event("inhale", t, t + 4 * SR + 17),
        tone_event("exhale", t + 4 * SR + 17, t + 10 * SR),
    ]
    t += 10 * SR + ms(300)
    sp = speech_event("v1", t, VOICE["v1"])
    ev.append(sp)
    t = sp.end_sample + ms(500)
    tick = int(round(palette.length_s("tick") * SR))
    for i in range(4):
        side = "left" if i % 2 == 0 else "right"
        at = t + i * 3 * SR
        ev.append(
            tone_event("tick", at, at + tick, variant=side, pan=-1.0 if side == "left" else 1.0)
        )
    t += 12 * SR
    ev += [
        tone_event("stroke", t, t + 4 * SR, variant="up"),
        tone_event("stroke", t + 4 * SR, t + 8 * SR, variant="down"),
    ]
    sp = speech_event("v2", t + 2 * SR, VOICE["v2"])  # speech over a stroke: ducking
    ev.append(sp)
    t += 8 * SR
    ready = int(round(palette.length_s("ready") * SR))
    ev.append(tone_event("ready", t, t + ready))
    t += ready + ms(200)
    sp = speech_event("v3", t, VOICE["v3"], truncated=True)
    sp = dataclasses.replace(sp, end_sample=sp.end_sample - ms(200))
    ev.append(sp)
    t = sp.end_sample + ms(300)
    bell = int(round(palette.length_s("bell") * SR))
    ev.append(tone_event("bell", t, t + bell))
    plan = make_plan(ev, t + bell + SR)
    spans = [(e.start_sample, e.end_sample) for e in plan.events if e.kind == "speech"]
    return plan, spans


@pytest.fixture(scope="module")
def session():
    plan, spans = session_plan()
    voices = Voices(VOICE)
    audio = render(plan, voices)
    return plan, spans, audio, voices


# ---- blocks ---------------------------------------------------------------------


def test_blocks_are_stereo_float32_contiguous_and_cover_the_range_exactly(session):
    plan, _, audio, _ = session
    blocks = list(render_blocks(plan, Voices(VOICE), palette=WARM, block_frames=10_000))
    assert all(b.shape[1] == 2 and b.dtype == np.float32 and b.flags.c_contiguous for b in blocks)
    assert all(len(b) == 10_000 for b in blocks[:-1])
    assert 0 < len(blocks[-1]) <= 10_000
    assert sum(len(b) for b in blocks) == plan.duration_samples == len(audio)
    assert np.array_equal(np.concatenate(blocks), audio)


def test_any_block_size_gives_the_same_samples(session):
    plan, _, audio, _ = session
    for frames in (777, 4096, plan.duration_samples):
        assert np.array_equal(render(plan, Voices(VOICE), block_frames=frames), audio)


def test_rendering_from_any_start_sample_equals_the_slice(session):
    plan, spans, audio, _ = session
    s0, e0 = spans[0]
    tones = plan.tone_events()
    starts = [
        1,
        s0 - ms(60),  # inside the ducking ramp
        s0 + 1234,  # inside speech
        tones[0].start_sample + 99_999,  # inside the inhale
        tones[-1].start_sample + 5,  # just after the bell strikes
        plan.duration_samples - 3,
    ]
    for start in starts:
        part = render(plan, Voices(VOICE), start_sample=start, block_frames=5000)
        assert np.array_equal(part, audio[start:]), start
    part = render(plan, Voices(VOICE), start_sample=s0 - 10, end_sample=e0 + 10)
    assert np.array_equal(part, audio[s0 - 10 : e0 + 10])
    assert render(plan, Voices(VOICE), start_sample=100, end_sample=100).shape == (0, 2)


def test_each_utterance_is_looked_up_once(session):
    _, _, _, voices = session
    assert sorted(voices.calls) == sorted(VOICE)


# ---- timing -----------------------------------------------------------------------


@pytest.mark.parametrize("tone", ["inhale", "exhale", "ready", "tick", "stroke", "bell"])
def test_tone_starts_exactly_at_its_sample_and_stays_inside_its_span(tone):
    start = 12_345
    n = int(round(WARM.length_s(tone) * SR)) if tone in ("ready", "tick", "bell") else 3 * SR
    plan = make_plan([tone_event(tone, start, start + n, variant="up")], start + n + 1000)
    audio = render(plan)
    loud = np.flatnonzero(np.any(audio != 0, axis=1))
    assert start <= loud[0] <= start + 3
    assert loud[-1] < start + n
    assert np.max(np.abs(audio)) > 0.01


def test_speech_is_placed_at_its_sample_centred_and_resampled_with_a_filter():
    tone_hz = 3000.0
    t = np.arange(VOICE_SR) / VOICE_SR
    voice = (0.5 * np.sin(2 * np.pi * tone_hz * t)).astype(np.float32)
    start = 20_001
    ev = speech_event("s", start, voice)
    assert ev.duration_samples == 2 * len(voice)
    plan = make_plan([ev], ev.end_sample + 500)
    audio = render(plan, Voices({"s": voice}))
    loud = np.flatnonzero(audio[:, 0])
    assert start <= loud[0] <= start + 3
    assert loud[-1] < ev.end_sample
    assert np.array_equal(audio[:, 0], audio[:, 1])  # centred
    # spectrum: the tone survives at full level, its image (22050 - 3000 Hz) is filtered out
    body = audio[start + ms(50) : ev.end_sample - ms(50), 0].astype(np.float64)
    spec = np.abs(np.fft.rfft(body * np.hanning(len(body))))
    freqs = np.fft.rfftfreq(len(body), 1 / SR)

    def level_at(f):
        return spec[np.argmin(np.abs(freqs - f))]

    assert db(level_at(VOICE_SR - tone_hz) / level_at(tone_hz)) < -50
    # at the speech level (over the utterance, as the tones are measured), not the engine's
    from voicecoach.sound.levels import SPEECH_LUFS
    from voicecoach.sound.tones import tone_loudness_lufs

    span = audio[start : start + ev.duration_samples, 0]
    assert tone_loudness_lufs(span, SR) == pytest.approx(SPEECH_LUFS, abs=0.05)


def test_every_phrase_is_brought_to_the_speech_level_whatever_the_engine_gave():
    """A whisper and a shout from the engine come out equally loud (and keep their shapes)."""
    from voicecoach.sound.levels import SPEECH_LUFS
    from voicecoach.sound.tones import tone_loudness_lufs

    t = np.arange(VOICE_SR // 2) / VOICE_SR
    shape = np.sin(2 * np.pi * 440 * t) * np.hanning(len(t))
    soft = (0.02 * shape).astype(np.float32)
    loud = (0.9 * shape).astype(np.float32)
    a = speech_event("soft", 10_000, soft)
    b = speech_event("loud", a.end_sample + 10_000, loud)
    plan = make_plan([a, b], b.end_sample + 100)
    audio = render(plan, Voices({"soft": soft, "loud": loud}))
    spans = [audio[e.start_sample : e.end_sample, 0] for e in (a, b)]
    for span in spans:
        assert tone_loudness_lufs(span, SR) == pytest.approx(SPEECH_LUFS, abs=0.05)
    assert np.abs(spans[0] - spans[1]).max() < 1e-4  # the same shape, at the same level


@pytest.mark.parametrize("rate", [48_000, 16_000])
def test_speech_at_other_output_rates_fits_its_span(rate):
    voice = fake_voice(0.8)
    ev = speech_event("s", 1000, voice, rate=rate)
    ready = tone_event(
        "ready", ev.end_sample, ev.end_sample + int(round(WARM.length_s("ready") * rate))
    )
    plan = make_plan([ev, ready], ready.end_sample + 10, rate=rate)
    audio = render(plan, Voices({"s": voice}))
    assert len(audio) == plan.duration_samples
    assert np.max(np.abs(audio[ev.start_sample : ev.end_sample])) > 0.1
    assert np.max(np.abs(audio[ready.start_sample : ready.end_sample])) > 0.01
    assert not np.any(audio[: ev.start_sample]) and not np.any(audio[ready.end_sample :])


def test_truncated_speech_fades_out_over_30_ms_and_stops_at_its_end():
    voice = fake_voice(2.0)
    full = speech_event("s", 0, voice)
    cut = dataclasses.replace(full, end_sample=full.end_sample - SR // 2, truncated=True)
    voices = Voices({"s": voice})
    audio = render(make_plan([cut], full.end_sample), voices)[:, 0].astype(np.float64)
    whole = render(make_plan([full], full.end_sample), voices)[:, 0].astype(np.float64)
    assert not np.any(audio[cut.end_sample :])
    fade = ms(30)
    # before the fade: identical; across it the gain falls smoothly from 1 to 0
    body = slice(ms(10), cut.end_sample - fade)
    assert np.array_equal(audio[body], whole[body])
    k = np.arange(cut.end_sample - fade, cut.end_sample)
    voiced = np.abs(whole[k]) > 0.02
    gain = audio[k][voiced] / whole[k][voiced]
    expected = 0.5 + 0.5 * np.cos(np.pi * (np.arange(fade)[voiced] + 0.5) / fade)
    assert np.allclose(gain, expected, atol=1e-3)
    assert abs(audio[cut.end_sample - 1]) < 1e-4


# ---- what a listener hears ----------------------------------------------------------


def test_inhale_brightens_and_exhale_darkens_in_the_mix(session):
    plan, _, audio, _ = session
    for ev in plan.tone_events():
        if ev.tone in ("inhale", "exhale"):
            x = audio[ev.start_sample : ev.end_sample, 0].astype(np.float64)
            third = len(x) // 3
            first, last = centroid_hz(x[:third]), centroid_hz(x[-third:])
            if ev.tone == "inhale":
                assert last > 1.5 * first
            else:
                assert last < first / 1.5


@pytest.mark.parametrize("name", ["warm", "bright"])
def test_no_clicks_outside_speech(name):
    palette = load_palette(name)
    plan, spans = session_plan(palette)
    audio = render(plan, Voices(VOICE), palette=palette).astype(np.float64)
    steps = np.max(np.abs(np.diff(audio, axis=0)), axis=1)
    outside = np.ones(len(steps), bool)
    for s, e in spans:
        outside[max(0, s - 1) : e] = False
    assert np.max(steps[outside]) < CLICK_STEP
    # and the detector does detect a click: a bare step of 0.1 in silence
    clicked = audio.copy()
    clicked[-SR // 2 :, 0] += 0.1
    assert np.max(np.abs(np.diff(clicked, axis=0))) >= CLICK_STEP
    # every tone begins and ends at (near) silence
    for ev in plan.tone_events():
        assert np.max(np.abs(audio[ev.start_sample])) < 2e-3
        assert np.max(np.abs(audio[ev.end_sample - 1])) < 2e-3


def test_speech_starts_and_ends_without_a_step(session):
    plan, spans, audio, _ = session
    for s, e in spans:
        assert np.max(np.abs(audio[s, 0])) < 0.01
        assert np.max(np.abs(np.diff(audio[s : s + ms(5), 0]))) < 0.05
        assert np.max(np.abs(audio[e - 1, 0])) < 0.01


@pytest.mark.parametrize("name", ["warm", "bright"])
def test_wiper_ticks_alternate_ears(name):
    palette = load_palette(name)
    plan, _ = session_plan(palette)
    audio = render(plan, Voices(VOICE), palette=palette)
    ticks = [e for e in plan.tone_events() if e.tone == "tick"]
    assert [t.variant for t in ticks] == ["left", "right", "left", "right"]
    for ev in ticks:
        x = audio[ev.start_sample : ev.end_sample]
        left, right = rms(x[:, 0]), rms(x[:, 1])
        if ev.variant == "left":
            assert db(left / right) > 10
        else:
            assert db(right / left) > 10


def test_tones_duck_at_least_12_db_under_speech_before_it_starts_and_recover_after():
    voice = fake_voice(1.5)
    sp = speech_event("s", 3 * SR, voice)
    stroke = tone_event("stroke", SR, 8 * SR, variant="up")
    with_speech = make_plan([stroke, sp], 9 * SR)
    tone_only = make_plan([stroke], 9 * SR)
    voices = Voices({"s": voice})
    # the tone's share of the mix: the full mix minus the speech alone
    ducked = render(with_speech, voices) - render(make_plan([sp], 9 * SR), voices)
    normal = render(tone_only)
    s, e = sp.start_sample, sp.end_sample

    def gain_db(a, b):
        return db(rms(ducked[a:b]) / rms(normal[a:b]))

    assert gain_db(s, e) < -12
    assert gain_db(s, e) == pytest.approx(-WARM.ducking.depth_db, abs=0.1)
    assert gain_db(s - ms(10), s) < -12  # already ducked before the first word
    assert gain_db(e + ms(150), e + ms(400)) == pytest.approx(0, abs=0.01)  # recovered
    assert gain_db(SR + ms(700), s - ms(200)) == pytest.approx(0, abs=0.01)  # untouched well before
    # smooth: the gain moves through intermediate values over >= 50 ms, both ways
    gain = np.abs(ducked[:, 0]) / np.maximum(np.abs(normal[:, 0]), 1e-9)
    partly = (gain > 0.3) & (gain < 0.9) & (np.abs(normal[:, 0]) > 1e-3)
    down = np.flatnonzero(partly[s - ms(200) : s])
    up = np.flatnonzero(partly[e : e + ms(200)])
    assert down[-1] - down[0] > ms(25) and up[-1] - up[0] > ms(25)


def tone_gain_db(tone: Event, words: list[Event], voices, duration: int, window: int = ms(10)):
    """The tone's gain in the mix, window by window: (full mix - the words alone) / the tone alone.

    Returns (window starts, gain in dB); the voice cancels out exactly, so this is
    the tone-only signal however loud the words are.
    """
    share = render(make_plan([tone, *words], duration), voices) - render(
        make_plan(words, duration), voices
    )
    alone = render(make_plan([tone], duration))
    starts = np.arange(tone.start_sample + ms(700), tone.end_sample - ms(700) - window, window)
    gains = np.array([db(rms(share[a : a + window]) / rms(alone[a : a + window])) for a in starts])
    return starts, gains


def countdown(first: int, apart_s: float, count: int = 5, word_s: float = 0.45):
    """``count`` short words, ``apart_s`` from start to start, the first at sample ``first``."""
    voices = Voices({f"w{i}": fake_voice(word_s, 120.0 + 10 * i) for i in range(count)})
    words = [
        speech_event(f"w{i}", first + int(round(i * apart_s * SR)), voices.table[f"w{i}"])
        for i in range(count)
    ]
    return words, voices


def test_a_countdown_keeps_the_tone_ducked_between_its_words():
    """Time rule 4: words 1 s apart duck the tone once, not five times (no pumping)."""
    depth = WARM.ducking.depth_db
    words, voices = countdown(3 * SR, apart_s=1.0)
    stroke = tone_event("stroke", SR, 11 * SR, variant="up")
    starts, gains = tone_gain_db(stroke, words, voices, 12 * SR)
    during = (starts >= words[0].start_sample) & (starts + ms(10) <= words[-1].end_sample)
    assert during.sum() > 350  # about 4.5 s of 10 ms windows, gaps between words included
    # down by the palette's depth (>= 12 dB) the whole time, in the gaps as under the words
    assert np.all(np.abs(gains[during] + depth) < 0.1)
    assert depth >= 12
    # before the countdown and after it the tone is at its full level again
    assert np.all(np.abs(gains[starts + ms(10) <= words[0].start_sample - ms(300)]) < 0.05)
    assert np.all(np.abs(gains[starts >= words[-1].end_sample + ms(300)]) < 0.05)


def test_words_3_s_apart_let_the_tone_come_back_up_between_them():
    words, voices = countdown(3 * SR, apart_s=3.0, count=2)
    stroke = tone_event("stroke", SR, 10 * SR, variant="down")
    starts, gains = tone_gain_db(stroke, words, voices, 11 * SR)
    gap = (starts >= words[0].end_sample + ms(300)) & (
        starts + ms(10) <= words[1].start_sample - ms(300)
    )
    assert gap.sum() > 150
    assert np.all(np.abs(gains[gap]) < 0.05)  # back at full level between the words
    under = [(starts >= w.start_sample) & (starts + ms(10) <= w.end_sample) for w in words]
    for u in under:
        assert np.all(np.abs(gains[u] + WARM.ducking.depth_db) < 0.1)


@pytest.mark.parametrize("name", ["warm", "bright"])
def test_words_that_start_with_their_tone_duck_it_from_its_first_sample_and_let_it_up_gently(
    name,
):
    """Time rule 7 puts a guided cycle's words over its tone's start: the duck must be calm there."""
    palette = load_palette(name)
    voice = fake_voice(0.8)
    voices = Voices({"in": voice})
    inhale = tone_event("inhale", 2 * SR, 6 * SR)
    words = [speech_event("in", inhale.start_sample, voice)]  # "breathe in", with the tone
    window = ms(5)
    full = render(make_plan([inhale, *words], 7 * SR), voices, palette=palette)
    share = full - render(make_plan(words, 7 * SR), voices, palette=palette)
    alone = render(make_plan([inhale], 7 * SR), palette=palette)
    starts = np.arange(inhale.start_sample, inhale.end_sample - window, window)
    gains = np.array([db(rms(share[a : a + window]) / rms(alone[a : a + window])) for a in starts])
    end = words[0].end_sample
    under = starts + window <= end
    assert np.all(gains[under] <= -12) and np.all(gains[under] <= -palette.ducking.depth_db + 0.1)
    ramp_end = end + ms(palette.ducking.ramp_s * 1000)
    rising = (starts >= end) & (starts + window <= ramp_end)
    steps = np.diff(gains[rising])
    assert rising.sum() >= 20  # at least 100 ms of return, not a jump
    assert np.all(steps > 0) and np.max(steps) < 1.5  # smooth: under 1.5 dB per 5 ms
    assert np.all(np.abs(gains[starts >= ramp_end]) < 0.05)


def test_duck_regions_join_speech_less_than_1_5_s_apart():
    def at(start_s: float, end_s: float) -> Event:
        return Event("speech", int(start_s * SR), int(end_s * SR), 1)

    gap = int(DUCK_HOLD_GAP_S * SR)
    assert DUCK_HOLD_GAP_S == 1.5
    words = [at(1, 1.5), at(2.5, 3), at(3.5, 4)]
    assert duck_regions(words, gap) == ([SR], [4 * SR])
    # exactly 1.5 s of quiet is long enough for the tone to come back; a sample less is not
    a = Event("speech", 0, SR, 1)
    assert duck_regions([a, Event("speech", SR + gap, 3 * SR + gap, 1)], gap) == (
        [0, SR + gap],
        [SR, 3 * SR + gap],
    )
    assert duck_regions([a, Event("speech", SR + gap - 1, 3 * SR, 1)], gap) == ([0], [3 * SR])
    # overlapping or nested speech (a plan may hold both) is one region; order does not matter
    assert duck_regions([at(2, 3), at(0, 5), at(4, 6)], gap) == ([0], [6 * SR])
    assert duck_regions([], gap) == ([], [])


def test_a_held_duck_renders_the_same_from_any_start_and_block_size():
    words, voices = countdown(3 * SR, apart_s=1.0)
    stroke = tone_event("stroke", SR, 11 * SR, variant="up")
    plan = make_plan([stroke, *words], 12 * SR)
    full = render(plan, voices)
    assert np.array_equal(render(plan, voices, block_frames=777), full)
    inside_gap = words[1].end_sample + ms(100)  # between two words, where the duck is held
    assert np.array_equal(render(plan, voices, start_sample=inside_gap), full[inside_gap:])


def test_voice_tone_and_overall_gains_are_honoured():
    voice = fake_voice(1.0)
    sp = speech_event("s", 0, voice)
    bell = tone_event(
        "bell", sp.end_sample + SR, sp.end_sample + SR + int(round(WARM.length_s("bell") * SR))
    )
    voices = Voices({"s": voice})
    v = slice(sp.start_sample, sp.end_sample)
    b = slice(bell.start_sample, bell.end_sample)
    base = render(make_plan([sp, bell], bell.end_sample), voices)
    quiet_voice = render(make_plan([sp, bell], bell.end_sample, voice_volume_db=-6.0), voices)
    loud_tones = render(make_plan([sp, bell], bell.end_sample, tone_volume_db=0.0), voices)
    louder = render(make_plan([sp, bell], bell.end_sample), voices, gain_db=-10.0)
    assert db(rms(quiet_voice[v]) / rms(base[v])) == pytest.approx(-6, abs=0.01)
    assert np.array_equal(quiet_voice[b], base[b])
    assert db(rms(loud_tones[b]) / rms(base[b])) == pytest.approx(6, abs=0.01)  # default -6 dB
    assert db(rms(louder) / rms(base)) == pytest.approx(-10, abs=0.01)


def test_bell_rings_for_seconds_and_decays(session):
    plan, _, audio, _ = session
    (bell,) = [e for e in plan.tone_events() if e.tone == "bell"]
    x = audio[bell.start_sample : bell.end_sample, 0]
    assert len(x) >= 5 * SR
    firsts = [rms(x[i : i + SR]) for i in range(0, len(x) - SR + 1, 2 * SR)]
    assert all(b < a for a, b in zip(firsts, firsts[1:], strict=False))
    assert rms(x[3 * SR : 4 * SR]) > 0.1 * rms(x[:SR])  # still ringing after 3 s


# ---- errors -----------------------------------------------------------------------------


def test_bad_arguments_and_bad_plans_raise_clean_errors():
    plan = make_plan([tone_event("gong", 10, 1000, line=7)], 2000)
    with pytest.raises(UsageError):
        render_blocks(plan, Voices({}), palette=WARM, start_sample=1500, end_sample=1000)
    with pytest.raises(UsageError):
        render_blocks(plan, Voices({}), palette=WARM, end_sample=5000)
    with pytest.raises(UsageError):
        render_blocks(plan, Voices({}), palette=WARM, block_frames=0)
    with pytest.raises(RenderError, match=r"7: unknown tone 'gong'"):
        render(plan)
    missing = make_plan([Event("speech", 0, 100, 3, text="hello", speech_key="nope")], 200)
    with pytest.raises(RenderError, match="hello"):
        render(missing, Voices({}))


# ---- streaming ----------------------------------------------------------------------------


def test_long_render_keeps_memory_flat_and_is_fast():
    """20 minutes (~400 MB as one array): peak allocations stay a few MB."""
    minutes = 20
    voices = {f"k{i}": fake_voice(2.0 + (i % 5) * 0.2) for i in range(40)}
    ev = []
    inhale, exhale = 4 * SR, 6 * SR
    t = SR
    i = 0
    while t < minutes * 60 * SR - 30 * SR:
        key = f"k{i % 40}"
        sp = speech_event(key, t, voices[key])
        ev.append(sp)
        t = sp.end_sample + SR
        for _ in range(3):
            ev += [
                tone_event("inhale", t, t + inhale),
                tone_event("exhale", t + inhale, t + inhale + exhale),
            ]
            t += inhale + exhale
        t += 10 * SR
        i += 1
    plan = make_plan(ev, minutes * 60 * SR)
    lookup = Voices(voices)
    tracemalloc.start()
    started = time.process_time()
    frames = 0
    for block in render_blocks(plan, lookup, palette=WARM):
        frames += len(block)
    cpu_s = time.process_time() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert frames == plan.duration_samples
    assert peak < 40 * 1024 * 1024
    assert cpu_s < 20  # generous: tracemalloc slows it and the machine is shared


# ---- the compiler's plans (contract check) ---------------------------------------------

CONTRACT_SCRIPT = """---
title: Contract
---
# Start
Lie down and get settled.
[place 4s]
[breathe 4-6 x3]
Now the knees sway.
[wipers x6 3s]
Now roll slowly.
[roll 16s stroke 4s]
[hold 12s]
"""


class SyntheticSpeech:
    """Speech lengths for the compiler and audio for the renderer, from one synthetic voice."""

    def __init__(self):
        self.audio: dict[str, np.ndarray] = {}

    def key(self, text: str) -> str:
        return "syn:" + text

    def prepare(self, texts) -> None:
        for text in texts:
            self.audio[self.key(text)] = fake_voice(0.3 + 0.04 * len(text), 100 + len(text) % 50)

    def duration_s(self, text: str) -> float:
        return len(self.audio[self.key(text)]) / VOICE_SR

    def duration_samples(self, text: str, sample_rate: int) -> int:
        return SpeechAudio(self.audio[self.key(text)], VOICE_SR).duration_samples_at(sample_rate)

    def __call__(self, key: str) -> SpeechAudio:
        return SpeechAudio(self.audio[key], VOICE_SR)


def test_a_compiled_plan_renders_with_the_palette_it_was_compiled_against():
    from voicecoach.language.compiler import compile_script
    from voicecoach.language.parser import parse_text

    speech = SyntheticSpeech()
    plan = compile_script(parse_text(CONTRACT_SCRIPT, "contract.md"), speech, palette=WARM)
    audio = render(plan, speech)
    assert len(audio) == plan.duration_samples
    tones = plan.tone_events()
    assert {e.tone for e in tones} >= {"ready", "inhale", "exhale", "tick", "stroke", "bell"}
    spans = [(e.start_sample, e.end_sample) for e in plan.speech_events()]
    steps = np.max(np.abs(np.diff(audio, axis=0)), axis=1)
    for s, e in spans:
        steps[max(0, s - 1) : e] = 0
    assert np.max(steps) < CLICK_STEP
    # the wiper ticks that sound alone (not under speech) go to the side the knees go
    for ev in (t for t in tones if t.tone == "tick"):
        if any(s < ev.end_sample and ev.start_sample < e for s, e in spans):
            continue
        x = audio[ev.start_sample : ev.end_sample]
        left, right = rms(x[:, 0]), rms(x[:, 1])
        assert (left > 3 * right) if ev.variant == "left" else (right > 3 * left)
    # the bell (appended at the end) rings and decays
    (bell,) = [t for t in tones if t.tone == "bell"]
    x = audio[bell.start_sample : bell.end_sample, 0]
    assert rms(x[: SR // 2]) > 3 * rms(x[-SR:])


def test_tones_are_kept_on_disk_and_a_damaged_file_is_made_again(tmp_path, monkeypatch):
    from voicecoach.sound import render as render_mod
    from voicecoach.sound import tones as tones_mod

    monkeypatch.setenv("VOICECOACH_CACHE_DIR", str(tmp_path))
    render_mod._TONE_CACHE.clear()
    made = render_mod.cached_tone(WARM, "bell", 30_000, SR)
    files = list((tmp_path / "tones").glob("*.f32"))
    assert len(files) == 1 and not list((tmp_path / "tones").glob("*.tmp"))

    def no_synth(*args, **kwargs):
        raise AssertionError("synthesised although the tone is on disk")

    real_synth = tones_mod.synth_tone
    monkeypatch.setattr(tones_mod, "synth_tone", no_synth)
    render_mod._TONE_CACHE.clear()  # a new process: only the disk remembers
    again = render_mod.cached_tone(WARM, "bell", 30_000, SR)
    assert again.dtype == np.float32 and np.array_equal(again, made) and not again.flags.writeable
    # another length or palette is another tone (not this file)
    with pytest.raises(AssertionError, match="synthesised"):
        render_mod.cached_tone(WARM, "bell", 30_001, SR)
    other = dataclasses.replace(WARM, pan_amount=0.5)
    with pytest.raises(AssertionError, match="synthesised"):
        render_mod.cached_tone(other, "bell", 30_000, SR)
    # a truncated file reads as missing: the tone is made again, the same, and rewritten
    files[0].write_bytes(files[0].read_bytes()[:-100])
    monkeypatch.setattr(tones_mod, "synth_tone", real_synth)
    render_mod._TONE_CACHE.clear()
    assert np.array_equal(render_mod.cached_tone(WARM, "bell", 30_000, SR), made)
    assert files[0].stat().st_size > 30_000 * 4
    render_mod._TONE_CACHE.clear()


def test_prepared_speech_is_kept_on_disk_and_a_damaged_file_is_made_again(tmp_path, monkeypatch):
    from voicecoach.sound import dsp as dsp_mod
    from voicecoach.sound import render as render_mod

    monkeypatch.setenv("VOICECOACH_CACHE_DIR", str(tmp_path))
    voice = fake_voice(0.8)
    ev = speech_event("s", 1000, voice)
    plan = make_plan([ev], ev.end_sample + 500)
    render_mod._SPEECH_CACHE.clear()
    first = render(plan, Voices({"s": voice}))
    files = list((tmp_path / "speech-prepared").glob("*.f32"))
    assert len(files) == 1 and not list((tmp_path / "speech-prepared").glob("*.tmp"))

    def no_resampling(*args, **kwargs):
        raise AssertionError("resampled although the speech is on disk")

    real = dsp_mod.resample_poly
    monkeypatch.setattr(dsp_mod, "resample_poly", no_resampling)
    render_mod._SPEECH_CACHE.clear()  # a new process: only the disk remembers
    assert np.array_equal(render(plan, Voices({"s": voice})), first)
    # other samples under the same key, or another fade, are other speech (not this file)
    render_mod._SPEECH_CACHE.clear()
    with pytest.raises(AssertionError, match="resampled"):
        render(plan, Voices({"s": voice * np.float32(0.5)}))
    render_mod._SPEECH_CACHE.clear()
    with pytest.raises(AssertionError, match="resampled"):
        render(plan, Voices({"s": voice}), palette=dataclasses.replace(WARM, speech_fade_s=0.02))
    # a truncated file reads as missing: the speech is made again, the same, and rewritten
    files[0].write_bytes(files[0].read_bytes()[:-100])
    monkeypatch.setattr(dsp_mod, "resample_poly", real)
    render_mod._SPEECH_CACHE.clear()
    assert np.array_equal(render(plan, Voices({"s": voice})), first)
    assert files[0].stat().st_size > ev.duration_samples * 4
    render_mod._SPEECH_CACHE.clear()


def test_renders_from_one_speech_source_share_its_prepared_speech(tmp_path, monkeypatch):
    from voicecoach.sound import dsp as dsp_mod
    from voicecoach.sound import render as render_mod

    monkeypatch.setenv("VOICECOACH_CACHE_DIR", str(tmp_path))
    voice = fake_voice(0.8)
    ev = speech_event("s", 1000, voice)
    plan = make_plan([ev], ev.end_sample + 500)
    voices = Voices({"s": voice})
    render_mod._SPEECH_CACHE.clear()
    first = render(plan, voices)
    for path in (tmp_path / "speech-prepared").glob("*.f32"):
        path.unlink()  # only memory remembers now

    def no_resampling(*args, **kwargs):
        raise AssertionError("resampled although the same source's speech is in memory")

    monkeypatch.setattr(dsp_mod, "resample_poly", no_resampling)
    assert np.array_equal(render(plan, voices), first)
    # another source (speech keys name audio only within one source) is prepared again
    with pytest.raises(AssertionError, match="resampled"):
        render(plan, Voices({"s": voice}))
    render_mod._SPEECH_CACHE.clear()
