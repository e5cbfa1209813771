"""Users and their login tokens (several per user, one per device; stored only as a SHA-256 digest)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from typing import TypedDict, cast

import peewee

from models.db import BaseModel, now_ms


class User(BaseModel):
    mobile = peewee.CharField(max_length=32, unique=True)
    # An argon2id hash, never the password (or, until its first login, an imported account's
    # original md5 form: services/accounts.py LEGACY_PREFIX).
    passwd = peewee.CharField(max_length=255)
    nickname = peewee.CharField(max_length=64)
    avatar = peewee.CharField(max_length=512, default="")
    sex = peewee.CharField(max_length=1, default="U")
    memo = peewee.CharField(max_length=512, default="")
    createat = peewee.BigIntegerField(default=now_ms)
    role = peewee.CharField(max_length=16, default="")  # "admin": a server admin
    disabled = peewee.BooleanField(default=False)  # an admin turned the account off
    findable = peewee.BooleanField(default=True)  # others may find this user by mobile
    show_presence = peewee.BooleanField(default=True)  # friends see online / last seen
    send_receipts = peewee.BooleanField(default=True)  # others see "read" on their messages


class Token(BaseModel):
    user = peewee.ForeignKeyField(User, on_delete="CASCADE", backref="tokens")
    # 256 random bits are unguessable, so a plain SHA-256 (not a slow KDF) is enough
    # to keep a stolen database from yielding working tokens.
    digest = peewee.CharField(max_length=64, unique=True)
    createat = peewee.BigIntegerField(default=now_ms)
    usedat = peewee.BigIntegerField(default=now_ms)


class UserRow(TypedDict):
    id: int
    mobile: str
    nickname: str
    avatar: str
    sex: str
    memo: str
    createat: int


class PublicUser(TypedDict):
    id: int
    nickname: str
    avatar: str
    sex: str
    memo: str


def user_row(user: User) -> UserRow:
    return UserRow(
        id=user.id,
        mobile=user.mobile,
        nickname=user.nickname,
        avatar=user.avatar,
        sex=user.sex,
        memo=user.memo,
        createat=user.createat,
    )


def public_row(user: User) -> PublicUser:
    return PublicUser(id=user.id, nickname=user.nickname, avatar=user.avatar, sex=user.sex, memo=user.memo)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def find_by_mobile(mobile: str) -> User | None:
    return User.get_or_none(User.mobile == mobile)


def find_by_id(user_id: int) -> User | None:
    return User.get_or_none(User.id == user_id)


def mobile_taken(mobile: str) -> bool:
    return User.select().where(User.mobile == mobile).exists()


def insert_user(mobile: str, passwd_hash: str, nickname: str, avatar: str, sex: str) -> User:
    return User.create(mobile=mobile, passwd=passwd_hash, nickname=nickname, avatar=avatar, sex=sex)


def passwd_hash_of(mobile: str) -> tuple[int, str] | None:
    row = User.select(User.id, User.passwd).where(User.mobile == mobile).first()
    return (row.id, row.passwd) if row else None


def passwd_hash_by_id(user_id: int) -> str | None:
    row = User.select(User.passwd).where(User.id == user_id).first()
    return str(row.passwd) if row else None


def set_passwd_hash(user_id: int, passwd_hash: str) -> None:
    User.update(passwd=passwd_hash).where(User.id == user_id).execute()


def replace_passwd_hash(user_id: int, old_hash: str, new_hash: str) -> bool:
    """Store a new hash only while the old one is still there; False when it had changed."""
    query = User.update(passwd=new_hash).where((User.id == user_id) & (User.passwd == old_hash))
    return query.execute() > 0


def issue_token(user_id: int) -> str:
    """Create a new token for a user (a new device session) and return it in clear, once."""
    token = secrets.token_urlsafe(32)
    Token.create(user=user_id, digest=token_digest(token))
    return token


def user_for_token(token: str, max_idle_ms: int) -> int | None:
    """The user id a token belongs to, or None when unknown or idle too long."""
    digest = token_digest(token)
    return users_for_tokens([digest], max_idle_ms).get(digest)


def users_for_tokens(digests: list[str], max_idle_ms: int) -> dict[str, int]:
    """Token digest -> user id for those known and not idle too long, in one query (the
    others are left out; expired ones are deleted)."""
    # A disabled account's tokens were deleted; the join also refuses one issued by a login
    # that raced the disabling.
    query = (
        Token.select(Token.id, Token.digest, Token.user, Token.usedat)
        .join(User)
        .where(Token.digest.in_(digests) & ~User.disabled)
    )
    rows = cast("Iterable[tuple[int, str, int, int]]", query.tuples())
    now = now_ms()
    found: dict[str, int] = {}
    expired: list[int] = []
    stale: list[int] = []
    for token_id, digest, user_id, usedat in rows:
        if now - usedat > max_idle_ms:
            expired.append(token_id)
            continue
        if now - usedat > 3_600_000:  # refresh the idle clock at most hourly: reads stay reads
            stale.append(token_id)
        found[digest] = int(user_id)
    if expired:
        Token.delete().where(Token.id.in_(expired)).execute()
    if stale:
        Token.update(usedat=now).where(Token.id.in_(stale)).execute()
    return found


def revoke_token(token: str) -> bool:
    return Token.delete().where(Token.digest == token_digest(token)).execute() > 0


def revoke_other_tokens(user_id: int, keep_digest: str) -> int:
    """Delete every token of a user but one (a password change); returns how many."""
    return int(Token.delete().where((Token.user == user_id) & (Token.digest != keep_digest)).execute())


def revoke_all_tokens(user_id: int) -> int:
    """Delete every token of a user (a password set from the shell); returns how many."""
    return int(Token.delete().where(Token.user == user_id).execute())


def live_digests(digests: list[str], max_idle_ms: int) -> set[str]:
    """Which of these token digests are still valid. An open socket counts as use, so the
    valid ones get their idle clock refreshed (hourly, as in user_for_token)."""
    now = now_ms()
    live: set[str] = set()
    stale: list[int] = []
    for start in range(0, len(digests), 500):  # stay under SQLite's bound-parameter limit
        query = Token.select(Token.id, Token.digest, Token.usedat).where(
            Token.digest.in_(digests[start : start + 500]) & (Token.usedat >= now - max_idle_ms)
        )
        for row in query:
            live.add(row.digest)
            if now - row.usedat > 3_600_000:
                stale.append(row.id)
    if stale:
        Token.update(usedat=now).where(Token.id.in_(stale)).execute()
    return live


# --- friends: who may find whom ---


def set_findable(user_id: int, findable: bool) -> None:
    User.update(findable=findable).where(User.id == user_id).execute()


def set_live_settings(user_id: int, show_presence: bool | None, send_receipts: bool | None) -> None:
    """Presence and read receipts on or off (None: leave as it is)."""
    fields = {
        name: value
        for name, value in (("show_presence", show_presence), ("send_receipts", send_receipts))
        if value is not None
    }
    if fields:
        User.update(**fields).where(User.id == user_id).execute()


def live_flags(user_ids: Iterable[int]) -> dict[int, tuple[bool, bool]]:
    """user id -> (show_presence, send_receipts); unknown ids are left out."""
    ids = list(set(user_ids))
    flags: dict[int, tuple[bool, bool]] = {}
    for start in range(0, len(ids), 500):  # bounded IN lists
        query = User.select(User.id, User.show_presence, User.send_receipts).where(
            User.id.in_(ids[start : start + 500])
        )
        for row in query:
            flags[row.id] = (row.show_presence, row.send_receipts)
    return flags


# --- accounts and admin (issue 8) ---

ROLE_ADMIN = "admin"


class AdminUserRow(TypedDict):
    id: int
    mobile: str
    nickname: str
    role: str
    disabled: bool
    createat: int


def lock_accounts() -> None:
    """On PostgreSQL, serialise account creation until commit, so "is this the first
    account?" and an invite's use count have one answer however many processes register."""
    from models.db import is_postgres

    if is_postgres():
        User._meta.database.execute_sql("SELECT pg_advisory_xact_lock(7311002)")


def has_users() -> bool:
    return User.select().exists()


def make_first_admin(user_id: int) -> bool:
    """Make the user a server admin when no account is older; True if they became one."""
    if User.select().where(User.id < user_id).exists():
        return False
    return set_role(user_id, ROLE_ADMIN)


def set_role(user_id: int, role: str) -> bool:
    return User.update(role=role).where(User.id == user_id).execute() > 0


def role_of(user_id: int) -> str:
    row = User.select(User.role).where(User.id == user_id).first()
    return str(row.role) if row else ""


def is_disabled(user_id: int) -> bool:
    return User.select().where((User.id == user_id) & User.disabled).exists()


def set_disabled(user_id: int, disabled: bool) -> bool:
    """Turn an account off or on; off also deletes every token. False if no such user."""
    if User.update(disabled=disabled).where(User.id == user_id).execute() == 0:
        return False
    if disabled:
        Token.delete().where(Token.user == user_id).execute()
    return True


def list_users() -> list[AdminUserRow]:
    query = User.select(User.id, User.mobile, User.nickname, User.role, User.disabled, User.createat)
    return [
        AdminUserRow(
            id=u.id,
            mobile=u.mobile,
            nickname=u.nickname,
            role=u.role,
            disabled=u.disabled,
            createat=u.createat,
        )
        for u in query.order_by(User.id)
    ]
