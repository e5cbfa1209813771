"""Registration, login, logout, token checks and user lookup."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import TYPE_CHECKING, NamedTuple

import peewee
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from models import users as user_q
from models.users import PublicUser, UserRow
from server.bus import TokenRevoked
from server.errors import ClientError
from server.services import signup
from server.textcheck import has_invisible

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


def hash_passwd(passwd: str) -> str:
    """The stored form of a password (slow: run it in the hashing pool on a server)."""
    return _hasher.hash(passwd)


# An account imported from the original server (`chatd import-original`) keeps its password
# as `md5$SALT$HEX`, HEX = md5(password + SALT) in lowercase hex, until its first login
# replaces it with an argon2id hash. An argon2 hash always starts with "$argon2".
LEGACY_PREFIX = "md5$"


def legacy_hash(salt: str, md5_hex: str) -> str:
    """The stored form of an original account's password (md5 of password + salt)."""
    return f"{LEGACY_PREFIX}{salt}${md5_hex.strip().lower()}"


def is_legacy(passwd_hash: str) -> bool:
    return passwd_hash.startswith(LEGACY_PREFIX)


class Checked(NamedTuple):
    matches: bool
    needs_rehash: bool  # argon2 with older parameters: rehash when hashing has room
    replacement: str | None = None  # a legacy form's argon2id hash: store it with the login


def _verify(passwd_hash: str, passwd: str) -> Checked:
    """Check a password against its stored form; runs in the hashing pool."""
    if is_legacy(passwd_hash):
        return _verify_legacy(passwd_hash, passwd)
    try:
        _hasher.verify(passwd_hash, passwd)
    except (VerificationError, InvalidHashError):
        return Checked(False, False)
    return Checked(True, _hasher.check_needs_rehash(passwd_hash))


def _verify_legacy(passwd_hash: str, passwd: str) -> Checked:
    """md5(password + salt), compared in constant time. A match comes with its argon2id hash,
    made in the same job so it cannot be refused as busy: the MD5 form is replaced by the
    login it lets in. A mismatch spends an argon2 check, so a wrong password takes as long
    on an imported account as on any other and does not tell them apart."""
    salt, _, digest = passwd_hash[len(LEGACY_PREFIX) :].rpartition("$")
    computed = hashlib.md5((passwd + salt).encode("utf-8")).hexdigest()  # noqa: S324 - the original's scheme, checked once
    if hmac.compare_digest(computed.encode(), digest.encode("utf-8", "replace")):
        return Checked(True, False, _hasher.hash(passwd))
    _verify(_DUMMY_HASH, passwd)
    return Checked(False, False)


def check_nickname(nickname: str) -> str:
    """The nickname without outer spaces; 400 when empty, too long or holding invisible
    characters (controls, zero-width and bidi format characters) that could impersonate."""
    nickname = nickname.strip()
    if not 1 <= len(nickname) <= NICKNAME_MAX:
        raise ClientError(400, f"nickname must be 1 to {NICKNAME_MAX} characters")
    if has_invisible(nickname):
        raise ClientError(400, "nickname must not contain control or invisible formatting characters")
    return nickname


async def do_register(
    ctx: Ctx,
    mobile: str,
    passwd: str,
    nickname: str,
    avatar: str = "",
    sex: str = "U",
    address: str = "",
    invite: str = "",
) -> AccountRow:
    """Create a user and a first token. 400 on bad fields, 403 when the `registration` mode
    refuses (see signup.check_signup), 409 if the mobile is taken, 429 past
    register_per_address per hour from one address, 503 when hashing is full."""
    check_credentials(mobile, passwd)
    nickname = check_nickname(nickname)
    sex = sex or "U"
    if sex not in SEXES:
        raise ClientError(400, "sex must be M, W or U")
    if len(avatar) > 512:
        raise ClientError(400, "avatar URL too long")
    mode = ctx.settings.registration
    await ctx.pools.db(signup.check_signup, mode, invite, False)  # refuse before the slow hash
    ctx.pools.check_hash_room()
    # Counted before the slow part, as logins are (checked and counted in one step).
    if not await ctx.registrations.attempt(address):
        raise ClientError(429, "too many registrations from this address; try again later", retry_after=600)
    if await ctx.pools.db(user_q.mobile_taken, mobile):
        raise ClientError(409, "this mobile is already registered")
    try:
        passwd_hash = await ctx.pools.hashing(_hasher.hash, passwd)
    except ClientError:
        await ctx.registrations.forgive(address)  # refused as busy: not an attempt
        raise

    def create() -> AccountRow:
        signup.check_signup(mode, invite, True)  # counts the invite's use in this transaction
        try:
            with ctx.pools.database.atomic():  # a savepoint, so a clash leaves the txn usable
                user = user_q.insert_user(mobile, passwd_hash, nickname, avatar, sex)
        except peewee.IntegrityError:
            raise ClientError(409, "this mobile is already registered") from None
        signup.after_insert(user.id)
        token = user_q.issue_token(user.id)
        return AccountRow(**user_q.user_row(user), token=token)

    return await ctx.pools.db(create)


async def do_login(ctx: Ctx, mobile: str, passwd: str, address: str = "") -> AccountRow:
    """Check the password and issue a new token (one per device). 401 if wrong, 429 after
    too many failures (see LoginLimits), 503 when hashing is full."""
    limits = ctx.login_failures
    ctx.pools.check_hash_room()  # refuse a flood before it costs a query or a count
    # Count the attempt before the slow check, in the same step as the check: otherwise
    # parallel guesses all pass the check before any of them is recorded. A success takes
    # it back below.
    if not await limits.attempt(mobile, address):
        raise ClientError(429, "too many failed logins; try again in a few minutes", retry_after=60)
    found = await ctx.pools.db(user_q.passwd_hash_of, mobile)
    passwd_hash = found[1] if found else _DUMMY_HASH
    try:
        checked = await ctx.pools.hashing(_verify, passwd_hash, passwd)
    except ClientError:
        await limits.forgive(mobile, address)  # refused as busy: the password was never checked
        raise
    if found is None or not checked.matches:
        raise ClientError(401, "wrong mobile or password")
    await limits.succeeded(mobile, address)
    user_id = found[0]
    new_hash = checked.replacement or (await _rehash(ctx, passwd) if checked.needs_rehash else None)

    def login() -> AccountRow:
        # Only over the form that was checked: a password set meanwhile stays. An MD5 form
        # changed meanwhile (a new password, or a login that got there first) lets no one in.
        replaced = bool(new_hash) and user_q.replace_passwd_hash(user_id, passwd_hash, new_hash or "")
        if checked.replacement and not replaced:
            raise ClientError(401, "wrong mobile or password")
        user = user_q.find_by_id(user_id)
        assert user is not None
        if user.disabled:  # told only to whoever knows the password
            raise ClientError(403, "this account is disabled")
        return AccountRow(**user_q.user_row(user), token=user_q.issue_token(user_id))

    return await ctx.pools.db(login)


async def _rehash(ctx: Ctx, passwd: str) -> str | None:
    try:
        return await ctx.pools.hashing(_hasher.hash, passwd)
    except ClientError:
        return None  # hashing is busy: upgrade the hash on a later login


async def do_logout(ctx: Ctx, user_id: int, token: str) -> None:
    """Revoke this token; its open sockets close at once (4001)."""
    await ctx.pools.db(user_q.revoke_token, token)
    await ctx.bus.publish(TokenRevoked(user_id, digests=(user_q.token_digest(token),)))


async def do_change_passwd(ctx: Ctx, user_id: int, token: str, old: str, new: str, address: str = "") -> None:
    """Set a new password and revoke every other token of the user (their sockets close);
    the token making the change stays. 403 if `old` is wrong, 400 if `new` is unfit."""
    if not PASSWD_MIN <= len(new) <= PASSWD_MAX:
        raise ClientError(400, f"password must be {PASSWD_MIN} to {PASSWD_MAX} characters")
    # A stolen session must not be a free password oracle: same limits as a login.
    account, limits = f"#{user_id}", ctx.login_failures
    if not await limits.attempt(account, address):
        raise ClientError(429, "too many wrong passwords; try again in a few minutes", retry_after=60)
    passwd_hash = await ctx.pools.db(user_q.passwd_hash_by_id, user_id) or _DUMMY_HASH
    if not (await ctx.pools.hashing(_verify, passwd_hash, old)).matches:
        raise ClientError(403, "the current password is wrong")
    await limits.succeeded(account, address)
    new_hash = await ctx.pools.hashing(_hasher.hash, new)
    keep = user_q.token_digest(token)

    def change() -> None:
        user_q.set_passwd_hash(user_id, new_hash)
        user_q.revoke_other_tokens(user_id, keep)

    await ctx.pools.db(change)
    await ctx.bus.publish(TokenRevoked(user_id, keep=keep, reason="password changed"))


def token_digest(token: str) -> str:
    """How a token is known once issued (sockets and revocations name it by this)."""
    return user_q.token_digest(token)


async def access_token(ctx: Ctx, token: str) -> int:
    """The user id behind a token; ClientError(401) when missing, unknown or expired."""
    user_id, _ = await authenticate(ctx, token)
    return user_id


async def authenticate(ctx: Ctx, token: str) -> tuple[int, str]:
    """(user id, token digest) for a token; ClientError(401) when missing, unknown or
    expired. Lookups that miss the cache share one database job (ctx.token_lookups)."""
    if not token or len(token) > 256:
        raise ClientError(401, "login required")
    digest = user_q.token_digest(token)
    user_id = ctx.tokens.get(digest)
    if user_id is not None and ctx.bus.publishes_in_job:
        # A logout on another process is published before its answer: once every event
        # published before now has reached this process, the cache holds no revoked token.
        user_id = ctx.tokens.get(digest) if await ctx.bus.sync() else None
    if user_id is not None:
        return user_id, digest
    generation = ctx.tokens.generation
    user_id = await ctx.token_lookups.get(digest)
    if user_id is None:
        raise ClientError(401, "invalid or expired token; log in again")
    ctx.tokens.put(digest, user_id, generation)
    return user_id, digest


async def lookup_tokens(ctx: Ctx, digests: list[str]) -> dict[str, int]:
    """Token digest -> user id for those valid, in one database job (for ctx.token_lookups)."""
    return await ctx.pools.db(user_q.users_for_tokens, digests, ctx.settings.token_days * 86_400_000)


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
