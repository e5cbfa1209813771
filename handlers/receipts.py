"""/message/readers, /message/readcounts: who read your group messages."""

from __future__ import annotations

from handlers.base import BaseHandler
from server.errors import ClientError
from server.services import receipts


class ReadersHandler(BaseHandler):
    """POST {dstid, id}: the members who read one of your messages in group dstid."""

    async def post(self) -> None:
        group_id, message_id = self.id_arg("dstid"), self.int_arg("id", lo=1)
        assert group_id is not None and message_id is not None
        self.ok_rows(await receipts.list_readers(self.ctx, self.user_id, group_id, message_id))


class ReadCountsHandler(BaseHandler):
    """POST {dstid, ids: [...]}: [{id, count}] for those ids that are your messages there."""

    async def post(self) -> None:
        group_id = self.id_arg("dstid")
        assert group_id is not None
        ids = self.args.get("ids")
        if not isinstance(ids, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) and 0 < i < 2**63 for i in ids
        ):
            raise ClientError(400, "ids must be a list of message ids")
        self.ok_rows(await receipts.list_read_counts(self.ctx, self.user_id, group_id, ids))
