"""Links in messages and their previews, in Chromium: Ann on a desktop, Bob on a 360 px phone.

The linked "site" is a small HTTP server of the test's own on 127.0.0.1; the chat server may
fetch from it only when started with link_preview_allow naming it."""

from __future__ import annotations

import http.server
import io
import re
import threading
import urllib.request
from collections.abc import Iterator

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.browser.conftest import Person
from tests.serverproc import ServerProcess

PICTURE = io.BytesIO()
Image.new("RGB", (800, 420), (20, 120, 220)).save(PICTURE, "PNG")
ARTICLE = (
    b"<!doctype html><html><head><title>plain title</title>"
    b"<meta property='og:title' content='Tide tables for June'>"
    b"<meta property='og:description' content='High and low water, day by day.'>"
    b"<meta property='og:site_name' content='Harbour News'>"
    b"<meta property='og:image' content='/picture.png'></head><body>...</body></html>"
)


class Site:
    """A local web site that logs the paths it is asked for."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.paths.append(self.path)
                kind, body = (
                    ("image/png", PICTURE.getvalue())
                    if self.path == "/picture.png"
                    else ("text/html", ARTICLE)
                )
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def requests_before_sentinel(self) -> list[str]:
        """What the site got before a request of the test's own."""
        with urllib.request.urlopen(self.url("/sentinel"), timeout=5) as response:
            assert response.status == 200
        assert self.paths[-1] == "/sentinel"
        return self.paths[:-1]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def site() -> Iterator[Site]:
    made = Site()
    yield made
    made.close()


@pytest.fixture(params=["previews on"])
def server(request, tmp_path):
    """The chat server; `previews on` lets it fetch from the local test site only."""
    extra = (
        ["--link-previews", "true", "--link-preview-allow", "127.0.0.1/32"]
        if request.param == "previews on"
        else []
    )
    proc = ServerProcess(tmp_path, None, *extra).start()
    yield proc
    proc.stop()


def links_in_last(person: Person):
    return person.page.locator("li.msg").last.locator("a.msg__link")


def check_link(link, href: str, text: str) -> None:
    expect(link).to_have_attribute("href", href)
    expect(link).to_have_text(text)
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    expect(link).to_have_attribute("target", "_blank")


def fits_the_screen(person: Person) -> None:
    width = person.page.viewport_size["width"]
    assert person.page.evaluate("document.documentElement.scrollWidth") <= width
    box = person.page.locator("li.msg").last.locator(".msg__bubble").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width


def test_links_and_a_preview_card_on_desktop_and_phone(friends, site):
    ann, bob = friends
    article = site.url("/tides?month=6")
    ann.send(f"Look (see {article}), and www.example.org.")
    for person in (bob, ann):
        links = links_in_last(person)
        expect(links).to_have_count(2)
        check_link(links.nth(0), article, article)  # the ")" and "," are not part of it
        check_link(links.nth(1), "https://www.example.org/", "www.example.org")
        card = person.page.locator("li.msg").last.locator("a.link-card")
        expect(card).to_be_visible()
        expect(card.locator(".link-card__title")).to_have_text("Tide tables for June")
        expect(card.locator(".link-card__site")).to_have_text("Harbour News")
        expect(card).to_have_attribute("href", article)
        expect(card).to_have_attribute("rel", "noopener noreferrer")
        expect(card).to_have_attribute("target", "_blank")
        image = card.locator("img.link-card__image")
        expect(image).to_have_attribute("src", re.compile(r"^/upload/"))
        image.evaluate("img => img.decode()")  # the thumbnail, from our server, really loads
        assert image.evaluate("img => img.naturalWidth") == 320
        fits_the_screen(person)
    # The server fetched the page and its image once for both readers; browsers never did.
    assert site.requests_before_sentinel() == ["/tides?month=6", "/picture.png"]

    long_url = site.url("/" + "very-long-path-segment-" * 12 + "end")
    bob.send(f"{long_url} is long")
    for person in (ann, bob):
        # Found by its text: right after the send, the last bubble may still be the first
        # message, whose two links would fail a strict locator at once.
        long_links = person.page.locator("li.msg", has_text="is long").locator("a.msg__link")
        check_link(long_links, long_url, long_url)
        fits_the_screen(person)  # it wraps inside the bubble on the 360 px phone too
    assert ann.errors == [] and bob.errors == []


@pytest.mark.parametrize("server", ["previews off"], indirect=True)
def test_links_without_previews_and_what_never_becomes_a_link(friends, site):
    ann, bob = friends
    ann.send(f"plain {site.url('/page')}! javascript:alert(1) data:text/html,hi")
    links = links_in_last(bob)
    expect(links).to_have_count(1)
    check_link(links, site.url("/page"), site.url("/page"))
    expect(bob.page.locator("li.msg").last.locator(".msg__text")).to_contain_text("javascript:alert(1)")
    expect(bob.page.locator(".link-card-slot, .link-card")).to_have_count(0)
    fits_the_screen(bob)
    assert site.requests_before_sentinel() == []  # previews off: the server asked for nothing
    cases = {
        "https://x.org/a.": ["https://x.org/a"],
        "(https://en.wikipedia.org/wiki/Tor_(network))": ["https://en.wikipedia.org/wiki/Tor_(network)"],
        "[http://a.io/x]": ["http://a.io/x"],
        "go to www.a.io/p?q=1;": ["https://www.a.io/p?q=1"],
        "mail me@www.a.io or xhttps://a.io": [],
        "www. and https:// alone": [],
        "JAVASCRIPT:alert(1) data:,x vbscript:x": [],
        "two http://a.io/1 https://b.io/2": ["http://a.io/1", "https://b.io/2"],
    }
    found = bob.page.evaluate(
        """async (texts) => {
            const { findLinks } = await import('/asset/js/linkify.js');
            return texts.map((t) => findLinks(t).filter((p) => p.href).map((p) => p.href));
        }""",
        list(cases),
    )
    assert dict(zip(cases, found, strict=True)) == cases
    assert ann.errors == [] and bob.errors == []
