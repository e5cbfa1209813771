"""The HTML pages."""

from __future__ import annotations

from typing import Any

import orjson
import tornado.web

from server.context import Ctx

PAGES = ("chat", "login", "register")
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "style-src 'self' 'unsafe-inline'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)


def client_limits(ctx: Ctx) -> str:
    """The limits the page enforces before the server would refuse (voice timer, sizes)."""
    settings = ctx.settings
    return orjson.dumps(
        {
            "max_text": settings.max_text,
            "image_max_bytes": settings.image_max_bytes,
            "voice_max_bytes": settings.voice_max_bytes,
            "voice_max_seconds": settings.voice_max_seconds,
            # Which messages still offer Edit and Recall (the server judges anyway).
            "edit_window": settings.edit_window,
            "recall_window": settings.recall_window,
            # Whether the "Me" panel offers sign-up links (open: no need; closed: refused).
            "registration": settings.registration,
            # Whether bubbles ask POST /link/preview for the links they show.
            "link_previews": settings.link_previews,
        }
    ).decode()


class PageHandler(tornado.web.RequestHandler):
    def initialize(self, page: str) -> None:
        self.page = page

    def set_default_headers(self) -> None:
        # No site may frame a page (clickjacking): CSP for current browsers, XFO for old ones.
        # Default headers, so error pages carry them too.
        self.set_header("X-Frame-Options", "DENY")
        self.set_header("Content-Security-Policy", PAGE_CSP)

    def get(self) -> None:
        # Pages carry no user data (the script fetches it), so they may be cached briefly.
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "same-origin")
        # Sets the `_xsrf` cookie (not HttpOnly) the script echoes in X-XSRFToken: the
        # page authenticates with the HttpOnly token cookie, and Tornado's xsrf_cookies
        # check is what keeps other sites' forms from using that cookie.
        self.xsrf_token  # noqa: B018 - reading it sets the cookie
        self.render(f"{self.page}.html", limits=client_limits(self.application.settings["ctx"]))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.render("error.html", status_code=status_code, message=self._reason)
