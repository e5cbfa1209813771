"""POST /link/preview: server-side previews through the SSRF guard, against local test sites.

The machine has no internet, so "sites" are Tornado apps on 127.0.0.x. The server may reach
them only when link_preview_allow names them; every test that says a site got nothing asks
the site itself afterwards (a sentinel request of the test's own) and reads its log."""

from __future__ import annotations

import asyncio
import io
import ipaddress
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import tornado.web
from PIL import Image
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from server import linkfetch, pagemeta
from tests.conftest import both_buses, both_databases, register

ALLOW_LOCAL = {"link_previews": True, "link_preview_allow": ("127.0.0.1/32",)}
PNG = io.BytesIO()
Image.new("RGB", (640, 480), (200, 30, 30)).save(PNG, "PNG")


def page(title: str = "A page", image: str = "/img.png", extra: str = "") -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>ignored {title}</title>"
        f"<meta property='og:title' content='{title}'>"
        "<meta property='og:description' content='What  the\n page is &amp; says.'>"
        "<meta property='og:site_name' content='Test Site'>"
        f"<meta property='og:image' content='{image}'>{extra}</head><body><p>hi</p></body></html>"
    )


class Site:
    """A local web site that logs every request it gets (path, User-Agent)."""

    def __init__(self, address: str) -> None:
        self.requests: list[tuple[str, str]] = []
        self.release = asyncio.Event()
        self.image = "/img.png"  # what pages name as their og:image
        site = self

        class Any_(tornado.web.RequestHandler):
            async def get(self, path: str) -> None:
                site.requests.append((self.request.uri or "", self.request.headers.get("User-Agent", "")))
                await site.answer(self, path)

        self.app = tornado.web.Application([(r"/(.*)", Any_)])
        self.sockets = bind_sockets(0, address or None, socket.AF_UNSPEC)
        self.port = self.sockets[0].getsockname()[1]
        self.host = address or "127.0.0.1"
        self.server = HTTPServer(self.app)
        self.server.add_sockets(self.sockets)

    def url(self, path: str, to: str = "") -> str:
        query = f"?to={quote(to, safe='')}" if to else ""
        return f"http://{self.host}:{self.port}/{path}{query}"

    async def answer(self, handler: tornado.web.RequestHandler, path: str) -> None:
        if path == "img.png":
            handler.set_header("Content-Type", "image/png")
            handler.write(PNG.getvalue())
        elif path.startswith("redirect"):
            handler.redirect(handler.get_query_argument("to"))
        elif path == "text":
            handler.set_header("Content-Type", "text/plain")
            handler.write("<title>not html</title>")
        elif path == "slow":
            await self.release.wait()
            handler.write(page("Slow"))
        elif path.startswith("big"):
            # The title comes after more than the cap of padding: a reader that stops at
            # the cap never sees it. chunked: streamed in pieces; else one Content-Length.
            padding = "<!--" + "x" * (600 * 1024) + "-->"
            body = f"<html><head>{padding}<title>Too far</title></head></html>"
            handler.set_header("Content-Type", "text/html")
            if path == "big-chunked":
                for start in range(0, len(body), 64 * 1024):
                    handler.write(body[start : start + 64 * 1024])
                    await handler.flush()
            else:
                handler.set_header("Content-Length", str(len(body)))
                handler.write(body)
        elif path == "sentinel":
            handler.write("ok")
        else:
            handler.write(page(title=path or "Home", image=self.image))

    def paths(self) -> list[str]:
        return [uri for uri, _ in self.requests]

    async def sentinel(self, http_client: Any) -> None:
        """The site's log before the test's own request is what the server sent it."""
        response = await http_client.fetch(self.url("sentinel"))
        assert response.body == b"ok"

    def close(self) -> None:
        self.release.set()
        self.server.stop()


@pytest.fixture
def site(io_loop) -> Iterator[Site]:
    made = Site("127.0.0.1")
    yield made
    made.close()


@pytest.fixture
def other_site(io_loop) -> Iterator[Site]:
    """A site on 127.0.0.2: loopback too, but outside link_preview_allow's 127.0.0.1/32."""
    made = Site("127.0.0.2")
    yield made
    made.close()


async def preview(api, token: str, url: str) -> tuple[int, dict]:
    return await api.call("/link/preview", token, url=url)


# -- the guard ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
        "169.254.169.254", "100.64.0.1", "100.127.255.254", "0.0.0.0", "224.0.0.251",
        "239.255.255.250", "240.0.0.1", "255.255.255.255", "198.18.0.1", "::", "::1",
        "fc00::1", "fd12:3456::1", "fe80::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
        "::ffff:169.254.169.254", "64:ff9b::a00:1", "2002:7f00:1::1", "2002:a9fe:a9fe::1",
    ],
)  # fmt: skip
def test_the_guard_refuses_every_address_that_is_not_public(address):
    assert linkfetch.forbidden(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_the_guard_lets_public_addresses_through(address):
    assert not linkfetch.forbidden(ipaddress.ip_address(address))


def test_the_allow_list_opens_only_what_it_names():
    allow = (ipaddress.ip_network("127.0.0.1/32"),)
    assert not linkfetch.forbidden(ipaddress.ip_address("127.0.0.1"), allow)
    assert not linkfetch.forbidden(ipaddress.ip_address("::ffff:127.0.0.1"), allow)
    assert linkfetch.forbidden(ipaddress.ip_address("127.0.0.2"), allow)
    assert linkfetch.forbidden(ipaddress.ip_address("::1"), allow)


@pytest.fixture
def wide_site(io_loop) -> Iterator[Site]:
    """A site listening on every address of this machine (IPv4 and IPv6)."""
    made = Site("")
    yield made
    made.close()


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("settings_overrides", [{"link_previews": True}])
async def test_a_link_preview_never_fetches_a_private_address(api, http_client, wide_site):
    ann = await register(api, "Ann")
    port = wide_site.port
    urls = [
        f"http://127.0.0.1:{port}/a",
        f"http://localhost:{port}/b",  # a name that resolves to loopback
        f"http://127.1:{port}/c",  # short forms the resolver expands
        f"http://2130706433:{port}/d",
        f"http://0x7f000001:{port}/e",
        f"http://0.0.0.0:{port}/f",
        f"http://[::1]:{port}/g",
        f"http://[::ffff:127.0.0.1]:{port}/h",
        f"http://[::ffff:7f00:1]:{port}/i",
        f"https://127.0.0.1:{port}/j",
        f"http://169.254.169.254:{port}/latest/meta-data/",
    ]
    for url in urls:
        status, body = await preview(api, ann.token, url)
        assert (status, body["msg"]) == (404, "no preview"), url
    await wide_site.sentinel(http_client)
    assert wide_site.paths() == ["/sentinel"]


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("settings_overrides", [{"link_previews": True}])
async def test_a_name_resolving_to_loopback_is_refused(api, http_client, site):
    ann = await register(api, "Ann")
    status, body = await preview(api, ann.token, f"http://localhost:{site.port}/page")
    assert (status, body["msg"]) == (404, "no preview")
    await site.sentinel(http_client)
    assert site.paths() == ["/sentinel"]


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("settings_overrides", [ALLOW_LOCAL])
async def test_a_redirect_to_a_forbidden_address_is_refused_at_the_hop(api, http_client, site, other_site):
    ann = await register(api, "Ann")
    target = other_site.url("secret")
    status, _ = await preview(api, ann.token, site.url("redirect", to=target))
    assert status == 404
    assert site.paths() == [f"/redirect?to={quote(target, safe='')}"]  # the allowed site was asked
    await other_site.sentinel(http_client)
    assert other_site.paths() == ["/sentinel"]  # the forbidden one never was


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("settings_overrides", [ALLOW_LOCAL])
async def test_an_image_at_a_forbidden_address_is_not_fetched(api, http_client, site, other_site):
    ann = await register(api, "Ann")
    site.image = other_site.url("img.png")
    data = await api.ok("/link/preview", ann.token, url=site.url("with-bad-image"))
    assert data["title"] == "with-bad-image" and data["image"] == ""
    await other_site.sentinel(http_client)
    assert other_site.paths() == ["/sentinel"]


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("settings_overrides", [ALLOW_LOCAL])
async def test_redirects_are_followed_three_times_at_most(api, site):
    ann = await register(api, "Ann")
    status, body = await preview(api, ann.token, site.url("redirect1", to=site.url("after-redirect")))
    assert status == 200 and body["data"]["title"] == "after-redirect"
    hops = site.url("final")
    for n in range(4):
        hops = site.url(f"redirect{n}", to=hops)
    status, _ = await preview(api, ann.token, hops)
    assert status == 404  # a fourth redirect is one too many
    assert "/final" not in site.paths()


# -- fetching ----------------------------------------------------------------------------


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("settings_overrides", [ALLOW_LOCAL])
async def test_preview_has_the_pages_title_description_site_and_a_local_thumbnail(
    api, http_client, base_url, site
):
    ann = await register(api, "Ann")
    url = site.url("news") + "#section"
    data = await api.ok("/link/preview", ann.token, url=url)
    assert data["url"] == site.url("news")  # without the fragment
    assert data["title"] == "news"
    assert data["description"] == "What the page is & says."
    assert data["site"] == "Test Site"
    assert data["image"].startswith("/upload/") and data["image"].endswith(".webp")
    # The image came through the server: the browser fetches it from us, as a thumbnail.
    response = await http_client.fetch(base_url + data["image"])
    assert response.headers["Content-Type"] == "image/webp"
    thumb = Image.open(io.BytesIO(response.body))
    assert max(thumb.size) == 320 and thumb.getpixel((10, 10))[0] > 150
    assert site.paths() == ["/news", "/img.png"]
    assert all(agent.startswith("chatd link preview") for _, agent in site.requests)


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("settings_overrides", [ALLOW_LOCAL])
@both_databases
async def test_a_cached_preview_is_not_fetched_again(api, site):
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    first = await api.ok("/link/preview", ann.token, url=site.url("once"))
    again = await api.ok("/link/preview", bob.token, url=site.url("once"))
    assert first == again
    missing = site.url("text")
    for _ in range(2):  # a miss is cached too
        assert (await preview(api, ann.token, missing))[0] == 404
    assert site.paths() == ["/once", "/img.png", "/text"]


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("settings_overrides", [ALLOW_LOCAL])
async def test_concurrent_requests_for_one_url_share_one_fetch(api, site):
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    url = site.url("slow")
    asking = [asyncio.ensure_future(preview(api, who.token, url)) for who in (ann, bob, ann)]
    while site.paths().count("/slow") < 1:
        await asyncio.sleep(0.01)
    site.release.set()
    answers = await asyncio.gather(*asking)
    assert [status for status, _ in answers] == [200, 200, 200]
    assert site.paths().count("/slow") == 1


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("settings_overrides", [{**ALLOW_LOCAL, "link_preview_timeout": 1.0}])
async def test_a_slow_site_is_given_up_on(api, site):
    ann = await register(api, "Ann")
    started = time.monotonic()
    status, _ = await preview(api, ann.token, site.url("slow"))
    assert status == 404
    assert time.monotonic() - started < 4
    assert site.paths() == ["/slow"]


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("settings_overrides", [ALLOW_LOCAL])
@pytest.mark.parametrize("path", ["big", "big-chunked"])
async def test_a_page_is_read_only_up_to_the_cap(api, site, path):
    ann = await register(api, "Ann")
    status, _ = await preview(api, ann.token, site.url(path))
    assert status == 404  # its only title was past 512 KB


def test_a_page_cut_at_the_cap_keeps_what_came_before():
    body = page("Early").replace("</head>", "<!--" + "y" * 100 + "</head>").encode()
    meta = pagemeta.parse_page(body[: len(body) // 2 + 200], "", "https://example.org/x")
    assert meta.title == "Early"


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("settings_overrides", [ALLOW_LOCAL])
async def test_a_page_that_is_not_html_has_no_preview(api, site):
    ann = await register(api, "Ann")
    status, body = await preview(api, ann.token, site.url("text"))
    assert (status, body["msg"]) == (404, "no preview")


@pytest.mark.gen_test(timeout=60)
async def test_previews_are_off_by_default_and_nothing_is_fetched(api, http_client, site):
    ann = await register(api, "Ann")
    status, body = await preview(api, ann.token, site.url("page"))
    assert (status, body["msg"]) == (403, "link previews are off on this server")
    await site.sentinel(http_client)
    assert site.paths() == ["/sentinel"]


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("settings_overrides", [{**ALLOW_LOCAL, "link_preview_allow": ("127.0.0.1/32",)}])
async def test_bad_urls_are_refused_and_strangers_get_401(api, site):
    ann = await register(api, "Ann")
    for url in ("javascript:alert(1)", "data:text/html,hi", "ftp://example.org/", "http://", "/relative",
                "http://user:pw@example.org/", "http://example.org:99999/"):  # fmt: skip
        status, _ = await preview(api, ann.token, url)
        assert status == 400, url
    assert (await preview(api, "", site.url("page")))[0] == 401
    assert site.paths() == []


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("settings_overrides", [{**ALLOW_LOCAL, "link_preview_rate": 2}])
@both_buses  # with Redis the allowance is the chat's, leased from Redis
async def test_fetches_are_limited_per_user_but_cached_answers_are_free(api, site):
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    for path in ("one", "two"):
        assert (await preview(api, ann.token, site.url(path)))[0] == 200
    status, body = await preview(api, ann.token, site.url("three"))
    assert (status, body["msg"]) == (429, "too many link previews; try again later")
    assert (await preview(api, ann.token, site.url("one")))[0] == 200  # cached: not counted
    assert (await preview(api, bob.token, site.url("three")))[0] == 200  # Bob has his own
    assert site.paths().count("/three") == 1


# -- reading the page --------------------------------------------------------------------


def test_page_meta_falls_back_to_the_title_and_meta_description():
    html = (
        "<html><head><title>\n  Plain\u202e title  </title>"
        "<meta name='description' content='Described.'></head></html>"
    ).encode()
    meta = pagemeta.parse_page(html, "", "https://www.example.org/a/b")
    assert (meta.title, meta.description, meta.site, meta.image) == (
        "Plain title",
        "Described.",
        "example.org",
        "",
    )


def test_page_meta_reads_its_charset_and_resolves_the_image_against_the_page():
    html = "<meta charset='iso-8859-1'><meta name='twitter:title' content='Café'>".encode("iso-8859-1")
    html += b"<meta name='twitter:image' content='../pic.jpg'>"
    meta = pagemeta.parse_page(html, "", "https://example.org/a/b")
    assert meta.title == "Café" and meta.image == "https://example.org/pic.jpg"
    # javascript: or data: images are never fetched; long text is cut.
    html = f"<meta property='og:image' content='javascript:alert(1)'><title>{'x' * 500}</title>".encode()
    meta = pagemeta.parse_page(html, "utf-8", "https://example.org/")
    assert meta.image == "" and len(meta.title) == pagemeta.TITLE_MAX and meta.title.endswith("…")


@pytest.fixture
def tls_site(io_loop, tmp_path) -> Iterator[Site]:
    """The site over HTTPS with a self-signed certificate for 127.0.0.1 (trusted by nobody)."""
    import ssl
    import subprocess

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    made = Site("127.0.0.1")
    made.server.stop()
    made.sockets = bind_sockets(0, "127.0.0.1")
    made.port = made.sockets[0].getsockname()[1]
    made.server = HTTPServer(made.app, ssl_options=context)
    made.server.add_sockets(made.sockets)
    yield made
    made.close()


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("settings_overrides", [ALLOW_LOCAL])
async def test_https_checks_the_certificate(api, tls_site):
    ann = await register(api, "Ann")
    url = tls_site.url("page").replace("http://", "https://")
    status, _ = await preview(api, ann.token, url)
    assert status == 404
    assert tls_site.paths() == []  # the handshake failed: no request was sent over it
