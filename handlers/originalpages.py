"""The original Go IM's own pages and assets, served when `original_client_dir` is set.

Its pages are served at their template names (`/user/login.shtml`, `/chat/index.shtml`, ...),
rendered once at start (server/originalclient.py), and its asset/ folder at `/asset/`.
chatd's own pages stay at /chat.html, /login.html, /register.html and link their files under
`/chatd-asset/` instead: the original has files of the same name (`asset/css/chat.css`)."""

from __future__ import annotations

import logging
import re
import urllib.parse
from pathlib import Path
from typing import Any

import tornado.web

from server.originalclient import HOME, asset_file, load
from server.settings import Settings

log = logging.getLogger(__name__)

CHATD_ASSET_PREFIX = "/chatd-asset/"
EXTRA_SLASHES = re.compile(r"/{2,}")
# No script-src or default-src: the original's pages run inline scripts and inline handlers
# (onchange="upload(this)") and Vue 2 compiles its in-page templates with new Function(), so
# any script policy that allowed them would need 'unsafe-inline' 'unsafe-eval' and protect
# nothing. What is left still stops framing, plugins and a planted <base>.
ORIGINAL_CSP = "frame-ancestors 'none'; object-src 'none'; base-uri 'none'"


def static_url_prefix(settings: Settings) -> str:
    """Where chatd's own asset/ is linked by its pages' static_url()."""
    return CHATD_ASSET_PREFIX if settings.original_client_dir else "/asset/"


class OriginalPageHandler(tornado.web.RequestHandler):
    """One rendered page of the original (static text: it carries no data)."""

    def initialize(self, html: bytes) -> None:
        self.html = html

    def set_default_headers(self) -> None:
        self.set_header("X-Frame-Options", "DENY")  # no site may frame it (clickjacking)
        self.set_header("Content-Security-Policy", ORIGINAL_CSP)
        self.set_header("X-Content-Type-Options", "nosniff")
        # /chat/index.shtml carries ?id=..&token=..: never send it to another site as a Referer.
        self.set_header("Referrer-Policy", "same-origin")

    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.set_header("Cache-Control", "no-cache")
        self.write(self.html)


class OriginalAssetHandler(tornado.web.StaticFileHandler):
    """`/asset/PATH`: the original's file when it has one, else chatd's own (the sticker URLs
    `/asset/stickers/...` chatd's catalog and stored messages use). Nothing outside either
    folder: `..`, absolute paths and symlinks leading out answer 404."""

    def initialize(self, path: str, fallback: str) -> None:  # type: ignore[override]
        super().initialize(path)
        self.fallback = fallback

    def check_xsrf_cookie(self) -> None:
        # The original's pages fetch doutu/<pkg>/info.json with a POST (Go's FileServer
        # answers any method). A POST here only reads a public file: nothing to forge.
        pass

    def set_extra_headers(self, path: str) -> None:
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Cache-Control", "no-cache")  # no version hash in these URLs

    async def get(self, path: str, include_body: bool = True) -> None:
        # Its pages join "/asset/plugins/doutu/" + "/" + "mkgif/...": the doubled slash
        # that Go's mux cleaned up (with a redirect) names the same file here.
        path = EXTRA_SLASHES.sub("/", path)
        if asset_file(Path(self.root), path) is None:
            if asset_file(Path(self.fallback), path) is None:
                raise tornado.web.HTTPError(404)
            self.root = self.fallback
        await super().get(path, include_body)

    async def post(self, path: str) -> None:
        await self.get(path)


def page_pattern(name: str) -> str:
    # Tornado matches the path as sent (percent-encoded), Go's mux the decoded one.
    return re.escape(urllib.parse.quote(name, safe="/:@!$&'()*+,;=-._~"))


def original_routes(settings: Settings, chatd_asset: Path) -> tuple[str | None, list[Any]]:
    """The original's page routes and `/asset/`, and the page `/` should redirect to (None:
    chatd's own). Nothing when `original_client_dir` is unset. Reads and renders the folder
    (once, at start). Raises OriginalClientError."""
    if settings.original_client_dir is None:
        return None, []
    client = load(settings.original_client_dir)
    log.info("serving the original client's %d pages from %s", len(client.pages), client.root)
    if not settings.original_client:
        log.warning("original_client_dir is set but original_client is off: its pages' calls will fail")
    routes: list[Any] = [
        (page_pattern(name), OriginalPageHandler, {"html": html.encode()})
        for name, html in sorted(client.pages.items())
    ]
    routes.append(
        (r"/asset/(.*)", OriginalAssetHandler, {"path": str(client.asset_dir), "fallback": str(chatd_asset)})
    )
    uploads = client.root / "mnt"  # the original server's uploads, when copied over with it
    if uploads.is_dir():
        routes.append((r"/mnt/(.*)", OriginalAssetHandler, {"path": str(uploads), "fallback": str(uploads)}))
    return (HOME if HOME in client.pages else None), routes
