"""Whether a user's friends are online (on how many sockets) and when they were last seen:
shown only to their friends, and only by those who show their own (`show_presence`: off,
they answer as unknown to everyone, and see everyone as unknown, as in WhatsApp)."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

from models import contacts as contact_q
from models import users as user_q

if TYPE_CHECKING:
    from server.context import Ctx


class PresenceRow(TypedDict):
    userid: int
    online: bool
    sockets: int
    lastseen: int  # ms since the epoch their last socket closed; 0 while online or unknown


def _shown_friend_ids(user_id: int, only: int | None) -> tuple[list[int], list[int]]:
    """(the caller's friends asked about, those of them whose presence may be shown)."""
    friend_ids = sorted(contact_q.circles_of([user_id])[user_id][0])
    if only is not None:
        friend_ids = [f for f in friend_ids if f == only]
    flags = user_q.live_flags([user_id, *friend_ids])
    if not flags.get(user_id, (True, True))[0]:
        return friend_ids, []
    return friend_ids, [f for f in friend_ids if flags.get(f, (True, True))[0]]


async def list_presence(ctx: Ctx, user_id: int, only: int | None = None) -> list[PresenceRow]:
    """The caller's friends' presence (or one friend's: `only`), across every process of
    the chat; a hidden one is offline with no last seen."""
    friend_ids, shown = await ctx.pools.db(_shown_friend_ids, user_id, only)
    found = await ctx.presence.online(shown)
    unknown = (0, 0)
    return [
        PresenceRow(
            userid=f,
            online=found.get(f, unknown)[0] > 0,
            sockets=found.get(f, unknown)[0],
            lastseen=found.get(f, unknown)[1],
        )
        for f in friend_ids
    ]
