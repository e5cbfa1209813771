"""What the message writer (server/writer.py) runs for each batch: store it in one
transaction and publish what was stored, waiting out a database restart."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from server.bus import Event
from server.errors import ClientError
from server.services.changes import ordered_job
from server.services.events import EventRules
from server.services.messages import Outgoing, Stored, delivery_for
from server.services.storing import store_batch_apart

if TYPE_CHECKING:
    from server.context import Ctx

log = logging.getLogger(__name__)

# A batch waits this long for an unreachable database (a PostgreSQL restart) before its
# senders are told to send again: their sockets are not read meanwhile (push-back).
DB_WAIT_S = 30.0


Results = list[Stored | BaseException]


async def _retrying(ctx: Ctx, batch: list[Outgoing], store: Callable[[], Awaitable[Results]]) -> Results:
    deadline, delay = time.monotonic() + DB_WAIT_S, 0.1
    while True:
        try:
            return await store()
        except ClientError as exc:
            if exc.status != 503 or time.monotonic() > deadline or ctx.pools.closed:
                raise
            log.warning("database unavailable; %d messages wait (%s)", len(batch), exc.msg)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def store(ctx: Ctx, batch: list[Outgoing]) -> list[Stored | BaseException]:
    """In-process bus: store the batch; messages.publish_stored runs once it is committed."""

    async def attempt() -> list[Stored | BaseException]:
        # shed=False: the writer's own queue is bounded, and it must never be refused.
        return await ctx.pools.db(store_batch_apart, batch, EventRules.of(ctx.settings), shed=False)

    return await _retrying(ctx, batch, attempt)


def _stored_and_events(
    batch: list[Outgoing], rules: EventRules
) -> tuple[list[Stored | BaseException], list[Event]]:
    results = store_batch_apart(batch, rules)
    return results, [delivery_for(r) for r in results if isinstance(r, Stored)]


async def store_and_publish(ctx: Ctx, batch: list[Outgoing]) -> list[Stored | BaseException]:
    """A bus between processes: publish from inside the storing job (in id order with every
    other process), after making sure the hub has every event published before now, so a
    block or a kick on another process is known here before this batch is checked."""
    hub = ctx.hub
    fresh = await ctx.bus.sync()
    for out in batch:
        new = out.new
        out.checked = fresh and hub.may_send(new["user_id"], new["cmd"], new["dst_id"])

    async def attempt() -> list[Stored | BaseException]:
        job = (ordered_job, ctx.bus, _stored_and_events, batch, EventRules.of(ctx.settings))
        return await ctx.pools.db(*job, shed=False, transaction=False)

    return await _retrying(ctx, batch, attempt)
