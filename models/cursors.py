"""How far the original client's page of each user has been sent messages (issue 12).

That page never says where it stands (no `since`), so the server keeps it: the id of the
newest message known to have reached that user's original-client socket."""

from __future__ import annotations

import peewee

from models.db import BaseModel, now_ms


class DeliveryCursor(BaseModel):
    user_id = peewee.IntegerField(primary_key=True)
    last_id = peewee.BigIntegerField(default=0)
    updatedat = peewee.BigIntegerField(default=now_ms)


def delivered_up_to(user_id: int) -> int | None:
    row = DeliveryCursor.get_or_none(DeliveryCursor.user_id == user_id)
    return int(row.last_id) if row is not None else None


def move_cursor(user_id: int, last_id: int) -> None:
    """Forward only: two sockets of one user (or two processes) never move it back."""
    DeliveryCursor.insert(user_id=user_id, last_id=last_id).on_conflict_ignore().execute()
    DeliveryCursor.update(last_id=last_id, updatedat=now_ms()).where(
        (DeliveryCursor.user_id == user_id) & (DeliveryCursor.last_id < last_id)
    ).execute()
