"""/message/search."""

from __future__ import annotations

from handlers.base import BaseHandler
from server.services import search


class SearchHandler(BaseHandler):
    async def post(self) -> None:
        limit = self.int_arg("limit", 20)
        assert limit is not None
        hits = await search.do_search(
            self.ctx,
            self.user_id,
            self.str_arg("q"),
            cmd=self.int_arg("cmd", required=False),
            dst_id=self.id_arg("dstid", required=False),
            before_id=self.int_arg("before", required=False),
            limit=limit,
        )
        self.ok_rows(list(hits))
