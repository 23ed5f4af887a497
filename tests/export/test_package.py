"""The ``export`` and ``storage`` packages: every public name resolves, and importing them is cheap."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest


@pytest.mark.parametrize("package", ["voicecoach.export", "voicecoach.storage"])
def test_every_public_name_resolves_to_its_defining_module(package):
    module = importlib.import_module(package)
    for name in module.__all__:
        value = getattr(module, name)
        defined_in = getattr(value, "__module__", None)
        if defined_in is not None and defined_in.startswith("voicecoach."):
            assert defined_in.startswith(package + "."), (name, defined_in)


def test_importing_the_packages_loads_no_audio_library():
    code = (
        "import sys, voicecoach.export, voicecoach.storage\n"
        "from voicecoach.export import FORMATS, format_for\n"
        "print(sorted(m for m in ('numpy', 'soundfile', 'scipy', 'mutagen', 'matplotlib') "
        "if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]"
