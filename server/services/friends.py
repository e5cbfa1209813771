"""Friend requests, friendships and blocks; finding people. Every change tells both sides'
sockets at once with a cmd 15 frame (a `Notice`), published after commit; a friendship made
or ended is also a `Friendship` event, which every hub's friend sets follow."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, TypedDict

from models import contacts as contact_q
from models import users as user_q
from models.contacts import BLOCK, FRIEND, REQUEST, RequestRow
from models.users import PublicUser, User
from server.bus import Event, Friendship
from server.errors import ClientError
from server.services.changes import commit
from server.services.messages import notice_for

if TYPE_CHECKING:
    from server.context import Ctx


class FriendAnswer(TypedDict):
    status: Literal["requested", "friends"]
    user: PublicUser


class OwnSettings(TypedDict):
    findable: bool
    show_presence: bool  # friends see online / last seen (off: nobody's is shown to you either)
    send_receipts: bool  # others see "read" (off: you see no one's either)


class OwnFlags(OwnSettings):
    role: str  # "admin" or ""
    mobile: str  # the caller's own (public profiles leave it out)


@dataclass
class _Outcome:
    """What a pool job decided; the frames go out after its commit."""

    answer: FriendAnswer | None = None
    events: list[Event] = field(default_factory=list)

    def tell(self, user_id: int, kind: str, **fields: object) -> None:
        self.events.append(notice_for(user_id, kind, **fields))

    def friends(self, user_id: int, other_id: int, friends: bool) -> None:
        # Before the notices: a client told "friend_added" may send at once.
        self.events.insert(0, Friendship(user_id, other_id, friends))


async def _commit(ctx: Ctx, job: Callable[[], _Outcome]) -> _Outcome:
    """Run a pool job deciding an outcome; its events are published after the commit."""

    def run() -> tuple[_Outcome, list[Event]]:
        outcome = job()
        return outcome, outcome.events

    return await commit(ctx, run)


async def charge_lookup(ctx: Ctx, user_id: int) -> None:
    """Spend one of the user's lookups by mobile (find_rate per minute), found or not, so
    nobody can walk a range of numbers to learn who is registered. 429 when spent."""
    limits = ctx.find_limits
    while not limits.ready(user_id):  # with Redis: the chat's count, fetched first
        await limits.refill(user_id)
    if not limits.allow(user_id):
        wait = limits.wait_s(user_id)
        raise ClientError(
            429, "too many lookups by mobile; try again later", retry_after=max(1, math.ceil(wait))
        )


def _find(caller_id: int, user_id: int | None, mobile: str | None) -> User | None:
    """The user named by id, or by mobile when they let others find them that way (None
    otherwise: the same answer as for a number nobody has)."""
    if user_id is not None:
        return user_q.find_by_id(user_id)
    user = user_q.find_by_mobile(mobile or "")
    if user is not None and not user.findable and user.id != caller_id:
        return None
    return user


def _other_user(user_id: int, dst_id: int | None, mobile: str | None) -> User:
    """The user named by id or mobile (see _find): 404 if none, 400 for oneself."""
    other = _find(user_id, dst_id, mobile)
    if other is None:
        raise ClientError(404, "no such user")
    if other.id == user_id:
        raise ClientError(400, "you cannot befriend yourself")
    return other


def _make_friends(outcome: _Outcome, me: User, other: User) -> None:
    """Both rows of the friendship (the unique index keeps a crossing insert to one), no
    requests left either way, and both sides told."""
    contact_q.insert_friendship(me.id, other.id)
    contact_q.delete_both_ways(me.id, REQUEST, other.id)
    outcome.friends(me.id, other.id, True)
    outcome.answer = FriendAnswer(status="friends", user=user_q.public_row(other))
    outcome.tell(me.id, "friend_added", user=user_q.public_row(other))
    outcome.tell(other.id, "friend_added", user=user_q.public_row(me))


async def do_add_friend(ctx: Ctx, user_id: int, dst_id: int | None, mobile: str | None) -> FriendAnswer:
    """Ask another user to be friends: a request, or a friendship at once when they had
    asked already or the server has `open_contacts`. 400 self, 404 unknown or not findable
    by mobile, 409 already friends, 403 when either blocked the other, 429 too many lookups."""
    if dst_id is None and not mobile:
        raise ClientError(400, "give dstid or mobile")
    if dst_id is None:
        await charge_lookup(ctx, user_id)
    open_contacts = ctx.settings.open_contacts

    def add() -> _Outcome:
        other = _other_user(user_id, dst_id, mobile)
        contact_q.lock_pair(user_id, other.id)
        # Never says which side blocked: the blocked user learns only that they cannot.
        if contact_q.is_blocked_either_way(user_id, other.id):
            raise ClientError(403, "you cannot add this user")
        if contact_q.are_friends(user_id, other.id):
            raise ClientError(409, "already friends")
        me = user_q.find_by_id(user_id)
        assert me is not None  # the token named this user
        outcome = _Outcome()
        if open_contacts or contact_q.has_row(other.id, REQUEST, user_id):
            _make_friends(outcome, me, other)
            return outcome
        outcome.answer = FriendAnswer(status="requested", user=user_q.public_row(other))
        if contact_q.insert_row(user_id, REQUEST, other.id):  # asking again tells nobody twice
            outcome.tell(other.id, "friend_request", user=user_q.public_row(me))
            outcome.tell(user_id, "request_sent", user=user_q.public_row(other))
        return outcome

    outcome = await _commit(ctx, add)
    assert outcome.answer is not None
    return outcome.answer


async def do_accept(ctx: Ctx, user_id: int, requester_id: int) -> FriendAnswer:
    """Accept a pending request from `requester_id`; 404 when there is none. Accepting
    again once friends (another device, or both sides at once) answers friends again."""

    def accept() -> _Outcome:
        contact_q.lock_pair(user_id, requester_id)
        other = user_q.find_by_id(requester_id)
        me = user_q.find_by_id(user_id)
        assert me is not None
        outcome = _Outcome()
        if other is not None and contact_q.are_friends(user_id, other.id):
            outcome.answer = FriendAnswer(status="friends", user=user_q.public_row(other))
            return outcome
        if other is None or not contact_q.has_row(other.id, REQUEST, user_id):
            raise ClientError(404, "no such friend request")
        _make_friends(outcome, me, other)
        return outcome

    outcome = await _commit(ctx, accept)
    assert outcome.answer is not None
    return outcome.answer


async def _end(ctx: Ctx, user_id: int, other_id: int, cate: int, both_ways: bool, missing: str) -> None:
    """Drop the pair's `cate` rows (the caller's only, or both ways); 404 `missing` when none."""

    def end() -> _Outcome:
        contact_q.lock_pair(user_id, other_id)
        if both_ways:
            gone = contact_q.delete_both_ways(user_id, cate, other_id)
        else:
            gone = contact_q.delete_row(user_id, cate, other_id)
        if not gone:
            raise ClientError(404, missing)
        outcome = _Outcome()
        if cate == FRIEND:
            outcome.friends(user_id, other_id, False)
        kind = "friend_removed" if cate == FRIEND else "request_removed"
        if cate != BLOCK:  # an unblock changes nothing the other side could see
            outcome.tell(user_id, kind, userid=other_id)
            outcome.tell(other_id, kind, userid=user_id)
        return outcome

    await _commit(ctx, end)


async def do_decline(ctx: Ctx, user_id: int, requester_id: int) -> None:
    """Decline a pending request from `requester_id`; 404 when there is none."""

    def decline() -> _Outcome:
        contact_q.lock_pair(user_id, requester_id)
        if not contact_q.delete_row(requester_id, REQUEST, user_id):
            raise ClientError(404, "no such friend request")
        outcome = _Outcome()
        outcome.tell(user_id, "request_removed", userid=requester_id)
        outcome.tell(requester_id, "request_removed", userid=user_id)
        return outcome

    await _commit(ctx, decline)


async def do_cancel_request(ctx: Ctx, user_id: int, dst_id: int) -> None:
    """Take back the caller's own pending request to `dst_id`; 404 when there is none."""
    await _end(ctx, user_id, dst_id, REQUEST, both_ways=False, missing="no such friend request")


async def do_unfriend(ctx: Ctx, user_id: int, dst_id: int) -> None:
    """End a friendship both ways; their 1:1 history stays readable to both. 404 if not friends."""
    await _end(ctx, user_id, dst_id, FRIEND, both_ways=True, missing="not a friend")


async def do_unblock(ctx: Ctx, user_id: int, dst_id: int) -> None:
    """Lift the caller's block (they are not friends again: either may ask). 404 if not blocked."""
    await _end(ctx, user_id, dst_id, BLOCK, both_ways=False, missing="this user is not blocked")


async def do_block(ctx: Ctx, user_id: int, dst_id: int) -> None:
    """Block a user: no friendship, no requests either way, and neither may ask or send 1:1
    until the caller unblocks. Idempotent. 400 self, 404 unknown user."""

    def block() -> _Outcome:
        if dst_id == user_id:
            raise ClientError(400, "you cannot block yourself")
        if user_q.find_by_id(dst_id) is None:
            raise ClientError(404, "no such user")
        contact_q.lock_pair(user_id, dst_id)
        outcome = _Outcome()
        # The other side sees what an unfriend or a declined request shows them, no more.
        if contact_q.delete_both_ways(user_id, FRIEND, dst_id):
            outcome.friends(user_id, dst_id, False)
            outcome.tell(user_id, "friend_removed", userid=dst_id)
            outcome.tell(dst_id, "friend_removed", userid=user_id)
        if contact_q.delete_both_ways(user_id, REQUEST, dst_id):
            outcome.tell(user_id, "request_removed", userid=dst_id)
            outcome.tell(dst_id, "request_removed", userid=user_id)
        contact_q.insert_row(user_id, BLOCK, dst_id)
        return outcome

    await _commit(ctx, block)


async def list_requests(ctx: Ctx, user_id: int) -> list[RequestRow]:
    return await ctx.pools.db(contact_q.list_requests, user_id)


async def list_blocked(ctx: Ctx, user_id: int) -> list[PublicUser]:
    return await ctx.pools.db(contact_q.list_blocked, user_id)


async def get_user(ctx: Ctx, caller_id: int, user_id: int | None, mobile: str | None) -> PublicUser:
    """Another user's public profile by id (shared knowingly, e.g. an Add-me card), or by
    mobile: limited to find_rate per minute, and 404 when its owner is not findable."""
    if user_id is None and not mobile:
        raise ClientError(400, "give id or mobile")
    if user_id is None:
        await charge_lookup(ctx, caller_id)

    def find() -> PublicUser | None:
        user = _find(caller_id, user_id, mobile)
        return user_q.public_row(user) if user is not None else None

    found = await ctx.pools.db(find)
    if found is None:
        raise ClientError(404, "no such user")
    return found


async def get_own_flags(ctx: Ctx, user_id: int) -> OwnFlags:
    """What /user/me adds to the public profile: the caller's role and settings."""

    def read() -> OwnFlags:
        user = user_q.find_by_id(user_id)
        if user is None:
            raise ClientError(404, "no such user")
        return OwnFlags(
            findable=user.findable,
            show_presence=user.show_presence,
            send_receipts=user.send_receipts,
            role=user.role,
            mobile=user.mobile,
        )

    return await ctx.pools.db(read)


async def do_settings(
    ctx: Ctx,
    user_id: int,
    findable: bool | None,
    show_presence: bool | None = None,
    send_receipts: bool | None = None,
) -> OwnSettings:
    """Change the caller's own settings (those given) and answer all of them."""

    def change() -> OwnSettings:
        if findable is not None:
            user_q.set_findable(user_id, findable)
        user_q.set_live_settings(user_id, show_presence, send_receipts)
        user = user_q.find_by_id(user_id)
        if user is None:
            raise ClientError(404, "no such user")
        return OwnSettings(
            findable=user.findable, show_presence=user.show_presence, send_receipts=user.send_receipts
        )

    return await ctx.pools.db(change)
