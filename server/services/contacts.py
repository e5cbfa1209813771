"""Friends and communities (groups)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from models import contacts as contact_q
from models.users import PublicUser
from server.batch import Answer

if TYPE_CHECKING:
    from server.context import Ctx

log = logging.getLogger(__name__)

NAME_MAX = 64


async def list_friends(ctx: Ctx, user_id: int) -> list[PublicUser]:
    return await ctx.pools.db(contact_q.list_friends, user_id)


Circle = tuple[set[int], set[int]]  # friend ids, group ids


def load_circle(ctx: Ctx, user_id: int, answer: Answer[Circle]) -> None:
    """Read the user's friend ids and group ids, then call answer(circle, None), or
    answer(None, exc) on failure; sockets opening meanwhile share the database job. A
    callback, not a coroutine: the socket needs no task for it, and it runs in the step
    that sees the job done (see server/batch.py)."""
    ctx.circle_loads.add(user_id, answer)


async def load_circles(ctx: Ctx, user_ids: list[int]) -> dict[int, Circle]:
    """Friend ids and group ids of many users in one database job (for ctx.circle_loads)."""
    return await ctx.pools.db(contact_q.circles_of, user_ids)


def reload_circles(ctx: Ctx) -> None:
    """Read every online user's friends and groups again (after a bus outage lost the
    events that keep them exact); meanwhile their sends are checked by the database."""
    read_at = ctx.hub.mark()
    for user_id in ctx.hub.forget_friends():

        def loaded(circle: Circle | None, exc: BaseException | None, user_id: int = user_id) -> None:
            if circle is not None:
                ctx.hub.load_circle(user_id, circle[0], circle[1], read_at)
            elif exc is not None:
                log.warning("reloading user %d's friends failed: %s", user_id, exc)

        load_circle(ctx, user_id, loaded)
