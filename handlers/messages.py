"""/message/history."""

from __future__ import annotations

from handlers.base import BaseHandler
from server.services import messages


class HistoryHandler(BaseHandler):
    async def post(self) -> None:
        cmd = self.int_arg("cmd")
        dst_id = self.int_arg("dstid")
        limit = self.int_arg("limit", 50)
        assert cmd is not None and dst_id is not None and limit is not None
        rows = await messages.list_history(
            self.ctx,
            self.user_id,
            cmd,
            dst_id,
            before_id=self.int_arg("before", required=False),
            limit=limit,
        )
        self.ok_rows(list(rows))
