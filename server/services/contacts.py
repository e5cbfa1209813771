"""Friends and communities (groups)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from models import contacts as contact_q
from models.users import PublicUser

if TYPE_CHECKING:
    from server.context import Ctx

NAME_MAX = 64


async def list_friends(ctx: Ctx, user_id: int) -> list[PublicUser]:
    return await ctx.pools.db(contact_q.list_friends, user_id)


async def list_group_ids(ctx: Ctx, user_id: int) -> set[int]:
    return await ctx.pools.db(contact_q.community_ids_of, user_id)
