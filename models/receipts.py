"""Read receipts from read marks: how far the other side of a 1:1 has read, and which group
members have read a message (a member's read mark at or past it, sent after they joined).
Only users whose `send_receipts` is on count."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from typing import Any

from models.contacts import MEMBER, Contact
from models.messages import CMD_GROUP, CMD_SINGLE, Message
from models.reads import ReadMark
from models.users import PublicUser, User, public_row

IDS_MAX = 100  # message ids per read-count query


def mark_of(user_id: int, cmd: int, dst_id: int) -> int:
    """The user's read mark of one conversation (0: none)."""
    row = ReadMark.get_or_none(
        (ReadMark.user_id == user_id) & (ReadMark.cmd == cmd) & (ReadMark.dst_id == dst_id)
    )
    return int(row.read_id) if row is not None else 0


def peer_reads(user_id: int, peer_ids: Iterable[int]) -> dict[int, int]:
    """peer id -> how far that peer has read their 1:1 with `user_id`, for peers who send
    receipts (others are left out: 0)."""
    peers = list(set(peer_ids))
    found: dict[int, int] = {}
    for start in range(0, len(peers), 500):
        query = (
            ReadMark.select(ReadMark.user_id, ReadMark.read_id)
            .join(User, on=(User.id == ReadMark.user_id))
            .where(
                (ReadMark.cmd == CMD_SINGLE)
                & (ReadMark.dst_id == user_id)
                & ReadMark.user_id.in_(peers[start : start + 500])
                & (User.send_receipts == True)  # noqa: E712 - peewee builds SQL from ==
            )
        )
        for row in query:
            found[row.user_id] = int(row.read_id)
    return found


def own_group_messages(user_id: int, group_id: int, message_ids: list[int]) -> list[int]:
    """Those of `message_ids` that `user_id` sent to the group, in id order."""
    query = Message.select(Message.id).where(
        Message.id.in_(message_ids[:IDS_MAX])
        & (Message.user_id == user_id)
        & (Message.cmd == CMD_GROUP)
        & (Message.dst_id == group_id)
    )
    return sorted(row.id for row in query)


def _group_marks(group_id: int, skip_user: int) -> list[Any]:
    """Current members (but `skip_user`) who send receipts, with their join id and read mark."""
    query = (
        Contact.select(Contact.owner_id, Contact.joinid, ReadMark.read_id)
        .join(ReadMark, on=((ReadMark.user_id == Contact.owner_id) & (ReadMark.dst_id == Contact.dst_id)))
        .join(User, on=(User.id == Contact.owner_id))
        .where(
            (Contact.dst_id == group_id)
            & (Contact.cate == MEMBER)
            & (Contact.leftid == 0)
            & (Contact.owner_id != skip_user)
            & (ReadMark.cmd == CMD_GROUP)
            & (User.send_receipts == True)  # noqa: E712
        )
        .objects()
    )
    return list(query)


def group_read_counts(group_id: int, sender_id: int, message_ids: list[int]) -> dict[int, int]:
    """message id -> how many other members have read it (ids the sender sent there)."""
    marks = _group_marks(group_id, sender_id)
    counts = dict.fromkeys(message_ids, 0)
    if not marks or not message_ids:
        return counts
    # A member read message M when their mark is at or past M and they joined before M.
    for row in marks:
        lowest = bisect_left(message_ids, row.joinid)
        for message_id in message_ids[lowest:]:
            if message_id > row.read_id:
                break
            counts[message_id] += 1
    return counts


def group_readers(group_id: int, sender_id: int, message_id: int) -> list[PublicUser]:
    """The other members who have read one message, by nickname."""
    ids = [r.owner_id for r in _group_marks(group_id, sender_id) if r.joinid <= message_id <= r.read_id]
    if not ids:
        return []
    users = User.select().where(User.id.in_(ids)).order_by(User.nickname, User.id)
    return [public_row(u) for u in users]
