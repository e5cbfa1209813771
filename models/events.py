"""Events about an earlier message (edits, recalls, reactions): their effect on the target row
and the reactions table. Called inside the message writer's transaction."""

from __future__ import annotations

import peewee

from models.contacts import Community
from models.db import BaseModel, now_ms
from models.messages import Message, MessageRow, message_row
from models.users import User


class Reaction(BaseModel):
    """One user's reaction with one emoji code to one message (present = on)."""

    message_id = peewee.BigIntegerField()
    user_id = peewee.IntegerField()
    code = peewee.CharField(max_length=64)
    createat = peewee.BigIntegerField(default=now_ms)

    class Meta:
        indexes = ((("message_id", "user_id", "code"), True),)


def find_message(message_id: int) -> MessageRow | None:
    m = Message.get_or_none(Message.id == message_id)
    return message_row(m) if m is not None else None


def has_reaction(message_id: int, user_id: int, code: str) -> bool:
    query = Reaction.select().where(
        (Reaction.message_id == message_id) & (Reaction.user_id == user_id) & (Reaction.code == code)
    )
    return query.exists()


def set_reaction(message_id: int, user_id: int, code: str, on: bool) -> None:
    if on:
        Reaction.insert(message_id=message_id, user_id=user_id, code=code).on_conflict_ignore().execute()
    else:
        Reaction.delete().where(
            (Reaction.message_id == message_id) & (Reaction.user_id == user_id) & (Reaction.code == code)
        ).execute()


def reactions_of(message_ids: list[int]) -> dict[int, dict[str, list[int]]]:
    """message id -> emoji code -> the users who reacted so, in the order they did."""
    found: dict[int, dict[str, list[int]]] = {}
    if not message_ids:
        return found
    query = Reaction.select().where(Reaction.message_id.in_(message_ids)).order_by(Reaction.id)
    for r in query:
        found.setdefault(r.message_id, {}).setdefault(r.code, []).append(r.user_id)
    return found


def apply_edit(target_id: int, content: str, edit_id: int) -> None:
    """The target shows the newest edit's text (an older edit stored later changes nothing)."""
    Message.update(content=content, editid=edit_id).where(
        (Message.id == target_id) & (Message.editid < edit_id)
    ).execute()


def apply_recall(target_id: int, by_user_id: int) -> None:
    """Nothing of the message is kept but who sent it, when, and who recalled it."""
    Message.update(content="", url="", pic="", memo="", amount=0, recalled=by_user_id).where(
        Message.id == target_id
    ).execute()
    Reaction.delete().where(Reaction.message_id == target_id).execute()


def upload_in_use(url: str) -> bool:
    """Does anything still show this upload: a message not recalled (a forward of it), an
    avatar, a group icon?"""
    if Message.select().where((Message.url == url) & (Message.recalled == 0)).exists():
        return True
    if User.select().where(User.avatar == url).exists():
        return True
    return bool(Community.select().where(Community.icon == url).exists())
