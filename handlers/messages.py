"""/message/history, /message/get, /message/conversations, /message/read."""

from __future__ import annotations

from handlers.base import BaseHandler
from server.errors import ClientError
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
        )
        self.ok_rows(list(rows))


class GetHandler(BaseHandler):
    """Messages of one conversation by id, as they are now (a reply's quote, an edit)."""

    async def post(self) -> None:
        cmd, dst_id = self.int_arg("cmd"), self.int_arg("dstid")
        assert cmd is not None and dst_id is not None
        rows = await messages.get_messages(self.ctx, self.user_id, cmd, dst_id, self._ids())
        self.ok_rows(rows)

    def _ids(self) -> list[int]:
        # A JSON list, or "1,2,3" from a form.
        raw = self.args.get("ids")
        items = raw.split(",") if isinstance(raw, str) else raw
        if not isinstance(items, list) or not all(isinstance(i, (int, str)) for i in items):
            raise ClientError(400, "ids must be a list of message ids")
        try:
            ids = [int(i) for i in items if not isinstance(i, bool)]
        except ValueError:
            raise ClientError(400, "ids must be a list of message ids") from None
        if len(ids) != len(items) or not all(0 < i < 2**63 for i in ids):
            raise ClientError(400, "ids must be a list of message ids")
        return ids


class ConversationsHandler(BaseHandler):
    async def post(self) -> None:
        self.ok_rows(list(await conversations.list_conversations(self.ctx, self.user_id)))


class MarkReadHandler(BaseHandler):
    async def post(self) -> None:
        cmd, dst_id, read_id = self.int_arg("cmd"), self.int_arg("dstid"), self.int_arg("id")
        assert cmd is not None and dst_id is not None and read_id is not None
        self.ok(await conversations.do_mark_read(self.ctx, self.user_id, cmd, dst_id, read_id))
