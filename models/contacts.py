"""Friends and communities. Like the original's contact table, one Contact row per direction:
(owner, dst, FRIEND) both ways for a friendship, (user, community, MEMBER) for membership."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypedDict, cast

import peewee

from models.db import BaseModel, is_postgres, now_ms
from models.users import PublicUser, User, public_row

FRIEND = 1  # a friendship: one row each way
MEMBER = 2  # (user, community): a membership, current while leftid == 0
REQUEST = 3  # (requester, requested): a pending friend request
BLOCK = 4  # (blocker, blocked)

# Roles within a group (Contact.role on MEMBER rows).
ROLE_MEMBER = 0
ROLE_ADMIN = 1
ROLE_OWNER = 2
ROLE_NAMES = {ROLE_MEMBER: "member", ROLE_ADMIN: "admin", ROLE_OWNER: "owner"}

HISTORY_JOINED = "joined"  # a new member sees the group's messages from their join on
HISTORY_ALL = "all"  # a new member sees every earlier message too


class Community(BaseModel):
    name = peewee.CharField(max_length=64)
    owner_id = peewee.IntegerField(index=True)
    icon = peewee.CharField(max_length=512, default="")
    cate = peewee.IntegerField(default=0)
    memo = peewee.CharField(max_length=512, default="")  # the group's notice
    createat = peewee.BigIntegerField(default=now_ms)
    is_open = peewee.BooleanField(default=False)  # anyone may join by id, no invite needed
    history = peewee.CharField(max_length=8, default=HISTORY_JOINED)


class Contact(BaseModel):
    owner_id = peewee.IntegerField()
    dst_id = peewee.IntegerField()
    cate = peewee.IntegerField()
    createat = peewee.BigIntegerField(default=now_ms)
    role = peewee.SmallIntegerField(default=ROLE_MEMBER)  # MEMBER rows only
    # MEMBER rows: the ids of the join and leave system messages that bound what this
    # member may read of the group (0: joined before system messages / still a member).
    joinid = peewee.BigIntegerField(default=0)
    leftid = peewee.BigIntegerField(default=0)

    class Meta:
        indexes = (
            (("owner_id", "cate", "dst_id"), True),
            (("dst_id", "cate"), False),  # members of a community
        )


class CommunityRow(TypedDict):
    id: int
    name: str
    ownerid: int
    icon: str
    cate: int
    memo: str
    createat: int


def community_row(c: Community) -> CommunityRow:
    return CommunityRow(
        id=c.id, name=c.name, ownerid=c.owner_id, icon=c.icon, cate=c.cate, memo=c.memo, createat=c.createat
    )


def are_friends(user_id: int, other_id: int) -> bool:
    return (
        Contact.select()
        .where((Contact.owner_id == user_id) & (Contact.cate == FRIEND) & (Contact.dst_id == other_id))
        .exists()
    )


def insert_friendship(user_id: int, other_id: int) -> None:
    now = now_ms()
    Contact.insert_many(
        [
            {"owner_id": user_id, "dst_id": other_id, "cate": FRIEND, "createat": now},
            {"owner_id": other_id, "dst_id": user_id, "cate": FRIEND, "createat": now},
        ]
    ).on_conflict_ignore().execute()


def list_friends(user_id: int) -> list[PublicUser]:
    query = (
        User.select()
        .join(Contact, on=(Contact.dst_id == User.id))
        .where((Contact.owner_id == user_id) & (Contact.cate == FRIEND))
        .order_by(User.nickname, User.id)
    )
    return [public_row(u) for u in query]


def find_community(community_id: int) -> Community | None:
    return Community.get_or_none(Community.id == community_id)


def insert_community(
    owner_id: int, name: str, icon: str, memo: str, cate: int, is_open: bool = False
) -> Community:
    community = Community.create(
        name=name, owner_id=owner_id, icon=icon, memo=memo, cate=cate, is_open=is_open
    )
    insert_membership(owner_id, community.id, role=ROLE_OWNER)
    return community


def _current_membership() -> peewee.Expression:
    """MEMBER rows that are current (a row with leftid set is a past membership, kept
    because it bounds what its user may still read)."""
    return (Contact.cate == MEMBER) & (Contact.leftid == 0)


def _current_member(user_id: int) -> peewee.Expression:
    """This user's current MEMBER rows."""
    return (Contact.owner_id == user_id) & _current_membership()


def is_member(user_id: int, community_id: int) -> bool:
    return Contact.select().where(_current_member(user_id) & (Contact.dst_id == community_id)).exists()


def insert_membership(user_id: int, community_id: int, role: int = ROLE_MEMBER, joinid: int = 0) -> bool:
    """Make a user a current member (again); False when they already were one."""
    if is_member(user_id, community_id):
        return False
    row = {"owner_id": user_id, "dst_id": community_id, "cate": MEMBER, "createat": now_ms()}
    # A past member's row is reused: one row per (user, group), the unique index's rule.
    updated = (
        Contact.update(role=role, joinid=joinid, leftid=0, createat=row["createat"])
        .where((Contact.owner_id == user_id) & (Contact.cate == MEMBER) & (Contact.dst_id == community_id))
        .execute()
    )
    if not updated:
        # on_conflict_ignore covers a concurrent join from another process.
        Contact.insert(**row, role=role, joinid=joinid).on_conflict_ignore().execute()
    return True


def list_communities(user_id: int) -> list[CommunityRow]:
    query = (
        Community.select()
        .join(Contact, on=(Contact.dst_id == Community.id))
        .where(_current_member(user_id))
        .order_by(Community.id)
    )
    return [community_row(c) for c in query]


def community_ids_of(user_id: int) -> set[int]:
    query = Contact.select(Contact.dst_id).where(_current_member(user_id))
    return {row.dst_id for row in query}


def circles_of(user_ids: list[int]) -> dict[int, tuple[set[int], set[int]]]:
    """Friend ids and current group ids of many users, in one query (their sockets opening)."""
    circles: dict[int, tuple[set[int], set[int]]] = {user_id: (set(), set()) for user_id in user_ids}
    query = Contact.select(Contact.owner_id, Contact.cate, Contact.dst_id).where(
        Contact.owner_id.in_(user_ids) & ((Contact.cate == FRIEND) | _current_membership())
    )
    rows = cast("Iterable[tuple[int, int, int]]", query.tuples())
    for owner_id, cate, dst_id in rows:
        circles[owner_id][0 if cate == FRIEND else 1].add(dst_id)
    return circles


# --- friends: requests and blocks ---


class RequestRow(TypedDict):
    direction: str  # "in": they asked the caller; "out": the caller asked them
    user: PublicUser
    createat: int


def lock_pair(user_id: int, other_id: int) -> None:
    """On PostgreSQL, serialise friend changes of one pair until commit, so two requests or
    accepts crossing each other see each other's rows and make one friendship. (SQLite has
    one writer; the unique index backs both.)"""
    if is_postgres():
        low, high = sorted((user_id, other_id))
        Contact._meta.database.execute_sql("SELECT pg_advisory_xact_lock(%s, %s)", (low, high))


def has_row(owner_id: int, cate: int, dst_id: int) -> bool:
    return (
        Contact.select()
        .where((Contact.owner_id == owner_id) & (Contact.cate == cate) & (Contact.dst_id == dst_id))
        .exists()
    )


def is_blocked_either_way(user_id: int, other_id: int) -> bool:
    return has_row(user_id, BLOCK, other_id) or has_row(other_id, BLOCK, user_id)


def insert_row(owner_id: int, cate: int, dst_id: int) -> bool:
    """Insert one (owner, cate, dst) row; False when it was there already."""
    query = Contact.insert(owner_id=owner_id, cate=cate, dst_id=dst_id, createat=now_ms())
    # The row count, not an id: SQLite reports a stale last id when the insert was ignored.
    return query.on_conflict_ignore().as_rowcount().execute() > 0


def delete_row(owner_id: int, cate: int, dst_id: int) -> bool:
    deleted = (
        Contact.delete()
        .where((Contact.owner_id == owner_id) & (Contact.cate == cate) & (Contact.dst_id == dst_id))
        .execute()
    )
    return deleted > 0


def delete_both_ways(user_id: int, cate: int, other_id: int) -> bool:
    """Delete the pair's rows of one kind in both directions; True if there were any."""
    there = delete_row(user_id, cate, other_id)
    back = delete_row(other_id, cate, user_id)
    return there or back


def list_requests(user_id: int) -> list[RequestRow]:
    """Pending requests to and from the user, newest first."""
    rows = list(
        Contact.select()
        .where((Contact.cate == REQUEST) & ((Contact.owner_id == user_id) | (Contact.dst_id == user_id)))
        .order_by(Contact.createat.desc(), Contact.id.desc())
    )
    other_ids = {row.dst_id if row.owner_id == user_id else row.owner_id for row in rows}
    users = {u.id: u for u in User.select().where(User.id.in_(other_ids))} if other_ids else {}
    found = []
    for row in rows:
        out = row.owner_id == user_id
        other = users.get(row.dst_id if out else row.owner_id)
        if other is not None:
            found.append(
                RequestRow(direction="out" if out else "in", user=public_row(other), createat=row.createat)
            )
    return found


def list_blocked(user_id: int) -> list[PublicUser]:
    query = (
        User.select()
        .join(Contact, on=(Contact.dst_id == User.id))
        .where((Contact.owner_id == user_id) & (Contact.cate == BLOCK))
        .order_by(User.nickname, User.id)
    )
    return [public_row(u) for u in query]
