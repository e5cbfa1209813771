"""The conversation list: every friend and group with its last message and unread count,
and read marks that move those counts on every device."""

from __future__ import annotations

from typing import TYPE_CHECKING, NotRequired, TypedDict

from models import contacts as contact_q
from models import groups as group_q
from models import messages as message_q
from models import reads as read_q
from models import receipts as receipt_q
from models.groups import Window
from models.messages import CMD_GROUP, CMD_SINGLE, MessageRow
from server.bus import Delivery, Event
from server.errors import ClientError
from server.services import receipts
from server.services.messages import CMD_READ, check_may_read, encode

if TYPE_CHECKING:
    from server.context import Ctx


class ConversationRow(TypedDict):
    cmd: int
    dstid: int
    last: MessageRow | None
    unread: int
    readid: int
    peerread: NotRequired[int]  # 1:1: how far the other user has read (0: unknown or receipts off)


def _conversation(
    user_id: int, cmd: int, dst_id: int, read_id: int, win: Window | None = None
) -> ConversationRow:
    return ConversationRow(
        cmd=cmd,
        dstid=dst_id,
        last=message_q.last_in_conversation(user_id, cmd, dst_id, win),
        unread=message_q.count_unread(user_id, cmd, dst_id, read_id, win),
        readid=read_id,
    )


def _list(user_id: int) -> list[ConversationRow]:
    marks = read_q.read_marks(user_id)
    rows = [
        _conversation(user_id, CMD_SINGLE, f["id"], marks.get((CMD_SINGLE, f["id"]), 0))
        for f in contact_q.list_friends(user_id)
    ]
    # Current groups only (leftid 0), each counted within the part of it the user may read.
    windows = sorted((w for w in group_q.windows_of(user_id) if w.hi == 0), key=lambda w: w.group_id)
    rows += [
        _conversation(user_id, CMD_GROUP, w.group_id, marks.get((CMD_GROUP, w.group_id), 0), w)
        for w in windows
    ]
    peer_reads = receipts.peer_reads_for(user_id, [r["dstid"] for r in rows if r["cmd"] == CMD_SINGLE])
    for row in rows:
        if row["cmd"] == CMD_SINGLE:
            row["peerread"] = peer_reads.get(row["dstid"], 0)
    # Newest activity first; conversations without messages keep their order at the end.
    return sorted(rows, key=lambda r: -(r["last"]["id"] if r["last"] else 0))


async def list_conversations(ctx: Ctx, user_id: int) -> list[ConversationRow]:
    """Every friend and group of the user, newest activity first."""
    return await ctx.pools.db(_list, user_id)


async def do_mark_read(ctx: Ctx, user_id: int, cmd: int, dst_id: int, read_id: int) -> ConversationRow:
    """Mark a conversation read up to a message id (marks only move forward)."""
    if cmd not in (CMD_SINGLE, CMD_GROUP):
        raise ClientError(400, "cmd must be 10 or 11")
    if read_id < 0:
        raise ClientError(400, "id must not be negative")

    def mark() -> tuple[ConversationRow, Event | None]:
        check_may_read(user_id, cmd, dst_id)
        before = receipt_q.mark_of(user_id, cmd, dst_id)
        stored = read_q.mark_read(user_id, cmd, dst_id, read_id)
        receipt = receipts.receipt_event(user_id, cmd, dst_id, before, stored)
        return _conversation(user_id, cmd, dst_id, stored), receipt

    row, receipt = await ctx.pools.db(mark)
    # The user's other devices clear the same badge at once.
    frame = {
        "cmd": CMD_READ,
        "dstcmd": cmd,
        "dstid": dst_id,
        "readid": row["readid"],
        "unread": row["unread"],
    }
    await ctx.bus.publish(Delivery(0, encode(frame), user_ids=(user_id,)))
    await receipts.publish_receipt(ctx, receipt)  # the other side's "read"
    return row
