"""/contact/* friend requests and blocks, /user/settings: thin wrappers over services.friends."""

from __future__ import annotations

from handlers.base import BaseHandler
from server.services import friends


class _PairHandler(BaseHandler):
    """POST {dstid}: one action of the caller on another user."""

    async def act(self, dst_id: int) -> None:
        raise NotImplementedError

    async def post(self) -> None:
        dst_id = self.id_arg("dstid")
        assert dst_id is not None
        await self.act(dst_id)
        self.ok()


class AcceptHandler(BaseHandler):
    async def post(self) -> None:
        dst_id = self.id_arg("dstid")
        assert dst_id is not None
        self.ok(await friends.do_accept(self.ctx, self.user_id, dst_id))


class DeclineHandler(_PairHandler):
    async def act(self, dst_id: int) -> None:
        await friends.do_decline(self.ctx, self.user_id, dst_id)


class CancelRequestHandler(_PairHandler):
    async def act(self, dst_id: int) -> None:
        await friends.do_cancel_request(self.ctx, self.user_id, dst_id)


class UnfriendHandler(_PairHandler):
    async def act(self, dst_id: int) -> None:
        await friends.do_unfriend(self.ctx, self.user_id, dst_id)


class BlockHandler(_PairHandler):
    async def act(self, dst_id: int) -> None:
        await friends.do_block(self.ctx, self.user_id, dst_id)


class UnblockHandler(_PairHandler):
    async def act(self, dst_id: int) -> None:
        await friends.do_unblock(self.ctx, self.user_id, dst_id)


class RequestsHandler(BaseHandler):
    async def post(self) -> None:
        self.ok_rows(await friends.list_requests(self.ctx, self.user_id))


class BlockedHandler(BaseHandler):
    async def post(self) -> None:
        self.ok_rows(await friends.list_blocked(self.ctx, self.user_id))


class UserSettingsHandler(BaseHandler):
    """POST {findable?, show_presence?, send_receipts?}: change the caller's own settings;
    answers all of them."""

    async def post(self) -> None:
        self.ok(
            await friends.do_settings(
                self.ctx,
                self.user_id,
                findable=self.bool_arg("findable"),
                show_presence=self.bool_arg("show_presence"),
                send_receipts=self.bool_arg("send_receipts"),
            )
        )
