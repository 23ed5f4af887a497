"""serve: a published site over real HTTP (Range, HEAD, MIME types, traversal, Ctrl-C)."""

from __future__ import annotations

import http.client
import signal

import pytest

from tests.publish.helpers import Server, publish_cli, write_tiny_scripts

SECRET = b"the teacher's private notes"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    scripts = write_tiny_scripts(root / "scripts")
    site = root / "site"
    proc = publish_cli(scripts[:1], site, "--levels", "standard", "--base-url", "http://x.test/")
    assert proc.returncode == 0, proc.stderr
    (root / "secret.txt").write_bytes(SECRET)  # beside the site: never to be served
    (site / "leak.txt").symlink_to(root / "secret.txt")
    (site / "up").symlink_to(root, target_is_directory=True)
    server = Server(site)
    yield site, server
    server.stop()


def request(server, method: str, path: str, headers: dict | None = None):
    """One request with the path sent exactly as given (no client-side normalising)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_it_prints_the_address_and_a_qr_code(served):
    _, server = served
    text = "".join(server.output)
    assert f"serving {served[0]} at http://127.0.0.1:{server.port}/" in text
    assert "feed.xml" in text
    assert sum("█" in line for line in server.output) > 10  # the QR code, in half blocks
    assert "the feed's links point at http://x.test/" in text


def test_a_range_request_gets_206_and_exactly_those_bytes(served):
    site, server = served
    audio = (site / "sessions/tiny-a-standard.mp3").read_bytes()
    status, headers, body = request(
        server, "GET", "/sessions/tiny-a-standard.mp3", {"Range": "bytes=1000-1999"}
    )
    assert status == 206
    assert body == audio[1000:2000]
    assert headers["Content-Range"] == f"bytes 1000-1999/{len(audio)}"
    assert headers["Content-Type"] == "audio/mpeg"
    status, headers, body = request(
        server, "GET", "/sessions/tiny-a-standard.mp3", {"Range": "bytes=-100"}
    )
    assert status == 206 and body == audio[-100:]
    status, _, _ = request(
        server, "GET", "/sessions/tiny-a-standard.mp3", {"Range": f"bytes={len(audio) + 10}-"}
    )
    assert status == 416


def test_head_gives_the_headers_and_no_body(served):
    site, server = served
    status, headers, body = request(server, "HEAD", "/sessions/tiny-a-standard.mp3")
    assert status == 200 and body == b""
    assert int(headers["Content-Length"]) == (site / "sessions/tiny-a-standard.mp3").stat().st_size
    assert headers["Accept-Ranges"] == "bytes"
    status, headers, body = request(server, "HEAD", "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html") and body == b""


@pytest.mark.parametrize(
    ("path", "mime"),
    [
        ("/", "text/html; charset=utf-8"),
        ("/index.html", "text/html; charset=utf-8"),
        ("/feed.xml", "application/rss+xml; charset=utf-8"),
        ("/sessions/tiny-a-standard.mp3", "audio/mpeg"),
        ("/sessions/tiny-a-standard.vtt", "text/vtt; charset=utf-8"),
        ("/sessions/tiny-a-standard.chapters.json", "application/json+chapters"),
        ("/sessions/tiny-a-standard.timeline.svg", "image/svg+xml"),
        ("/cover.png", "image/png"),
        ("/assets/page.js", "text/javascript; charset=utf-8"),
        ("/assets/page.css", "text/css; charset=utf-8"),
    ],
)
def test_each_kind_of_file_has_its_mime_type(served, path, mime):
    _, server = served
    status, headers, body = request(server, "GET", path)
    assert status == 200 and body
    assert headers["Content-Type"] == mime


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/sessions/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/sessions/%2e%2e/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/sessions/..%2f..%2fsecret.txt",
        "/%2e%2e%2fsecret.txt",
        "/..%5csecret.txt",
        "//etc/passwd",
        "/%2fetc%2fpasswd",
        "/leak.txt",  # a symbolic link out of the site
        "/up/secret.txt",  # through a linked folder
        "/sessions/",  # no folder listings either
    ],
)
def test_nothing_outside_the_site_is_ever_served(served, path):
    _, server = served
    status, _, body = request(server, "GET", path)
    assert status in (403, 404), (path, status)
    assert SECRET not in body and b"root:" not in body


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_it_is_read_only(served, method):
    site, server = served
    before = (site / "feed.xml").read_bytes()
    status, _, _ = request(server, method, "/feed.xml", {"Content-Length": "0"})
    assert status == 405
    assert (site / "feed.xml").read_bytes() == before


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_stops_it_cleanly(served, sig):
    site, _ = served
    server = Server(site)
    assert request(server, "GET", "/feed.xml")[0] == 200
    code, out, err = server.stop(sig)
    assert code in (0, 130), err
    assert "Traceback" not in err and "stopped" in out


def test_a_folder_that_is_no_site_is_refused(tmp_path):
    from tests.publish.helpers import run_cli

    proc = run_cli("serve", str(tmp_path))
    assert proc.returncode == 2
    assert "has no index.html" in proc.stderr and "Traceback" not in proc.stderr


def test_a_republish_while_serving_is_served_at_once_and_whole(tmp_path):
    scripts = write_tiny_scripts(tmp_path / "scripts")
    site = tmp_path / "site"
    first = publish_cli(scripts[:1], site, "--levels", "standard", "--title", "First title")
    assert first.returncode == 0, first.stderr
    server = Server(site)
    try:
        assert b"First title" in request(server, "GET", "/feed.xml")[2]
        again = publish_cli(scripts, site, "--levels", "standard", "--title", "Second title")
        assert again.returncode == 0, again.stderr
        status, _, feed = request(server, "GET", "/feed.xml")
        assert status == 200 and b"Second title" in feed and b"tiny-b-standard.mp3" in feed
        assert request(server, "GET", "/sessions/tiny-b-standard.mp3")[0] == 200
        assert b"Second title" in request(server, "GET", "/")[2]
    finally:
        server.stop()
