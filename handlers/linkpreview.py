"""POST /link/preview: the server-fetched preview of a link in a message."""

from __future__ import annotations

from handlers.base import BaseHandler
from server.services import linkpreview


class LinkPreviewHandler(BaseHandler):
    async def post(self) -> None:
        url = self.str_arg("url", max_len=linkpreview.MAX_URL)
        self.ok(await linkpreview.get_preview(self.ctx, self.user_id, url))
