"""Whether a user's friends are online (on how many sockets) and when they were last seen:
shown only to their friends."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

from models import contacts as contact_q

if TYPE_CHECKING:
    from server.context import Ctx


class PresenceRow(TypedDict):
    userid: int
    online: bool
    sockets: int
    lastseen: int  # ms since the epoch their last socket closed; 0 while online or unknown


def _friend_ids(user_id: int) -> list[int]:
    return sorted(contact_q.circles_of([user_id])[user_id][0])


async def list_presence(ctx: Ctx, user_id: int) -> list[PresenceRow]:
    """The caller's friends' presence, across every process of the chat."""
    friend_ids = await ctx.pools.db(_friend_ids, user_id)
    found = await ctx.presence.online(friend_ids)
    return [
        PresenceRow(userid=f, online=found[f][0] > 0, sockets=found[f][0], lastseen=found[f][1])
        for f in friend_ids
    ]
