"""/chat: the WebSocket. Authenticates before the upgrade, then relays frames to the
message service; what the hub delivers goes out through the socket's outlet (outlet.py)."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable
from functools import partial
from typing import Any, cast

import tornado.web
import tornado.websocket
from tornado import httputil

from handlers.base import redact_tokens, token_from
from handlers.outlet import CLOSE_TRY_AGAIN_LATER, SocketOutlet
from handlers.wsreader import ChunkedFrames
from server import original
from server.context import Ctx
from server.errors import ClientError
from server.ratelimit import LogThrottle
from server.services import accounts, contacts, dropin, live, messages
from server.services.messages import Stored
from server.writer import WriterClosed

log = logging.getLogger(__name__)

CLOSE_GOING_AWAY = 1001
CLOSE_TOO_MANY = 4008  # the user opened more sockets than sockets_per_user: do not reconnect
SINCE = re.compile(r"[0-9]{1,19}")  # ASCII only: str.isdigit() takes "²", which int() refuses
SINCE_MAX = 2**63 - 1  # message ids are 64-bit
# A flood of refused frames would otherwise write one warning line each (per process).
refusal_log = LogThrottle(10.0)
# The response headers of every open socket once the 101 is sent (nothing writes them again).
SENT_HEADERS = httputil.HTTPHeaders()


class OpenRequest:
    """What a socket keeps of its upgrade request once open: enough for a log line. The
    request itself holds the headers, the query (with the token), the HTTP connection and
    its finished task: about 4 KB per socket, for nothing after the 101."""

    __slots__ = ("method", "remote_ip", "uri")
    connection = None

    def __init__(self, request: httputil.HTTPServerRequest) -> None:
        self.method = request.method
        self.uri = redact_tokens(request.uri or "")
        self.remote_ip = request.remote_ip

    def __repr__(self) -> str:
        return f"OpenRequest({self.method} {self.uri} from {self.remote_ip})"


class ChatSocketHandler(tornado.websocket.WebSocketHandler):
    user_id: int
    outlet: SocketOutlet | None = None
    pending = 0  # frames handed to the writer, not yet acked or refused
    resume: asyncio.Future[None] | None = None  # set while reading is paused
    live_state: live.LiveState | None = None  # cmd 16 throttle, made on the first one
    plain = False  # the original client's page (services/dropin.py)
    peer_closed = False  # it sent a close frame (rather than vanishing)

    @property
    def ctx(self) -> Ctx:
        ctx: Ctx = self.application.settings["ctx"]
        return ctx

    async def prepare(self) -> None:
        # Authenticate before upgrading: a bad token gets a plain 401, never a socket.
        token, _ = token_from(self, {})
        try:
            self.user_id, self.token_digest = await accounts.authenticate(self.ctx, token)
        except ClientError as exc:
            # 503: the database is unavailable (the client retries); anything else is 401.
            raise tornado.web.HTTPError(503 if exc.status == 503 else 401, exc.msg) from None
        claimed = self.get_query_argument("id", "")
        if claimed and claimed != str(self.user_id):
            raise tornado.web.HTTPError(401, "id is not the token's user")
        since = self.get_query_argument("since", "")
        if since and not (SINCE.fullmatch(since) and int(since) <= SINCE_MAX):
            raise tornado.web.HTTPError(400, "since must be a message id")
        # Without since=, what was published before now is the past; the socket gets
        # everything after, also what comes before its channels are live on the bus.
        self.since = int(since) if since else None
        # The original client's page (?id=&token=, never since=) gets what it missed since
        # the server last reached it, and no frame it cannot render (handlers/outlet.py).
        self.plain = not since and dropin.is_original_socket(self.ctx, token_from(self, {})[1])
        try:
            if self.plain:
                self.since = await dropin.cursor_of(self.ctx, self.user_id)
            self.start_after = self.since if self.since is not None else await self.ctx.bus.start_after()
            if self.plain and self.since is None:  # its first visit: what comes from now on
                await dropin.keep_cursor(self.ctx, self.user_id, self.start_after)
        except ClientError as exc:  # the database is busy or away: the client retries
            raise tornado.web.HTTPError(503, exc.msg) from None

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.finish({"code": -1, "msg": self._reason})

    def _request_summary(self) -> str:
        return redact_tokens(super()._request_summary())

    def open(self, *args: Any, **kwargs: Any) -> None:
        # Not a coroutine: Tornado would keep a finished one for the socket's whole life.
        ctx = self.ctx
        self._release_handshake()
        self.set_nodelay(True)
        assert self.ws_connection is not None and self.ws_connection.stream is not None
        self.outlet = outlet = SocketOutlet(
            self,
            self.ws_connection.stream,
            ctx,
            self.user_id,
            self.start_after,
            self.since is not None,
            self.token_digest,
            self.plain,
        )
        ctx.token_watch.ensure_running(ctx)
        self.application.settings["pinger"].ensure_running(ctx.hub)
        # Attach first (holding live frames), then load groups, wait for the bus to carry
        # them here, and replay: anything stored meanwhile is either in the replay or
        # arrives live, and the outlet drops the overlap by id.
        ctx.hub.attach(self.user_id, outlet)
        # One account's sockets are capped (each costs memory and a descriptor); the
        # oldest go, since the newest is the one the user is looking at.
        for old in ctx.hub.oldest_over(self.user_id, ctx.settings.sockets_per_user):
            old.shut(CLOSE_TOO_MANY, "too many open connections")
        # A removal published while the groups load must not be undone by them; the friend
        # and group sets let the user's messages skip the database's permission check.
        # Frames read meanwhile are checked by the database instead.
        read_at = ctx.hub.mark()
        contacts.load_circle(
            ctx, self.user_id, lambda circle, exc: self._circle_loaded(outlet, read_at, circle, exc)
        )

    def _circle_loaded(
        self,
        outlet: SocketOutlet,
        read_at: int,
        circle: contacts.Circle | None,
        exc: BaseException | None,
    ) -> None:
        ctx = self.ctx
        if isinstance(exc, ClientError):  # the database queue is full: the client comes back later
            outlet.shut(CLOSE_TRY_AGAIN_LATER, "server busy; reconnect with since")
            return
        if exc is not None:
            log.error("loading groups failed", exc_info=exc)
            outlet.shut(1011, "server error")
            return
        assert circle is not None  # circles_of answers for every user it is asked about
        friend_ids, group_ids = circle
        ctx.hub.load_circle(self.user_id, friend_ids, group_ids, read_at)
        if not outlet.closed:
            outlet.go_live()

    def _release_handshake(self) -> None:
        # Tornado keeps the upgrade request, its headers, the response headers, the output
        # transforms (a gzip one) and the template namespace for the socket's whole life;
        # none of it is used after the 101, and at 10,000 sockets it is 40 MB. The headers
        # and the transforms list are emptied in place: Tornado's suspended get() and
        # _execute() frames hold them too, for as long as the socket is open.
        self.request.headers.clear()
        self.request = cast(httputil.HTTPServerRequest, OpenRequest(self.request))
        self._headers = SENT_HEADERS
        self._transforms.clear()
        self.ui = None  # type: ignore[assignment]

    def on_message(self, raw: str | bytes) -> Awaitable[None] | None:
        # Returns None while frames flow, so a sender's frames can share one database
        # commit. Tornado reads no further frame until a returned awaitable is done: that
        # is the push-back when the writer's queue is full, when the user's allowance must
        # first be fetched (a lease from Redis, when the chat shares it), or when this
        # socket has socket_pending_max frames awaiting their acks. Nothing accepted is
        # ever dropped.
        outlet = self.outlet
        if outlet is None or outlet.closed:
            return None
        outlet.heard = True
        ctx = self.ctx
        ctx.metrics.tally.frames_in += 1  # a plain add: see server/metrics.py
        arrived = time.monotonic()  # the ack latency counts from here
        if ctx.writer.full() or not ctx.send_limits.ready(self.user_id):
            return self._take_later(outlet, raw, arrived)
        return self._take(outlet, raw, arrived)

    async def _take_later(self, outlet: SocketOutlet, raw: str | bytes, arrived: float) -> None:
        ctx = self.ctx
        while True:  # both at once: room in the writer's queue and the allowance at hand
            await ctx.writer.room()
            if ctx.send_limits.ready(self.user_id):
                break
            await ctx.send_limits.refill(self.user_id)
        paused = self._take(outlet, raw, arrived)
        if paused is not None:
            await paused

    def _take(self, outlet: SocketOutlet, raw: str | bytes, arrived: float) -> asyncio.Future[None] | None:
        cmid: str | None = None
        try:
            try:
                frame = messages.parse_frame(raw)
            except ClientError:
                messages.charge(self.ctx, self.user_id)  # 429 instead, once spent
                raise
            cmid = messages.frame_cmid(frame)
            cmid = messages.take_cmid(frame, self.ctx.settings)
            if cmid is not None and outlet.plain and not cmid.startswith(original.SERVER_CMID_PREFIX):
                outlet.plain = False  # it speaks chatd after all: acks and notices from here
            if messages.is_heartbeat(frame):
                answer = messages.heartbeat_answer(frame)
                if answer is not None:
                    outlet.push_payload(answer)
                return None
            if live.is_live(frame):  # typing, focus: never stored, never acked
                if self.live_state is None:
                    self.live_state = live.LiveState()
                refuse = partial(self._refuse, outlet, None)
                return live.do_live(self.ctx, self.user_id, outlet, self.live_state, frame, refuse)
            messages.do_send(
                self.ctx, self.user_id, frame, outlet.key, partial(self._answer, outlet, cmid, arrived)
            )
            if cmid is not None:
                outlet.sent(cmid)
        except ClientError as exc:
            self._refuse(outlet, cmid, exc)
            if exc.status == 429:
                # Past the allowance this socket is not read until it has earned a frame
                # back: a flood costs its sender time, not the server work or log lines.
                return asyncio.ensure_future(asyncio.sleep(self.ctx.send_limits.wait_s(self.user_id)))
            return None
        except WriterClosed:
            self._error(outlet, cmid, 503, "server is restarting; send again")
            return None
        self.pending += 1
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
        self._error(outlet, cmid, exc.status, exc.msg)

    def _error(self, outlet: SocketOutlet, cmid: str | None, status: int, msg: str) -> None:
        """A cmd 13 frame for this socket, counted by its code."""
        self.ctx.metrics.tally.error(status, "socket")
        outlet.push_payload(messages.error_frame(cmid, status, msg))

    def _answer(
        self, outlet: SocketOutlet, cmid: str | None, arrived: float, result: Stored | BaseException
    ) -> None:
        self.pending -= 1
        if self.resume is not None and self.pending < self.ctx.settings.socket_pending_max:
            if not self.resume.done():
                self.resume.set_result(None)
            self.resume = None
        if isinstance(result, ClientError):
            self._error(outlet, cmid, result.status, result.msg)
        elif isinstance(result, BaseException):
            self._error(outlet, cmid, 500, "could not store the message; send it again")
        else:
            outlet.push_payload(messages.ack_frame(result.row))
            self.ctx.metrics.tally.ack(time.monotonic() - arrived)

    def get_websocket_protocol(self) -> tornado.websocket.WebSocketProtocol | None:
        protocol = super().get_websocket_protocol()
        if isinstance(protocol, tornado.websocket.WebSocketProtocol13):
            return ChunkedFrames(self, False, protocol.params)
        return protocol

    def on_pong(self, data: bytes) -> None:
        outlet = self.outlet
        if outlet is not None:
            outlet.heard = True
            if outlet.plain:
                dropin.pong_confirms(self.ctx, outlet)

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        # Out of the hub at once: the close handshake can take seconds with a stalled reader.
        if self.outlet is not None:
            self.ctx.hub.detach(self.user_id, self.outlet)
        super().close(code, reason)

    def on_close(self) -> None:
        if self.outlet is not None:
            self.outlet.closed = True
            self.ctx.hub.detach(self.user_id, self.outlet)
            if self.outlet.plain:
                dropin.closed(self.ctx, self.outlet, by_peer=self.peer_closed)

    def on_ws_connection_close(self, close_code: int | None = None, close_reason: str | None = None) -> None:
        # A close frame from the page (not a dropped connection) says it had all before it.
        self.peer_closed = bool(self.ws_connection and self.ws_connection.client_terminated)
        super().on_ws_connection_close(close_code, close_reason)

    def check_origin(self, origin: str) -> bool:
        # Cookie tokens make the origin check this socket's CSRF guard: only this host
        # (handled by Tornado before this is called) and configured origins.
        return origin.rstrip("/") in self.ctx.settings.allowed_origins
