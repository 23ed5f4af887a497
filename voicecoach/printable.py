"""Text from a script, made safe to print on a terminal: control characters shown escaped.

A script is text from anyone. Printed as it is, an ESC or a C1 control
(U+0080-U+009F, such as CSI U+009B) is obeyed by the terminal: it can recolour,
retitle or clear the screen, or move the cursor and overwrite earlier lines;
a bidi override (U+202E) makes text read backwards. Every place that prints
text from a script (diagnostics, ``plan``, titles, the status line in
``play``) passes it through ``printable``; JSON for a terminal goes through
``printable_json``.
"""

from __future__ import annotations

import unicodedata

# C0/C1 controls and DEL (Cc), invisible format characters such as bidi
# overrides and zero-width spaces (Cf), line/paragraph separators, surrogates.
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_KEPT = frozenset("\n\t\u200d")  # line breaks, tabs, and the emoji joiner are harmless


def _needs_escape(ch: str) -> bool:
    return ch not in _KEPT and unicodedata.category(ch) in _ESCAPED_CATEGORIES


def _python_escape(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text: str) -> str:
    """``text`` with control and format characters written as ``\\x1b``, ``\\u202e``...

    Newlines and tabs stay as they are. Escaping twice changes nothing more.
    """
    if text.isprintable():
        return text
    return "".join(_python_escape(ch) if _needs_escape(ch) else ch for ch in text)


def printable_json(text: str) -> str:
    """JSON text with the same characters written as ``\\u`` escapes: the same data, safe to print.

    For ``json.dumps(..., ensure_ascii=False)`` output, which leaves C1
    controls and bidi overrides raw (inside strings, where ``\\u`` escapes
    mean the same characters).
    """
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if _needs_escape(ch):
            code = ord(ch)
            if code > 0xFFFF:  # a surrogate pair, as JSON writes it
                code -= 0x10000
                out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
            else:
                out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)
