"""SHA-256 of every built-in session exported (WAV, MP3 with tags, captions), for refactors.

Issue 12 asks that reorganising the code changes no exported byte. Run it before and after,
then compare the two outputs:

    .venv/bin/python tools/export_digests.py --engines system,piper > before.txt
    ... change the code ...
    .venv/bin/python tools/export_digests.py --engines system,piper | diff before.txt -
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
from pathlib import Path

import voicecoach
from voicecoach.library import builtin_names


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="system,piper")
    parser.add_argument("--formats", default="wav,mp3,opus")
    parser.add_argument("--level", default="standard")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for engine in args.engines.split(","):
            for name in builtin_names():
                with voicecoach.load(name, engine=engine, level=args.level) as session:
                    for fmt in args.formats.split(","):
                        out = Path(tmp) / f"{name}.{fmt}"
                        session.export(out, fmt=fmt, captions=True)
                        print(engine, name, fmt, digest(out), flush=True)
                        vtt = out.with_suffix(".vtt")
                        print(engine, name, fmt + ".vtt", digest(vtt), flush=True)


if __name__ == "__main__":
    main()
