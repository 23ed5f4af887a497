"""The language's limits have one home (``voicecoach.language.limits``, ``script.LEVELS``;
the options' lead-in range: ``session.LEAD_IN_RANGE_S``), and the command line, the library
API and the front-matter check all read it (as python-soundfile's test_argspec checks that
its defaults agree)."""

from __future__ import annotations

import click
import pytest

from voicecoach.cli import cli
from voicecoach.errors import ScriptError, UsageError
from voicecoach.language.limits import RATE_RANGE_WPM
from voicecoach.language.parser import parse_text
from voicecoach.language.script import LEVELS
from voicecoach.session import LEAD_IN_RANGE_S, Overrides


def _options(name: str) -> list[tuple[str, click.Parameter]]:
    """Every option called ``name`` on every command, as (command, option)."""
    return [
        (command_name, param)
        for command_name, command in sorted(cli.commands.items())
        for param in command.params
        if param.name == name
    ]


def test_cli_rate_range_is_the_languages():
    options = _options("rate_wpm")
    assert {name for name, _ in options} >= {"check", "plan", "export", "play"}
    for name, option in options:
        assert isinstance(option.type, click.IntRange), name
        assert (option.type.min, option.type.max) == RATE_RANGE_WPM, name
        assert not option.type.min_open and not option.type.max_open, name


def test_cli_level_choices_are_the_languages():
    options = _options("level")
    assert {name for name, _ in options} >= {"check", "plan", "export", "play"}
    for name, option in options:
        assert isinstance(option.type, click.Choice), name
        # play also offers "auto": a level chosen from the practice journal
        extra = ("auto",) if name == "play" else ()
        assert tuple(option.type.choices) == (*LEVELS, *extra), name


@pytest.mark.parametrize("rate_wpm", RATE_RANGE_WPM)
def test_the_ends_of_the_rate_range_are_accepted_everywhere(rate_wpm):
    assert Overrides(rate_wpm=rate_wpm).rate_wpm == rate_wpm
    script = parse_text(f"---\nrate: {rate_wpm}\n---\nHello.\n")
    assert script.settings.rate_wpm == rate_wpm


@pytest.mark.parametrize("rate_wpm", [RATE_RANGE_WPM[0] - 1, RATE_RANGE_WPM[1] + 1])
def test_a_rate_just_outside_the_range_is_refused_everywhere(rate_wpm):
    low, high = RATE_RANGE_WPM
    with pytest.raises(UsageError, match=f"rate must be {low} to {high} words per minute"):
        Overrides(rate_wpm=rate_wpm)
    with pytest.raises(ScriptError, match=f"from {low} to {high}, like 140"):
        parse_text(f"---\nrate: {rate_wpm}\n---\nHello.\n")
    with pytest.raises(click.BadParameter, match=f"{low}<=x<={high}"):
        click.IntRange(*RATE_RANGE_WPM).convert(rate_wpm, None, None)


@pytest.mark.parametrize("level", LEVELS)
def test_every_level_is_accepted_by_the_front_matter_and_the_api(level):
    assert parse_text(f"---\nlevel: {level}\n---\nHello.\n").settings.level == level
    assert Overrides(level=level).level == level


def test_cli_lead_in_range_is_the_librarys():
    options = _options("lead_in_s")
    assert {name for name, _ in options} == {"play"}
    for _, option in options:
        assert isinstance(option.type, click.FloatRange)
        assert (option.type.min, option.type.max) == LEAD_IN_RANGE_S
    low_s, high_s = LEAD_IN_RANGE_S
    assert Overrides(lead_in_s=high_s).lead_in_s == high_s
    with pytest.raises(UsageError, match=f"lead-in must be {low_s} to {high_s} seconds"):
        Overrides(lead_in_s=high_s + 0.5)
