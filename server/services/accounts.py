"""Registration, login, logout, token checks and user lookup."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import peewee
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from models import users as user_q
from models.users import PublicUser, UserRow
from server.errors import ClientError

if TYPE_CHECKING:
    from server.context import Ctx

MOBILE = re.compile(r"^\+?[0-9]{5,20}$")
PASSWD_MIN, PASSWD_MAX = 6, 128
NICKNAME_MAX = 32
SEXES = ("M", "W", "U")

# argon2id with the library's RFC 9106 "low memory" profile defaults (~50 ms here).
_hasher = PasswordHasher()
# Verified against when the mobile is unknown, so a login takes as long either way
# and its timing does not tell which mobiles are registered.
_DUMMY_HASH = _hasher.hash("chatd-dummy-password")


class AccountRow(UserRow):
    token: str


def check_credentials(mobile: str, passwd: str) -> None:
    if not MOBILE.match(mobile):
        raise ClientError(400, "mobile must be 5 to 20 digits, optionally with a leading +")
    if not PASSWD_MIN <= len(passwd) <= PASSWD_MAX:
        raise ClientError(400, f"password must be {PASSWD_MIN} to {PASSWD_MAX} characters")


def _verify(passwd_hash: str, passwd: str) -> tuple[bool, bool]:
    """(matches, needs_rehash); runs in the hashing pool."""
    try:
        _hasher.verify(passwd_hash, passwd)
    except (VerificationError, InvalidHashError):
        return False, False
    return True, _hasher.check_needs_rehash(passwd_hash)


async def do_register(
    ctx: Ctx, mobile: str, passwd: str, nickname: str, avatar: str = "", sex: str = "U"
) -> AccountRow:
    """Create a user and a first token. 400 on bad fields, 409 if the mobile is taken."""
    check_credentials(mobile, passwd)
    nickname = nickname.strip()
    if not 1 <= len(nickname) <= NICKNAME_MAX:
        raise ClientError(400, f"nickname must be 1 to {NICKNAME_MAX} characters")
    sex = sex or "U"
    if sex not in SEXES:
        raise ClientError(400, "sex must be M, W or U")
    if len(avatar) > 512:
        raise ClientError(400, "avatar URL too long")
    if await ctx.pools.db(user_q.mobile_taken, mobile):
        raise ClientError(409, "this mobile is already registered")
    passwd_hash = await ctx.pools.hashing(_hasher.hash, passwd)

    def create() -> AccountRow:
        try:
            with ctx.pools.database.atomic():  # a savepoint, so a clash leaves the txn usable
                user = user_q.insert_user(mobile, passwd_hash, nickname, avatar, sex)
        except peewee.IntegrityError:
            raise ClientError(409, "this mobile is already registered") from None
        token = user_q.issue_token(user.id)
        return AccountRow(**user_q.user_row(user), token=token)

    return await ctx.pools.db(create)


async def do_login(ctx: Ctx, mobile: str, passwd: str) -> AccountRow:
    """Check the password and issue a new token (one per device). 401 if wrong, 429 if too many tries."""
    if ctx.login_failures.blocked(mobile):
        raise ClientError(429, "too many failed logins; try again in a few minutes")
    # Count the attempt before the slow check: otherwise parallel guesses all pass the
    # check above before any of them is recorded. A success clears the count below.
    ctx.login_failures.fail(mobile)
    found = await ctx.pools.db(user_q.passwd_hash_of, mobile)
    passwd_hash = found[1] if found else _DUMMY_HASH
    matches, needs_rehash = await ctx.pools.hashing(_verify, passwd_hash, passwd)
    if found is None or not matches:
        raise ClientError(401, "wrong mobile or password")
    ctx.login_failures.clear(mobile)
    user_id = found[0]
    new_hash = await ctx.pools.hashing(_hasher.hash, passwd) if needs_rehash else None

    def login() -> AccountRow:
        if new_hash:
            user_q.set_passwd_hash(user_id, new_hash)
        user = user_q.find_by_id(user_id)
        assert user is not None
        return AccountRow(**user_q.user_row(user), token=user_q.issue_token(user_id))

    return await ctx.pools.db(login)


async def do_logout(ctx: Ctx, token: str) -> None:
    await ctx.pools.db(user_q.revoke_token, token)


async def access_token(ctx: Ctx, token: str) -> int:
    """The user id behind a token; ClientError(401) when missing, unknown or expired."""
    if not token or len(token) > 256:
        raise ClientError(401, "login required")
    user_id = await ctx.pools.db(user_q.user_for_token, token, ctx.settings.token_days * 86_400_000)
    if user_id is None:
        raise ClientError(401, "invalid or expired token; log in again")
    return user_id


async def get_public_user(ctx: Ctx, user_id: int | None = None, mobile: str | None = None) -> PublicUser:
    """Another user's public profile by id or mobile; 404 if unknown."""

    def find() -> PublicUser | None:
        user = user_q.find_by_id(user_id) if user_id is not None else user_q.find_by_mobile(mobile or "")
        return user_q.public_row(user) if user else None

    if user_id is None and not mobile:
        raise ClientError(400, "give id or mobile")
    found = await ctx.pools.db(find)
    if found is None:
        raise ClientError(404, "no such user")
    return found
