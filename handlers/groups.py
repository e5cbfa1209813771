"""/contact/* endpoints for groups: create, invites, join, members, leave, kick, update, roles."""

from __future__ import annotations

from typing import Any

from handlers.base import INT32_MAX, INT32_MIN, BaseHandler
from server.services import groups

YEAR_S = 366 * 24 * 3600
USES_MAX = 1_000_000


class CreateCommunityHandler(BaseHandler):
    async def post(self) -> None:
        community = await groups.do_create_community(
            self.ctx,
            self.user_id,
            name=self.str_arg("name", max_len=256),
            icon=self.str_arg("icon", "", max_len=512),
            memo=self.str_arg("memo", "", max_len=512),
            cate=self.int_arg("cate", 0, lo=INT32_MIN, hi=INT32_MAX) or 0,
            is_open=self.bool_arg("open"),
        )
        self.ok(community)


class InviteHandler(BaseHandler):
    async def post(self) -> None:
        group_id = self.id_arg("dstid")
        assert group_id is not None
        expires = self.int_arg("expires", required=False, lo=0, hi=10 * YEAR_S)
        uses = self.int_arg("uses", required=False, lo=0, hi=USES_MAX)
        self.ok(await groups.do_make_invite(self.ctx, self.user_id, group_id, expires, uses))


class InvitesHandler(BaseHandler):
    async def post(self) -> None:
        group_id = self.id_arg("dstid")
        assert group_id is not None
        self.ok_rows(await groups.list_invites(self.ctx, self.user_id, group_id))


class RevokeInviteHandler(BaseHandler):
    async def post(self) -> None:
        code = self.str_arg("code", max_len=64).strip().lower()
        self.ok(await groups.do_revoke_invite(self.ctx, self.user_id, code))


class JoinCommunityHandler(BaseHandler):
    async def post(self) -> None:
        code = self.str_arg("code", "", max_len=64).strip().lower() or None
        group_id = None if code else self.id_arg("dstid", required=False)
        self.ok(await groups.do_join_community(self.ctx, self.user_id, code, group_id))


class LoadCommunityHandler(BaseHandler):
    async def post(self) -> None:
        self.ok_rows(await groups.list_communities(self.ctx, self.user_id))


class MembersHandler(BaseHandler):
    async def post(self) -> None:
        group_id = self.id_arg("dstid")
        assert group_id is not None
        self.ok_rows(await groups.list_members(self.ctx, self.user_id, group_id))


class LeaveCommunityHandler(BaseHandler):
    async def post(self) -> None:
        group_id = self.id_arg("dstid")
        assert group_id is not None
        await groups.do_leave(self.ctx, self.user_id, group_id)
        self.ok()


class KickHandler(BaseHandler):
    claims_userid = False  # userid names the other user

    async def post(self) -> None:
        group_id, target_id = self.id_arg("dstid"), self.id_arg("userid")
        assert group_id is not None and target_id is not None
        await groups.do_kick(self.ctx, self.user_id, group_id, target_id)
        self.ok()


class UpdateCommunityHandler(BaseHandler):
    async def post(self) -> None:
        group_id = self.id_arg("dstid")
        assert group_id is not None
        changes: dict[str, Any] = {}
        for name in ("name", "icon", "memo", "history"):
            if self.args.get(name) is not None:
                changes[name] = self.str_arg(name, max_len=512)
        if self.args.get("open") is not None:
            changes["open"] = self.bool_arg("open")
        self.ok(await groups.do_update(self.ctx, self.user_id, group_id, changes))


class SetRoleHandler(BaseHandler):
    claims_userid = False  # userid names the other user

    async def post(self) -> None:
        group_id, target_id = self.id_arg("dstid"), self.id_arg("userid")
        assert group_id is not None and target_id is not None
        role = self.str_arg("role", max_len=16)
        self.ok(await groups.do_set_role(self.ctx, self.user_id, group_id, target_id, role))


class InviteLinkHandler(BaseHandler):
    """GET /invite/CODE: the chat page logs in or registers first, then joins."""

    public = True

    async def get(self, code: str) -> None:
        self.redirect(f"/chat.html?join={code.lower()}")
