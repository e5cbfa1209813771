"""/admin/* endpoints: for server admins only (403 for everyone else)."""

from __future__ import annotations

from handlers.base import BaseHandler
from server.errors import ClientError
from server.services import admin


class UsersHandler(BaseHandler):
    async def post(self) -> None:
        self.ok_rows(list(await admin.list_users(self.ctx, self.user_id)))


class DisableHandler(BaseHandler):
    """Turns an account off (sessions and sockets end at once) or back on."""

    claims_userid = False  # userid names the other user

    async def post(self) -> None:
        user_id = self.id_arg("userid")
        assert user_id is not None
        disabled = self.args.get("disabled")
        if disabled is None:
            raise ClientError(400, "missing disabled")
        if isinstance(disabled, str) and disabled.lower() in ("true", "false", "1", "0"):
            disabled = disabled.lower() in ("true", "1")  # a form sends text
        if not isinstance(disabled, bool):
            raise ClientError(400, "disabled must be true or false")
        await admin.do_disable(self.ctx, self.user_id, user_id, disabled)
        self.ok({"userid": user_id, "disabled": disabled})
