"""Ephemeral frames (cmd 16): "typing" and which conversation a socket has open ("focus").
Never stored; a typing frame reaches only the recipients' sockets that have that
conversation open (server/focus.py), once per TYPING_INTERVAL_S per socket and conversation.

Cost: a socket typing in a conversation nobody has open makes no frame anywhere; on Redis it
is one PUBLISH per interval on the conversation's own channel (u:<peer> / g:<group>), which
only processes serving that peer or group subscribe to."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from models.messages import CMD_GROUP, CMD_SINGLE
from server.bus import Ephemeral
from server.errors import ClientError
from server.services.messages import ID_MAX, charge, check_may_send, encode

if TYPE_CHECKING:
    from server.context import Ctx
    from server.hub import Outlet

log = logging.getLogger(__name__)

CMD_LIVE = 16
TYPING_INTERVAL_S = 3.0  # the page sends one every ~3 s while typing; more are dropped
# Each socket's own allowance of cmd 16 frames, apart from the message allowance: a page
# that sent one per key press (5 a second) stays inside it. Past it, each frame is charged
# to the user's send allowance like any other frame, so a flood ends in the same 429 pause.
LIVE_RATE = 5.0
LIVE_BURST = 30.0
TRACKED_MAX = 64  # conversations a socket's throttle remembers (a typist has one or two)


class LiveState:
    """One socket's throttle: when it last passed a typing frame on, per conversation."""

    __slots__ = ("stamp", "tokens", "typed")

    def __init__(self) -> None:
        self.typed: dict[tuple[int, int], float] = {}
        self.tokens = LIVE_BURST
        self.stamp = time.monotonic()

    def spend(self, now: float) -> bool:
        self.tokens = min(LIVE_BURST, self.tokens + (now - self.stamp) * LIVE_RATE)
        self.stamp = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


def is_live(frame: dict[str, Any]) -> bool:
    return frame.get("cmd") == CMD_LIVE


def _target(frame: dict[str, Any], user_id: int, none_ok: bool) -> tuple[int, int] | None:
    """(dstcmd, dstid) of a frame; None for "no conversation" (dstid 0) when `none_ok`."""
    dst_id = frame.get("dstid")
    if isinstance(dst_id, bool) or not isinstance(dst_id, int) or not 0 <= dst_id <= ID_MAX:
        raise ClientError(400, f"dstid must be 0..{ID_MAX}")
    if dst_id == 0:
        if none_ok:
            return None
        raise ClientError(400, "dstid must name a conversation")
    cmd = frame.get("dstcmd")
    if cmd not in (CMD_SINGLE, CMD_GROUP) or isinstance(cmd, bool):
        raise ClientError(400, "dstcmd must be 10 or 11")
    if cmd == CMD_SINGLE and dst_id == user_id:
        raise ClientError(400, "cannot type to yourself")
    return cmd, dst_id


def do_live(
    ctx: Ctx,
    user_id: int,
    outlet: Outlet,
    state: LiveState,
    frame: dict[str, Any],
    refuse: Callable[[ClientError], None],
) -> asyncio.Future[None] | None:
    """Handle one cmd 16 frame from a socket. ClientError for a bad frame (429 once both
    allowances are spent); a refusal found later (not a friend, not a member) goes to
    `refuse`. Returns what the socket must wait for before reading on (the publish: the
    typing frame is on the bus before any later frame of this socket), or None."""
    now = time.monotonic()
    if not state.spend(now):
        charge(ctx, user_id)
    kind = frame.get("type")
    if kind == "focus":
        ctx.hub.focus.set(user_id, outlet, _target(frame, user_id, none_ok=True))
        return None
    if kind != "typing":
        raise ClientError(400, f"unknown cmd 16 type {str(kind)[:32]!r}")
    target = _target(frame, user_id, none_ok=False)
    assert target is not None
    stop = frame.get("stop") is True
    last = state.typed.get(target)
    if stop:
        if last is None:
            return None  # nothing was shown, nothing to take back
        del state.typed[target]
    else:
        if last is not None and now - last < TYPING_INTERVAL_S:
            return None  # the recipients show it for longer than this anyway
        if len(state.typed) >= TRACKED_MAX:
            state.typed.clear()
        state.typed[target] = now
    event = typing_event(user_id, *target, stop)
    if ctx.hub.may_send(user_id, *target):
        return asyncio.ensure_future(ctx.bus.flash(event))
    return asyncio.ensure_future(_checked_flash(ctx, user_id, target, event, refuse))


async def _checked_flash(
    ctx: Ctx, user_id: int, target: tuple[int, int], event: Ephemeral, refuse: Callable[[ClientError], None]
) -> None:
    """The hub could not vouch for the sender (its sets are loading, the bus was down, or a
    refusal): the database decides, as it does for a message."""
    try:
        await ctx.pools.db(check_may_send, user_id, *target)
    except ClientError as exc:  # 403, 404, or 503 when the database queue is full
        refuse(exc)
        return
    except Exception:  # the database is down: a typing frame is not worth retrying
        log.warning("user %d typing frame dropped: the database did not answer", user_id, exc_info=True)
        return
    await ctx.bus.flash(event)


def typing_event(user_id: int, cmd: int, dst_id: int, stop: bool) -> Ephemeral:
    """The typing frame, for the sockets that have this conversation open. In every frame
    the server sends, (dstcmd, dstid) names the conversation as its receiver does."""
    seen_as = user_id if cmd == CMD_SINGLE else dst_id
    fields: dict[str, Any] = {
        "cmd": CMD_LIVE,
        "type": "typing",
        "dstcmd": cmd,
        "dstid": seen_as,
        "userid": user_id,
    }
    if stop:
        fields["stop"] = True
    payload = encode(fields)
    if cmd == CMD_SINGLE:
        return Ephemeral(payload, (CMD_SINGLE, user_id), user_id, user_ids=(dst_id,))
    return Ephemeral(payload, (CMD_GROUP, dst_id), user_id, group_id=dst_id)
