"""The ``voicecoach.sound`` package: its public names resolve, and importing it stays cheap."""

from __future__ import annotations

import subprocess
import sys

import voicecoach.sound as sound


def test_every_public_name_resolves_to_its_defining_module():
    for name in sound.__all__:
        value = getattr(sound, name)
        home = sound._EXPORTS[name]
        assert getattr(sys.modules[home], name) is value
        defined_in = getattr(value, "__module__", home)
        assert defined_in in (home, "builtins", "typing"), (name, defined_in)
    assert sorted(sound.__all__) == sorted(sound._EXPORTS)


def test_importing_the_package_imports_no_numpy():
    code = "import sys, voicecoach.sound; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
