"""Who may register (the `registration` option), sign-up invites, and the first account."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, TypedDict

from models import invites as invite_q
from models import users as user_q
from models.db import now_ms
from server.errors import ClientError

if TYPE_CHECKING:
    from server.context import Ctx

OPEN, INVITE, CLOSED = "open", "invite", "closed"
CODE = re.compile(r"^[0-9a-f]{32}$")
NEEDS_INVITE = "registration needs an invite link"
CLOSED_MSG = "registration is closed; ask the server admin"
# A sign-up link is for one person unless its maker says otherwise, and goes stale in a week.
DEFAULT_USES, DEFAULT_EXPIRES_S = 1, 7 * 86_400
MAX_USES, MAX_EXPIRES_S = 10_000, 366 * 86_400


class SignupInvite(TypedDict):
    code: str
    url: str
    expireat: int
    maxuses: int
    uses: int


def unusable_reason(invite: invite_q.Invite, now: int) -> str:
    """Why an invite cannot be used ("" when it can)."""
    if invite.revoked:
        return "was revoked"
    if invite.expireat and now >= invite.expireat:
        return "has expired"
    if invite.max_uses and invite.uses >= invite.max_uses:
        return "is used up"
    return ""


def check_signup(mode: str, code: str, count: bool) -> None:
    """Raise ClientError(403) unless a new account may be made under `mode` with this
    sign-up code; with `count`, take the lock and count the code's use (in the same
    transaction as the insert, so a one-use link makes one account). Runs in the DB pool.

    open: anyone. invite: a usable sign-up code, except for the very first account.
    closed: nobody (accounts come from `chatd adduser`, which does not come here)."""
    if mode == CLOSED:
        raise ClientError(403, CLOSED_MSG)
    if count:
        user_q.lock_accounts()
    if mode == OPEN or not user_q.has_users():
        return
    invite = invite_q.find_invite(code) if CODE.match(code) else None
    if invite is None or invite.community_id != invite_q.SIGNUP:
        raise ClientError(403, NEEDS_INVITE)
    # A disabled account's links stop letting people in, as if revoked.
    reason = "was revoked" if user_q.is_disabled(invite.creator_id) else unusable_reason(invite, now_ms())
    if reason:
        raise ClientError(403, f"{NEEDS_INVITE}: this one {reason}")
    if count:
        invite_q.use_invite(invite.id)


def after_insert(user_id: int) -> bool:
    """The first account on a server becomes its admin (in the insert's transaction)."""
    return user_q.make_first_admin(user_id)


async def do_make_signup_invite(
    ctx: Ctx, user_id: int, uses: int | None, expires: int | None
) -> SignupInvite:
    """A sign-up link (any user, in open and invite mode). `uses` 0 and `expires` 0 mean
    unlimited and never. 403 on a closed server, where only `chatd adduser` makes accounts."""
    uses = DEFAULT_USES if uses is None else uses
    expires = DEFAULT_EXPIRES_S if expires is None else expires
    if not 0 <= uses <= MAX_USES:
        raise ClientError(400, f"uses must be 0 (unlimited) to {MAX_USES}")
    if not 0 <= expires <= MAX_EXPIRES_S:
        raise ClientError(400, f"expires must be 0 (never) to {MAX_EXPIRES_S} seconds")
    if ctx.settings.registration == CLOSED:
        raise ClientError(403, CLOSED_MSG)

    def make() -> SignupInvite:
        expireat = now_ms() + expires * 1000 if expires else 0
        row = invite_q.insert_invite(invite_q.SIGNUP, user_id, expireat, uses)
        return SignupInvite(
            code=row["code"],
            url=f"/register.html?invite={row['code']}",
            expireat=row["expireat"],
            maxuses=row["maxuses"],
            uses=row["uses"],
        )

    return await ctx.pools.db(make)
