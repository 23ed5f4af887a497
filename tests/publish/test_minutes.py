"""publish --minutes N: one episode per session lasting N minutes, read back by real decoders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import feedparser
import pytest
import soundfile
from mutagen.mp3 import MP3

from tests.publish.helpers import CHROMIUM, PHONE, TINY_A, Server, publish_cli, run_cli
from voicecoach.errors import UsageError
from voicecoach.language.dose import TOLERANCE_S
from voicecoach.publish.site import PublishOptions, episode_key

BASE = "http://127.0.0.1:8765/"

# from about 1:04 (every range at its low end) to about 3:13 (its high end) with eSpeak
DOSE = """---
title: Dose Hips
teacher: Jane Doe
description: Holds that stretch to the time you have.
---

# Arrive
Lie down on your back.
[pause 5-30s]

# Hold the ball
Place the ball under your hip.
[hold 20-90s]

# Rest
Rest now.
[pause 5-40s]
"""

MINUTES = (1.5, 2.5)


@pytest.fixture(scope="module")
def dosed(tmp_path_factory):
    """The dose script published at 1.5 and 2.5 minutes (no --levels: only those two)."""
    root = tmp_path_factory.mktemp("minutes")
    script = root / "scripts" / "dose-hips.md"
    script.parent.mkdir()
    script.write_text(DOSE, encoding="utf-8")
    site = root / "site"
    args = [a for m in MINUTES for a in ("--minutes", f"{m:g}")]
    proc = publish_cli([script], site, "--base-url", BASE, *args)
    assert proc.returncode == 0, proc.stderr
    return script, site, proc


def _local(site: Path, url: str) -> Path:
    assert url.startswith(BASE), url
    return site / url[len(BASE) :]


def _decoded_s(path: Path) -> float:
    """The length of an audio file as a decoder reads it: every sample decoded and counted."""
    data, rate = soundfile.read(path, dtype="float32", always_2d=True)
    return len(data) / rate


def _snapshot(site: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(site)): p.read_bytes() for p in sorted(site.rglob("*")) if p.is_file()
    }


def test_each_dose_is_an_episode_lasting_its_minutes(dosed):
    _, site, proc = dosed
    feed = feedparser.parse((site / "feed.xml").read_bytes())
    assert not feed.bozo, feed.get("bozo_exception")
    assert [e.id for e in feed.entries] == [
        "voicecoach:dose-hips:1.5min",
        "voicecoach:dose-hips:2.5min",
    ]
    for entry, minutes in zip(feed.entries, MINUTES, strict=True):
        assert entry.title == f"Dose Hips ({minutes:g} min)"
        assert f"Length: {minutes:g} minutes (" in entry.summary
        (enclosure,) = entry.enclosures
        audio = _local(site, enclosure.href)
        assert audio.name == f"dose-hips-{minutes:g}min.mp3"
        assert int(enclosure.length) == audio.stat().st_size
        decoded_s = _decoded_s(audio)
        assert abs(decoded_s - minutes * 60) <= TOLERANCE_S, (minutes, decoded_s)
        assert abs(MP3(audio).info.length - minutes * 60) <= TOLERANCE_S
        h, m, s = (int(x) for x in entry.itunes_duration.split(":"))
        assert abs(h * 3600 + m * 60 + s - decoded_s) <= 1.0
    # the two doses differ where the ranges are: the same chapters, later starts
    chapters = [
        json.loads((site / f"sessions/dose-hips-{m:g}min.chapters.json").read_text())["chapters"]
        for m in MINUTES
    ]
    assert [c["title"] for c in chapters[0]] == [c["title"] for c in chapters[1]]
    assert chapters[0][-1]["startTime"] < chapters[1][-1]["startTime"]
    assert not list((site / "sessions").glob("*standard*"))  # no levels without --levels
    assert "dose-hips: Dose Hips (1.5 min 1:30, 2.5 min 2:30)" in proc.stdout
    manifest = json.loads((site / "publish-manifest.json").read_text())
    assert manifest["levels"] == [] and manifest["minutes"] == list(MINUTES)
    assert [e["minutes"] for e in manifest["episodes"]] == list(MINUTES)


def test_the_page_switch_offers_the_lengths(dosed):
    _, site, _ = dosed
    page = (site / "index.html").read_text(encoding="utf-8")
    assert "<legend>Length</legend>" in page
    for minutes, checked in zip(MINUTES, (" checked", ""), strict=True):
        assert (
            f'<input type="radio" name="level-dose-hips" value="{minutes:g}min"{checked}>'
            f'<span class="level-name">{minutes:g} min</span>'
        ) in page
        assert f'data-src="sessions/dose-hips-{minutes:g}min.mp3"' in page
    # one picture, at the length shown first
    assert [p.name for p in (site / "sessions").glob("*.svg")] == ["dose-hips-1.5min.timeline.svg"]


def test_the_cache_key_covers_the_minutes(dosed, tmp_path):
    script, first_site, _ = dosed
    from voicecoach.session import load

    with load(script, engine="system") as base:
        keys = {
            episode_key(base.with_minutes(1.5), "mp3"),
            episode_key(base.with_minutes(2.5), "mp3"),
            episode_key(base.with_level("standard"), "mp3"),
        }
        assert len(keys) == 3
        assert episode_key(base.with_minutes(1.5), "mp3") == episode_key(
            base.with_minutes(1.5), "mp3"
        )

    site = tmp_path / "site"
    shutil.copytree(first_site, site)
    kept = site / "sessions/dose-hips-1.5min.mp3"
    inode = kept.stat().st_ino
    # a level beside the doses: only it is rendered
    both = publish_cli(
        [script], site, "--base-url", BASE, "--levels", "standard", "--minutes", "1.5"
    )
    assert both.returncode == 0, both.stderr
    assert "(1 rendered, 1 kept, 1 removed)" in both.stdout
    assert "rendering dose-hips (standard)" in both.stderr
    assert "kept dose-hips (1.5 min): unchanged" in both.stderr
    assert kept.stat().st_ino == inode
    feed = feedparser.parse((site / "feed.xml").read_bytes())
    assert [e.id for e in feed.entries] == [
        "voicecoach:dose-hips:standard",
        "voicecoach:dose-hips:1.5min",
    ]
    assert feed.entries[0].title.startswith("Dose Hips (standard, ")
    assert feed.entries[1].title == "Dose Hips (1.5 min)"
    page = (site / "index.html").read_text(encoding="utf-8")
    assert "<legend>Level or length</legend>" in page
    assert 'value="standard" checked>' in page and 'value="1.5min">' in page
    # the picture moves to the level shown first
    assert [p.name for p in (site / "sessions").glob("*.svg")] == [
        "dose-hips-standard.timeline.svg"
    ]
    # another length is another episode: rendered; the edited script renders its doses again
    edited = tmp_path / "dose-hips.md"
    edited.write_text(DOSE.replace("Rest now.", "Rest now, and breathe."), encoding="utf-8")
    other = publish_cli([edited], site, "--base-url", BASE, "--minutes", "2")
    assert other.returncode == 0, other.stderr
    assert "(1 rendered, 0 kept, 2 removed)" in other.stdout
    assert abs(_decoded_s(site / "sessions/dose-hips-2min.mp3") - 120) <= TOLERANCE_S
    assert "and breathe" in (site / "sessions/dose-hips-2min.vtt").read_text()


def test_a_length_out_of_reach_is_one_line_and_leaves_the_site_alone(dosed, tmp_path):
    script, first_site, _ = dosed
    site = tmp_path / "site"
    shutil.copytree(first_site, site)
    before = _snapshot(site)
    tiny = tmp_path / "tiny-a.md"  # lasts well under a minute at any point of its ranges
    tiny.write_text(TINY_A, encoding="utf-8")
    proc = publish_cli([script, tiny], site, "--base-url", BASE, "--minutes", "2")
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert len(errors) == 1, proc.stderr
    assert errors[0].startswith("voicecoach: error: tiny-a lasts from 0:")
    assert errors[0].endswith("(every range at its low or high end); 2 minutes is out of reach")
    assert "Traceback" not in proc.stderr
    assert "rendering" not in proc.stderr  # refused before any audio was made
    assert _snapshot(site) == before
    assert [p.name for p in tmp_path.iterdir() if ".publish-" in p.name and p.is_dir()] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--minutes", "0"], "Invalid value for '--minutes'"),
        (["--minutes", "241"], "Invalid value for '--minutes'"),
        (["--minutes", "15", "--minutes", "15.0"], "the same length is named twice in --minutes"),
        (["--minutes", "ten"], "Invalid value for '--minutes'"),
    ],
)
def test_bad_minutes_are_refused_plainly(tmp_path, args, message):
    script = tmp_path / "tiny-a.md"
    script.write_text(TINY_A, encoding="utf-8")
    proc = run_cli("publish", str(script), "-o", str(tmp_path / "site"), *args)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "site").exists()


def test_the_library_takes_doses_with_or_without_levels():
    assert PublishOptions(levels=(), minutes=(20, 10)).variants == (
        ("10min", 10.0),
        ("20min", 20.0),
    )
    assert PublishOptions(levels=("deep", "gentle"), minutes=(12.5,)).variants == (
        ("gentle", None),
        ("deep", None),
        ("12.5min", 12.5),
    )
    with pytest.raises(UsageError, match="or give --minutes"):
        PublishOptions(levels=(), minutes=())
    with pytest.raises(UsageError, match="at most 240"):
        PublishOptions(minutes=(300,))


def test_the_length_switch_works_in_a_browser_at_phone_size(dosed):
    """The page in the Debian chromium through serve: the switch names its group and changes
    the player's file and chapters."""
    if not Path(CHROMIUM).exists():
        pytest.skip("no chromium here: install the Debian package `chromium` (./vc test does)")
    from playwright.sync_api import sync_playwright

    _, site, _ = dosed
    later = json.loads((site / "sessions/dose-hips-2.5min.chapters.json").read_text())["chapters"]
    server = Server(site)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True).new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server.url, wait_until="networkidle")
            group = page.get_by_role("group", name="Length")
            assert group.get_by_role("radio").count() == 2
            page.locator("#dose-hips .level-options label", has_text="2.5 min").tap()
            src = page.evaluate("document.querySelector('#dose-hips audio').src")
            assert src.endswith("/sessions/dose-hips-2.5min.mp3")
            panel = page.locator("#dose-hips .level-panel >> visible=true")
            assert panel.get_attribute("data-level") == "2.5min"
            button = panel.get_by_role("button", name="Rest")
            assert float(button.get_attribute("data-start")) == later[2]["startTime"]
            widths = page.evaluate(
                "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
            )
            assert widths[0] <= widths[1] == PHONE["width"]
            assert errors == []
            browser.close()
    finally:
        server.stop()
