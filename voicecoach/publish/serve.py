"""``serve``: the site to phones on the same network, read-only, through aiohttp.

aiohttp's static route does the file work: GET and HEAD only (other methods get 405),
``Range`` requests answered with 206 and exactly those bytes (iOS Safari seeks audio only
so), ETag / Last-Modified, and no file outside the folder: a path is resolved (``..``,
its percent-encoded forms and symbolic links included) and refused unless it stays inside
(``follow_symlinks=False``). This module adds the page at ``/``, the MIME types podcast
apps expect for each file the site holds, and no caching of the feed and the page, so a
republish shows at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
from pathlib import Path
from typing import TextIO

from voicecoach.errors import UsageError
from voicecoach.publish.feed import FEED_NAME, PAGE_NAME
from voicecoach.publish.model import MANIFEST_NAME

# by file name ending (longest first): what podcast apps and browsers expect
MIME_BY_SUFFIX = (
    (".chapters.json", "application/json+chapters"),
    (".json", "application/json"),
    (".mp3", "audio/mpeg"),
    (".opus", "audio/ogg"),
    (".m4a", "audio/mp4"),
    (".vtt", "text/vtt; charset=utf-8"),
    (".xml", "application/rss+xml; charset=utf-8"),
    (".html", "text/html; charset=utf-8"),
    (".css", "text/css; charset=utf-8"),
    (".js", "text/javascript; charset=utf-8"),
    (".svg", "image/svg+xml"),
    (".png", "image/png"),
)
_NO_CACHE = (".html", ".xml", ".json")

DEFAULT_PORT = 8765


def mime_type(path: str) -> str | None:
    lower = path.lower()
    return next((mime for suffix, mime in MIME_BY_SUFFIX if lower.endswith(suffix)), None)


def make_app(site: Path):
    """The aiohttp application serving ``site`` (read-only)."""
    from aiohttp import web

    root = site.resolve()

    async def index(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(root / PAGE_NAME)

    async def headers(request: web.Request, response: web.StreamResponse) -> None:
        if response.status in (200, 206, 304) and isinstance(response, web.FileResponse):
            path = request.path if request.path != "/" else f"/{PAGE_NAME}"
            mime = mime_type(path)
            if mime is not None:
                response.headers["Content-Type"] = mime
            if path.lower().endswith(_NO_CACHE):
                response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        # web players in other origins read transcripts and chapters (Podcasting 2.0 advice)
        response.headers["Access-Control-Allow-Origin"] = "*"

    app = web.Application()
    app.router.add_get("/", index)  # HEAD too
    app.router.add_static("/", root, follow_symlinks=False, show_index=False)
    app.on_response_prepare.append(headers)
    return app


def lan_address() -> str | None:
    """This machine's address on the local network (the one its default route uses), if any.

    Connecting a UDP socket only picks a route: no packet is sent.
    """
    with (
        contextlib.suppress(OSError),
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s,
    ):
        s.connect(("192.0.2.1", 9))  # TEST-NET-1: never contacted
        address = s.getsockname()[0]
        if not address.startswith("127."):
            return address
    return None


def serve(
    site: str | Path, *, host: str = "0.0.0.0", port: int = DEFAULT_PORT, out: TextIO | None = None
) -> None:
    """Serve ``site`` until Ctrl-C (or SIGTERM); prints its address and a QR code of it."""
    from aiohttp import web

    from voicecoach.publish.qr import print_qr

    stream = out or sys.stdout
    folder = Path(site)
    if not folder.is_dir():
        raise UsageError(
            f"{site} is not a folder (make one with `voicecoach publish ... -o {site}`)"
        )
    if not (folder / PAGE_NAME).is_file():
        raise UsageError(f"{site} has no {PAGE_NAME}: is it a site made by `voicecoach publish`?")
    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be 0 to 65535, not {port}")
    app = make_app(folder)
    local = host in ("0.0.0.0", "::", "")
    shown_host = (lan_address() or "127.0.0.1") if local else host
    if ":" in shown_host:
        shown_host = f"[{shown_host}]"

    def say_where(bound: int) -> None:
        url = f"http://{shown_host}:{bound}/"
        print(f"serving {folder} at {url}", file=stream)
        print(f"  the feed for podcast apps: {url}{FEED_NAME}", file=stream)
        if local:
            print(f"  on this machine: http://127.0.0.1:{bound}/", file=stream)
        _warn_base_url(folder, url, stream)
        with contextlib.suppress(UnicodeEncodeError):  # a terminal without block characters
            print_qr(url, stream)
        print("press Ctrl-C to stop", file=stream, flush=True)

    async def main() -> None:
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            try:
                await web.TCPSite(runner, host or None, port).start()
            except OSError as e:
                raise UsageError(f"cannot listen on {host}:{port}: {e.strerror or e}") from e
            say_where(runner.addresses[0][1])
            stop = asyncio.Event()
            with contextlib.suppress(NotImplementedError):  # SIGTERM stops it cleanly too
                asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
            await stop.wait()
        finally:
            await runner.cleanup()

    # Ctrl-C cancels main(), which closes the server; then asyncio.run raises KeyboardInterrupt
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
    print("stopped", file=stream, flush=True)


def _warn_base_url(folder: Path, url: str, stream: TextIO) -> None:
    import json

    with contextlib.suppress(OSError, ValueError):
        manifest = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
        base = manifest.get("base_url")
        if base is None:
            print(
                "  note: this site was published without --base-url, so podcast apps cannot "
                f"use its feed; publish again with --base-url {url}",
                file=stream,
            )
        elif base != url and base.rstrip("/") != url.rstrip("/"):
            print(
                f"  note: the feed's links point at {base}; to use this address, publish "
                f"again with --base-url {url}",
                file=stream,
            )
