"""Committing a change and publishing what it means, in one step.

Every service that changes who receives what (or stores a message) runs its transaction
through `commit`: the job returns its answer and the bus events the change stands for,
and they are published after the commit and before the answer returns. On a bus between
processes they are published from inside the job, under the chat-wide publish lock, so
every process's commits reach every subscriber in commit (= id) order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from models import db
from models import messages as message_q
from server.bus import Bus, Event

if TYPE_CHECKING:
    from server.context import Ctx

T = TypeVar("T")
Change = tuple[T, Sequence[Event]]  # what a job answers, and the events to publish


def ordered_job(bus: Bus, fn: Callable[..., Change[T]], *args: Any) -> T:
    """Run fn in its own transaction, holding the publish lock from before it until its
    events are published (in the database thread). Returns fn's answer."""
    with message_q.publish_lock():
        prev_max = message_q.max_id()  # what was committed before: the gap check's bound
        with db.database.atomic():
            value, events = fn(*args)
        bus.publish_from_job(events, prev_max)
    return value


async def commit(ctx: Ctx, fn: Callable[..., Change[T]], *args: Any, shed: bool = True) -> T:
    """Run fn(*args) as one transaction in the database pool, publish the events it
    returns, and give back its answer. `shed`: refused (503) when the pool is full."""
    bus = ctx.bus
    if bus.publishes_in_job:
        value: T = await ctx.pools.db(ordered_job, bus, fn, *args, shed=shed, transaction=False)
        return value
    value, events = await ctx.pools.db(fn, *args, shed=shed)
    if events:
        await bus.publish_many(events)
    return value
