"""Friends and communities (groups)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from models import contacts as contact_q
from models import users as user_q
from models.users import PublicUser
from server.errors import ClientError

if TYPE_CHECKING:
    from server.context import Ctx

NAME_MAX = 64


async def do_add_friend(ctx: Ctx, user_id: int, dst_id: int | None, mobile: str | None) -> PublicUser:
    """Make two users friends both ways. 400 self, 404 unknown, 409 already friends."""

    def add() -> PublicUser:
        other = user_q.find_by_id(dst_id) if dst_id is not None else user_q.find_by_mobile(mobile or "")
        if other is None:
            raise ClientError(404, "no such user")
        if other.id == user_id:
            raise ClientError(400, "you cannot befriend yourself")
        if contact_q.are_friends(user_id, other.id):
            raise ClientError(409, "already friends")
        contact_q.insert_friendship(user_id, other.id)
        return user_q.public_row(other)

    if dst_id is None and not mobile:
        raise ClientError(400, "give dstid or mobile")
    return await ctx.pools.db(add)


async def list_friends(ctx: Ctx, user_id: int) -> list[PublicUser]:
    return await ctx.pools.db(contact_q.list_friends, user_id)


async def list_group_ids(ctx: Ctx, user_id: int) -> set[int]:
    return await ctx.pools.db(contact_q.community_ids_of, user_id)
