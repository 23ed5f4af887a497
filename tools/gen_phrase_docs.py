"""Write the table of built-in phrase names into docs/script-format.md.

The table is generated from ``voicecoach.language.phrases`` (the one phrase table), between the
``<!-- phrase-table ... -->`` and ``<!-- /phrase-table -->`` markers; tests/language/test_phrases.py
fails when the docs and the table differ. Run: ``.venv/bin/python tools/gen_phrase_docs.py``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from voicecoach.language.phrases import phrase_table_markdown  # noqa: E402

DOC = ROOT / "docs" / "script-format.md"
BLOCK_RE = re.compile(r"(<!-- phrase-table:[^\n]*-->\n)(.*?)(<!-- /phrase-table -->)", re.S)


def with_table(text: str) -> str:
    """``text`` with the generated table between the markers."""
    if not BLOCK_RE.search(text):
        raise SystemExit(f"{DOC}: the phrase-table markers are missing")
    return BLOCK_RE.sub(lambda m: m.group(1) + phrase_table_markdown() + m.group(3), text)


if __name__ == "__main__":
    DOC.write_text(with_table(DOC.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote the phrase table into {DOC.relative_to(ROOT)}")
