"""``index.html``: the class's page, for a phone held in one hand.

Each session: title, teacher, description, equipment, length at each level (and dose:
``--minutes``); one player with a level switch (radio buttons, the doses among them) and
the chapter list of the chosen level (buttons: tap to jump); a download link and the
transcript; the session's timeline picture. Then how to add the feed to a podcast app,
with QR codes. Everything it loads is in the site's folder (``assets/page.css``,
``assets/page.js``); no network is needed. Without JavaScript the page still reads, and
each level's files are plain links.
"""

from __future__ import annotations

from html import escape

from voicecoach.publish.feed import FEED_NAME
from voicecoach.publish.model import Episode, SessionEntry, SiteInfo, first_shown
from voicecoach.units import format_clock

ASSETS = ("page.css", "page.js")


def _e(text: str | None) -> str:
    return escape(text or "", quote=True)


def _default_episode(session: SessionEntry) -> Episode:
    return first_shown(session.episodes)


def _lengths(session: SessionEntry) -> str:
    return " · ".join(f"{e.label} {format_clock(e.duration_s)}" for e in session.episodes)


def _switch_legend(session: SessionEntry) -> str:
    doses = sum(e.minutes is not None for e in session.episodes)
    if doses == 0:
        return "Level"
    return "Length" if doses == len(session.episodes) else "Level or length"


def _session_html(site: SiteInfo, s: SessionEntry) -> str:
    shown = _default_episode(s)
    out = [
        f'<section class="session" id="{_e(s.name)}" aria-labelledby="{_e(s.name)}-title">',
        f'<h2 id="{_e(s.name)}-title">{_e(s.title)}</h2>',
    ]
    if s.teacher:
        out.append(f'<p class="teacher">with {_e(s.teacher)}</p>')
    if s.description:
        out.append(f"<p>{_e(s.description)}</p>")
    out.append('<dl class="facts">')
    if s.equipment:
        out.append(f"<dt>Equipment</dt><dd>{_e(s.equipment)}</dd>")
    out.append(f"<dt>Length</dt><dd>{_e(_lengths(s))}</dd>")
    if s.muscles:
        out.append(f"<dt>Muscles</dt><dd>{_e(s.muscles)}</dd>")
    out.append("</dl>")
    if len(s.episodes) > 1:
        out.append(
            f'<fieldset class="levels"><legend>{_switch_legend(s)}</legend>'
            '<div class="level-options">'
        )
        for e in s.episodes:
            checked = " checked" if e is shown else ""
            out.append(
                f'<label><input type="radio" name="level-{_e(s.name)}" value="{_e(e.level)}"{checked}>'
                f'<span class="level-name">{_e(e.label.capitalize())}</span>'
                f'<span class="level-length">{format_clock(e.duration_s)}</span></label>'
            )
        out.append("</div></fieldset>")
    out.append(
        f'<audio controls preload="none" src="{_e(shown.audio)}" '
        f'aria-label="{_e(s.title)}, player"></audio>'
    )
    for e in s.episodes:
        hidden = "" if e is shown else " hidden"
        out.append(
            f'<div class="level-panel" data-level="{_e(e.level)}" data-src="{_e(e.audio)}"{hidden}>'
        )
        out.append(f'<h3 class="chapters-heading">Chapters ({_e(e.label)})</h3>')
        out.append('<ol class="chapters">')
        for c in e.chapters:
            start_s = c.start_ms / 1000
            out.append(
                f'<li><button type="button" class="chapter" data-start="{start_s:.3f}">'
                f'<span class="chapter-title">{_e(c.title)}</span>'
                f'<span class="chapter-time">{format_clock(start_s)}</span></button></li>'
            )
        out.append("</ol>")
        out.append(
            '<p class="files">'
            f'<a href="{_e(e.audio)}" download>Download ({e.audio_bytes / 1e6:.1f} MB)</a>'
            f'<a href="{_e(e.transcript)}">Transcript</a></p>'
        )
        out.append("</div>")
    pictured = next((e for e in s.episodes if e.timeline and e is shown), None) or next(
        (e for e in s.episodes if e.timeline), None
    )
    if pictured is not None:
        out.append(
            f'<details class="timeline"><summary>Timeline picture ({_e(pictured.label)})</summary>'
            f'<a href="{_e(pictured.timeline)}"><img src="{_e(pictured.timeline)}" loading="lazy" '
            f'alt="Timeline of {_e(s.title)} at {_e(_at(pictured))}: sections and every '
            f'cue over {format_clock(pictured.duration_s)}"></a></details>'
        )
    out.append("</section>")
    return "\n".join(out)


def _at(e: Episode) -> str:
    return f"level {e.level}" if e.minutes is None else e.label


def page_html(site: SiteInfo, *, qr_feed: str | None, qr_page: str | None) -> str:
    """The whole page. ``qr_feed`` / ``qr_page``: the QR pictures' paths, when there is a base URL."""
    feed_url = site.url(FEED_NAME)
    head = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(site.title)}</title>
<link rel="stylesheet" href="assets/page.css">
<link rel="icon" href="{_e(site.icon)}" type="image/png">
<link rel="apple-touch-icon" href="{_e(site.icon)}">
<link rel="alternate" type="application/rss+xml" title="{_e(site.title)}" href="{_e(feed_url)}">
<script src="assets/page.js" defer></script>
</head>
<body>
<a class="skip" href="#sessions">Skip to the sessions</a>
<header>
<img class="cover" src="{_e(site.cover)}" alt="" width="96" height="96">
<div><h1>{_e(site.title)}</h1>
<p>{len(site.sessions)} session{"s" * (len(site.sessions) != 1)} to practise with your eyes closed.
Put your phone beside the mat, press play, and listen.</p></div>
</header>
<main id="sessions">"""
    body = [_session_html(site, s) for s in site.sessions]
    share = [
        '<section class="share" aria-labelledby="share-title">',
        '<h2 id="share-title">In your podcast app</h2>',
        "<p>Add this class to a podcast app: it plays with the screen locked, remembers where "
        "you stopped, shows the chapters, and new sessions arrive by themselves. In the app, "
        "choose <em>Add by URL</em> (or <em>Follow a show by URL</em>) and enter:</p>",
        f'<p class="feed-url"><a href="{_e(feed_url)}">{_e(feed_url)}</a></p>',
    ]
    if site.base_url is None:
        share[2] = (
            "<p>This class was published without its web address, so podcast apps cannot "
            "follow it yet: ask your teacher for the address of the feed.</p>"
        )
        share.pop()
    if qr_feed and qr_page:
        share.append('<div class="qr-codes">')
        share.append(
            f'<figure><img src="{_e(qr_feed)}" alt="QR code of the feed address" width="140" '
            'height="140"><figcaption>The feed, for a podcast app</figcaption></figure>'
        )
        share.append(
            f'<figure><img src="{_e(qr_page)}" alt="QR code of this page" width="140" '
            'height="140"><figcaption>This page, for another phone</figcaption></figure>'
        )
        share.append("</div>")
    share.append("</section>")
    foot = (
        "</main>\n<footer><p>Made with voicecoach. Stop whenever something hurts; "
        "these sessions are no substitute for a teacher who can see you.</p></footer>\n"
        "</body>\n</html>\n"
    )
    return head + "\n" + "\n".join(body) + "\n" + "\n".join(share) + "\n" + foot
