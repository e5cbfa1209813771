"""/message/history."""

from __future__ import annotations

from handlers.base import BaseHandler
from server.services import messages


class HistoryHandler(BaseHandler):
    async def post(self) -> None:
        cmd = self.int_arg("cmd")
        dst_id = self.int_arg("dstid")
        assert cmd is not None and dst_id is not None
        rows = await messages.list_history(
            self.ctx,
            self.user_id,
            cmd,
            dst_id,
            before_id=self.int_arg("before", required=False),
            limit=self.int_arg("limit", 50) or 50,
        )
        self.ok_rows(list(rows))
