"""Facts about this chat kept in its own database: its identity, which every process that
shares the database shares, so their Redis keys and channels are this chat's alone."""

from __future__ import annotations

import secrets

import peewee

from models.db import BaseModel

CHAT_UID = "chat_uid"


class ChatMeta(BaseModel):
    key = peewee.CharField(max_length=32, primary_key=True)
    value = peewee.CharField(max_length=256)


def chat_uid() -> str:
    """The chat's random identity (made once, with the schema); processes sharing this
    database name their Redis keys and channels after it."""
    row = ChatMeta.get_or_none(ChatMeta.key == CHAT_UID)
    if row is not None:
        return str(row.value)
    uid = secrets.token_hex(8)
    ChatMeta.insert(key=CHAT_UID, value=uid).on_conflict_ignore().execute()
    return str(ChatMeta.get(ChatMeta.key == CHAT_UID).value)
