"""/chat: the WebSocket. Authenticates before the upgrade, then relays frames to the
message service and pushes what the hub delivers through a bounded outbox."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections import deque
from collections.abc import Awaitable
from typing import Any

import tornado.web
import tornado.websocket
from tornado.iostream import StreamClosedError

from handlers.base import redact_tokens, token_from
from server.context import Ctx
from server.errors import ClientError
from server.ratelimit import LogThrottle
from server.services import accounts, contacts, messages
from server.services.messages import Stored
from server.writer import WriterClosed

log = logging.getLogger(__name__)

CLOSE_GOING_AWAY = 1001
CLOSE_TOO_MANY = 4008  # the user opened more sockets than sockets_per_user: do not reconnect
CLOSE_TRY_AGAIN_LATER = 1013  # "too slow": the client reconnects with since= and misses nothing
WRITE_CHUNK = 64  # frames handed to the stream before waiting for it to drain
# Acks and error frames answer the socket's own frames, whose rate the send limit bounds;
# they arrive a whole batch at once, so they get their own, larger allowance.
CONTROL_ALLOWANCE = 10_000
SINCE = re.compile(r"[0-9]{1,19}")  # ASCII only: str.isdigit() takes "²", which int() refuses
SINCE_MAX = 2**63 - 1  # message ids are 64-bit
# A flood of refused frames would otherwise write one warning line each (per process).
refusal_log = LogThrottle(10.0)


class SocketOutlet:
    """One socket's outbox: bounded, drained by a single writer coroutine.

    Every message frame carries its id; the outlet never sends an id at or below the
    last one sent, which is what makes replay-then-live free of doubles."""

    def __init__(
        self, handler: tornado.websocket.WebSocketHandler, limit: int, since: int, token_digest: str
    ) -> None:
        self.key = uuid.uuid4().hex
        self.token_digest = token_digest  # the hub closes the socket when this token is revoked
        self.handler = handler
        self.limit = limit
        self.last_id = since
        self.queue: deque[tuple[int, bytes]] = deque()
        self.queued_messages = 0  # frames in the queue that other users' messages put there
        self.wakeup = asyncio.Event()
        self.closed = False

    def push(self, message_id: int, payload: bytes) -> None:
        """Queue a frame (message_id 0 for acks and errors). Never blocks: a full outbox
        closes this socket alone."""
        if self.closed:
            return
        if self.queued_messages >= self.limit or len(self.queue) >= self.limit + CONTROL_ALLOWANCE:
            log.warning("socket %s outbox full (%d); closing with 1013", self.key[:8], len(self.queue))
            self.shut(CLOSE_TRY_AGAIN_LATER, "too slow; reconnect with since")
            return
        if message_id:
            self.queued_messages += 1
        self.queue.append((message_id, payload))
        self.wakeup.set()

    def shut(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.wakeup.set()
        self.handler.close(code, reason)

    async def run(self, ctx: Ctx, user_id: int, replay: bool) -> None:
        try:
            if replay:
                await self._replay(ctx, user_id)
            await self._drain()
        except (tornado.websocket.WebSocketClosedError, StreamClosedError):
            pass
        except Exception:
            log.exception("socket writer failed")
            self.shut(1011, "server error")

    async def _replay(self, ctx: Ctx, user_id: int) -> None:
        page = ctx.settings.replay_page
        while not self.closed:
            rows = await messages.list_since(ctx, user_id, self.last_id, page)
            last: Any = None
            for row in rows:
                last = self.handler.write_message(messages.encode(row))
                self.last_id = row["id"]
            if last is not None:
                await last  # let the page reach the kernel before reading the next one
            if len(rows) < page:
                return

    async def _drain(self) -> None:
        while not self.closed:
            if not self.queue:
                self.wakeup.clear()
                await self.wakeup.wait()
                continue
            last: Any = None
            for _ in range(min(WRITE_CHUNK, len(self.queue))):
                message_id, payload = self.queue.popleft()
                if message_id:
                    self.queued_messages -= 1
                    if message_id <= self.last_id:
                        continue  # already sent by the replay
                    self.last_id = message_id
                last = self.handler.write_message(payload)
            if last is not None:
                await last  # flow control: a reader that stops reading stalls only this loop


class ChatSocketHandler(tornado.websocket.WebSocketHandler):
    user_id: int
    outlet: SocketOutlet | None = None
    pending = 0  # frames handed to the writer, not yet acked or refused
    resume: asyncio.Future[None] | None = None  # set while reading is paused

    @property
    def ctx(self) -> Ctx:
        ctx: Ctx = self.application.settings["ctx"]
        return ctx

    async def prepare(self) -> None:
        # Authenticate before upgrading: a bad token gets a plain 401, never a socket.
        token, _ = token_from(self, {})
        try:
            self.user_id = await accounts.access_token(self.ctx, token)
        except ClientError as exc:
            raise tornado.web.HTTPError(401, exc.msg) from None
        self.token_digest = accounts.token_digest(token)
        claimed = self.get_query_argument("id", "")
        if claimed and claimed != str(self.user_id):
            raise tornado.web.HTTPError(401, "id is not the token's user")
        since = self.get_query_argument("since", "")
        if since and not (SINCE.fullmatch(since) and int(since) <= SINCE_MAX):
            raise tornado.web.HTTPError(400, "since must be a message id")
        self.since = int(since) if since else None

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.finish({"code": -1, "msg": self._reason})

    def _request_summary(self) -> str:
        return redact_tokens(super()._request_summary())

    async def open(self, *args: Any, **kwargs: Any) -> None:
        ctx = self.ctx
        self.set_nodelay(True)
        self.outlet = SocketOutlet(self, ctx.settings.outbox_limit, self.since or 0, self.token_digest)
        ctx.token_watch.ensure_running(ctx)
        # Attach first, then load groups and replay: anything stored meanwhile is either
        # in the replay or arrives live, and the outlet drops the overlap by id.
        ctx.hub.attach(self.user_id, self.outlet)
        # One account's sockets are capped (each costs memory and a descriptor); the
        # oldest go, since the newest is the one the user is looking at.
        for old in ctx.hub.oldest_over(self.user_id, ctx.settings.sockets_per_user):
            old.shut(CLOSE_TOO_MANY, "too many open connections")
        try:
            # A removal published while the groups load must not be undone by them.
            read_at = ctx.hub.mark()
            ctx.hub.add_groups(self.user_id, await contacts.list_group_ids(ctx, self.user_id), read_at)
        except ClientError:  # the database queue is full: the client comes back later
            self.outlet.shut(CLOSE_TRY_AGAIN_LATER, "server busy; reconnect with since")
            return
        except Exception:
            log.exception("loading groups failed")
            self.outlet.shut(1011, "server error")
            return
        asyncio.get_running_loop().create_task(self.outlet.run(ctx, self.user_id, self.since is not None))

    def on_message(self, raw: str | bytes) -> Awaitable[None] | None:
        # Returns None while frames flow, so a sender's frames can share one database
        # commit. Tornado reads no further frame until a returned awaitable is done: that
        # is the push-back when the writer's queue is full or this socket has
        # socket_pending_max frames awaiting their acks. Nothing accepted is ever dropped.
        outlet = self.outlet
        if outlet is None or outlet.closed:
            return None
        if self.ctx.writer.full():
            return self._take_when_room(outlet, raw)
        return self._take(outlet, raw)

    async def _take_when_room(self, outlet: SocketOutlet, raw: str | bytes) -> None:
        await self.ctx.writer.room()
        paused = self._take(outlet, raw)
        if paused is not None:
            await paused

    def _take(self, outlet: SocketOutlet, raw: str | bytes) -> asyncio.Future[None] | None:
        cmid: str | None = None
        try:
            try:
                frame = messages.parse_frame(raw)
            except ClientError:
                messages.charge(self.ctx, self.user_id)  # 429 instead, once spent
                raise
            cmid = messages.frame_cmid(frame)
            if messages.is_heartbeat(frame):
                return None
            future = messages.do_send(self.ctx, self.user_id, frame, outlet.key)
        except ClientError as exc:
            self._refuse(outlet, cmid, exc)
            if exc.status == 429:
                # Past the allowance this socket is not read until it has earned a frame
                # back: a flood costs its sender time, not the server work or log lines.
                return asyncio.ensure_future(asyncio.sleep(self.ctx.send_limits.wait_s(self.user_id)))
            return None
        except WriterClosed:
            outlet.push(0, messages.error_frame(cmid, 503, "server is restarting; send again"))
            return None
        self.pending += 1
        future.add_done_callback(lambda f: self._answer(outlet, cmid, f))
        if self.pending >= self.ctx.settings.socket_pending_max:
            self.resume = asyncio.get_running_loop().create_future()
            return self.resume
        return None

    def _refuse(self, outlet: SocketOutlet, cmid: str | None, exc: ClientError) -> None:
        # Refused frames cost allowance too (messages.charge); the log keeps one line per
        # user per interval, with a count of what it held back.
        held = refusal_log.allow(self.user_id)
        if held is not None:
            log.warning(
                "user %d frame refused: %d %s (%d refusals not logged before this)",
                self.user_id, exc.status, exc.msg, held,
            )  # fmt: skip
        outlet.push(0, messages.error_frame(cmid, exc.status, exc.msg))

    def _answer(self, outlet: SocketOutlet, cmid: str | None, future: asyncio.Future[Stored]) -> None:
        self.pending -= 1
        if self.resume is not None and self.pending < self.ctx.settings.socket_pending_max:
            if not self.resume.done():
                self.resume.set_result(None)
            self.resume = None
        exc = future.exception()
        if isinstance(exc, ClientError):
            outlet.push(0, messages.error_frame(cmid, exc.status, exc.msg))
        elif exc is not None:
            outlet.push(0, messages.error_frame(cmid, 500, "could not store the message; send it again"))
        else:
            outlet.push(0, messages.ack_frame(future.result().row))

    def on_close(self) -> None:
        if self.outlet is not None:
            self.outlet.closed = True
            self.outlet.wakeup.set()
            self.ctx.hub.detach(self.user_id, self.outlet)

    def check_origin(self, origin: str) -> bool:
        # Cookie tokens make the origin check this socket's CSRF guard: only this host
        # (handled by Tornado before this is called) and configured origins.
        return origin.rstrip("/") in self.ctx.settings.allowed_origins
