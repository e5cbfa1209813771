"""What `chatd import-original` wrote: original ids to chatd ids (table original_id), and the
inserts that keep an original id where it is free."""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

import peewee

from models.contacts import ROLE_OWNER, Community, insert_membership
from models.db import BaseModel, is_postgres
from models.users import ROLE_ADMIN, User

USER = "user"
GROUP = "group"
CONTACT = "contact"  # an original contact row already handled (chatd_id 0)


class OriginalId(BaseModel):
    kind = peewee.CharField(max_length=16)
    orig_id = peewee.BigIntegerField()
    chatd_id = peewee.IntegerField()

    class Meta:
        table_name = "original_id"
        indexes = ((("kind", "orig_id"), True),)


def mapped(kind: str, orig_ids: Iterable[int]) -> dict[int, int]:
    """original id -> chatd id for those of `orig_ids` imported before."""
    ids = list(set(orig_ids))
    found: dict[int, int] = {}
    for start in range(0, len(ids), 500):  # bounded IN lists
        query = OriginalId.select(OriginalId.orig_id, OriginalId.chatd_id).where(
            (OriginalId.kind == kind) & OriginalId.orig_id.in_(ids[start : start + 500])
        )
        rows = cast("Iterable[tuple[int, int]]", query.tuples())
        found.update((int(orig), int(chatd)) for orig, chatd in rows)
    return found


def remember(kind: str, orig_id: int, chatd_id: int = 0) -> None:
    OriginalId.insert(kind=kind, orig_id=orig_id, chatd_id=chatd_id).on_conflict_ignore().execute()


def count(kind: str) -> int:
    return int(OriginalId.select().where(OriginalId.kind == kind).count())


def max_user_id() -> int:
    return int(User.select(peewee.fn.MAX(User.id)).scalar() or 0)


def max_community_id() -> int:
    return int(Community.select(peewee.fn.MAX(Community.id)).scalar() or 0)


def user_id_free(user_id: int) -> bool:
    return not User.select().where(User.id == user_id).exists()


def community_id_free(community_id: int) -> bool:
    return not Community.select().where(Community.id == community_id).exists()


def has_admin() -> bool:
    return User.select().where(User.role == ROLE_ADMIN).exists()


def user_with_mobile(mobile: str) -> int | None:
    row = User.select(User.id).where(User.mobile == mobile).first()
    return int(row.id) if row else None


def insert_user(
    user_id: int,
    mobile: str,
    passwd_hash: str,
    nickname: str,
    avatar: str,
    sex: str,
    memo: str,
    createat: int,
) -> None:
    """A user with a chosen id (users.insert_user lets the database pick one)."""
    User.insert(
        id=user_id,
        mobile=mobile,
        passwd=passwd_hash,
        nickname=nickname,
        avatar=avatar,
        sex=sex,
        memo=memo,
        createat=createat,
    ).execute()


def insert_open_group(
    group_id: int, owner_id: int, name: str, icon: str, memo: str, cate: int, createat: int
) -> None:
    """An open group (joinable by its id, as every original group was) with a chosen id and
    its owner as a member (contacts.insert_community's rows)."""
    Community.insert(
        id=group_id,
        name=name,
        owner_id=owner_id,
        icon=icon,
        memo=memo,
        cate=cate,
        createat=createat,
        is_open=True,
    ).execute()
    insert_membership(owner_id, group_id, role=ROLE_OWNER)


def catch_up_sequences() -> None:
    """On PostgreSQL, move the id sequences of user and community past the ids inserted by
    hand, so the next registration or new group does not collide with an imported one.
    (SQLite's next id is always the largest plus one.)"""
    if not is_postgres():
        return
    database = User._meta.database
    for table in ("user", "community"):
        database.execute_sql(
            f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "  # noqa: S608 - fixed names
            f'GREATEST((SELECT MAX(id) FROM "{table}"), 1))'
        )
