"""The streaming renderer: a compiled ``Plan`` in, stereo float32 blocks out.

Both sinks (``export`` writing a file, ``play`` feeding the sound device)
consume ``render_blocks``. Memory stays flat whatever the plan's length: no
full-length array is ever made; tones are synthesised once per (tone,
variant, length) and cached (in memory, and on disk for the next process),
speech is resampled once per utterance and kept in a bounded cache shared by
the renders that use the same speech source, and on disk for the next process.
Every output sample is a pure function of its absolute position, so
rendering from any ``start_sample`` gives exactly the samples of a full
render at that position (``play`` relies on this to jump and resume).
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import math
import sys
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from math import gcd
from pathlib import Path

import numpy as np

from voicecoach import units
from voicecoach.errors import RenderError, UsageError, VoicecoachError
from voicecoach.language.ahead import PlanAhead
from voicecoach.language.plan import Event, Plan
from voicecoach.sound import dsp, levels, meter, tones
from voicecoach.sound.levels import db_to_gain, raised_cosine
from voicecoach.sound.palette import Palette
from voicecoach.speech.engine import SpeechAudio
from voicecoach.storage.diskcache import ARRAY_SUFFIX, code_digest
from voicecoach.units import seconds_to_samples

SpeechLookup = Callable[[str], SpeechAudio]  # speech_key -> SpeechAudio

DEFAULT_BLOCK_FRAMES = 8192
TONE_CACHE_BYTES = 64 * 1024 * 1024  # synthesised tones shared between renders
# prepared utterances shared by the renders of one lookup; a miss reloads from the disk cache
SPEECH_CACHE_BYTES = 12 * 1024 * 1024
LOCAL_TONE_CACHE_BYTES = 32 * 1024 * 1024  # per render, keyed without hashing the palette
_TONE_FILE_VERSION = 2  # bump when the file layout of the disk tone cache changes
# Time rule 4: speech less than this apart (end of one to start of the next: the words of a
# countdown) is one duck region, so tones stay down between the words instead of pumping.
DUCK_HOLD_GAP_S = 1.5


class _ByteLRU:
    """A least-recently-used cache of numpy arrays bounded by their total size in bytes."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: OrderedDict[Hashable, np.ndarray] = OrderedDict()

    def get(self, key: Hashable) -> np.ndarray | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: Hashable, value: np.ndarray) -> None:
        if key in self._items:
            self.bytes -= self._items.pop(key).nbytes
        self._items[key] = value
        self.bytes += value.nbytes
        while self.bytes > self.max_bytes and len(self._items) > 1:
            _, old = self._items.popitem(last=False)
            self.bytes -= old.nbytes

    def clear(self) -> None:
        self._items.clear()
        self.bytes = 0


_TONE_CACHE = _ByteLRU(TONE_CACHE_BYTES)
_TONE_CACHE_LOCK = threading.Lock()  # play renders in its own thread


def cached_tone(
    palette: Palette, tone: str, duration_samples: int, sample_rate: int, variant: str = ""
) -> np.ndarray:
    """``synth_tone`` through a process-wide cache and a disk cache (the result is read-only)."""
    key = (palette, tone, variant, duration_samples, sample_rate)
    with _TONE_CACHE_LOCK:
        x = _TONE_CACHE.get(key)
    if x is None:
        path = _tone_file(key)
        x = _load_array(path, duration_samples)
        if x is None:
            x = tones.synth_tone(palette, tone, duration_samples, sample_rate, variant=variant)
            _save_array(path, x)
        x.flags.writeable = False
        with _TONE_CACHE_LOCK:
            _TONE_CACHE.put(key, x)
    return x


# Synthesising a session's tones costs about 0.3 s in a new process (a fifth of a repeat
# export): they are kept on disk, ``<cache>/tones/<digest>.f32`` (a checked entry, see
# ``diskcache``). The digest covers the
# tone's parameters (the palette: a retuned palette is other tones), its length and rate,
# and the code that makes it (the source of ``tones``, ``units``, ``levels`` and ``meter``, numpy's
# version), so a changed synthesiser never reads an old tone. A missing or damaged file
# (its CRC does not match: it is removed) only costs the synthesis.


def _tone_file(key: tuple) -> Path | None:
    try:
        from voicecoach.storage.resources import cache_root

        code = code_digest(tones, units, levels, meter)  # meter: the K-weighting
        blob = repr((_TONE_FILE_VERSION, code, key)).encode("utf-8")
        return cache_root() / "tones" / f"{hashlib.sha256(blob).hexdigest()}{ARRAY_SUFFIX}"
    except Exception:  # no cache is only slower
        return None


def _load_array(
    path: Path | None, duration_samples: int, *, mapped: bool = False
) -> np.ndarray | None:
    """A cached float32 array of ``duration_samples`` (mapped read-only when ``mapped``), or ``None``.

    ``None`` when the file is missing; a damaged one (its CRC does not match) is removed.
    """
    from voicecoach.storage.diskcache import load_array

    return load_array(path, duration_samples, mapped=mapped)


def _save_array(path: Path | None, x: np.ndarray) -> None:
    from voicecoach.storage.diskcache import save_array

    save_array(path, x)


# Resampling a session's speech to the output rate costs about 0.16 s of a 30-minute export
# (a sixth of a repeat export), so the prepared speech (resampled, fitted, faded) is kept on
# disk too, ``<cache>/speech-prepared/<digest>.f32``, and mapped back read-only (no copy). The
# digest covers the utterance's samples themselves (so it never depends on where they came
# from), the output rate, the event's length, whether it was cut short, the fades, and the
# code that prepares it. Like every cache entry it is checked (CRC-32) when read and counts
# towards the cap on the whole cache (``diskcache``). A missing or damaged file only costs the work.

_PREPARED_FILE_VERSION = 2  # bump when the file layout changes


def _speech_file(audio: SpeechAudio, rate: int, ev: Event, palette: Palette) -> Path | None:
    try:
        from voicecoach.storage.resources import cache_root

        samples = np.ascontiguousarray(audio.samples, dtype=np.float32)
        h = hashlib.blake2b(samples.data, digest_size=20)
        h.update(
            repr(
                (
                    _PREPARED_FILE_VERSION,
                    code_digest(dsp, levels, tones, units, sys.modules[__name__]),
                    samples.shape,
                    int(audio.sample_rate),
                    int(rate),
                    ev.duration_samples,
                    ev.truncated,
                    palette.speech_fade_s,
                    palette.truncated_fade_s,
                )
            ).encode("utf-8")
        )
        return cache_root() / "speech-prepared" / f"{h.hexdigest()}{ARRAY_SUFFIX}"
    except Exception:  # no cache is only slower
        return None


_SPEECH_CACHE = _ByteLRU(SPEECH_CACHE_BYTES)
# shared speech key -> its prepared-speech file (hashing the samples again costs ~0.4 ms each)
_SPEECH_FILES: OrderedDict[Hashable, Path] = OrderedDict()
_SPEECH_FILES_MAX = 4096
_SPEECH_CACHE_LOCK = threading.Lock()
_SPEECH_OWNERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # lookup owner -> token
_SPEECH_TOKENS = itertools.count()


def _speech_owner_token(lookup: SpeechLookup) -> int | None:
    """A token for the object behind ``lookup`` (never reused), or ``None`` if it cannot be tracked.

    Resampled speech is shared between renders that ask the same source (an
    export's measuring and writing passes, or ``play`` after ``export``):
    speech keys name audio only within one source, so the token is part of
    the cache key, and a source that is gone can never be matched again.
    """
    owner = getattr(lookup, "__self__", lookup)
    with _SPEECH_CACHE_LOCK:
        try:
            token = _SPEECH_OWNERS.get(owner)
            if token is None:
                token = next(_SPEECH_TOKENS)
                _SPEECH_OWNERS[owner] = token
        except TypeError:  # not weak-referenceable (e.g. a dict's __getitem__)
            return None
    return token


def lookahead_samples(palette: Palette, sample_rate: int) -> int:
    """How far past a sample the mixer looks: the ducking's lead and ramp, or the gap that joins
    two duck regions. A block renders as in the final plan when every event that starts up to
    this far past its end is where the final plan has it (``language.ahead``)."""
    d = palette.ducking
    ramp_lead = seconds_to_samples(d.lead_s, sample_rate) + seconds_to_samples(
        d.ramp_s, sample_rate
    )
    return max(ramp_lead, seconds_to_samples(DUCK_HOLD_GAP_S, sample_rate)) + 1


def duck_regions(speech: list[Event], hold_gap_samples: int) -> tuple[list[int], list[int]]:
    """Spans that duck the tones: speech events, joined where the gap between them is short.

    Returns ``(starts, ends)``, sorted and apart by at least ``hold_gap_samples``:
    two utterances closer than that (end to start) are one region (time rule 4).
    """
    starts: list[int] = []
    ends: list[int] = []
    for e in sorted(speech, key=lambda e: (e.start_sample, e.end_sample)):
        if ends and e.start_sample - ends[-1] < hold_gap_samples:
            ends[-1] = max(ends[-1], e.end_sample)
        else:
            starts.append(e.start_sample)
            ends.append(e.end_sample)
    return starts, ends


def render_blocks(
    plan: Plan,
    speech: SpeechLookup,
    *,
    palette: Palette,
    block_frames: int = DEFAULT_BLOCK_FRAMES,
    start_sample: int = 0,
    end_sample: int | None = None,
    gain_db: float = 0.0,
) -> Iterator[np.ndarray]:
    """Yield ``(frames, 2)`` float32 C-contiguous blocks covering ``[start_sample, end_sample)``.

    ``end_sample`` defaults to the plan's end; every block but the last has
    ``block_frames`` frames. ``gain_db`` scales everything (the exporter's
    loudness normalisation). Samples are not clipped: a sink clips if it must.
    Arguments are checked here, before the first block is asked for.
    """
    end = plan.duration_samples if end_sample is None else end_sample
    if not isinstance(block_frames, int) or block_frames <= 0:
        raise UsageError(f"block_frames must be a positive integer, got {block_frames!r}")
    if not 0 <= start_sample <= end <= plan.duration_samples:
        raise UsageError(
            f"render range [{start_sample}, {end}) is not inside the plan [0, {plan.duration_samples})"
        )
    if plan.sample_rate < 8000:
        raise RenderError(f"sample rate {plan.sample_rate} Hz is too low (8000 Hz at least)")
    if not math.isfinite(gain_db):
        raise UsageError(f"gain_db must be a finite number, got {gain_db!r}")
    mixer = _Mixer(plan, speech, palette, gain_db, start_sample)
    return _blocks(mixer, start_sample, end, block_frames)


def settling_blocks(
    ahead: PlanAhead,
    speech: SpeechLookup,
    *,
    palette: Palette,
    block_frames: int = DEFAULT_BLOCK_FRAMES,
    gain_db: float = 0.0,
    poll_s: float = 0.05,
) -> Iterator[np.ndarray]:
    """``render_blocks`` of a plan still settling (``language.ahead``): each block once it is final.

    Blocks are cut where a whole render cuts them (every ``block_frames`` from
    sample 0), so the limiter and the writer see exactly what they would see
    for the final plan: an export made while its speech is synthesised is the
    same file. Waits (``poll_s`` at a time) while the next block is not final.
    """
    pos = 0
    while True:
        if ahead.error is not None:
            raise ahead.error
        done, plan = ahead.done, ahead.plan
        end = plan.duration_samples
        upto = end if done else min(end, ahead.render_bound // block_frames * block_frames)
        if upto <= pos and not done:
            ahead.wait_changed(poll_s)
            continue
        yield from render_blocks(
            plan, speech, palette=palette, block_frames=block_frames,
            start_sample=pos, end_sample=upto, gain_db=gain_db,
        )  # fmt: skip
        if done:
            return
        pos = upto


def _blocks(mixer: _Mixer, start: int, end: int, block_frames: int) -> Iterator[np.ndarray]:
    pos = start
    while pos < end:
        n = min(block_frames, end - pos)
        yield mixer.render(pos, n)
        pos += n


class _Sweep:
    """The events overlapping a window that only moves forward: an active set, O(active) a step.

    Starting anywhere costs one bisect plus a backward scan over the events
    that began earlier (bounded by a running maximum of their ends).
    """

    def __init__(self, events: list[Event], lo: int):
        self.events = sorted(events, key=lambda e: (e.start_sample, e.end_sample))
        self.starts = [e.start_sample for e in self.events]
        self.next = bisect.bisect_left(self.starts, lo)  # first event not yet considered
        running = -1
        max_end = []
        for e in self.events:
            running = max(running, e.end_sample)
            max_end.append(running)
        i = self.next - 1
        active = []
        while i >= 0 and max_end[i] > lo:
            if self.events[i].end_sample > lo:
                active.append(self.events[i])
            i -= 1
        active.reverse()
        self.active = active  # in plan order, so mixing sums in the same order however we start

    def overlapping(self, lo: int, hi: int) -> list[Event]:
        """Events with ``start < hi`` and ``end > lo``; ``lo`` and ``hi`` never move back."""
        while self.next < len(self.events) and self.starts[self.next] < hi:
            self.active.append(self.events[self.next])
            self.next += 1
        if self.active:
            self.active = [e for e in self.active if e.end_sample > lo]
        return self.active


def at_speech_level(x: np.ndarray, rate: int) -> np.ndarray:
    """The whole utterance scaled to ``levels.SPEECH_LUFS`` over its own span (before any cut).

    Every phrase is as loud as every other: a countdown's "five" no longer
    stands 7 dB over the sentence before it (piper's raw levels span -19.6 to
    -12.2 LUFS in upper-back), and the session's gain follows from the levels
    alone (``levels.session_gain_db``), before a phrase is synthesised.
    The measure is the tones' (``meter.span_loudness_lufs``, the same figure as
    ``tones.tone_loudness_lufs``: K-weighted, over the span, played centred), so
    the palette's levels and the voice's are alike.
    """
    lufs = meter.span_loudness_lufs(x, rate)
    if not math.isfinite(lufs):
        return x
    return (x * np.float32(db_to_gain(levels.SPEECH_LUFS - lufs))).astype(np.float32)


class _Mixer:
    """Renders consecutive blocks of a plan from ``start_sample`` on; holds the caches."""

    def __init__(
        self, plan: Plan, speech: SpeechLookup, palette: Palette, gain_db: float, start_sample: int
    ):
        self.plan = plan
        self.rate = plan.sample_rate
        self.lookup = speech
        self.palette = palette
        s = plan.settings
        self.tone_gain = db_to_gain(s.tone_volume_db + gain_db)
        self.voice_gain = np.float32(db_to_gain(s.voice_volume_db + gain_db))
        d = palette.ducking
        self.duck_floor = np.float32(db_to_gain(-d.depth_db))
        self.ramp = raised_cosine(seconds_to_samples(d.ramp_s, self.rate)).astype(np.float32)
        self.lead = seconds_to_samples(d.lead_s, self.rate)
        tones = [e for e in plan.events if e.kind == "tone" and e.end_sample > e.start_sample]
        spoken = [e for e in plan.events if e.kind == "speech" and e.end_sample > e.start_sample]
        self.tones = _Sweep(tones, start_sample)
        self.speech = _Sweep(spoken, start_sample)
        self.duck_starts, self.duck_ends = duck_regions(
            spoken, seconds_to_samples(DUCK_HOLD_GAP_S, self.rate)
        )
        self.speech_token = _speech_owner_token(speech)
        self.speech_cache = _ByteLRU(SPEECH_CACHE_BYTES)  # when the source cannot be shared
        self.tone_cache = _ByteLRU(LOCAL_TONE_CACHE_BYTES)
        self.pan_cache: dict[tuple[float, str, str], np.ndarray] = {}

    # -- one block -----------------------------------------------------------------

    def render(self, b0: int, n: int) -> np.ndarray:
        out = np.zeros((n, 2), dtype=np.float32)
        b1 = b0 + n
        tones = self.tones.overlapping(b0, b1)
        if tones:
            for ev in tones:
                x = self._tone(ev)
                a, b = max(ev.start_sample, b0), min(ev.end_sample, b1)
                seg = x[a - ev.start_sample : b - ev.start_sample]
                out[a - b0 : b - b0] += seg[:, None] * self._pan_gains(ev)
            duck = self._duck_gain(b0, n)
            if duck is not None:
                out *= duck[:, None]
        for ev in self.speech.overlapping(b0, b1):
            x = self._speech(ev)
            a, b = max(ev.start_sample, b0), min(ev.end_sample, b1)
            seg = x[a - ev.start_sample : b - ev.start_sample] * self.voice_gain
            out[a - b0 : b - b0] += seg[:, None]
        return out

    # -- tones -----------------------------------------------------------------------

    def _tone(self, ev: Event) -> np.ndarray:
        key = (ev.tone, ev.variant, ev.duration_samples)
        x = self.tone_cache.get(key)
        if x is None:
            try:
                x = cached_tone(self.palette, ev.tone, ev.duration_samples, self.rate, ev.variant)
            except RenderError as e:
                raise RenderError(f"{ev.file or 'plan'}:{ev.line}: {e}") from e
            self.tone_cache.put(key, x)
        return x

    def _pan_gains(self, ev: Event) -> np.ndarray:
        """Balance-law gains: centre is full level in both ears, a side fades the other ear."""
        key = (ev.pan, ev.tone, ev.variant)
        gains = self.pan_cache.get(key)
        if gains is None:
            pan = ev.pan
            if pan == 0.0 and ev.tone == "tick" and ev.variant in ("left", "right"):
                pan = -1.0 if ev.variant == "left" else 1.0
            p = max(-1.0, min(1.0, pan)) * self.palette.pan_amount
            gains = np.array(
                [self.tone_gain * min(1.0, 1.0 - p), self.tone_gain * min(1.0, 1.0 + p)],
                dtype=np.float32,
            )
            self.pan_cache[key] = gains
        return gains

    def _duck_gain(self, b0: int, n: int) -> np.ndarray | None:
        """Tone gain under speech: 1 normally, the duck floor from ``lead`` before a region to its end.

        Regions are speech with short gaps closed (``duck_regions``). Ramps
        (raised cosine) finish before the speech starts and begin as it ends.
        Every value comes from a table lookup at an absolute offset, so a block
        gives the same numbers whatever its boundaries.
        """
        r = len(self.ramp)
        # the first region whose ramp up ends after b0; regions are sorted and apart
        i = bisect.bisect_right(self.duck_ends, b0 - r)
        hi = b0 + n
        if i >= len(self.duck_starts) or self.duck_starts[i] - self.lead - r >= hi:
            return None
        depth = np.zeros(n, dtype=np.float32)  # 0 = normal, 1 = fully ducked
        while i < len(self.duck_starts) and self.duck_starts[i] - self.lead - r < hi:
            full_from = self.duck_starts[i] - self.lead
            full_to = self.duck_ends[i]
            # ramp down: [full_from - r, full_from), ramp up: [full_to, full_to + r); regions
            # 1.5 s apart leave room for both ramps and the lead (0.5 s each at most); raising
            # (not copying) keeps the gain right even if they met
            self._raise_to(depth, b0, full_from - r, self.ramp)
            a, b = max(full_from, b0), min(full_to, hi)
            if a < b:
                depth[a - b0 : b - b0] = 1.0
            self._raise_to(depth, b0, full_to, self.ramp[::-1])
            i += 1
        return np.float32(1.0) - (np.float32(1.0) - self.duck_floor) * depth

    @staticmethod
    def _raise_to(dest: np.ndarray, b0: int, at: int, values: np.ndarray) -> None:
        """Raise block ``dest`` (at ``b0``) to ``values`` (starting at absolute sample ``at``) where higher."""
        a, b = max(at, b0), min(at + len(values), b0 + len(dest))
        if a < b:
            np.maximum(dest[a - b0 : b - b0], values[a - at : b - at], out=dest[a - b0 : b - b0])

    # -- speech ----------------------------------------------------------------------

    def _speech(self, ev: Event) -> np.ndarray:
        if self.speech_token is None:
            key = (ev.speech_key, ev.duration_samples, ev.truncated)
            x = self.speech_cache.get(key)
            if x is None:
                x = self._prepare_speech_cached(ev)
                self.speech_cache.put(key, x)
            return x
        p = self.palette
        shared_key = (
            self.speech_token,
            ev.speech_key,
            self.rate,
            ev.duration_samples,
            ev.truncated,
            p.speech_fade_s,
            p.truncated_fade_s,
        )
        with _SPEECH_CACHE_LOCK:
            x = _SPEECH_CACHE.get(shared_key)
        if x is None:
            x = self._prepare_speech_cached(ev, shared_key)
            with _SPEECH_CACHE_LOCK:
                _SPEECH_CACHE.put(shared_key, x)
        return x

    def _prepare_speech_cached(self, ev: Event, shared_key: Hashable = None) -> np.ndarray:
        """``_prepare_speech`` through the disk cache of prepared speech (see ``_speech_file``).

        With ``shared_key`` (the source is tracked), the file's name is remembered,
        so evicted speech is found again without hashing its samples.
        """
        with _SPEECH_CACHE_LOCK:
            path = _SPEECH_FILES.get(shared_key) if shared_key is not None else None
        audio = None
        if path is None:
            audio = self._lookup_audio(ev)
            path = _speech_file(audio, self.rate, ev, self.palette)
            if shared_key is not None and path is not None:
                with _SPEECH_CACHE_LOCK:
                    _SPEECH_FILES[shared_key] = path
                    while len(_SPEECH_FILES) > _SPEECH_FILES_MAX:
                        _SPEECH_FILES.popitem(last=False)
        x = _load_array(path, ev.duration_samples, mapped=True)
        if x is None:
            x = self._prepare_speech(ev, audio)
            _save_array(path, x)
        return x

    def _lookup_audio(self, ev: Event) -> SpeechAudio:
        try:
            return self.lookup(ev.speech_key)
        except VoicecoachError:
            raise
        except Exception as e:
            raise RenderError(
                f"{ev.file or 'plan'}:{ev.line}: no audio for the speech {ev.text!r}: {e}"
            ) from e

    def _prepare_speech(self, ev: Event, audio: SpeechAudio | None = None) -> np.ndarray:
        """Resample the utterance to the plan's rate, fit it to the event's span, fade its ends."""
        if audio is None:
            audio = self._lookup_audio(ev)
        x = np.asarray(audio.samples, dtype=np.float32)
        if x.ndim == 2:
            x = x.mean(axis=1)
        if audio.sample_rate <= 0:
            raise RenderError(f"speech for {ev.text!r} has a bad sample rate {audio.sample_rate}")
        x = at_speech_level(x, audio.sample_rate)  # measured at the engine's rate: fewer samples
        if audio.sample_rate != self.rate and len(x):
            g = gcd(self.rate, audio.sample_rate)
            x = dsp.resample_poly(x, self.rate // g, audio.sample_rate // g, dtype=np.float32)
        n = ev.duration_samples
        content = min(len(x), n)  # fade the end of the voice itself, not of any padding
        x = np.pad(x[:n], (0, max(0, n - len(x))))
        fade = seconds_to_samples(self.palette.speech_fade_s, self.rate)
        fade_out = seconds_to_samples(
            self.palette.truncated_fade_s if ev.truncated else self.palette.speech_fade_s, self.rate
        )
        half = content // 2
        fade, fade_out = min(fade, half), min(fade_out, half)
        if fade:
            x[:fade] *= raised_cosine(fade)
        if fade_out:
            x[content - fade_out : content] *= raised_cosine(fade_out)[::-1]
        x = x.astype(np.float32)
        x.flags.writeable = False
        return x
