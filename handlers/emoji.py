"""GET /emoji.json: the emoji and sticker catalog, public and cacheable."""

from __future__ import annotations

import tornado.web

from server.emoji import EmojiCatalog


class EmojiCatalogHandler(tornado.web.RequestHandler):
    """Serves the catalog's pre-encoded JSON; no auth, since it holds nothing private."""

    @property
    def catalog(self) -> EmojiCatalog:
        catalog: EmojiCatalog = self.application.settings["ctx"].emoji
        return catalog

    def compute_etag(self) -> str | None:
        # The body never changes while the process runs: reuse the hash made at start-up
        # instead of Tornado hashing 170 KB per request. finish() answers 304 on a match.
        return self.catalog.etag

    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.set_header("X-Content-Type-Options", "nosniff")
        # An hour: a server upgrade or a new sticker pack shows up soon, and clients
        # revalidate cheaply with If-None-Match after that.
        self.set_header("Cache-Control", "public, max-age=3600")
        self.finish(self.catalog.payload)

    def head(self) -> None:
        self.get()
