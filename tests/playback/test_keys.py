"""The keys a person presses: escape sequences parsed, the terminal given back as it was."""

from __future__ import annotations

import os
import termios

import pytest

from voicecoach.playback.keys import KeyReader, parse_keys


@pytest.mark.parametrize(
    ("data", "keys", "left"),
    [
        (b" ", ["space"], b""),
        (b"nNpPqQ", ["n", "n", "p", "p", "q", "q"], b""),
        (b"\x1b[A\x1b[B\x1b[C\x1b[D", ["up", "down", "right", "left"], b""),
        (b"\x1bOA", ["up"], b""),
        (b"\x1b", [], b"\x1b"),  # maybe an arrow key still arriving
        (b"\x1b[", [], b"\x1b["),
        (b"\x1bx", ["esc"], b""),
        (b"\x1b[5~ ", ["space"], b""),  # Page Up: ignored
        (b"\x03", ["ctrl-c"], b""),
        (b"zz9", [], b""),
    ],
)
def test_parse_keys(data, keys, left):
    assert parse_keys(data) == (keys, left)


def test_key_reader_on_a_pty_restores_the_terminal():
    master, slave = os.openpty()
    try:
        before = termios.tcgetattr(slave)
        with KeyReader(slave) as keys:
            during = termios.tcgetattr(slave)
            assert not during[3] & termios.ICANON and not during[3] & termios.ECHO
            assert during[3] & termios.ISIG  # Ctrl-C still interrupts
            os.write(master, b" \x1b[C")
            assert keys.read(1.0) == ["space", "right"]
            os.write(master, b"\x1b")  # a lone Esc: reported after a short wait
            assert keys.read(1.0) == ["esc"]
            assert keys.read(0.01) == []
        assert termios.tcgetattr(slave) == before
    finally:
        os.close(master)
        os.close(slave)
