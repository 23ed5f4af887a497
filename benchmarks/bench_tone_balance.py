"""Tone balance in real exports: each tone type's loudness against the voice's, per palette.

Exports built-in sessions (default: upper-back for breath, ready and bell;
rhomboids-wipers for wiper ticks; feet for roll strokes) with the system
engine (eSpeak NG) to WAV in a temporary folder, once per palette, decodes
each file and measures it with ``voicecoach.sound.balance.measure_balance``: the
voice over its speech events, each tone type over its own events outside
speech (0.5 s margin) and outside other tones; BS.1770 loudness, not gated,
over at least 400 ms. Prints one table per palette: tone type -> dB relative
to the voice, per session, and the range over the sessions.

    .venv/bin/python benchmarks/bench_tone_balance.py [--palette warm --palette bright]
        [--session upper-back ...] [--level standard] [--json FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import soundfile  # noqa: E402

from voicecoach.language.plan import TONE_NAMES  # noqa: E402
from voicecoach.session import Session, load  # noqa: E402
from voicecoach.sound.balance import measure_balance  # noqa: E402

SESSIONS = ("upper-back", "rhomboids-wipers", "feet")
PALETTES = ("warm", "bright")


def with_palette(session: Session, palette: str) -> Session:
    """The same script with its front matter's ``palette`` replaced."""
    script = session.script
    settings = dataclasses.replace(script.settings, palette=palette)
    return Session(dataclasses.replace(script, settings=settings), session.path)


def measure(name: str, palette: str, level: str, folder: Path) -> dict[str, float | bool]:
    """tone type -> dB relative to the voice (and ``voice_lufs``) in one export."""
    with load(name, engine="system", level=level) as base:
        session = with_palette(base, palette)
        try:
            plan = session.plan()
            out = folder / f"{name}-{palette}.wav"
            session.export(out)
        finally:
            session.close()
    audio, rate = soundfile.read(out, dtype="float64", always_2d=True)
    assert rate == plan.sample_rate
    balance = measure_balance(plan, audio)
    row: dict[str, float | bool] = {"voice_lufs": balance.voice_lufs}
    for level_ in balance.tones:
        if level_.events:
            row[level_.tone] = level_.lufs - balance.voice_lufs
            row[f"{level_.tone}_whole"] = level_.whole
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--palette", action="append", choices=PALETTES)
    ap.add_argument("--session", action="append")
    ap.add_argument("--level", default="standard")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    palettes = args.palette or list(PALETTES)
    sessions = args.session or list(SESSIONS)
    results: dict[str, dict[str, dict[str, float | bool]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for palette in palettes:
            results[palette] = {s: measure(s, palette, args.level, Path(tmp)) for s in sessions}
    for palette, rows in results.items():
        print(f"\npalette {palette}: dB relative to the voice (voice = loudness over speech)")
        print("| tone | " + " | ".join(sessions) + " | range |")
        print("| --- |" + " --- |" * (len(sessions) + 1))
        for tone in TONE_NAMES:
            values = [rows[s].get(tone, math.nan) for s in sessions]
            seen = [v for v in values if not math.isnan(v)]
            if not seen:
                continue
            marks = ["" if rows[s].get(f"{tone}_whole", True) else "*" for s in sessions]
            cells = " | ".join(
                "" if math.isnan(v) else f"{v:+.1f}{m}" for v, m in zip(values, marks, strict=True)
            )
            print(f"| {tone} | {cells} | {min(seen):+.1f} .. {max(seen):+.1f} |")
        voice = " | ".join(f"{rows[s]['voice_lufs']:.1f} LUFS" for s in sessions)
        print(f"| (voice) | {voice} | |")
        print("(* no event of that tone was clear of speech: its clean parts were measured)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
