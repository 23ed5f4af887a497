"""publish: the site's files read back by real parsers (feedparser, mutagen, ffprobe, Pillow)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import feedparser
import pytest
from mutagen.id3 import ID3
from PIL import Image

import voicecoach
from tests.processes import stop_signals_at_default
from tests.publish.helpers import publish_cli, run_cli, write_tiny_scripts
from voicecoach.language.script import LEVELS
from voicecoach.publish.feed import ITUNES, PODCAST
from voicecoach.publish.site import PublishOptions

BASE = "http://127.0.0.1:8765/"


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """Two tiny sessions at three levels, published once for this module's tests."""
    root = tmp_path_factory.mktemp("publish")
    scripts = write_tiny_scripts(root / "scripts")
    site = root / "site"
    proc = publish_cli(scripts, site, "--base-url", BASE, "--title", "Thursday class")
    assert proc.returncode == 0, proc.stderr
    return root, scripts, site, proc


def _local(site: Path, url: str) -> Path:
    assert url.startswith(BASE), url
    return site / url[len(BASE) :]


def _ffprobe_duration_s(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(json.loads(out)["format"]["duration"])


def _itunes_seconds(text: str) -> int:
    h, m, s = (int(x) for x in text.split(":"))
    return h * 3600 + m * 60 + s


def test_the_feed_read_by_feedparser_has_every_episode_with_its_files(published):
    _, _, site, proc = published
    feed = feedparser.parse((site / "feed.xml").read_bytes())
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "rss20"
    assert feed.feed.title == "Thursday class"
    assert feed.feed.image.href == BASE + "cover.png"
    assert feed.feed.author == "Jane Doe"
    entries = feed.entries
    assert len(entries) == 6  # 2 sessions x 3 levels
    guids = [e.id for e in entries]
    assert guids == [f"voicecoach:{n}:{lv}" for n in ("tiny-a", "tiny-b") for lv in LEVELS]
    for entry in entries:
        (enclosure,) = entry.enclosures
        audio = _local(site, enclosure.href)
        assert enclosure.type == "audio/mpeg"
        assert int(enclosure.length) == audio.stat().st_size > 10_000
        stated_s = _itunes_seconds(entry.itunes_duration)
        assert abs(stated_s - _ffprobe_duration_s(audio)) <= 1.0
        assert entry.published_parsed is not None
        assert entry.title.startswith(("Tiny Neck & Shoulders (", "Tiny Rest ("))
    assert "<markup> &amp; ampersands" not in (site / "feed.xml").read_text()  # escaped once
    # a description is HTML to podcast apps: the teacher's text shows as typed, never as markup
    assert entries[0].summary.startswith(
        "A tiny session for tests, with &lt;markup&gt; &amp; ampersands."
    )


def test_apple_and_podcast_namespace_tags_are_there(published):
    _, _, site, _ = published
    channel = ET.parse(site / "feed.xml").getroot().find("channel")
    assert channel is not None
    it, pc = f"{{{ITUNES}}}", f"{{{PODCAST}}}"
    for tag in ("title", "description", "language", "link", f"{it}explicit", f"{it}author"):
        assert (channel.findtext(tag) or "").strip(), tag
    assert channel.find(f"{it}image").get("href") == BASE + "cover.png"
    assert channel.find(f"{it}category").get("text") == "Health & Fitness"
    items = channel.findall("item")
    for item in items:
        transcript = item.find(f"{pc}transcript")
        chapters = item.find(f"{pc}chapters")
        assert transcript.get("type") == "text/vtt"
        assert chapters.get("type") == "application/json+chapters"
        vtt = _local(site, transcript.get("url")).read_text(encoding="utf-8")
        assert vtt.startswith("WEBVTT") and " --> " in vtt
        assert json.loads(_local(site, chapters.get("url")).read_text())["version"] == "1.2.0"
        assert item.find("guid").get("isPermaLink") == "false"


def test_json_chapters_equal_the_id3_chapters_of_each_file(published):
    _, _, site, _ = published
    manifest = json.loads((site / "publish-manifest.json").read_text())
    assert len(manifest["episodes"]) == 6
    for episode in manifest["episodes"]:
        doc = json.loads((site / episode["chapters_json"]).read_text())
        from_json = [
            (c["title"], round(c["startTime"] * 1000), round(c["endTime"] * 1000))
            for c in doc["chapters"]
        ]
        id3 = ID3(site / episode["audio"])
        chaps = sorted(id3.getall("CHAP"), key=lambda f: f.start_time)
        from_id3 = [(f.sub_frames["TIT2"].text[0], f.start_time, f.end_time) for f in chaps]
        assert from_json == from_id3
        assert len(from_json) == 2 and from_json[0][1] == 0


def test_the_levels_differ_where_the_script_has_ranges(published):
    _, _, site, _ = published
    seconds = {}
    for level in LEVELS:
        seconds[level] = _ffprobe_duration_s(site / "sessions" / f"tiny-a-{level}.mp3")
    assert seconds["gentle"] < seconds["standard"] < seconds["deep"]


def test_cover_art_is_square_and_large_enough_and_the_page_and_qr_codes_exist(published):
    _, _, site, _ = published
    with Image.open(site / "cover.png") as cover:
        assert cover.size[0] == cover.size[1] >= 1400
        colours = cover.convert("RGB").getcolors(maxcolors=1_000_000)
        assert colours is not None and len(colours) > 50  # a picture, not a flat square
    page = (site / "index.html").read_text(encoding="utf-8")
    assert "Tiny Neck &amp; Shoulders" in page and "&lt;markup&gt;" in page
    assert "http" not in page.replace(BASE, "")  # nothing from elsewhere: no CDN
    for qr, url in (("qr-feed.svg", BASE + "feed.xml"), ("qr-page.svg", BASE)):
        svg = (site / qr).read_text()
        assert svg.lstrip().startswith("<?xml") and f"<desc>{url}</desc>" in svg
    # one timeline picture per session, at the level the page shows first
    timelines = sorted(p.name for p in (site / "sessions").glob("*.timeline.svg"))
    assert timelines == ["tiny-a-standard.timeline.svg", "tiny-b-standard.timeline.svg"]
    for name in timelines:
        assert "<svg" in (site / "sessions" / name).read_text()[:1000]
        assert f'src="sessions/{name}"' in page


def _inode(path: Path) -> int:
    return path.stat().st_ino


def test_a_second_publish_keeps_unchanged_files_and_renders_only_the_edited_script(
    published, tmp_path
):
    root, scripts, first_site, _ = published
    site = tmp_path / "site"
    shutil.copytree(first_site, site)
    a_mp3, b_mp3 = site / "sessions/tiny-a-deep.mp3", site / "sessions/tiny-b-deep.mp3"
    before = {p: _inode(p) for p in (a_mp3, b_mp3)}
    old_feed = feedparser.parse((site / "feed.xml").read_bytes())

    again = publish_cli(scripts, site, "--base-url", BASE, "--title", "Thursday class")
    assert again.returncode == 0, again.stderr
    assert "(0 rendered, 6 kept)" in again.stdout
    assert {p: _inode(p) for p in before} == before  # hard links of the very same files
    assert (site / "feed.xml").read_bytes() == (first_site / "feed.xml").read_bytes()

    edited = tmp_path / "tiny-b.md"  # same name, so the same session, edited
    edited.write_text(
        scripts[1].read_text().replace("Roll to one side.", "Roll slowly to your right side.")
    )
    third = publish_cli([scripts[0], edited], site, "--base-url", BASE, "--title", "Thursday class")
    assert third.returncode == 0, third.stderr
    assert "(3 rendered, 3 kept)" in third.stdout
    assert "rendering tiny-b" in third.stderr and "rendering tiny-a" not in third.stderr
    assert _inode(a_mp3) == before[a_mp3] and _inode(b_mp3) != before[b_mp3]
    new_feed = feedparser.parse((site / "feed.xml").read_bytes())
    by_id = {e.id: e for e in new_feed.entries}
    old_by_id = {e.id: e for e in old_feed.entries}
    assert by_id.keys() == old_by_id.keys()  # the guids stay: the episode is replaced
    assert (
        by_id["voicecoach:tiny-a:deep"].published == old_by_id["voicecoach:tiny-a:deep"].published
    )
    assert int(by_id["voicecoach:tiny-b:deep"].enclosures[0].length) == b_mp3.stat().st_size
    assert "your right side" in (site / "sessions/tiny-b-deep.vtt").read_text()

    # a session left out of the command disappears, files and all
    fourth = publish_cli([scripts[0]], site, "--base-url", BASE, "--levels", "gentle,deep")
    assert fourth.returncode == 0, fourth.stderr
    assert "(0 rendered, 2 kept, 4 removed)" in fourth.stdout
    names = sorted(p.name for p in (site / "sessions").iterdir())
    assert names == sorted(
        [
            f"tiny-a-{lv}{ext}"
            for lv in ("gentle", "deep")
            for ext in (".mp3", ".vtt", ".chapters.json")
        ]
        + ["tiny-a-gentle.timeline.svg"]  # drawn for the kept episode now shown first
    )
    assert len(feedparser.parse((site / "feed.xml").read_bytes()).entries) == 2
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".site.") and p.is_dir()] == []


def _snapshot(site: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(site)): p.read_bytes() for p in sorted(site.rglob("*")) if p.is_file()
    }


@pytest.mark.parametrize("how", ["SIGKILL", "SIGINT"])
def test_an_interrupted_publish_leaves_the_previous_site_whole(published, tmp_path, how):
    _, scripts, first_site, _ = published
    site = tmp_path / "site"
    shutil.copytree(first_site, site)
    before = _snapshot(site)
    edited = [tmp_path / "tiny-a.md", tmp_path / "tiny-b.md"]
    for original, copy in zip(scripts, edited, strict=True):
        copy.write_text(original.read_text().replace("Lie down", "Please lie down"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "voicecoach.cli", "publish", *map(str, edited), "-o", str(site)]
        + ["--engine", "system", "--base-url", BASE],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=stop_signals_at_default,  # it is interrupted with SIGINT/SIGTERM
    )
    assert proc.stderr is not None
    line = ""
    while "rendering tiny-a (standard)" not in line:  # one episode made, the next under way
        line = proc.stderr.readline()
        assert line, "publish ended before it was interrupted"
    time.sleep(0.3)
    os.kill(proc.pid, getattr(signal, how))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == (-signal.SIGKILL if how == "SIGKILL" else 130)
    assert "Traceback" not in err
    assert _snapshot(site) == before
    leftovers = [p for p in tmp_path.iterdir() if ".publish-" in p.name and p.is_dir()]
    assert len(leftovers) == (1 if how == "SIGKILL" else 0)
    # the next publish finishes the job and removes what the killed one left
    done = publish_cli(edited, site, "--base-url", BASE)
    assert done.returncode == 0, done.stderr
    assert "Please lie down" in (site / "sessions/tiny-a-gentle.vtt").read_text()
    assert [p for p in tmp_path.iterdir() if ".publish-" in p.name and p.is_dir()] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "wav"], "Invalid value for '--format'"),
        (["--levels", "gentle,hard"], "unknown level 'hard'"),
        (["--base-url", "ftp://x/"], "--base-url must be an http:// or https:// address"),
    ],
)
def test_bad_options_are_refused_plainly(tmp_path, args, message):
    (script,) = write_tiny_scripts(tmp_path)[:1]
    proc = run_cli("publish", str(script), "-o", str(tmp_path / "site"), *args)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "site").exists()


def test_a_folder_not_made_by_publish_is_never_replaced(tmp_path):
    scripts = write_tiny_scripts(tmp_path / "scripts")
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "holiday.jpg").write_bytes(b"not a site")
    proc = publish_cli(scripts, folder)
    assert proc.returncode == 2
    assert "was not made by voicecoach publish" in proc.stderr
    assert [p.name for p in folder.iterdir()] == ["holiday.jpg"]


def test_a_script_error_is_reported_at_its_line_and_the_site_is_left_alone(published, tmp_path):
    _, scripts, first_site, _ = published
    site = tmp_path / "site"
    shutil.copytree(first_site, site)
    before = _snapshot(site)
    broken = tmp_path / "broken.md"
    broken.write_text("---\ntitle: Broken\n---\n\nHold.\n[hold 30]\n")
    proc = publish_cli([scripts[0], broken], site, "--base-url", BASE)
    assert proc.returncode == 1
    assert f"{broken}:6:" in proc.stderr and "error:" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert _snapshot(site) == before


def test_the_command_defaults_are_the_library_defaults():
    from voicecoach.publish.commands import publish

    defaults = {p.name: p.default for p in publish.params}
    options = PublishOptions()
    assert defaults["levels"] == ",".join(options.levels)
    assert defaults["fmt"] == options.format


def test_an_edited_include_renders_its_script_again(tmp_path):
    folder = tmp_path / "scripts"
    (folder / "parts").mkdir(parents=True)
    part = folder / "parts" / "rest.md"
    part.write_text("Rest here.\n[pause 1s]\n")
    script = folder / "with-part.md"
    script.write_text(
        "---\ntitle: With a part\n---\n\n# Start\nLie down.\n[include parts/rest.md]\n"
    )
    site = tmp_path / "site"
    for expected in ("(1 rendered, 0 kept)", "(0 rendered, 1 kept)"):
        proc = publish_cli([script], site, "--levels", "standard")
        assert proc.returncode == 0, proc.stderr
        assert expected in proc.stdout
    part.write_text("Rest here, and breathe out.\n[pause 1s]\n")  # the script itself unchanged
    again = publish_cli([script], site, "--levels", "standard")
    assert again.returncode == 0, again.stderr
    assert "(1 rendered, 0 kept)" in again.stdout
    assert "breathe out" in (site / "sessions/with-part-standard.vtt").read_text()


def test_m4a_episodes_carry_the_chapters_and_the_loudness(tmp_path):
    """AAC by ffmpeg: chapters equal the JSON ones, loudness and true peak measured on the file."""
    from voicecoach.publish.m4a import measure

    scripts = write_tiny_scripts(tmp_path / "scripts")
    site = tmp_path / "site"
    proc = publish_cli(
        scripts[:1], site, "--format", "m4a", "--levels", "gentle,deep", "--base-url", BASE
    )
    assert proc.returncode == 0, proc.stderr
    feed = feedparser.parse((site / "feed.xml").read_bytes())
    assert len(feed.entries) == 2
    for entry in feed.entries:
        (enclosure,) = entry.enclosures
        audio = _local(site, enclosure.href)
        assert audio.suffix == ".m4a" and enclosure.type == "audio/x-m4a"
        assert int(enclosure.length) == audio.stat().st_size
        probe = json.loads(
            subprocess.run(
                [
                    "ffprobe",
                    "-v",
                    "error",
                    "-show_chapters",
                    "-show_streams",
                    "-of",
                    "json",
                    str(audio),
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        assert probe["streams"][0]["codec_name"] == "aac"
        stem = audio.name.removesuffix(".m4a")
        doc = json.loads((site / "sessions" / f"{stem}.chapters.json").read_text())
        assert [
            (c["tags"]["title"], round(float(c["start_time"]) * 1000)) for c in probe["chapters"]
        ] == [(c["title"], round(c["startTime"] * 1000)) for c in doc["chapters"]]
        assert abs(_itunes_seconds(entry.itunes_duration) - _ffprobe_duration_s(audio)) <= 1.0
        lufs, peak_dbtp = measure(audio)
        assert peak_dbtp <= -1.0
        # as loud as the session's own WAV export (ffmpeg's meter on both): the codec kept it
        level = stem.rsplit("-", 1)[1]
        with voicecoach.load(scripts[0], level=level, engine="system") as session:
            wav = session.export(tmp_path / f"{stem}.wav")
        assert abs(lufs - measure(wav.path)[0]) <= 0.5
    assert not list((site / "sessions").glob("*.wav"))
