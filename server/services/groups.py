"""Groups: create, invite, join, leave, kick, update, roles. Every membership change stores
a system message (media 10) in the group's stream in the same transaction, so replay and
history carry it, and the message ids bound what each member may read."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from models import contacts as contact_q
from models import groups as group_q
from models import invites as invite_q
from models import messages as message_q
from models.contacts import HISTORY_ALL, HISTORY_JOINED, ROLE_ADMIN, ROLE_MEMBER, ROLE_OWNER
from models.db import now_ms
from models.groups import GroupRow, MemberRow
from models.invites import InviteRow
from models.messages import CMD_GROUP, MessageRow, NewMessage
from server.bus import Delivery, Event, Membership, MembershipEnded
from server.errors import ClientError
from server.services.changes import commit
from server.services.messages import encode, notice_for
from server.textcheck import has_invisible

if TYPE_CHECKING:
    from server.context import Ctx

MEDIA_SYSTEM = 10  # a membership change in a group's stream; clients may never send one
NAME_MAX = 64
TEXT_MAX = 512
INVITE_PATH = "/invite/"


class InviteAnswer(InviteRow):
    url: str


def _invite_answer(row: InviteRow) -> InviteAnswer:
    return InviteAnswer(**row, url=INVITE_PATH + row["code"])


def _check_name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= NAME_MAX:
        raise ClientError(400, f"name must be 1 to {NAME_MAX} characters")
    if has_invisible(name):
        raise ClientError(400, "name must not contain control or invisible formatting characters")
    return name


def _store_system(actor_id: int, group_id: int, event: dict[str, Any]) -> MessageRow:
    """Insert a system message; the caller holds message_q.lock_for_insert()."""
    new = NewMessage(
        user_id=actor_id,
        cmd=CMD_GROUP,
        dst_id=group_id,
        media=MEDIA_SYSTEM,
        content=encode(event).decode(),
        pic="",
        url="",
        memo="",
        amount=0.0,
        cmid="sys:" + secrets.token_hex(16),
    )
    return message_q.insert_message(new, now_ms())


def _delivery(row: MessageRow) -> Delivery:
    return Delivery(row["id"], encode(row), group_id=row["dstid"])


def _role_of(user_id: int, group_id: int) -> int:
    """The caller's role; 403 unless a current member (a missing group answers the same)."""
    role = group_q.current_role(user_id, group_id)
    if role is None:
        raise ClientError(403, f"not a member of group {group_id}")
    return role


def _ended(user_id: int, group_id: int, line: MessageRow) -> list[Event]:
    """A leave or removal: its line first (the leaver gets it), then nothing more."""
    return [
        _delivery(line),
        MembershipEnded(user_id, group_id),
        notice_for(user_id, "group_removed", dstid=group_id),
    ]


async def do_create_community(
    ctx: Ctx,
    user_id: int,
    name: str,
    icon: str = "",
    memo: str = "",
    cate: int = 0,
    is_open: bool | None = None,
) -> GroupRow:
    """Create a group with its creator as its owner. Closed unless asked, or with
    original_client on: its pages cannot make invites, only join a group by its number."""
    if is_open is None:
        is_open = ctx.settings.original_client
    name = _check_name(name)
    if len(icon) > TEXT_MAX or len(memo) > TEXT_MAX:
        raise ClientError(400, "icon or memo too long")

    def create() -> tuple[GroupRow, list[Event]]:
        group = group_q.group_row(
            contact_q.insert_community(user_id, name, icon, memo, cate, is_open), ROLE_OWNER
        )
        return group, [Membership(user_id, group["id"])]

    return await commit(ctx, create)


async def do_make_invite(
    ctx: Ctx, user_id: int, group_id: int, expires: int | None, uses: int | None
) -> InviteAnswer:
    """A new invite code for a group (any current member may make one)."""

    def make() -> InviteRow:
        _role_of(user_id, group_id)
        expireat = now_ms() + expires * 1000 if expires else 0
        return invite_q.insert_invite(group_id, user_id, expireat, uses or 0)

    return _invite_answer(await ctx.pools.db(make))


async def list_invites(ctx: Ctx, user_id: int, group_id: int) -> list[InviteAnswer]:
    def read() -> list[InviteRow]:
        if _role_of(user_id, group_id) < ROLE_ADMIN:
            raise ClientError(403, "only admins can list a group's invites")
        return invite_q.list_invites(group_id)

    return [_invite_answer(row) for row in await ctx.pools.db(read)]


async def do_revoke_invite(ctx: Ctx, user_id: int, code: str) -> InviteAnswer:
    def revoke() -> InviteRow:
        invite = invite_q.find_invite(code)
        if invite is None or invite.community_id == invite_q.SIGNUP:
            raise ClientError(404, "no such invite")
        role = group_q.current_role(user_id, invite.community_id)
        if invite.creator_id != user_id and (role is None or role < ROLE_ADMIN):
            raise ClientError(403, "only its creator or an admin can revoke an invite")
        invite_q.revoke_invite(code)
        invite.revoked = True
        return invite_q.invite_row(invite)

    return _invite_answer(await ctx.pools.db(revoke))


def _check_invite(code: str) -> tuple[int, int, int]:
    """(group id, inviter id, invite id) of a usable group invite; 404 saying why not."""
    invite = invite_q.find_invite(code)
    if invite is None or invite.community_id == invite_q.SIGNUP:
        raise ClientError(404, "no such invite")
    if invite.revoked:
        raise ClientError(404, "this invite was revoked")
    if invite.expireat and now_ms() >= invite.expireat:
        raise ClientError(404, "this invite has expired")
    if invite.max_uses and invite.uses >= invite.max_uses:
        raise ClientError(404, "this invite has been used up")
    return invite.community_id, invite.creator_id, invite.id


async def do_join_community(ctx: Ctx, user_id: int, code: str | None, group_id: int | None) -> GroupRow:
    """Join with an invite code, or by id when the group is open. Idempotent for a current
    member. The user's sockets get the group at once, starting with their own join line."""

    def join() -> tuple[GroupRow, list[Event]]:
        message_q.lock_for_insert()  # the join line's id and the membership commit together
        invite: tuple[int, int, int] | None = None
        if code is not None:
            invite = _check_invite(code)
            gid, by = invite[0], invite[1]
        else:
            assert group_id is not None
            gid, by = group_id, user_id
        community = contact_q.find_community(gid)
        role = group_q.current_role(user_id, gid)
        if community is not None and role is not None:
            return group_q.group_row(community, role), [Membership(user_id, gid)]
        if community is None or (invite is None and not community.is_open):
            # A missing group and a closed one answer alike.
            raise ClientError(403, "this group needs an invite")
        if invite is not None:
            invite_q.use_invite(invite[2])
        line = _store_system(user_id, gid, {"event": "joined", "userid": user_id, "by": by})
        contact_q.insert_membership(user_id, gid, ROLE_MEMBER, joinid=line["id"])
        group = group_q.group_row(community, ROLE_MEMBER)
        # Sockets get the group before its join line, and the user's other devices the list.
        return group, [
            Membership(user_id, gid),
            notice_for(user_id, "group_added", group=group),
            _delivery(line),
        ]

    if code is None and group_id is None:
        raise ClientError(400, "give code or dstid")
    return await commit(ctx, join)


async def do_leave(ctx: Ctx, user_id: int, group_id: int) -> None:
    """Leave a group; an owner's ownership passes to the longest-standing admin, else member."""

    def leave() -> tuple[None, list[Event]]:
        message_q.lock_for_insert()
        role = _role_of(user_id, group_id)
        left = _store_system(user_id, group_id, {"event": "left", "userid": user_id})
        group_q.end_membership(user_id, group_id, left["id"])
        events = _ended(user_id, group_id, left)
        if role != ROLE_OWNER:
            return None, events
        heir = group_q.successor(group_id, user_id)
        if heir is None:
            return None, events  # an empty group stays, empty
        group_q.set_role(heir, group_id, ROLE_OWNER)
        group_q.update_community(group_id, owner_id=heir)
        owner_line = _store_system(user_id, group_id, {"event": "updated", "by": user_id, "owner": heir})
        return None, [*events, _delivery(owner_line)]  # after the leaver's sockets dropped the group

    await commit(ctx, leave)


async def do_kick(ctx: Ctx, actor_id: int, group_id: int, target_id: int) -> None:
    """Remove a member: the owner may remove anyone, admins only plain members."""

    def kick() -> tuple[None, list[Event]]:
        message_q.lock_for_insert()
        role = _role_of(actor_id, group_id)
        if role < ROLE_ADMIN:
            raise ClientError(403, "only admins can remove members")
        if target_id == actor_id:
            raise ClientError(400, "to leave a group use /contact/leavecommunity")
        target_role = group_q.current_role(target_id, group_id)
        if target_role is None:
            raise ClientError(404, f"user {target_id} is not a member of group {group_id}")
        if role != ROLE_OWNER and target_role != ROLE_MEMBER:
            raise ClientError(403, "only the owner can remove an admin")
        line = _store_system(actor_id, group_id, {"event": "removed", "userid": target_id, "by": actor_id})
        group_q.end_membership(target_id, group_id, line["id"])
        return None, _ended(target_id, group_id, line)

    await commit(ctx, kick)


async def do_update(ctx: Ctx, actor_id: int, group_id: int, changes: dict[str, Any]) -> GroupRow:
    """Change name, icon, memo, open or history (admins and the owner); each change is
    announced in the stream: a `renamed` line for the name, an `updated` line for the rest."""
    if "name" in changes:
        changes["name"] = _check_name(changes["name"])
    if len(changes.get("icon", "")) > TEXT_MAX or len(changes.get("memo", "")) > TEXT_MAX:
        raise ClientError(400, "icon or memo too long")
    if changes.get("history", HISTORY_JOINED) not in (HISTORY_JOINED, HISTORY_ALL):
        raise ClientError(400, "history must be joined or all")
    columns = {"name": "name", "icon": "icon", "memo": "memo", "open": "is_open", "history": "history"}

    def update() -> tuple[GroupRow, list[Event]]:
        message_q.lock_for_insert()
        role = _role_of(actor_id, group_id)
        if role < ROLE_ADMIN:
            raise ClientError(403, "only admins can change the group")
        community = contact_q.find_community(group_id)
        assert community is not None  # a current member's group exists
        changed = {k: v for k, v in changes.items() if getattr(community, columns[k]) != v}
        lines = []
        if "name" in changed:
            renamed = {"event": "renamed", "name": changed["name"], "by": actor_id}
            lines.append(_store_system(actor_id, group_id, renamed))
        rest = {k: v for k, v in changed.items() if k != "name"}
        if rest:
            lines.append(_store_system(actor_id, group_id, {"event": "updated", "by": actor_id, **rest}))
        if changed:
            group_q.update_community(group_id, **{columns[k]: v for k, v in changed.items()})
            for k, v in changed.items():
                setattr(community, columns[k], v)
        return group_q.group_row(community, role), [_delivery(line) for line in lines]

    return await commit(ctx, update)


async def do_set_role(ctx: Ctx, actor_id: int, group_id: int, target_id: int, role_name: str) -> MemberRow:
    """Make a member an admin or a plain member again (the owner only)."""
    roles = {"admin": ROLE_ADMIN, "member": ROLE_MEMBER}
    if role_name not in roles:
        raise ClientError(400, "role must be admin or member")

    def set_role() -> MemberRow:
        if _role_of(actor_id, group_id) != ROLE_OWNER:
            raise ClientError(403, "only the owner can change roles")
        if target_id == actor_id:
            raise ClientError(400, "the owner's role passes on only by leaving")
        if group_q.current_role(target_id, group_id) is None:
            raise ClientError(404, f"user {target_id} is not a member of group {group_id}")
        group_q.set_role(target_id, group_id, roles[role_name])
        return next(m for m in group_q.list_members(group_id) if m["user"]["id"] == target_id)

    return await ctx.pools.db(set_role)


async def list_members(ctx: Ctx, user_id: int, group_id: int) -> list[MemberRow]:
    def read() -> list[MemberRow]:
        _role_of(user_id, group_id)
        return group_q.list_members(group_id)

    return await ctx.pools.db(read)


async def list_communities(ctx: Ctx, user_id: int) -> list[GroupRow]:
    return await ctx.pools.db(group_q.list_groups, user_id)
