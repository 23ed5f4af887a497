"""The class page in a real browser: the Debian chromium, driven by Playwright, through serve."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.publish.helpers import CHROMIUM, PHONE, Server, publish_cli, write_tiny_scripts

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="no chromium here: install the Debian package `chromium` (./vc test does)",
)


@pytest.fixture(scope="module")
def site_and_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("page")
    scripts = write_tiny_scripts(root / "scripts")
    site = root / "site"
    proc = publish_cli(scripts, site, "--base-url", "http://127.0.0.1:8765/")
    assert proc.returncode == 0, proc.stderr
    server = Server(site)
    yield site, server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # root in a container: chromium's sandbox needs user namespaces it may not have
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def phone(browser, site_and_server):
    """A page at phone size with every console message, page error and failed request kept."""
    _, server = site_and_server
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    problems: list[str] = []
    page.on(
        "console",
        lambda m: (
            problems.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning")
            else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    # a media request cut short when the player seeks is how browsers fetch audio, not a failure
    page.on(
        "requestfailed",
        lambda r: (
            None
            if r.resource_type == "media" and r.failure == "net::ERR_ABORTED"
            else problems.append(f"failed: {r.url} {r.failure}")
        ),
    )
    page.on(
        "response", lambda r: problems.append(f"{r.status}: {r.url}") if r.status >= 400 else None
    )
    page.goto(server.url, wait_until="networkidle")
    yield page, problems, server
    context.close()


def _audio(page, session: str, expr: str):
    return page.evaluate(f"document.querySelector('#{session} audio').{expr}")


def test_the_page_loads_with_no_error_and_only_from_its_own_folder(phone):
    page, problems, server = phone
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.reload(wait_until="networkidle")
    assert problems == []
    assert requested and all(url.startswith(server.url) for url in requested)
    assert page.title() == "Class: Tiny Neck & Shoulders, Tiny Rest"
    assert page.locator("section.session").count() == 2


def test_nothing_overflows_at_phone_size_at_any_level(phone):
    page, problems, _ = phone
    for level in ("gentle", "standard", "deep"):
        page.locator(f"#tiny-a input[value={level}]").check()
        page.locator("#tiny-a details.timeline >> visible=true").evaluate("d => d.open = true")
        widths = page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert widths[0] <= widths[1] == PHONE["width"], (level, widths)
        too_wide = page.evaluate(
            """Array.from(document.querySelectorAll('body *'))
                .filter(e => e.getClientRects().length && e.getBoundingClientRect().right > innerWidth + 0.5)
                .map(e => e.tagName + '.' + e.className)"""
        )
        assert too_wide == [], level
    assert problems == []


def test_touch_targets_are_big_and_named(phone):
    page, _, _ = phone
    for selector in ("#tiny-a button.chapter >> visible=true", "#tiny-a .level-options label"):
        boxes = page.locator(selector)
        assert boxes.count() >= 2
        for i in range(boxes.count()):
            box = boxes.nth(i).bounding_box()
            assert box is not None and box["height"] >= 48 and box["width"] >= 48
            assert boxes.nth(i).inner_text().strip()
    # what a screen reader gets: the level switch is a named group of radio buttons
    group = page.get_by_role("group", name="Level").first
    assert group.get_by_role("radio").count() == 3
    assert page.get_by_role("button", name="Hold the ball").count() == 1  # the visible level only
    # every picture says what it shows, or is marked decorative (alt="")
    assert page.eval_on_selector_all("img", "els => els.every(e => e.hasAttribute('alt'))")
    assert page.eval_on_selector_all("img[alt='']", "els => els.map(e => e.className)") == ["cover"]


def test_it_plays_muted_through_serve(phone):
    page, problems, _ = phone
    page.evaluate("document.querySelector('#tiny-a audio').muted = true")
    page.evaluate("document.querySelector('#tiny-a audio').play()")
    page.wait_for_function(
        "document.querySelector('#tiny-a audio').currentTime > 0.5", timeout=20_000
    )
    assert not _audio(page, "tiny-a", "paused")
    assert _audio(page, "tiny-a", "currentSrc").endswith("/sessions/tiny-a-standard.mp3")
    assert problems == []


def test_tapping_a_chapter_seeks_to_its_time(phone, site_and_server):
    page, problems, _ = phone
    site, _ = site_and_server
    chapters = json.loads((site / "sessions/tiny-a-standard.chapters.json").read_text())["chapters"]
    start_s = chapters[1]["startTime"]
    # playing on from the chapter: anywhere inside it counts (a loaded machine polls late)
    end_s = chapters[2]["startTime"] if len(chapters) > 2 else start_s + 5.0
    page.evaluate("document.querySelector('#tiny-a audio').muted = true")
    page.get_by_role("button", name="Hold the ball").tap()
    page.wait_for_function(
        f"(t => t >= {start_s} - 0.25 && t < {end_s})"
        "(document.querySelector('#tiny-a audio').currentTime) "
        "&& !document.querySelector('#tiny-a audio').paused",
        timeout=20_000,
    )
    # the page marks the chapter on the audio's next timeupdate (up to ~250 ms later)
    page.wait_for_selector("#tiny-a button.chapter[aria-current=true]", timeout=10_000)
    current = page.locator("#tiny-a button.chapter[aria-current=true]")
    assert current.count() == 1 and "Hold the ball" in current.inner_text()
    assert problems == []


def test_the_level_switch_changes_the_source_and_the_chapters(phone, site_and_server):
    page, problems, _ = phone
    site, _ = site_and_server
    deep = json.loads((site / "sessions/tiny-a-deep.chapters.json").read_text())["chapters"]
    page.locator("#tiny-a .level-options label", has_text="Deep").tap()
    assert _audio(page, "tiny-a", "src").endswith("/sessions/tiny-a-deep.mp3")
    panel = page.locator("#tiny-a .level-panel >> visible=true")
    assert panel.count() == 1 and panel.get_attribute("data-level") == "deep"
    button = panel.get_by_role("button", name="Hold the ball")
    assert float(button.get_attribute("data-start")) == deep[1]["startTime"]
    page.evaluate("document.querySelector('#tiny-a audio').muted = true")
    button.tap()
    page.wait_for_function(
        f"Math.abs(document.querySelector('#tiny-a audio').currentTime - {deep[1]['startTime']}) < 0.5",
        timeout=20_000,
    )
    assert _audio(page, "tiny-a", "currentSrc").endswith("/sessions/tiny-a-deep.mp3")
    assert problems == []
