"""QR codes of the feed and the page (segno: pure Python, no image library needed)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TextIO


def write_qr_svg(url: str, path: Path, *, title: str) -> None:
    """An SVG QR code of ``url`` (black on white, quiet zone included), with a <title>."""
    import segno

    qr = segno.make(url, error="m")
    out = io.BytesIO()
    # white behind the modules (not transparent): a dark page must not swallow the code
    qr.save(out, kind="svg", scale=6, border=4, light="#fff", title=title, desc=url, svgclass="qr")
    path.write_bytes(out.getvalue())


def print_qr(url: str, stream: TextIO) -> None:
    """The QR code of ``url`` drawn in the terminal with half blocks (two rows per line)."""
    import segno

    segno.make(url, error="m").terminal(out=stream, compact=True)
