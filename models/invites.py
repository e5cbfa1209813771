"""Invite codes: to join a group, or (community_id 0) to register on an invite-only server."""

from __future__ import annotations

import secrets
from typing import TypedDict

import peewee

from models.db import BaseModel, now_ms

SIGNUP = 0  # community_id of a sign-up invite


class Invite(BaseModel):
    # 128 random bits: a code cannot be guessed or enumerated like a group id can.
    code = peewee.CharField(max_length=32, unique=True)
    community_id = peewee.IntegerField(index=True)
    creator_id = peewee.IntegerField()
    expireat = peewee.BigIntegerField(default=0)  # ms since the epoch; 0: never
    max_uses = peewee.IntegerField(default=0)  # 0: unlimited
    uses = peewee.IntegerField(default=0)
    revoked = peewee.BooleanField(default=False)
    createat = peewee.BigIntegerField(default=now_ms)


class InviteRow(TypedDict):
    code: str
    dstid: int
    creatorid: int
    expireat: int
    maxuses: int
    uses: int
    revoked: bool
    createat: int


def invite_row(i: Invite) -> InviteRow:
    return InviteRow(
        code=i.code,
        dstid=i.community_id,
        creatorid=i.creator_id,
        expireat=i.expireat,
        maxuses=i.max_uses,
        uses=i.uses,
        revoked=i.revoked,
        createat=i.createat,
    )


def new_code() -> str:
    return secrets.token_hex(16)


def insert_invite(community_id: int, creator_id: int, expireat: int, max_uses: int) -> InviteRow:
    invite = Invite.create(
        code=new_code(),
        community_id=community_id,
        creator_id=creator_id,
        expireat=expireat,
        max_uses=max_uses,
    )
    return invite_row(invite)


def find_invite(code: str) -> Invite | None:
    return Invite.get_or_none(Invite.code == code)


def usable(invite: Invite, now: int) -> bool:
    """Not revoked, not expired, not used up."""
    if invite.revoked or (invite.expireat and now >= invite.expireat):
        return False
    return not (invite.max_uses and invite.uses >= invite.max_uses)


def use_invite(invite_id: int) -> None:
    Invite.update(uses=Invite.uses + 1).where(Invite.id == invite_id).execute()


def revoke_invite(code: str) -> None:
    Invite.update(revoked=True).where(Invite.code == code).execute()


def list_invites(community_id: int) -> list[InviteRow]:
    query = Invite.select().where(Invite.community_id == community_id).order_by(Invite.id)
    return [invite_row(i) for i in query]
