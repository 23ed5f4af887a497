"""The plan as a picture: ``voicecoach.export.timeline`` and ``voicecoach plan --svg``."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from voicecoach.cli import main
from voicecoach.export import timeline
from voicecoach.language.plan import Event, Plan
from voicecoach.session import load
from voicecoach.units import format_clock

SVG_NS = "{http://www.w3.org/2000/svg}"


def _plan(name: str, level: str | None = None) -> Plan:
    with load(name, engine="system", level=level) as session:
        return session.plan()


@pytest.fixture(scope="module")
def upper_back() -> Plan:
    return _plan("upper-back")


@pytest.fixture(scope="module")
def wipers() -> Plan:
    return _plan("rhomboids-wipers")


def _texts(root: ET.Element) -> list[str]:
    """Every piece of text drawn, lines of a wrapped title joined by spaces."""
    out = []
    for t in root.iter(f"{SVG_NS}text"):
        out.append(" ".join(s.strip() for s in t.itertext() if s.strip()))
    return out


def _ids(svg: str, name: str) -> list[str]:
    """The ids ``name-0``, ``name-1``... of one kind of mark."""
    return re.findall(rf'id="({re.escape(name)}-\d+)"', svg)


def test_svg_parses_and_names_every_section_and_lane(upper_back):
    svg = timeline.svg_text(upper_back)
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG_NS}svg"
    texts = _texts(root)
    drawn = " ".join(texts)
    for s in upper_back.sections:
        # above its band, or (band too narrow) in the key under the picture
        assert s.title in drawn, s.title
    for lane in ("speech", "breath", "hold", "wipers", "roll", "place", "pause", "bell"):
        assert lane in texts, lane
    # the recheck and "other" lanes only when the plan has such events (upper-back re-checks)
    assert ("recheck" in texts) == any(e.kind == "recheck" for e in upper_back.events)
    assert "other" not in texts
    assert upper_back.title in texts
    assert "13:00" in texts or "12:00" in texts  # the time axis in m:ss
    assert len(_ids(svg, "section")) == len(upper_back.sections)


def test_a_band_too_narrow_for_its_title_is_named_under_the_picture():
    plan = _plan("full-upper-body")  # short transition sections among long ones
    root = ET.fromstring(timeline.svg_text(plan))
    key = " ".join(
        " ".join(t.itertext())
        for g in root.iter(f"{SVG_NS}g")
        if g.get("id", "").startswith("section-key-")
        for t in g.iter(f"{SVG_NS}text")
    )
    assert key.startswith("Sections: ")
    named = [s for s in plan.sections if f": {s.title} (" in key]
    assert 0 < len(named) < len(plan.sections)
    for s in named:
        number = plan.sections.index(s) + 1
        assert f"{number}: {s.title} ({format_clock(s.start_sample / plan.sample_rate)})" in key


def test_one_mark_per_event(upper_back, wipers):
    def tones(plan: Plan, name: str) -> int:
        return sum(e.kind == "tone" and e.tone == name for e in plan.events)

    def spans(plan: Plan, kind: str) -> int:
        return sum(e.kind == kind for e in plan.events)

    for plan in (upper_back, wipers):
        svg = timeline.svg_text(plan)
        assert len(_ids(svg, "bell")) == tones(plan, "bell") >= 1
        assert len(_ids(svg, "breath-inhale")) == tones(plan, "inhale") > 0
        assert len(_ids(svg, "breath-exhale")) == tones(plan, "exhale") > 0
        assert len(_ids(svg, "place-ready")) == tones(plan, "ready") > 0
        assert len(_ids(svg, "speech")) == spans(plan, "speech")
        for kind in ("hold", "pause", "place"):
            assert len(_ids(svg, kind)) == spans(plan, kind) > 0, kind
    svg = timeline.svg_text(wipers)
    assert len(_ids(svg, "wipers-tick")) == tones(wipers, "tick") > 0
    assert len(_ids(svg, "wipers")) == spans(wipers, "wipers") > 0


def test_hold_countdown_marks_are_the_words_spoken_inside_each_hold(upper_back):
    holds = [e for e in upper_back.events if e.kind == "hold"]
    inside = [
        e
        for e in upper_back.speech_events()
        for h in holds
        if (e.line, e.file) == (h.line, h.file) and h.start_sample <= e.start_sample < h.end_sample
    ]
    assert {e.text for e in inside} >= {"five", "one", "halfway"}
    assert len(_ids(timeline.svg_text(upper_back), "hold-count")) == len(inside)


def test_recheck_and_unknown_kinds_get_their_own_lanes(upper_back):
    sr = upper_back.sample_rate
    extra = (
        Event("recheck", 10 * sr, 18 * sr, 1, text="shoulders"),
        Event("frobnicate", 30 * sr, 40 * sr, 2),
        Event("tone", 50 * sr, 51 * sr, 3, tone="chime"),
    )
    plan = dataclasses.replace(upper_back, events=upper_back.events + extra)
    svg = timeline.svg_text(plan)
    texts = _texts(ET.fromstring(svg))
    assert "recheck" in texts and "other" in texts
    rechecks = sum(e.kind == "recheck" for e in plan.events)
    assert len(_ids(svg, "recheck")) == rechecks and len(_ids(svg, "other")) == 2
    assert "frobnicate" in texts  # an unknown span says what it is


def test_same_plan_gives_the_same_bytes_whatever_the_matplotlib_settings(upper_back):
    import matplotlib

    first = timeline.svg_text(upper_back)
    assert timeline.svg_text(upper_back) == first
    with matplotlib.rc_context({"font.size": 20, "lines.linewidth": 5, "svg.fonttype": "path"}):
        assert timeline.svg_text(upper_back) == first
    assert "Date" not in first and "<dc:date>" not in first


def test_a_longer_level_draws_a_longer_time_axis():
    gentle, deep = _plan("upper-back", "gentle"), _plan("upper-back", "deep")
    assert deep.duration_samples > gentle.duration_samples
    for plan in (gentle, deep):
        svg = timeline.svg_text(plan)
        assert f"level {plan.settings.level}" in svg
        ticks = [t for t in _texts(ET.fromstring(svg)) if re.fullmatch(r"\d+:\d\d", t)]
        last = max(int(t.split(":")[0]) * 60 + int(t.split(":")[1]) for t in ticks)
        assert plan.duration_s - 60 < last <= plan.duration_s


# ---- the command line ------------------------------------------------------------


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_plan_svg_alone_writes_only_the_picture(tmp_path, capsys, upper_back):
    out_svg = tmp_path / "ub.svg"
    code, out, err = run(capsys, "plan", "upper-back", "--engine", "system", "--svg", str(out_svg))
    assert code == 0, err
    assert out == f"wrote {out_svg} ({format_clock(upper_back.duration_s)})\n"  # no table
    assert out_svg.read_text(encoding="utf-8") == timeline.svg_text(upper_back)
    assert [p.name for p in tmp_path.iterdir()] == ["ub.svg"]  # no temporary file left


def test_plan_svg_with_json_and_level(tmp_path, capsys):
    out_svg = tmp_path / "deep.svg"
    code, out, err = run(
        capsys,
        "plan",
        "upper-back",
        "--engine",
        "system",
        "--level",
        "deep",
        "--json",
        "--svg",
        str(out_svg),
    )
    assert code == 0, err
    doc = json.loads(out)  # stdout holds only the JSON
    assert f"wrote {out_svg}" in err
    svg = out_svg.read_text(encoding="utf-8")
    assert "level deep" in svg
    assert len(_ids(svg, "hold")) == sum(e["kind"] == "hold" for e in doc["events"])


@pytest.mark.parametrize(
    "where,message",
    [
        ("missing/x.svg", "could not write {p}: No such file or directory"),
        ("afile/x.svg", "could not write {p}: Not a directory"),
        (".", "{p} is a folder: give a file name"),
    ],
)
def test_plan_svg_to_a_path_that_cannot_be_written(tmp_path, capsys, where, message):
    (tmp_path / "afile").write_text("x")
    target = tmp_path / where
    code, out, err = run(capsys, "plan", "upper-back", "--engine", "system", "--svg", str(target))
    assert code == 1
    (line,) = err.splitlines()
    assert line.startswith(f"voicecoach: error: {message.format(p=target)}")
    assert "Traceback" not in out + err and "internal error" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_plan_svg_into_a_read_only_folder(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        code, _, err = run(
            capsys, "plan", "upper-back", "--engine", "system", "--svg", str(ro / "x.svg")
        )
    finally:
        ro.chmod(0o755)
    assert code == 1
    assert err.strip() == f"voicecoach: error: could not write {ro / 'x.svg'}: Permission denied"


def test_plan_without_svg_does_not_import_matplotlib(tmp_path):
    code = (
        "import sys; from voicecoach.cli import main; "
        "rc = main(['plan', 'upper-back', '--engine', 'system', '--json']); "
        "print('matplotlib' in sys.modules, rc, file=sys.stderr)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.stderr.strip().splitlines()[-1] == "False 0"
