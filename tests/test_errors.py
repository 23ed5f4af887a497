"""Diagnostics as printed: a long source line cut around the caret, the caret under its character."""

from __future__ import annotations

import pytest

from voicecoach.cli import main
from voicecoach.errors import SOURCE_WINDOW, Diagnostic
from voicecoach.printable import printable


def _shown(source: str, col: int) -> tuple[str, int]:
    """The printed source line (indent removed) and the caret's offset in it."""
    _, line, caret = Diagnostic("s.md", 1, col, "error", "bad", source).format().split("\n")
    assert line.startswith("    ") and caret.startswith("    ") and caret.endswith("^")
    assert set(caret[:-1]) == {" "}
    return line[4:], len(caret) - 5


def _assert_caret_under(source: str, col: int) -> str:
    shown, at = _shown(source, col)
    if col - 1 < len(source):  # the caret is under the character at col (or its escape)
        assert shown[at:].startswith(printable(source[col - 1]))
    else:  # just after the line's end
        assert at == len(shown)
    return shown


def test_a_short_line_is_shown_whole():
    assert _shown("[hold 45]", 7) == ("[hold 45]", 6)
    assert _shown("x" * SOURCE_WINDOW, SOURCE_WINDOW) == ("x" * SOURCE_WINDOW, SOURCE_WINDOW - 1)


@pytest.mark.parametrize("col", [1, 2, 50, 101, 5_000, 99_900, 99_999, 100_000, 100_001])
def test_a_long_line_is_cut_around_the_column(col):
    source = "".join(chr(ord("a") + i % 26) for i in range(100_000))  # where it was cut shows
    shown = _assert_caret_under(source, col)
    assert SOURCE_WINDOW <= len(shown) <= SOURCE_WINDOW + 6
    assert shown.startswith("...") == (col > SOURCE_WINDOW // 2 + 1)
    assert shown.endswith("...") == (col <= 100_000 - SOURCE_WINDOW // 2)
    body = shown.removeprefix("...").removesuffix("...")
    assert body in source


def test_escapes_keep_the_caret_under_its_character():
    # ESC and C1 controls print as \x1b / \x9b (4 characters each), U+202E as \u202e (6)
    source = ("ab\x1b[31m" * 40 + "\u202e") * 30 + "TARGET" + "\x9b" * 500
    col = source.index("TARGET") + 1
    shown = _assert_caret_under(source, col)
    assert shown.startswith("...") and shown.endswith("...")
    assert len(shown) <= SOURCE_WINDOW + 6
    assert "\x1b" not in shown and "\x9b" not in shown and "\\x1b" in shown and "\\x9b" in shown
    # the caret on a control character itself: under the backslash of its escape
    _assert_caret_under(source, col - 1)
    _assert_caret_under(source, len(source))


def test_tabs_count_as_one_column():
    shown, at = _shown("\t" * 1000 + "[x", 1001)
    assert shown[at] == "[" and shown.startswith("...")


def test_check_of_a_line_of_100000_brackets_prints_a_few_kilobytes(tmp_path, capsys):
    script = tmp_path / "brackets.md"
    script.write_text("---\ntitle: X\n---\nHello.\n" + "[" * 100_000 + "\n", encoding="utf-8")
    assert main(["check", str(script), "--engine", "system"]) == 1
    stdout, stderr = capsys.readouterr()
    out = stdout + stderr
    assert "Traceback" not in out
    assert len(out) < 10_000, len(out)  # was 1 MB: the whole line under each error
    lines = out.splitlines()
    heads = [i for i, line in enumerate(lines) if ":5:" in line and ": error: " in line]
    assert heads
    for i in heads:
        col = int(lines[i].split(":5:", 1)[1].split(":", 1)[0])
        shown, caret = lines[i + 1][4:], lines[i + 2]
        assert caret.strip() == "^" and shown[len(caret) - 5] == "["
        assert shown.endswith("...") and len(shown) <= SOURCE_WINDOW + 6
        assert shown.startswith("...") == (col > SOURCE_WINDOW // 2 + 1)
