"""Benchmark: the speaking rate as heard, per engine, voice and requested rate.

Speaks 30 prose lines of the built-in library (chosen evenly from every prose
line of ``scripts/``) through each engine's public ``synthesize`` and reports
words per minute of the returned (trimmed) audio: the median over the lines,
the pooled rate (all words / all seconds) and the range. Then the fixed
phrases (countdown numbers, breath and hold guidance): seconds each, and the
words per minute they make.

    .venv/bin/python benchmarks/bench_rate.py [--engines system,piper]
        [--voices system=gmw/en-us,gmw/en] [--rates 120,140,160] [--lines 30]

``--raw`` measures the engines' own settings instead (eSpeak's rate and word
gap, Piper's length_scale), through the workers with no calibration: the
points of ``voicecoach/speech/pace.py`` come from it.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ESPEAK_RAW = [(80, 30), (80, 20), (80, 15), (80, 10), (80, 6), (80, 3)] + [
    (r, 0) for r in (80, 90, 100, 110, 120, 130, 140, 150, 160, 170, 180, 200, 225, 250, 300)
]
ESPEAK_RAW += [(350, 0), (400, 0), (450, 0)]
PIPER_RAW = [0.5, 0.7, 0.85, 1.0, 1.15, 1.3, 1.45, 1.6, 1.75, 1.9, 2.05, 2.2, 2.6, 3.2]
sys.path.insert(0, str(ROOT))

from voicecoach.speech.pace import syllables, words  # noqa: E402  (the one word count)


def prose_lines(count: int) -> list[str]:
    """``count`` prose lines spread evenly over every distinct prose line of scripts/.

    Prose: not front matter, a heading, a directive, a comment or a fence;
    lines with an inline pause are left out (they are two utterances).
    ``{side}`` becomes "left"; Markdown emphasis marks are dropped.
    """
    found: list[str] = []
    for path in sorted((ROOT / "scripts").glob("**/*.md")):
        text = path.read_text(encoding="utf-8")
        body = text.split("\n---\n", 1)[1] if text.startswith("---") else text
        for line in body.splitlines():
            s = line.strip()
            if not s or s.startswith(("#", "[", "```", ">", "//")) or "[" in s:
                continue
            found.append(s.replace("{side}", "left").replace("**", "").replace("*", ""))
    unique = list(dict.fromkeys(found))
    step = len(unique) / count
    return [unique[int(i * step)] for i in range(count)]


def fixed_phrases() -> list[str]:
    from voicecoach.language import phrases

    numbers = [phrases.number_word(n) for n in (10, 5, 4, 3, 2, 1)]
    return list(dict.fromkeys([*numbers, *phrases.all_fixed_phrases()]))


def summary(rates_wpm: list[float], seconds: list[float], counts: list[int]) -> str:
    pooled = sum(counts) / sum(seconds) * 60
    return (
        f"median {statistics.median(rates_wpm):6.1f}  pooled {pooled:6.1f}  "
        f"range {min(rates_wpm):5.0f}-{max(rates_wpm):3.0f}"
    )


def measure(engine, voice: str | None, rate_wpm: int, lines: list[str]) -> tuple[str, float, float]:
    """(summary, median wpm, median syllables per second) of ``lines`` at ``rate_wpm``."""
    rates, seconds, counts, syllable_rates = [], [], [], []
    for line in lines:
        audio = engine.synthesize(line, voice=voice, rate_wpm=rate_wpm)
        rates.append(words(line) / audio.duration_s * 60)
        seconds.append(audio.duration_s)
        counts.append(words(line))
        syllable_rates.append(syllables(line) / audio.duration_s)
    return (
        summary(rates, seconds, counts),
        statistics.median(rates),
        statistics.median(syllable_rates),
    )


def run_calibrated(args, lines: list[str]) -> None:
    from voicecoach.speech.service import get_engine

    print("## As heard (words per minute of trimmed speech)\n")
    print("| engine | voice | requested | median | pooled | range | median/requested | syl/s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in args.engines:
        engine = get_engine(name)
        try:
            prose_syllable_rate = {}
            for voice in args.voices.get(name, [None]):
                for rate in args.rates:
                    text, median, syllable_rate = measure(engine, voice, rate, lines)
                    if voice is None:
                        prose_syllable_rate[rate] = syllable_rate
                    parts = text.split()
                    print(
                        f"| {name} | {voice or 'default'} | {rate} | {parts[1]} | {parts[3]} "
                        f"| {parts[5]} | {median / rate:.2f} | {syllable_rate:.2f} |",
                        flush=True,
                    )
            print()
            print(
                "Fixed phrases, default voice: seconds (words per minute, syllables per second)\n"
            )
            phrases = fixed_phrases()
            for rate in args.rates:
                cells = []
                for phrase in phrases:
                    audio = engine.synthesize(phrase, voice=None, rate_wpm=rate)
                    cells.append(
                        f"{phrase} {audio.duration_s:.2f}s "
                        f"({words(phrase) / audio.duration_s * 60:.0f}, "
                        f"{syllables(phrase) / audio.duration_s:.1f})"
                    )
                prose = prose_syllable_rate.get(rate)
                head = f"{name} at {rate}" + (f" (prose {prose:.1f} syl/s)" if prose else "")
                print(f"- {head}: " + "; ".join(cells), flush=True)
            print()
        finally:
            engine.close()


def run_raw(args, lines: list[str]) -> None:
    from voicecoach.speech.trim import pcm16_to_float32, trim_silence
    from voicecoach.speech.worker import Worker

    if "system" in args.engines:
        for voice in args.voices.get("system", ["gmw/en-us"]):
            worker = Worker("voicecoach.speech.system_backend:SystemBackend", {}, label="system")
            try:
                for rate, gap in ESPEAK_RAW:
                    rates, seconds, counts = [], [], []
                    for line in lines:
                        sample_rate, pcm = worker.call("synthesize", line, voice, rate, gap)
                        duration_s = len(trim_silence(pcm16_to_float32(pcm), sample_rate))
                        duration_s /= sample_rate
                        rates.append(words(line) / duration_s * 60)
                        seconds.append(duration_s)
                        counts.append(words(line))
                    print(
                        f"system {voice} rate {rate} gap {gap}: " + summary(rates, seconds, counts)
                    )
            finally:
                worker.close()
    if "piper" in args.engines:
        from voicecoach.speech.piper import _clean_text, default_voice

        model = default_voice()
        worker = Worker(
            "voicecoach.speech.piper:PiperBackend",
            {"model_path": str(model.model_path), "config_path": str(model.config_path)},
            label="piper",
            call_timeout_s=120,
            start_timeout_s=120,
        )
        try:
            for scale in PIPER_RAW:
                rates, seconds, counts = [], [], []
                for line in lines:
                    sample_rate, samples = worker.call("synthesize", _clean_text(line), scale)
                    duration_s = len(samples) / sample_rate
                    rates.append(words(line) / duration_s * 60)
                    seconds.append(duration_s)
                    counts.append(words(line))
                print(
                    f"piper {model.name} length_scale {scale}: " + summary(rates, seconds, counts)
                )
        finally:
            worker.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="system,piper")
    parser.add_argument("--voices", default="", help="e.g. system=gmw/en-us,gmw/en;piper=...")
    parser.add_argument("--rates", default="120,140,160")
    parser.add_argument("--lines", type=int, default=30)
    parser.add_argument("--raw", action="store_true")
    args = parser.parse_args()
    args.engines = [e for e in args.engines.split(",") if e]
    args.rates = [int(r) for r in args.rates.split(",")]
    voices: dict[str, list[str | None]] = {}
    for part in filter(None, args.voices.split(";")):
        engine, _, names = part.partition("=")
        voices[engine] = [n or None for n in names.split(",")]
    args.voices = voices
    if "piper" in args.engines:
        from voicecoach.speech import piper

        if not piper.is_installed():
            print("piper is not installed: measuring the system engine only", file=sys.stderr)
            args.engines.remove("piper")
    lines = prose_lines(args.lines)
    print(
        f"# bench_rate: {len(lines)} prose lines, {sum(map(words, lines))} words; "
        f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, Python {platform.python_version()}\n"
    )
    if args.raw:
        run_raw(args, lines)
    else:
        run_calibrated(args, lines)


if __name__ == "__main__":
    main()
