"""Group membership queries: roles, members, and the window of a group's stream each user
may read (from their join message on, up to their leave message)."""

from __future__ import annotations

from typing import Any, NamedTuple, TypedDict

import peewee

from models.contacts import (
    HISTORY_ALL,
    MEMBER,
    ROLE_NAMES,
    Community,
    CommunityRow,
    Contact,
    community_row,
)
from models.users import PublicUser, User, public_row


class GroupRow(CommunityRow):
    open: bool
    history: str
    role: str  # the caller's


class MemberRow(TypedDict):
    user: PublicUser
    role: str
    joinedat: int


class Window(NamedTuple):
    """Ids of a group's stream a user may read: lo <= id (0: no lower bound) and
    id <= hi (0: no upper bound, a current member)."""

    group_id: int
    lo: int
    hi: int


def group_row(c: Community, role: int) -> GroupRow:
    return GroupRow(**community_row(c), open=c.is_open, history=c.history, role=ROLE_NAMES[role])


def membership(user_id: int, group_id: int) -> Contact | None:
    """The user's MEMBER row for a group, current (leftid 0) or past."""
    return Contact.get_or_none(
        (Contact.owner_id == user_id) & (Contact.cate == MEMBER) & (Contact.dst_id == group_id)
    )


def current_role(user_id: int, group_id: int) -> int | None:
    row = membership(user_id, group_id)
    return row.role if row is not None and row.leftid == 0 else None


def _window_of(row: Contact, history: str) -> Window:
    lo = 0 if history == HISTORY_ALL else row.joinid
    return Window(row.dst_id, lo, row.leftid)


def windows_of(user_id: int) -> list[Window]:
    """Every group the user is or was in, with the part of its stream they may read: one query."""
    query = (
        Contact.select(Contact.dst_id, Contact.joinid, Contact.leftid, Community.history)
        .join(Community, on=(Community.id == Contact.dst_id))
        .where((Contact.owner_id == user_id) & (Contact.cate == MEMBER))
        .objects()
    )
    rows: list[Any] = list(query)
    return [Window(r.dst_id, 0 if r.history == HISTORY_ALL else r.joinid, r.leftid) for r in rows]


def window(user_id: int, group_id: int) -> Window | None:
    """The part of one group's stream the user may read; None if they were never in it."""
    row = membership(user_id, group_id)
    if row is None:
        return None
    community = Community.get_or_none(Community.id == group_id)
    return _window_of(row, community.history if community else "")


def bounds(id_field: peewee.Field, w: Window) -> peewee.Expression | None:
    """The where clause of a window on message ids; None when it is the whole stream."""
    where: peewee.Expression | None = None
    if w.lo:
        where = id_field >= w.lo
    if w.hi:
        where = (id_field <= w.hi) if where is None else (where & (id_field <= w.hi))
    return where


def end_membership(user_id: int, group_id: int, left_id: int) -> None:
    Contact.update(leftid=left_id).where(
        (Contact.owner_id == user_id) & (Contact.cate == MEMBER) & (Contact.dst_id == group_id)
    ).execute()


def set_role(user_id: int, group_id: int, role: int) -> None:
    Contact.update(role=role).where(
        (Contact.owner_id == user_id) & (Contact.cate == MEMBER) & (Contact.dst_id == group_id)
    ).execute()


def _current_members(group_id: int) -> peewee.Expression:
    return (Contact.dst_id == group_id) & (Contact.cate == MEMBER) & (Contact.leftid == 0)


def list_members(group_id: int) -> list[MemberRow]:
    query = (
        Contact.select(Contact, User)
        .join(User, on=(User.id == Contact.owner_id), attr="user")
        .where(_current_members(group_id))
        .order_by(Contact.role.desc(), Contact.createat, Contact.id)
    )
    rows: list[Any] = list(query)
    return [MemberRow(user=public_row(r.user), role=ROLE_NAMES[r.role], joinedat=r.createat) for r in rows]


def successor(group_id: int, leaving_id: int) -> int | None:
    """Who becomes owner when the owner leaves: the longest-standing admin, else the
    longest-standing member; None for an empty group."""
    row = (
        Contact.select(Contact.owner_id)
        .where(_current_members(group_id) & (Contact.owner_id != leaving_id))
        .order_by(Contact.role.desc(), Contact.createat, Contact.id)
        .first()
    )
    return row.owner_id if row is not None else None


def update_community(group_id: int, **fields: object) -> None:
    Community.update(**fields).where(Community.id == group_id).execute()


def list_groups(user_id: int) -> list[GroupRow]:
    """The groups the user is a current member of, with their role."""
    query = (
        Contact.select(Contact.role, Community)
        .join(Community, on=(Community.id == Contact.dst_id), attr="community")
        .where((Contact.owner_id == user_id) & (Contact.cate == MEMBER) & (Contact.leftid == 0))
        .order_by(Community.id)
    )
    rows: list[Any] = list(query)
    return [group_row(r.community, r.role) for r in rows]
