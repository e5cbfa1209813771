"""The original client's socket (issue 12): where its page stands, kept by the server.

Its page opens `/chat?id=ID&token=TOKEN`, never sends `since` and never reconnects, so
what reached it is tracked here: a socket's frames before a ping it answered have reached
it (TCP keeps their order), and so has everything before a close it sent itself. The next
visit replays what came after that (models/cursors.py)."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from models import cursors as cursor_q
from server.context import Ctx

log = logging.getLogger(__name__)


class PlainOutlet(Protocol):
    user_id: int
    last_id: int  # the newest message id handed to the socket
    pinged_id: int  # last_id when the latest ping went out
    kept_id: int  # what the cursor holds for it


def is_original_socket(ctx: Ctx, token_from: str) -> bool:
    """The original's page names its token in the URL; chatd's own page uses the cookie."""
    return ctx.settings.original_client and token_from == "param"  # noqa: S105 - a place, not a secret


async def cursor_of(ctx: Ctx, user_id: int) -> int | None:
    return await ctx.pools.db(cursor_q.delivered_up_to, user_id, transaction=False)


async def keep_cursor(ctx: Ctx, user_id: int, last_id: int) -> None:
    await ctx.pools.db(cursor_q.move_cursor, user_id, last_id)


def pong_confirms(ctx: Ctx, outlet: PlainOutlet) -> None:
    """The page answered the latest ping: everything sent before it reached the page."""
    _move(ctx, outlet, outlet.pinged_id)


def closed(ctx: Ctx, outlet: PlainOutlet, by_peer: bool) -> None:
    """A close the page sent means it had all before; a dropped connection, only what the
    last answered ping confirms (the rest comes again next time: at least once)."""
    _move(ctx, outlet, outlet.last_id if by_peer else outlet.pinged_id)


def _move(ctx: Ctx, outlet: PlainOutlet, up_to: int) -> None:
    if up_to <= outlet.kept_id:
        return
    outlet.kept_id = up_to
    task = asyncio.get_running_loop().create_task(_write(ctx, outlet.user_id, up_to))
    _pending.add(task)
    task.add_done_callback(_pending.discard)


_pending: set[asyncio.Task[None]] = set()  # running writes (the loop holds tasks weakly)


async def _write(ctx: Ctx, user_id: int, up_to: int) -> None:
    try:
        await ctx.pools.db(cursor_q.move_cursor, user_id, up_to, shed=False)
    except Exception:
        log.warning("could not keep user %d's delivery cursor at %d", user_id, up_to, exc_info=True)
