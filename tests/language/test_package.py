"""The ``voicecoach.language`` package: its ``__all__`` is what it gives, lazily."""

from __future__ import annotations

import subprocess
import sys

import pytest

import voicecoach.language as language


@pytest.mark.parametrize("name", language.__all__)
def test_every_public_name_is_there(name):
    value = getattr(language, name)
    assert value is not None
    if hasattr(value, "__module__") and callable(value):
        assert value.__module__.startswith("voicecoach.language."), name


def test_all_lists_each_export_once():
    assert sorted(language.__all__) == sorted(set(language.__all__))
    assert set(language.__all__) == set(language._EXPORTS)


def test_importing_the_package_imports_none_of_its_modules():
    code = (
        "import sys, voicecoach.language\n"
        "print(sorted(m for m in sys.modules if m.startswith('voicecoach.language.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'parse'"):
        _ = language.parse  # type: ignore[attr-defined]
