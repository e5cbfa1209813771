"""GET /qr.svg?text=LINK: the QR code of one of this server's links (logged-in users)."""

from __future__ import annotations

from handlers.base import BaseHandler
from server.services import qr


class QrHandler(BaseHandler):
    async def get(self) -> None:
        text = self.str_arg("text", max_len=qr.MAX_TEXT)
        # The page encodes location.origin + path; behind a proxy that is the Host it forwards.
        origins = {f"{self.request.protocol}://{self.request.host}".lower()}
        origins.update(origin.lower() for origin in self.ctx.settings.allowed_origins)
        svg = await qr.get_qr_svg(self.ctx, text, origins)
        self.set_header("Content-Type", "image/svg+xml")
        self.set_header("Cache-Control", "private, max-age=3600")
        self.set_header("X-Content-Type-Options", "nosniff")
        # An SVG opened on its own is a document: it may run nothing and load nothing.
        self.set_header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
        self.finish(svg)
