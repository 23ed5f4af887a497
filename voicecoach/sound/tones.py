"""Tone synthesis: pure functions from palette parameters to float32 samples in -1..1.

Every tone is mono, exactly ``duration_samples`` long, deterministic (noise
comes from a generator seeded by the tone's name), starts and ends at zero
through raised-cosine fades (no clicks), and has the palette's ``loudness_lufs`` as
its loudness (``tone_loudness_lufs``): a steady hum and a swelling breath set
to the same level sound equally loud, which equal peaks do not give. The
renderer pans, scales and ducks them.
"""

from __future__ import annotations

import zlib

import numpy as np

from voicecoach.errors import RenderError
from voicecoach.sound.levels import apply_fades, db_to_gain
from voicecoach.sound.meter import LUFS_OFFSET, k_weighting_sos
from voicecoach.sound.palette import (
    BellSound,
    BreathSound,
    ChimeSound,
    Palette,
    StrokeSound,
    TickSound,
)
from voicecoach.units import seconds_to_samples

TONES = ("inhale", "exhale", "ready", "tick", "bell", "stroke")
_NYQUIST_MARGIN = 0.45  # partials above this fraction of the rate are dropped (no aliasing)
_END_FADE_S = 0.01  # fade when a fixed-length tone is cut shorter than its natural length
LEVEL_WINDOW_S = 0.4  # a tone shorter than one BS.1770 gating block is measured over one block
_K_TAIL_S = 0.25  # the K-weighting's impulse response is below -120 dB well within this


def synth_tone(
    palette: Palette, tone: str, duration_samples: int, sample_rate: int, *, variant: str = ""
) -> np.ndarray:
    """The named tone, mono float32, exactly ``duration_samples`` long.

    ``inhale``, ``exhale`` and ``stroke`` stretch over the whole span;
    ``ready``, ``tick`` and ``bell`` have a natural length (``palette.length_s``)
    and are cut (with a fade) or padded with silence to fit. ``variant``:
    ``up``/``down`` for strokes, ``left``/``right`` for ticks, ``soft`` (any
    tone) lowers it by ``palette.soft_db``; others are ignored.

    Levels are loudness (``tone_loudness_lufs``): a stretching tone is set to
    its level over this very span; a fixed-length tone over its natural
    length, before it is cut or padded (so cutting never makes it louder).
    """
    if sample_rate < 1000:
        raise RenderError(f"sample rate {sample_rate} Hz is too low to synthesise tones")
    n = int(duration_samples)
    if n <= 0:
        return np.zeros(0, dtype=np.float32)
    soft_db = palette.soft_db if variant == "soft" else 0.0
    if tone in ("inhale", "exhale"):
        sound = palette.inhale if tone == "inhale" else palette.exhale
        x = _breath(sound, n, sample_rate, seed=_seed(tone, variant))
        return _normalise(x, sound.loudness_lufs - soft_db, sample_rate)
    if tone == "stroke":
        down = variant == "down"
        x = _stroke(palette.stroke, n, sample_rate, down=down)
        lufs = palette.stroke.loudness_lufs + (palette.stroke.down_gain_db if down else 0.0)
        return _normalise(x, lufs - soft_db, sample_rate)
    # fixed-length tones: made at their natural length and level, then cut or padded
    if tone == "ready":
        x = _chime(palette.ready, sample_rate)
        x = _normalise(x, palette.ready.loudness_lufs - soft_db, sample_rate)
    elif tone == "tick":
        x = _tick(palette.tick, sample_rate, right=(variant == "right"))
        x = _normalise(x, palette.tick.loudness_lufs - soft_db, sample_rate)
    elif tone == "bell":
        x = _bell(palette.bell, sample_rate)
        x = _normalise(x, palette.bell.loudness_lufs - soft_db, sample_rate)
    else:
        raise RenderError(f"unknown tone {tone!r}; known tones: {', '.join(TONES)}")
    return _fit(x, n, sample_rate)


# ---- building blocks -----------------------------------------------------------


def _seed(tone: str, variant: str) -> int:
    return zlib.crc32(f"voicecoach:{tone}:{variant}".encode())


def _smooth_glide(start: float, end: float, n: int) -> np.ndarray:
    """``start`` to ``end`` over ``n`` samples on a log scale, eased at both ends."""
    return _glide_at(start, end, np.arange(n) / max(n - 1, 1))


def _glide_at(start: float, end: float, t: np.ndarray) -> np.ndarray:
    """The glide at fractions ``t`` (0..1) of the way."""
    ease = t * t * (3.0 - 2.0 * t)  # smoothstep: no sudden change of direction
    return start * np.exp(np.log(end / start) * ease)


def _sine_from_freq(freq_hz: np.ndarray, sample_rate: int) -> np.ndarray:
    """A sine whose instantaneous frequency follows ``freq_hz`` (phase-continuous)."""
    phase = 2.0 * np.pi * np.cumsum(freq_hz) / sample_rate
    return np.sin(phase - phase[0])


def tone_loudness_lufs(x: np.ndarray, sample_rate: int) -> float:
    """The loudness of mono tone ``x`` played centred (the same in both ears), in LUFS.

    BS.1770's measure (K-weighting, mean square, two channels of weight 1) over
    the tone's own span, not gated: a tone's soft ends belong to it. A tone
    shorter than one 400 ms gating block is measured over one block (the tone,
    then silence), as a momentary meter reads it, so a short tap is not rated
    by an arbitrary ``length_s``. ``-inf`` for silence. The K-weighted energy
    is computed in the frequency domain (no scipy on the play path): the
    filters' response times the tone's spectrum, zero-padded past the
    filters' ringing, so the figure equals filtering in time.
    """
    if len(x) == 0:
        return -np.inf
    window = max(len(x), seconds_to_samples(LEVEL_WINDOW_S, sample_rate))
    energy = _k_weighted_energy(np.asarray(x, dtype=np.float64), sample_rate)
    if energy <= 0:
        return -np.inf
    return float(LUFS_OFFSET + 10.0 * np.log10(2.0 * energy / window))


def _k_weighted_energy(x: np.ndarray, sample_rate: int) -> float:
    """Sum of squares of ``x`` through the K-weighting filters, ringing included (Parseval)."""
    n_fft = 1 << int(np.ceil(np.log2(len(x) + seconds_to_samples(_K_TAIL_S, sample_rate))))
    spectrum = np.fft.rfft(x, n=n_fft)
    z = np.exp(-1j * np.pi * np.arange(len(spectrum)) / (len(spectrum) - 1))  # e^{-jw}, 0..pi
    power = np.abs(spectrum) ** 2
    for b0, b1, b2, a0, a1, a2 in k_weighting_sos(sample_rate):
        power *= np.abs((b0 + b1 * z + b2 * z * z) / (a0 + a1 * z + a2 * z * z)) ** 2
    # one-sided spectrum: the bins strictly between 0 and Nyquist stand for two
    return float((power[0] + power[-1] + 2.0 * power[1:-1].sum()) / n_fft)


def _normalise(x: np.ndarray, target_lufs: float, sample_rate: int) -> np.ndarray:
    """``x`` scaled so that its ``tone_loudness_lufs`` is ``target_lufs``, as float32."""
    lufs = tone_loudness_lufs(x, sample_rate)
    if np.isfinite(lufs):
        x = x * db_to_gain(target_lufs - lufs)
    return x.astype(np.float32)


def _fit(x: np.ndarray, n: int, sample_rate: int) -> np.ndarray:
    """Cut (with a short fade) or zero-pad a natural-length float32 tone to ``n`` samples."""
    if len(x) >= n:
        x = x[:n].copy()
        return apply_fades(x, 0, seconds_to_samples(_END_FADE_S, sample_rate))
    return np.concatenate([x, np.zeros(n - len(x), dtype=np.float32)])


def _bandpass_noise(
    start_hz: float, end_hz: float, bandwidth_oct: float, n: int, sample_rate: int, seed: int
) -> np.ndarray:
    """Noise whose band centre glides from ``start_hz`` to ``end_hz`` (set once per frame).

    Synthesised frame by frame in the frequency domain (complex Gaussian bins
    shaped by a Gaussian band on a log-frequency axis), windowed and
    overlap-added.
    """
    frame = 1 << max(8, int(np.ceil(np.log2(0.046 * sample_rate))))  # ~46 ms
    hop = frame // 4
    n_frames = (n + frame) // hop + 1
    rng = np.random.default_rng(seed)
    freqs = np.fft.rfftfreq(frame, 1.0 / sample_rate)
    centres_idx = np.clip(np.arange(n_frames) * hop + hop - frame // 2, 0, n - 1)
    log_centres = np.log2(_glide_at(start_hz, end_hz, centres_idx / max(n - 1, 1)))[:, None]
    # only bins within 3.5 standard deviations of the band (-53 dB) are worth computing
    reach = 3.5 * bandwidth_oct
    lo_hz = 2.0 ** (float(log_centres.min()) - reach)
    hi_hz = min(2.0 ** (float(log_centres.max()) + reach), _NYQUIST_MARGIN * sample_rate)
    band = np.flatnonzero((freqs >= max(lo_hz, freqs[1])) & (freqs <= hi_hz))
    spectra = np.zeros((n_frames, len(freqs)), dtype=np.complex128)
    if len(band):
        octaves = np.log2(freqs[band])[None, :] - log_centres
        mag = np.exp(-0.5 * (octaves / bandwidth_oct) ** 2)
        # complex Gaussian bins: the spectrum of white noise
        gauss = rng.standard_normal((n_frames, len(band), 2))
        spectra[:, band] = mag * (gauss[..., 0] + 1j * gauss[..., 1])
    frames = np.fft.irfft(spectra, n=frame, axis=1)
    frames *= np.hanning(frame)[None, :]
    # overlap-add: a frame spans 4 hops; add each quarter into its hop slot
    out = np.zeros((n_frames + 3, hop))
    for j in range(4):
        out[j : j + n_frames] += frames[:, j * hop : (j + 1) * hop]
    y = out.reshape(-1)[frame - hop : frame - hop + n]
    rms = float(np.sqrt(np.mean(y * y))) if n else 0.0
    return y / rms if rms > 0 else y


def _breath(sound: BreathSound, n: int, sample_rate: int, seed: int) -> np.ndarray:
    """Band-passed noise ("air") plus a sine, both gliding; the level follows gain_start/end."""
    noise = _bandpass_noise(
        sound.noise_start_hz, sound.noise_end_hz, sound.noise_bandwidth_oct, n, sample_rate, seed
    )
    sine = _sine_from_freq(_smooth_glide(sound.sine_start_hz, sound.sine_end_hz, n), sample_rate)
    # both parts at the same RMS before mixing (a unit sine has RMS 1/sqrt 2)
    x = (1.0 - sound.sine_mix) * noise / np.sqrt(2.0) + sound.sine_mix * sine
    level_db = np.linspace(sound.gain_start_db, sound.gain_end_db, n)
    x *= 10.0 ** (level_db / 20.0)
    return apply_fades(
        x,
        seconds_to_samples(sound.fade_in_s, sample_rate),
        seconds_to_samples(sound.fade_out_s, sample_rate),
    )


def _stroke(sound: StrokeSound, n: int, sample_rate: int, *, down: bool) -> np.ndarray:
    """A soft harmonic hum gliding up (or down) across the whole stroke."""
    start, end = (sound.high_hz, sound.low_hz) if down else (sound.low_hz, sound.high_hz)
    freq = _smooth_glide(start, end, n)
    phase = 2.0 * np.pi * np.cumsum(freq) / sample_rate
    phase -= phase[0]
    x = np.zeros(n)
    for k, amp in enumerate(sound.harmonics, start=1):
        if amp > 0 and k * max(start, end) < _NYQUIST_MARGIN * sample_rate:
            x += amp * np.sin(k * phase)
    fade = seconds_to_samples(sound.fade_s, sample_rate)
    return apply_fades(x, fade, fade)


def _damped_sine(
    freq_hz: float, decay_s: float, phase: float, n: int, sample_rate: int
) -> np.ndarray:
    """``exp(-t / decay_s) * sin(2 pi f t + phase)`` (closed form: keeps scipy off the play path)."""
    t_s = np.arange(n) / sample_rate
    return np.exp(-t_s / decay_s) * np.sin(2.0 * np.pi * freq_hz * t_s + phase)


def _struck(
    freq_hz: float,
    partials: tuple[tuple[float, float], ...],
    attack_s: float,
    decay_s: float,
    n: int,
    sample_rate: int,
) -> np.ndarray:
    """A struck note: partials with a raised-cosine attack and exponential decay."""
    x = np.zeros(n)
    for ratio, amp in partials:
        f = freq_hz * ratio
        if f < _NYQUIST_MARGIN * sample_rate and amp > 0:
            # higher partials die away faster, as on a real struck object
            x += amp * _damped_sine(f, decay_s / ratio**0.5, 0.0, n, sample_rate)
    return apply_fades(x, seconds_to_samples(attack_s, sample_rate), 0)


def _chime(sound: ChimeSound, sample_rate: int) -> np.ndarray:
    n = seconds_to_samples(sound.length_s, sample_rate)
    x = np.zeros(n)
    for ratio, delay_s in sound.notes:
        at = seconds_to_samples(delay_s, sample_rate)
        x[at:] += _struck(
            sound.fundamental_hz * ratio,
            sound.partials,
            sound.attack_s,
            sound.decay_s,
            n - at,
            sample_rate,
        )
    return apply_fades(x, 0, seconds_to_samples(min(0.1, sound.length_s / 4), sample_rate))


def _tick(sound: TickSound, sample_rate: int, *, right: bool) -> np.ndarray:
    n = seconds_to_samples(sound.length_s, sample_rate)
    freq = sound.frequency_hz * (sound.right_pitch_ratio if right else 1.0)
    x = _struck(freq, sound.partials, sound.attack_s, sound.decay_s, n, sample_rate)
    return apply_fades(x, 0, seconds_to_samples(min(0.02, sound.length_s / 4), sample_rate))


def _bell(sound: BellSound, sample_rate: int) -> np.ndarray:
    """A singing bowl: inharmonic partials, each beating gently against a detuned twin."""
    n = seconds_to_samples(sound.length_s, sample_rate)
    x = np.zeros(n)
    for i, (ratio, amp, decay_s) in enumerate(sound.partials):
        f = sound.fundamental_hz * ratio
        twin_hz = f + sound.beat_hz * ratio**0.5
        if twin_hz >= _NYQUIST_MARGIN * sample_rate or amp <= 0:
            continue
        # partials start at different phases so the strike is not one sharp spike
        phase0 = 0.7 * i
        x += amp * _damped_sine(f, decay_s, phase0, n, sample_rate)
        if sound.beat_depth > 0:
            x += amp * sound.beat_depth * _damped_sine(twin_hz, decay_s, phase0, n, sample_rate)
    return apply_fades(
        x,
        seconds_to_samples(sound.attack_s, sample_rate),
        seconds_to_samples(sound.fade_out_s, sample_rate),
    )
