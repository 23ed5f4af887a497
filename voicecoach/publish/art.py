"""Cover art made from the class's title: a square PNG, 1400 px by default (Apple's minimum).

A calm two-colour gradient chosen from a hash of the title (so each class keeps its
colours from one publish to the next), the title in large bold letters and "voicecoach"
below. The font is the DejaVu Sans that matplotlib ships, so the same title gives the
same picture on every machine. Pillow (already installed with matplotlib) draws it.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
from pathlib import Path

from voicecoach.errors import ExportError

COVER_SIZE_PX = 1400  # Apple Podcasts: square, 1400 to 3000 px
ICON_SIZE_PX = 192  # the page's icon (also the touch icon)


def _font_path(bold: bool) -> Path:
    import matplotlib

    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name


def _colours(title: str) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Two dark, calm colours of one hue family, from the title (white text stays readable)."""
    digest = hashlib.sha256(title.encode("utf-8")).digest()
    hue = digest[0] / 255.0
    top = colorsys.hls_to_rgb(hue, 0.30, 0.45)
    bottom = colorsys.hls_to_rgb((hue + 0.08) % 1.0, 0.16, 0.40)
    return (
        tuple(round(c * 255) for c in top),  # type: ignore[return-value]
        tuple(round(c * 255) for c in bottom),
    )


def _wrap(draw, text: str, font, width_px: int) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and draw.textlength(f"{lines[-1]} {word}", font=font) <= width_px:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines or [""]


def cover_png(title: str, size_px: int = COVER_SIZE_PX) -> bytes:
    """The cover art for ``title`` as PNG bytes (square, ``size_px`` on each side)."""
    from PIL import Image, ImageDraw, ImageFont

    top, bottom = _colours(title)
    # a vertical gradient: one column computed, stretched across
    column = Image.new("RGB", (1, size_px))
    for y in range(size_px):
        t = y / (size_px - 1)
        column.putpixel(
            (0, y), tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        )
    image = column.resize((size_px, size_px))
    draw = ImageDraw.Draw(image)
    margin = size_px // 10
    width = size_px - 2 * margin
    # the largest font size at which the title fits in at most 5 lines and the top 3/4
    for font_px in range(size_px // 7, size_px // 30, -4):
        font = ImageFont.truetype(str(_font_path(True)), font_px)
        lines = _wrap(draw, title, font, width)
        line_h = round(font_px * 1.2)
        fits = all(draw.textlength(x, font=font) <= width for x in lines)
        if fits and len(lines) <= 5 and line_h * len(lines) <= size_px * 0.62:
            break
    y = margin + round(size_px * 0.08)
    for line in lines:
        draw.text((margin, y), line, font=font, fill=(255, 255, 255))
        y += line_h
    # a thin rule and the maker's name at the foot
    foot = ImageFont.truetype(str(_font_path(False)), size_px // 22)
    rule_y = size_px - margin - size_px // 11
    draw.rectangle(
        (margin, rule_y, margin + size_px // 6, rule_y + max(2, size_px // 300)),
        fill=(255, 255, 255),
    )
    draw.text((margin, rule_y + size_px // 40), "voicecoach", font=foot, fill=(235, 235, 235))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def icon_png(cover: bytes, size_px: int = ICON_SIZE_PX) -> bytes:
    """The cover scaled down to a page icon."""
    from PIL import Image

    with Image.open(io.BytesIO(cover)) as image:
        small = image.convert("RGB").resize((size_px, size_px), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    small.save(out, format="PNG", optimize=True)
    return out.getvalue()


def write_cover(title: str, cover_path: Path, icon_path: Path) -> None:
    """Write the cover and the icon made from it."""
    try:
        cover = cover_png(title)
        cover_path.write_bytes(cover)
        icon_path.write_bytes(icon_png(cover))
    except OSError as e:
        raise ExportError(f"cannot write the cover art {cover_path}: {e.strerror or e}") from e
