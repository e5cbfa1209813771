"""Uploaded media: one row per stored upload, found by its key when a message names it."""

from __future__ import annotations

from typing import TypedDict

import orjson
import peewee

from models.db import BaseModel, now_ms


class Media(BaseModel):
    key = peewee.CharField(max_length=32, unique=True)
    user_id = peewee.IntegerField(index=True)  # the uploader
    kind = peewee.CharField(max_length=8)  # image | voice
    mime = peewee.CharField(max_length=64)  # the stored file's type, as served
    path = peewee.CharField(max_length=128)  # relative to the upload dir
    thumb = peewee.CharField(max_length=128, default="")
    size = peewee.BigIntegerField()
    width = peewee.IntegerField(default=0)
    height = peewee.IntegerField(default=0)
    seconds = peewee.FloatField(default=0)
    waveform = peewee.TextField(default="")  # JSON list of peaks 0-255
    sha256 = peewee.CharField(max_length=64, index=True)
    createat = peewee.BigIntegerField(default=now_ms)


class MediaRow(TypedDict):
    key: str
    user_id: int
    kind: str
    mime: str
    path: str
    thumb: str
    size: int
    width: int
    height: int
    seconds: float
    waveform: list[int]
    sha256: str


def media_row(m: Media) -> MediaRow:
    return MediaRow(
        key=m.key,
        user_id=m.user_id,
        kind=m.kind,
        mime=m.mime,
        path=m.path,
        thumb=m.thumb,
        size=m.size,
        width=m.width,
        height=m.height,
        seconds=m.seconds,
        waveform=orjson.loads(m.waveform) if m.waveform else [],
        sha256=m.sha256,
    )


def insert_media(row: MediaRow) -> None:
    Media.insert(**{**row, "waveform": orjson.dumps(row["waveform"]).decode()}).execute()


def find_media(keys: list[str]) -> dict[str, MediaRow]:
    return {m.key: media_row(m) for m in Media.select().where(Media.key.in_(keys))}


def remove_media(key: str) -> MediaRow | None:
    """Forget an upload; its row as it was (for its files), None if there was none."""
    m = Media.get_or_none(Media.key == key)
    if m is None:
        return None
    m.delete_instance()
    return media_row(m)
