"""The built-in library: every session is clean at every level, and a wheel carries it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from voicecoach.errors import LibraryError
from voicecoach.library import builtin_names, resolve_script
from voicecoach.session import load

REPO = Path(__file__).resolve().parent.parent
LEVELS = ("gentle", "standard", "deep")
EXPECTED = {
    "upper-back",
    "upper-traps",
    "rhomboids-wipers",
    "suboccipitals",
    "chest-wall",
    "glutes-hips",
    "feet",
    "wind-down",
    "full-upper-body",
}


def test_the_library_has_the_sessions_the_issue_asks_for():
    assert set(builtin_names()) >= EXPECTED
    assert all(not n.startswith("parts") for n in builtin_names())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_builtin_session_compiles_without_warnings_at_every_level(name):
    base = load(name, engine="system")
    try:
        durations = []
        for level in LEVELS:
            plan = base.with_level(level).plan()
            assert plan.warnings == (), [w.format() for w in plan.warnings]
            durations.append(plan.duration_s)
        assert durations == sorted(durations)
        assert plan.sections and plan.events[-1].tone == "bell"
    finally:
        base.close()


def test_sessions_use_sides_for_one_sided_work_and_a_bell_at_the_end():
    text = resolve_script("upper-back").read_text(encoding="utf-8") + "".join(
        p.read_text(encoding="utf-8") for p in (REPO / "scripts" / "parts").glob("*.md")
    )
    assert "[sides" in text and "{side}" in text


def test_wind_down_is_about_five_minutes():
    with load("wind-down", engine="system") as s:
        assert 4 * 60 <= s.plan().duration_s <= 6 * 60


def test_full_upper_body_is_built_with_include():
    assert "[include" in resolve_script("full-upper-body").read_text(encoding="utf-8")
    with load("full-upper-body", engine="system") as s:
        assert 17 * 60 <= s.plan().duration_s <= 25 * 60


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory):
    """Build the wheel and install it (no deps: they are in this venv) into a folder of its own."""
    tmp = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(tmp / "dist"),
            str(REPO),
        ],
        check=True,
    )
    (wheel,) = (tmp / "dist").glob("voicecoach-*.whl")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(tmp / "site"),
            str(wheel),
        ],
        check=True,
    )
    return wheel, tmp / "site"


def test_wheel_carries_scripts_palettes_and_template(installed_wheel):
    wheel, _ = installed_wheel
    names = zipfile.ZipFile(wheel).namelist()
    for name in EXPECTED:
        assert f"voicecoach/_data/scripts/{name}.md" in names
    assert "voicecoach/_data/audio/palettes/warm.json" in names
    assert "voicecoach/_data/audio/palettes/bright.json" in names
    assert "voicecoach/templates/new_session.md" in names


def test_installed_wheel_resolves_builtin_names_from_any_folder(installed_wheel, tmp_path):
    _, site = installed_wheel
    code = (
        "import json, voicecoach, voicecoach.library as L, voicecoach.palette as P;"
        "s = voicecoach.load('upper-back', engine='system');"
        "print(json.dumps({'file': voicecoach.__file__, 'names': L.builtin_names(),"
        " 'script': str(s.path), 'palettes': P.palette_names(),"
        " 'duration_s': s.plan().duration_s}))"
    )
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}
    env["VOICECOACH_CACHE_DIR"] = os.environ["VOICECOACH_CACHE_DIR"]
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["file"].startswith(str(site))  # the wheel, not the source tree
    assert doc["script"].startswith(str(site))
    assert set(doc["names"]) >= EXPECTED
    assert {"warm", "bright"} <= set(doc["palettes"])
    assert doc["duration_s"] > 600


def test_a_session_is_found_by_its_title_or_muscles():
    assert resolve_script("back of the neck").stem == "suboccipitals"
    assert resolve_script("plantar").stem == "feet"
    with pytest.raises(
        LibraryError, match=r"several built-in sessions: .*suboccipitals \(Back of the Neck\)"
    ):
        resolve_script("neck")
    with pytest.raises(LibraryError, match="no built-in session"):
        resolve_script("elbow")


def test_python_api_options_match_the_cli_and_reprs_are_short():
    import voicecoach
    from voicecoach.errors import UsageError

    with voicecoach.load("wind-down", engine="system", level="deep", rate=130, lead_in="10s") as s:
        assert (s.settings.level, s.settings.rate_wpm, s.settings.lead_in_s) == ("deep", 130, 10.0)
        assert repr(s).startswith("<Session 'Five-Minute Wind-Down'") and len(repr(s)) < 200
        plan = s.plan()
        assert repr(plan).startswith("<Plan 'Five-Minute Wind-Down'") and len(repr(plan)) < 200
        assert len(repr(s.script)) < 200
    with pytest.raises(
        UsageError, match=r"unknown option 'levle' for load; did you mean 'level'\?"
    ):
        voicecoach.load("wind-down", levle="deep")
    with pytest.raises(UsageError, match="lead_in must be seconds or a duration"):
        voicecoach.load("wind-down", lead_in="soon")
    import inspect

    params = set(inspect.signature(voicecoach.load).parameters)
    assert {"level", "voice", "rate", "engine", "lead_in", "use_cache"} <= params
