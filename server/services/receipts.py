"""Read receipts: "read" on your 1:1 messages once the other side's read mark passes them,
"read by N" on your group messages, all from the read marks chatd keeps anyway.

`send_receipts` off: your reading is never shown to anyone, and (as in WhatsApp) you see
no one else's either. Cost: nothing is written for a receipt; a read mark that moves sends
one frame to the other user's sockets (1:1), or to the group's sockets that have the group
open (groups), which then ask for their counts."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

from models import receipts as receipt_q
from models import users as user_q
from models.messages import CMD_GROUP, CMD_SINGLE
from models.users import PublicUser
from server.bus import Delivery, Ephemeral, Event
from server.errors import ClientError
from server.services.live import CMD_LIVE
from server.services.messages import check_may_send, encode

if TYPE_CHECKING:
    from server.context import Ctx


class ReadCount(TypedDict):
    id: int
    count: int


def sends_receipts(user_id: int) -> bool:
    flags = user_q.live_flags([user_id]).get(user_id)
    return flags is None or flags[1]


def peer_reads_for(user_id: int, peer_ids: list[int]) -> dict[int, int]:
    """For the conversation list (in its job): peer id -> their read mark of the 1:1 with
    the caller; empty when the caller does not send receipts."""
    if not peer_ids or not sends_receipts(user_id):
        return {}
    return receipt_q.peer_reads(user_id, peer_ids)


def receipt_event(user_id: int, cmd: int, dst_id: int, before: int, now: int) -> Event | None:
    """In the read-mark job: what tells the others that `user_id` read further (None when
    the mark did not move or a side has receipts off)."""
    if now <= before:
        return None
    frame = {"cmd": CMD_LIVE, "type": "read", "dstcmd": cmd, "userid": user_id, "readid": now}
    if cmd == CMD_SINGLE:
        flags = user_q.live_flags([user_id, dst_id])
        if not all(flags.get(u, (True, True))[1] for u in (user_id, dst_id)):
            return None
        # To every socket of the other user, like cmd 14 to the reader's own: their page
        # keeps the mark for when they open the chat.
        return Delivery(0, encode({**frame, "dstid": user_id}), user_ids=(dst_id,))
    if not sends_receipts(user_id):
        return None
    # Only the sockets that have the group open get it (server/focus.py), and only as "ask
    # for your counts again": who read how far is not told to members who stopped receipts.
    hint = {"cmd": CMD_LIVE, "type": "read", "dstcmd": cmd, "dstid": dst_id}
    return Ephemeral(encode(hint), (CMD_GROUP, dst_id), user_id, group_id=dst_id)


async def publish_receipt(ctx: Ctx, event: Event | None) -> None:
    if isinstance(event, Ephemeral):
        await ctx.bus.flash(event)
    elif event is not None:
        await ctx.bus.publish(event)


def _check_member(user_id: int, group_id: int) -> None:
    check_may_send(user_id, CMD_GROUP, group_id)  # 404 no such group, 403 not a member


async def list_read_counts(ctx: Ctx, user_id: int, group_id: int, message_ids: list[int]) -> list[ReadCount]:
    """How many other members read each of the caller's own messages among `message_ids`
    (others' ids are left out). All 0 when the caller does not send receipts."""
    if len(message_ids) > receipt_q.IDS_MAX:
        raise ClientError(400, f"at most {receipt_q.IDS_MAX} ids")

    def read() -> list[ReadCount]:
        _check_member(user_id, group_id)
        own = receipt_q.own_group_messages(user_id, group_id, message_ids)
        if not sends_receipts(user_id):
            return [ReadCount(id=i, count=0) for i in own]
        counts = receipt_q.group_read_counts(group_id, user_id, own)
        return [ReadCount(id=i, count=counts[i]) for i in own]

    return await ctx.pools.db(read)


async def list_readers(ctx: Ctx, user_id: int, group_id: int, message_id: int) -> list[PublicUser]:
    """The members who read one of the caller's group messages; 404 for any other id."""

    def read() -> list[PublicUser]:
        _check_member(user_id, group_id)
        if not receipt_q.own_group_messages(user_id, group_id, [message_id]):
            raise ClientError(404, "no such message of yours in this group")
        if not sends_receipts(user_id):
            return []
        return receipt_q.group_readers(group_id, user_id, message_id)

    return await ctx.pools.db(read)
