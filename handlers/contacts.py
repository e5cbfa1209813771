"""/contact/* endpoints: friends (groups are in handlers/groups.py)."""

from __future__ import annotations

from handlers.base import BaseHandler
from server.services import contacts, friends, presence


class AddFriendHandler(BaseHandler):
    async def post(self) -> None:
        dst_id = self.id_arg("dstid", required=False)
        mobile = self.str_arg("mobile", "", max_len=32).strip() or None
        self.ok(await friends.do_add_friend(self.ctx, self.user_id, dst_id, mobile))


class LoadFriendHandler(BaseHandler):
    async def post(self) -> None:
        self.ok_rows(await contacts.list_friends(self.ctx, self.user_id))


class PresenceHandler(BaseHandler):
    claims_userid = False  # userid names the other user

    async def post(self) -> None:
        only = self.id_arg("userid", required=False)  # one friend (the open chat's), else all
        self.ok_rows(await presence.list_presence(self.ctx, self.user_id, only))
