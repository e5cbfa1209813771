"""/contact/* endpoints: friends and communities."""

from __future__ import annotations

from handlers.base import INT32_MAX, INT32_MIN, BaseHandler
from server.services import contacts, friends


class AddFriendHandler(BaseHandler):
    async def post(self) -> None:
        dst_id = self.id_arg("dstid", required=False)
        mobile = self.str_arg("mobile", "", max_len=32).strip() or None
        self.ok(await friends.do_add_friend(self.ctx, self.user_id, dst_id, mobile))


class LoadFriendHandler(BaseHandler):
    async def post(self) -> None:
        self.ok_rows(await contacts.list_friends(self.ctx, self.user_id))


class CreateCommunityHandler(BaseHandler):
    async def post(self) -> None:
        community = await contacts.do_create_community(
            self.ctx,
            self.user_id,
            name=self.str_arg("name", max_len=256),
            icon=self.str_arg("icon", "", max_len=512),
            memo=self.str_arg("memo", "", max_len=512),
            cate=self.int_arg("cate", 0, lo=INT32_MIN, hi=INT32_MAX) or 0,
        )
        self.ok(community)


class JoinCommunityHandler(BaseHandler):
    async def post(self) -> None:
        community_id = self.id_arg("dstid")
        assert community_id is not None
        self.ok(await contacts.do_join_community(self.ctx, self.user_id, community_id))


class LoadCommunityHandler(BaseHandler):
    async def post(self) -> None:
        self.ok_rows(await contacts.list_communities(self.ctx, self.user_id))
