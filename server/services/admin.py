"""Server admins: the user list, disabling accounts, and the first-run message."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import peewee

from models import db
from models import users as user_q
from models.users import AdminUserRow
from server.bus import TokenRevoked
from server.errors import ClientError

if TYPE_CHECKING:
    from server.context import Ctx
    from server.settings import Settings

log = logging.getLogger(__name__)


def check_admin(user_id: int) -> None:
    """ClientError(403) unless the user is a server admin. Runs in the DB pool."""
    if user_q.role_of(user_id) != user_q.ROLE_ADMIN:
        raise ClientError(403, "only a server admin may do this")


def add_account(mobile: str, passwd_hash: str, nickname: str, admin: bool) -> tuple[int, bool]:
    """`chatd adduser`: insert an account whatever `registration` says, in the caller's
    transaction; (its id, whether it is a server admin). 409 if the mobile is taken."""
    user_q.lock_accounts()
    taken = ClientError(409, f"mobile {mobile} is already registered")
    if user_q.mobile_taken(mobile):
        raise taken
    try:
        with db.database.atomic():  # a savepoint, so a clash leaves the transaction usable
            user = user_q.insert_user(mobile, passwd_hash, nickname, "", "U")
    except peewee.IntegrityError:
        raise taken from None
    if admin:
        user_q.set_role(user.id, user_q.ROLE_ADMIN)
    return user.id, admin or user_q.make_first_admin(user.id)


def set_passwd(mobile: str, passwd_hash: str) -> tuple[int, int]:
    """`chatd passwd`: give the account a new password hash and end every token of it, in
    the caller's transaction; (its id, tokens ended). 404 if no account has that mobile."""
    user = user_q.find_by_mobile(mobile)
    if user is None:
        raise ClientError(404, f"no account has mobile {mobile}")
    user_q.set_passwd_hash(user.id, passwd_hash)
    return user.id, user_q.revoke_all_tokens(user.id)


async def get_role(ctx: Ctx, user_id: int) -> str:
    """The user's server role: "admin" or ""."""
    return await ctx.pools.db(user_q.role_of, user_id)


async def list_users(ctx: Ctx, admin_id: int) -> list[AdminUserRow]:
    """Every account, oldest first; 403 for a non-admin."""

    def load() -> list[AdminUserRow]:
        check_admin(admin_id)
        return user_q.list_users()

    return await ctx.pools.db(load)


async def do_disable(ctx: Ctx, admin_id: int, user_id: int, disabled: bool) -> None:
    """Turn an account off (its tokens are deleted and every socket of theirs closes with
    4001 before this returns) or back on. 403 for a non-admin, 400 for oneself, 404 unknown."""
    if user_id == admin_id:
        raise ClientError(400, "you cannot disable your own account")

    def change() -> None:
        check_admin(admin_id)
        if not user_q.set_disabled(user_id, disabled):
            raise ClientError(404, "no such user")

    await ctx.pools.db(change)
    log.info("user %d %s by admin %d", user_id, "disabled" if disabled else "enabled", admin_id)
    if disabled:
        await ctx.bus.publish(TokenRevoked(user_id, reason="account disabled"))


def first_run_text(settings: Settings) -> str:
    """What a server with no accounts yet tells whoever started it."""
    host = "localhost" if settings.host in ("", "0.0.0.0", "::") else settings.host  # noqa: S104
    how = {
        "open": "anyone who can reach the server may register.",
        "invite": "the first account is free; then a sign-up link from a user is needed.",
        "closed": "accounts come only from `chatd adduser`.",
    }
    adduser = "`chatd adduser --mobile M --nickname N --admin`"
    if settings.registration == "closed":
        create = [f"  Create the first account with {adduser}."]
    else:
        page = f"http://{host}:{settings.port}/register.html"
        create = [f"  Open {page} to create the first account,", f"  or run {adduser}."]
    lines = [
        "this server has no accounts yet.",
        *create,
        "  The first account becomes the server admin (it can list and disable accounts).",
        f"  registration = {settings.registration}: {how[settings.registration]}",
        "  Options: open (anyone may register), invite (a sign-up link from an existing user),",
        "  closed (only `chatd adduser`). A server reachable from the internet",
        "  should use invite (the default); set `registration` in chatd.ini or --registration.",
    ]
    return "\n".join(lines)


async def log_first_run(ctx: Ctx) -> None:
    """Log the first-run message when the database has no accounts."""
    if not await ctx.pools.db(user_q.has_users):
        log.info("%s", first_run_text(ctx.settings))
