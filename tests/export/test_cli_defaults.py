"""The CLI's choices and defaults are the library's (python-soundfile's test of the same name).

Each option reads its list or default from the core; these tests fail when one
of them is written out again in ``cli.py`` and drifts.
"""

from __future__ import annotations

import inspect

import click
import pytest

from voicecoach import batch as jobs
from voicecoach import cli as cli_mod
from voicecoach.export.formats import FORMATS, OPUS_SAMPLE_RATE, format_for
from voicecoach.language.script import ENGINES
from voicecoach.session import Session
from voicecoach.speech.service import ENGINE_NAMES
from voicecoach.units import DEFAULT_SAMPLE_RATE


def _option(command: str, name: str) -> click.Parameter:
    (param,) = [p for p in cli_mod.cli.commands[command].params if p.name == name]
    return param


def _option_default(command: str, name: str):
    """The value the command receives when the option is not given."""
    cmd = cli_mod.cli.commands[command]
    ctx = cmd.make_context(command, ["some-script"], resilient_parsing=True)
    return ctx.params[name]


def _default(function, name: str):
    return inspect.signature(function).parameters[name].default


def test_format_choices_are_the_export_formats():
    param = _option("export", "fmt")
    assert isinstance(param.type, click.Choice)
    assert tuple(param.type.choices) == FORMATS
    for fmt in FORMATS:
        assert format_for(None, fmt) == fmt  # each one is a format the writer takes


@pytest.mark.parametrize("command", ["check", "plan", "export", "play", "voices", "list", "show"])
def test_engine_choices_are_the_speech_engines(command):
    param = _option(command, "engine")
    assert isinstance(param.type, click.Choice)
    assert tuple(param.type.choices) == ENGINE_NAMES
    assert ENGINES == ENGINE_NAMES  # the front matter's `engine:` takes the same names


def test_sample_rate_defaults_are_the_librarys():
    assert _option_default("plan", "sample_rate") == DEFAULT_SAMPLE_RATE
    assert _default(Session.plan, "sample_rate") == DEFAULT_SAMPLE_RATE
    export_rate = _option("export", "sample_rate")
    assert _option_default("export", "sample_rate") is None
    assert _default(Session.export, "sample_rate") is None  # None: by format, as the help says
    assert f"default {DEFAULT_SAMPLE_RATE}" in export_rate.help
    assert f"opus is always {OPUS_SAMPLE_RATE}" in export_rate.help


def test_jobs_range_and_default_are_the_librarys():
    param = _option("export", "jobs")
    assert isinstance(param.type, click.IntRange)
    assert (param.type.min, param.type.max) == (1, jobs.MAX_JOBS)
    assert _option_default("export", "jobs") is None
    assert _default(jobs.run, "jobs") is None  # None: one per core


def test_captions_default_is_the_librarys():
    assert _option_default("export", "captions") is False
    assert _default(Session.export, "captions") is False
