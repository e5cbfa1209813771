"""/chat: the WebSocket. Authenticates before the upgrade, then relays frames to the
message service and pushes what the hub delivers through a bounded outbox."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from typing import Any

import tornado.web
import tornado.websocket
from tornado.iostream import StreamClosedError

from handlers.base import redact_tokens, token_from
from server.context import Ctx
from server.errors import ClientError
from server.services import accounts, contacts, messages
from server.services.messages import Stored
from server.writer import WriterClosed

log = logging.getLogger(__name__)

CLOSE_GOING_AWAY = 1001
CLOSE_TRY_AGAIN_LATER = 1013  # "too slow": the client reconnects with since= and misses nothing
WRITE_CHUNK = 64  # frames handed to the stream before waiting for it to drain
# Acks and error frames answer the socket's own frames, whose rate the send limit bounds;
# they arrive a whole batch at once, so they get their own, larger allowance.
CONTROL_ALLOWANCE = 10_000


class SocketOutlet:
    """One socket's outbox: bounded, drained by a single writer coroutine.

    Every message frame carries its id; the outlet never sends an id at or below the
    last one sent, which is what makes replay-then-live free of doubles."""

    def __init__(self, handler: tornado.websocket.WebSocketHandler, limit: int, since: int) -> None:
        self.key = uuid.uuid4().hex
        self.token_digest = ""  # set by the handler: the hub closes the socket when it is revoked
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
        if since and not since.isdigit():
            raise tornado.web.HTTPError(400, "since must be a message id")
        self.since = int(since) if since else None

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.finish({"code": -1, "msg": self._reason})

    def _request_summary(self) -> str:
        return redact_tokens(super()._request_summary())

    async def open(self, *args: Any, **kwargs: Any) -> None:
        ctx = self.ctx
        self.set_nodelay(True)
        self.outlet = SocketOutlet(self, ctx.settings.outbox_limit, self.since or 0)
        self.outlet.token_digest = self.token_digest
        ctx.token_watch.ensure_running(ctx)
        # Attach first, then load groups and replay: anything stored meanwhile is either
        # in the replay or arrives live, and the outlet drops the overlap by id.
        ctx.hub.attach(self.user_id, self.outlet)
        try:
            ctx.hub.add_groups(self.user_id, await contacts.list_group_ids(ctx, self.user_id))
        except Exception:
            log.exception("loading groups failed")
            self.outlet.shut(1011, "server error")
            return
        asyncio.get_running_loop().create_task(self.outlet.run(ctx, self.user_id, self.since is not None))

    def on_message(self, raw: str | bytes) -> None:
        # Not a coroutine: Tornado would wait for it before reading the next frame, and a
        # sender's frames must be able to share one database commit.
        outlet = self.outlet
        if outlet is None or outlet.closed:
            return
        cmid: str | None = None
        try:
            frame = messages.parse_frame(raw)
            cmid = messages.frame_cmid(frame)
            if messages.is_heartbeat(frame):
                return
            future = messages.do_send(self.ctx, self.user_id, frame, outlet.key)
        except ClientError as exc:
            log.warning("user %d frame refused: %d %s", self.user_id, exc.status, exc.msg)
            outlet.push(0, messages.error_frame(cmid, exc.status, exc.msg))
            return
        except WriterClosed:
            outlet.push(0, messages.error_frame(cmid, 503, "server is restarting; send again"))
            return
        future.add_done_callback(lambda f: self._answer(outlet, cmid, f))

    def _answer(self, outlet: SocketOutlet, cmid: str | None, future: asyncio.Future[Stored]) -> None:
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
