"""Link previews fetched by the server, cached by URL (misses too) so every process shares them."""

from __future__ import annotations

import hashlib
from typing import TypedDict

import peewee

from models.db import BaseModel


class LinkPreview(BaseModel):
    key = peewee.CharField(max_length=64, unique=True)  # sha256 of the URL: URLs may be long
    url = peewee.TextField()
    found = peewee.BooleanField()  # False: a cached miss (no page, refused, no title)
    title = peewee.TextField(default="")
    description = peewee.TextField(default="")
    site = peewee.TextField(default="")
    image = peewee.TextField(default="")  # our /upload/ URL of its thumbnail, or ""
    fetchedat = peewee.BigIntegerField()
    expireat = peewee.BigIntegerField(index=True)


class PreviewRow(TypedDict):
    url: str
    found: bool
    title: str
    description: str
    site: str
    image: str
    fetchedat: int
    expireat: int


def url_key(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()


def find_preview(url: str, now: int) -> PreviewRow | None:
    """The cached answer for `url` if it has not expired."""
    row = LinkPreview.get_or_none((LinkPreview.key == url_key(url)) & (LinkPreview.expireat > now))
    if row is None:
        return None
    return PreviewRow(
        url=row.url,
        found=row.found,
        title=row.title,
        description=row.description,
        site=row.site,
        image=row.image,
        fetchedat=row.fetchedat,
        expireat=row.expireat,
    )


def store_preview(row: PreviewRow) -> list[str]:
    """Insert or replace the cached answer for row's URL, and forget answers long expired
    (a day past their time: nobody asked for them again). Returns the image URLs only those
    forgotten rows named, for the caller to delete."""
    values = {**row, "key": url_key(row["url"])}
    fields = [f for f in values if f != "key"]
    LinkPreview.insert(**values).on_conflict(
        conflict_target=[LinkPreview.key], update={getattr(LinkPreview, f): values[f] for f in fields}
    ).execute()
    stale = LinkPreview.expireat < row["fetchedat"] - 86_400_000
    images = {p.image for p in LinkPreview.select(LinkPreview.image).where(stale & (LinkPreview.image != ""))}
    LinkPreview.delete().where(stale).execute()
    if not images:
        return []
    kept = {p.image for p in LinkPreview.select(LinkPreview.image).where(LinkPreview.image.in_(list(images)))}
    return sorted(images - kept)
