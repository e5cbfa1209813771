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


async def load_circle(ctx: Ctx, user_id: int) -> tuple[set[int], set[int]]:
    """Friend ids and group ids, in one trip to the database."""
    return await ctx.pools.db(contact_q.circle_of, user_id)
