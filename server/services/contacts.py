"""Friends and communities (groups)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from models import contacts as contact_q
from models.contacts import CommunityRow
from models.users import PublicUser
from server.bus import Membership
from server.errors import ClientError
from server.textcheck import has_invisible

if TYPE_CHECKING:
    from server.context import Ctx

NAME_MAX = 64


async def list_friends(ctx: Ctx, user_id: int) -> list[PublicUser]:
    return await ctx.pools.db(contact_q.list_friends, user_id)


async def do_create_community(
    ctx: Ctx, user_id: int, name: str, icon: str = "", memo: str = "", cate: int = 0
) -> CommunityRow:
    """Create a group with its creator as the first member."""
    name = name.strip()
    if not 1 <= len(name) <= NAME_MAX:
        raise ClientError(400, f"name must be 1 to {NAME_MAX} characters")
    if has_invisible(name):
        raise ClientError(400, "name must not contain control or invisible formatting characters")
    if len(icon) > 512 or len(memo) > 512:
        raise ClientError(400, "icon or memo too long")

    def create() -> CommunityRow:
        return contact_q.community_row(contact_q.insert_community(user_id, name, icon, memo, cate))

    community = await ctx.pools.db(create)
    await ctx.bus.publish(Membership(user_id, community["id"]))
    return community


async def do_join_community(ctx: Ctx, user_id: int, community_id: int) -> CommunityRow:
    """Join a group (idempotent); the user's live sockets get its messages from now on."""

    def join() -> CommunityRow:
        community = contact_q.find_community(community_id)
        if community is None:
            raise ClientError(404, "no such group")
        contact_q.insert_membership(user_id, community_id)
        return contact_q.community_row(community)

    community = await ctx.pools.db(join)
    await ctx.bus.publish(Membership(user_id, community_id))
    return community


async def list_communities(ctx: Ctx, user_id: int) -> list[CommunityRow]:
    return await ctx.pools.db(contact_q.list_communities, user_id)


async def list_group_ids(ctx: Ctx, user_id: int) -> set[int]:
    return await ctx.pools.db(contact_q.community_ids_of, user_id)
