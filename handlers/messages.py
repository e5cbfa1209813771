"""/message/history, /message/conversations, /message/read."""

from __future__ import annotations

from handlers.base import BaseHandler
from server.services import conversations, messages


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
            around_id=self.int_arg("around", required=False),
            after_id=self.int_arg("after", required=False),
        )
        self.ok_rows(list(rows))


class ConversationsHandler(BaseHandler):
    async def post(self) -> None:
        self.ok_rows(list(await conversations.list_conversations(self.ctx, self.user_id)))


class MarkReadHandler(BaseHandler):
    async def post(self) -> None:
        cmd, dst_id, read_id = self.int_arg("cmd"), self.int_arg("dstid"), self.int_arg("id")
        assert cmd is not None and dst_id is not None and read_id is not None
        self.ok(await conversations.do_mark_read(self.ctx, self.user_id, cmd, dst_id, read_id))
