"""Closes sockets whose token expired or was deleted while they were open: a per-process
check of every attached socket's token, one query for all of them each interval."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from models import users as user_q
from server.bus import TokenRevoked
from server.errors import ClientError

if TYPE_CHECKING:
    from server.context import Ctx

log = logging.getLogger(__name__)


async def close_dead_token_sockets(ctx: Ctx) -> int:
    """Publish TokenRevoked for attached sockets whose token is no longer valid; returns
    how many digests were dead."""
    by_digest: dict[str, int] = {}
    for user_id, node in ctx.hub.nodes.items():
        for outlet in node.sockets.values():
            by_digest[outlet.token_digest] = user_id
    if not by_digest:
        return 0
    live = await ctx.pools.db(user_q.live_digests, list(by_digest), ctx.settings.token_days * 86_400_000)
    dead: dict[int, list[str]] = {}
    for digest, user_id in by_digest.items():
        if digest not in live:
            dead.setdefault(user_id, []).append(digest)
    for user_id, digests in dead.items():
        await ctx.bus.publish(TokenRevoked(user_id, digests=tuple(digests), reason="token expired"))
    return sum(len(d) for d in dead.values())


class TokenWatch:
    """Runs close_dead_token_sockets every `interval` seconds once a socket has opened."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def ensure_running(self, ctx: Ctx) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(ctx))

    async def _run(self, ctx: Ctx) -> None:
        while True:
            await asyncio.sleep(self.interval)  # a timer, not a wait for an event
            try:
                await close_dead_token_sockets(ctx)
            except ClientError:
                return  # the pools are closed: the server is stopping
            except Exception:
                log.exception("checking open sockets' tokens failed")

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
