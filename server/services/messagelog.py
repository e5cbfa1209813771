"""The message table read as the chat's log: what a bus between processes reads where its
stream has a hole (server/intake.py), as the events the stored messages stood for."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import orjson

from models import messages as message_q
from models.messages import CMD_GROUP, MessageRow
from server.bus import Delivery, Event, Membership, MembershipEnded
from server.services.changes import ordered_job
from server.services.groups import MEDIA_SYSTEM
from server.services.messages import encode

if TYPE_CHECKING:
    from server.context import Ctx

log = logging.getLogger(__name__)


def events_of(row: MessageRow) -> list[Event]:
    """What was published when this message was stored: its delivery and, for a join or
    a leave line, the membership change on the same side of it."""
    payload = encode(row)
    if row["cmd"] != CMD_GROUP:
        return [Delivery(row["id"], payload, user_ids=(row["userid"], row["dstid"]))]
    delivery = Delivery(row["id"], payload, group_id=row["dstid"])
    if row["media"] != MEDIA_SYSTEM:
        return [delivery]
    try:
        line = orjson.loads(row["content"])
        event, member = line.get("event"), int(line.get("userid", 0))
    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
        return [delivery]
    if event == "joined" and member:
        return [Membership(member, row["dstid"]), delivery]
    if event in ("left", "removed") and member:
        return [delivery, MembershipEnded(member, row["dstid"])]
    return [delivery]


class MessageLog:
    """server.intake.LogReader over this process's database pool."""

    ctx: Ctx  # set once the process's Ctx exists (it holds the bus that holds this)

    async def read_after(
        self, after_id: int, limit: int, upto_id: int | None
    ) -> list[tuple[int, list[Event]]]:
        rows = await self.ctx.pools.db(message_q.list_after, after_id, limit, upto_id, shed=False)
        return [(row["id"], events_of(row)) for row in rows]

    async def max_id(self) -> int:
        return await self.ctx.pools.db(message_q.max_id, shed=False)

    async def keep(self) -> None:
        log.warning("stored messages were left unpublished (a process died?); publishing a resync")
        await self.ctx.pools.db(ordered_job, self.ctx.bus, _nothing, shed=False, transaction=False)


def _nothing() -> tuple[None, list[Event]]:
    return None, []
