"""How far each user has read each conversation: the source of unread counts on every device."""

from __future__ import annotations

import peewee

from models.db import BaseModel, now_ms


class ReadMark(BaseModel):
    user_id = peewee.IntegerField()
    cmd = peewee.SmallIntegerField()
    dst_id = peewee.IntegerField()
    read_id = peewee.BigIntegerField(default=0)
    updatedat = peewee.BigIntegerField(default=now_ms)

    class Meta:
        indexes = ((("user_id", "cmd", "dst_id"), True),)


def read_marks(user_id: int) -> dict[tuple[int, int], int]:
    query = ReadMark.select().where(ReadMark.user_id == user_id)
    return {(m.cmd, m.dst_id): m.read_id for m in query}


def mark_read(user_id: int, cmd: int, dst_id: int, read_id: int) -> int:
    """Move the mark forward (never back); returns the mark now stored."""
    row = ReadMark.get_or_none(
        (ReadMark.user_id == user_id) & (ReadMark.cmd == cmd) & (ReadMark.dst_id == dst_id)
    )
    if row is None:
        ReadMark.insert(
            user_id=user_id, cmd=cmd, dst_id=dst_id, read_id=read_id
        ).on_conflict_ignore().execute()
        return read_id
    if read_id > row.read_id:
        ReadMark.update(read_id=read_id, updatedat=now_ms()).where(ReadMark.id == row.id).execute()
        return read_id
    return int(row.read_id)
