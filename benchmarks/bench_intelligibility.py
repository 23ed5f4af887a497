"""Benchmark: how well an off-the-shelf recogniser understands each speech engine.

pocketsphinx (its wheel ships an English model) transcribes every distinct
spoken phrase of the built-in library, and the word error rate (WER: word
edits / reference words, over all phrases) is reported per engine. Target:
the piper engine at most 0.2.

Sources of the audio (``--source``):
- ``export`` (default): each built-in session is exported to WAV exactly as a
  user would (voice, ducked tones, loudness normalisation), and each phrase is
  cut from the file at the times of its speech event in the plan.
- ``engine``: each phrase is synthesised by the engine alone (faster).
With ``--phrases fixed`` a built-in list of 40 instruction sentences replaces
the library (no compiler needed).

Audio is mixed to mono and resampled to 16 kHz for the recogniser. Needs
``pip install pocketsphinx``.

    .venv/bin/python benchmarks/bench_intelligibility.py [--engines piper,system]
        [--source export|engine] [--phrases library|fixed] [--worst 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RECOGNISER_RATE_HZ = 16_000
DEFAULT_RATE_WPM = 140  # the scripts' default rate (as heard)
CUT_MARGIN_S = 0.15  # kept around a phrase cut from an export
PAD_S = 0.3  # silence around a phrase from the engine alone
TARGET_WER = {"piper": 0.2}

FIXED_PHRASES = (
    "Lie on your back with your knees bent and your feet flat on the floor.",
    "Let your arms rest by your sides, palms up.",
    "Take a moment to notice how your upper back feels right now.",
    "Place the ball between your left shoulder blade and your spine.",
    "Keep it off the bone of the shoulder blade, and off the spine itself.",
    "Cross your arms over your chest to expose the muscle.",
    "Now let the ball sink in.",
    "Lift your hips if you want more pressure.",
    "Let your knees fall side to side, like windshield wipers.",
    "Roll off the ball and rest.",
    "Notice the difference between before and after.",
    "Breathe in slowly through your nose.",
    "And breathe out through your mouth.",
    "Hold your breath gently at the top.",
    "Let your jaw soften and your tongue rest.",
    "Slowly turn your head to the right.",
    "And slowly to the left.",
    "Stand facing a wall with the ball under your right collarbone.",
    "Lean your weight into the wall until you feel the pressure.",
    "Move your arm slowly up and down.",
    "Sit on the ball and cross your ankle over your knee.",
    "Find a tender spot in the middle of the buttock and stay there.",
    "Stand up and put the ball under the arch of your foot.",
    "Roll slowly from the heel to the ball of the foot.",
    "Press down only as much as feels good.",
    "Place two balls at the base of your skull.",
    "Let the weight of your head sink into the balls.",
    "Nod your head yes, very slowly, a few times.",
    "If you feel any tingling or numbness, come off the ball.",
    "Bring your attention back to your breath.",
    "Feel your ribs widen as you breathe in.",
    "Let the floor hold all of your weight.",
    "When you are ready, roll onto your side and rest.",
    "Take your time getting up.",
    "Halfway.",
    "Ten seconds.",
    "Five, four, three, two, one.",
    "And release.",
    "Knees over to the left.",
    "And to the right.",
)


@dataclass(frozen=True)
class Phrase:
    text: str
    samples_16k: np.ndarray  # float32 mono at RECOGNISER_RATE_HZ


@dataclass(frozen=True)
class Scored:
    text: str
    heard: str
    edits: int
    words: int


def normalise_words(text: str) -> list[str]:
    """Lowercase words without punctuation; digits spelled out is left to the text."""
    text = text.lower().replace("\u2019", "'")
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)?", text)


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    """Levenshtein distance over words (substitutions, insertions, deletions)."""
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i]
        for j, h in enumerate(hyp, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1]


def to_16k_mono(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    from scipy.signal import resample_poly

    x = np.asarray(samples, dtype=np.float32)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if sample_rate != RECOGNISER_RATE_HZ:
        g = gcd(RECOGNISER_RATE_HZ, sample_rate)
        x = resample_poly(x, RECOGNISER_RATE_HZ // g, sample_rate // g).astype(np.float32)
    return x


class Recogniser:
    """pocketsphinx with its bundled US English acoustic and language models."""

    def __init__(self) -> None:
        try:
            from pocketsphinx import Decoder
        except ImportError:
            sys.exit("bench_intelligibility needs pocketsphinx: pip install pocketsphinx")
        # dither: the engines' trimmed edges and the padding are digital silence.
        self._decoder = Decoder(samprate=RECOGNISER_RATE_HZ, loglevel="FATAL", dither=True)

    def transcribe(self, samples_16k: np.ndarray) -> str:
        peak = float(np.abs(samples_16k).max()) if samples_16k.size else 0.0
        gain = 0.7 / peak if peak > 0 else 1.0  # a steady input level for every phrase
        pcm = (np.clip(samples_16k * gain, -1.0, 1.0) * 32767).astype("<i2").tobytes()
        self._decoder.start_utt()
        self._decoder.process_raw(pcm, full_utt=True)
        self._decoder.end_utt()
        hyp = self._decoder.hyp()
        return hyp.hypstr if hyp is not None else ""


def library_scripts() -> list[Path]:
    from voicecoach.storage.resources import builtin_scripts_dir

    return sorted(builtin_scripts_dir().glob("*.md"))


def phrases_from_exports(engine: str, out_dir: Path, rate_wpm: int | None = None) -> list[Phrase]:
    """Every distinct phrase of the library, cut from each session's exported WAV."""
    import soundfile as sf

    import voicecoach

    seen: set[str] = set()
    phrases: list[Phrase] = []
    for path in library_scripts():
        with voicecoach.load(path, engine=engine, rate=rate_wpm) as session:
            plan = session.plan()
            wav = out_dir / f"{path.stem}-{engine}.wav"
            session.export(wav)
        with sf.SoundFile(wav) as f:  # seek to each phrase: memory stays small
            rate, frames = f.samplerate, f.frames
            margin = int(CUT_MARGIN_S * rate)
            scale = rate / plan.sample_rate
            for event in plan.speech_events():
                if event.text in seen or event.truncated:
                    continue
                seen.add(event.text)
                start = max(0, int(event.start_sample * scale) - margin)
                end = min(frames, int(event.end_sample * scale) + margin)
                f.seek(start)
                cut = f.read(end - start, dtype="float32", always_2d=True)
                phrases.append(Phrase(event.text, to_16k_mono(cut, rate)))
        wav.unlink()
    return phrases


def library_texts(engine: str) -> list[str]:
    """Every distinct text the library's sessions speak (prose and the compiler's phrases)."""
    import voicecoach
    from voicecoach.language.compiler import spoken_texts

    texts: dict[str, None] = {}
    for path in library_scripts():
        with voicecoach.load(path, engine=engine) as session:
            plan = session.plan()
            for event in plan.speech_events():
                texts[event.text] = None
            for text in spoken_texts(session.script):
                texts.setdefault(text, None)
    return list(texts)


def phrases_from_engine(
    engine_name: str, texts: list[str], rate: int | None = None
) -> list[Phrase]:
    from voicecoach.speech import get_engine

    engine = get_engine(engine_name)
    pad = np.zeros(int(PAD_S * RECOGNISER_RATE_HZ), dtype=np.float32)
    phrases = []
    try:
        for text in texts:
            audio = engine.synthesize(text, voice=None, rate_wpm=rate or DEFAULT_RATE_WPM)
            x = to_16k_mono(audio.samples, audio.sample_rate)
            phrases.append(Phrase(text, np.concatenate([pad, x, pad])))
    finally:
        engine.close()
    return phrases


def score(recogniser: Recogniser, phrases: list[Phrase]) -> list[Scored]:
    out = []
    for p in phrases:
        ref = normalise_words(p.text)
        if not ref:
            continue
        heard = recogniser.transcribe(p.samples_16k)
        out.append(Scored(p.text, heard, edit_distance(ref, normalise_words(heard)), len(ref)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--engines", default="piper,system")
    ap.add_argument("--source", choices=("export", "engine"), default="export")
    ap.add_argument("--phrases", choices=("library", "fixed"), default="library")
    ap.add_argument("--worst", type=int, default=5, help="show the N phrases heard worst")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument(
        "--rate",
        type=int,
        help="words per minute as heard (default: the scripts' own, 140 unless they say); "
        "205 is the pace the library was heard at before the engines were calibrated",
    )
    args = ap.parse_args()
    if args.phrases == "fixed" and args.source == "export":
        args.source = "engine"  # a fixed list has no session to export
    recogniser = Recogniser()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        # A private speech cache, so "cold" work is the same on every run.
        os.environ.setdefault("VOICECOACH_CACHE_DIR", str(Path(tmp) / "cache"))
        for engine in [e.strip() for e in args.engines.split(",") if e.strip()]:
            t0 = time.perf_counter()
            if args.source == "export":
                phrases = phrases_from_exports(engine, Path(tmp), args.rate)
            else:
                texts = list(FIXED_PHRASES) if args.phrases == "fixed" else library_texts(engine)
                phrases = phrases_from_engine(engine, texts, args.rate)
            t1 = time.perf_counter()
            scored = score(recogniser, phrases)
            t2 = time.perf_counter()
            edits = sum(s.edits for s in scored)
            words = sum(s.words for s in scored)
            wer = edits / words if words else float("nan")
            exact = sum(1 for s in scored if s.edits == 0)
            results[engine] = {
                "wer": wer,
                "phrases": len(scored),
                "words": words,
                "edits": edits,
                "phrases_heard_exactly": exact,
                "audio_s": t1 - t0,
                "recognise_s": t2 - t1,
                "per_phrase": [
                    {"said": s.text, "heard": s.heard, "edits": s.edits} for s in scored
                ],
            }
            target = TARGET_WER.get(engine)
            verdict = (
                ""
                if target is None
                else f" (target <= {target:.2f}: {'met' if wer <= target else 'NOT met'})"
            )
            print(
                f"{engine:7s} WER {wer:.3f}{verdict}; {len(scored)} phrases, {words} words, "
                f"{exact} heard exactly; audio {t1 - t0:.1f} s, recognition {t2 - t1:.1f} s"
            )
            for s in sorted(scored, key=lambda s: s.edits / s.words, reverse=True)[: args.worst]:
                print(f"    {s.edits}/{s.words}  said: {s.text!r}\n          heard: {s.heard!r}")
    print(
        f"source: {args.source}, phrases: {args.phrases}, rate: {args.rate or 'the scripts'}, "
        "recogniser: pocketsphinx en-us, 16 kHz mono"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {"source": args.source, "phrases": args.phrases, "engines": results}, indent=2
            )
        )


if __name__ == "__main__":
    main()
