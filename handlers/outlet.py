"""One socket's way out: prebuilt frames written straight to its stream.

No queue and no coroutine per socket while it keeps up: the frames pushed in one turn of the
loop go out in one stream write at the end of that turn. While a write is still in the
kernel's way (the reader has not taken the last one) new frames wait in a list; a reader
that leaves more than `max_unsent` bytes untaken is closed with 1013, alone. That is told
by what the reader does not take, not by how busy the server is."""

from __future__ import annotations

import asyncio
import logging
import uuid
from functools import partial
from typing import TYPE_CHECKING, Any, cast

import orjson
from tornado.iostream import IOStream, StreamClosedError

from server import original
from server.bus import settle
from server.frames import payload_of, text_frame
from server.services import messages

if TYPE_CHECKING:
    from server.context import Ctx
    from server.hub import Hub

log = logging.getLogger(__name__)

CLOSE_TRY_AGAIN_LATER = 1013  # "too slow": the client reconnects with since= and misses nothing
CLOSE_GOING_AWAY = 1001
SENT_KEPT = 1000  # cmids a socket remembers having sent, so a replay does not echo them


class Flusher:
    """Outlets with frames to write; one callback per loop turn writes them all."""

    __slots__ = ("dirty", "loop")

    def __init__(self) -> None:
        self.dirty: list[SocketOutlet] = []
        self.loop: asyncio.AbstractEventLoop | None = None

    def add(self, outlet: SocketOutlet) -> None:
        if not self.dirty or self.loop is None or self.loop.is_closed():
            self.loop = asyncio.get_running_loop()
            if not self.dirty:
                self.loop.call_soon(self.run)
        self.dirty.append(outlet)

    def run(self) -> None:
        dirty, self.dirty = self.dirty, []
        for outlet in dirty:
            outlet.flush()


FLUSHER = Flusher()
PING_FRAME = b"\x89\x00"  # an empty ping: the client's WebSocket answers it with a pong


class Pinger:
    """One task for the whole process pings every socket each `interval` seconds and closes
    those that sent nothing back (no pong, no frame) since the round before: a dead peer
    behind a NAT is found without a task and a timer per socket (Tornado's own pings)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def ensure_running(self, hub: Hub) -> None:
        if self.interval > 0 and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._run(hub))

    async def _run(self, hub: Hub) -> None:
        while True:
            await asyncio.sleep(self.interval)  # a timer, not a wait for an event
            outlets = [outlet for node in hub.nodes.values() for outlet in node.sockets.values()]
            for done, outlet in enumerate(outlets, 1):
                if not isinstance(outlet, SocketOutlet) or outlet.closed:
                    continue
                if not outlet.heard:
                    outlet.shut(CLOSE_GOING_AWAY, "ping timed out")
                else:
                    outlet.heard = False
                    outlet.pinged_id = outlet.last_id  # its pong confirms all before (dropin)
                    outlet.push(0, PING_FRAME)
                if done % 1000 == 0:
                    await asyncio.sleep(0)  # a round over many sockets leaves room for messages


class SocketOutlet:
    """Every message frame carries its id; the outlet never sends an id at or below the last
    one sent, which is what makes replay-then-live free of doubles."""

    __slots__ = (
        "again",
        "closed",
        "ctx",
        "explicit",
        "flagged",
        "frames",
        "handler",
        "heard",
        "held",
        "held_bytes",
        "in_flight",
        "kept_id",
        "key",
        "last_id",
        "max_unsent",
        "overflowed",
        "pinged_id",
        "plain",
        "replaying",
        "sent_here",
        "stream",
        "token_digest",
        "user_id",
        "waiting_bytes",
    )  # fmt: skip

    def __init__(
        self,
        handler: Any,
        stream: IOStream,
        ctx: Ctx,
        user_id: int,
        since: int,
        explicit: bool,
        token_digest: str,
        plain: bool = False,
    ) -> None:
        self.key = uuid.uuid4().hex
        self.ctx = ctx
        self.user_id = user_id
        self.token_digest = token_digest  # the hub closes the socket when this token is revoked
        self.handler = handler
        self.stream = stream
        self.max_unsent = ctx.settings.outbox_bytes
        self.last_id = since
        self.explicit = explicit  # since= came from the client (else: where the bus stood)
        self.frames: list[bytes] = []  # pushed, not yet handed to the stream
        self.waiting_bytes = 0  # their size
        self.in_flight = 0  # bytes of the last stream write, while the reader has not taken it
        self.flagged = False  # in the flusher's list for this turn
        self.closed = False
        # Until its circle is loaded and its channels are live, then while replaying from
        # the database, live message frames are held back here, then sent after the
        # replay (those it already sent are dropped by id).
        self.replaying = True
        self.again = False  # a resync came during the replay: one more round after it
        # The latest cmids this socket sent: a replay skips them (the socket got their
        # acks), as live delivery skips the sending socket. None until it sends one.
        self.sent_here: dict[str, None] | None = None
        self.held: list[tuple[int, bytes]] = []
        self.held_bytes = 0
        self.overflowed = False  # held got too big and was dropped: replay reads on
        self.heard = True  # the peer sent something since the last ping (see Pinger)
        # The original client's page (services/dropin.py): only the message frames it can
        # render, and a cursor the server keeps for it: pinged_id is last_id at the latest
        # ping, kept_id what the cursor holds.
        self.plain = plain
        self.pinged_id = self.kept_id = since

    def push(self, message_id: int, frame: bytes) -> None:
        """Take a prebuilt frame (message_id 0 for acks, errors and notices). Never blocks."""
        if self.closed:
            return
        if message_id:
            if self.replaying:
                self._hold(message_id, frame)
                return
            if message_id <= self.last_id:
                return  # already sent by the replay, or a retry's second publish
            self.last_id = message_id
            if self.plain and not original.shown_to_original(orjson.loads(payload_of(frame)), self.user_id):
                return
        elif self.plain and frame is not PING_FRAME:
            return  # acks, errors, notices: the original's page would show them as messages
        self.frames.append(frame)
        self.waiting_bytes += len(frame)
        if self.in_flight:
            if self.in_flight + self.waiting_bytes > self.max_unsent:
                log.warning(
                    "socket %s left %d bytes untaken; closing with 1013", self.key[:8], self.in_flight
                )
                self.shut(CLOSE_TRY_AGAIN_LATER, "too slow; reconnect with since")
        elif not self.flagged:
            self.flagged = True
            FLUSHER.add(self)

    def _hold(self, message_id: int, frame: bytes) -> None:
        self.held.append((message_id, frame))
        self.held_bytes += len(frame)
        if self.held_bytes > self.max_unsent:
            # Stored anyway: the replay goes on reading them from the database.
            log.debug("socket %s: live frames outgrew the bound during replay", self.key[:8])
            self.held, self.held_bytes, self.overflowed = [], 0, True

    def flush(self) -> None:
        self.flagged = False
        if self.closed or self.in_flight or not self.frames:
            return
        frames, self.frames, self.waiting_bytes = self.frames, [], 0
        data: bytes | memoryview = frames[0] if len(frames) == 1 else b"".join(frames)
        stream = self.stream
        if not stream.writing() and stream.socket is not None:
            # Nothing of Tornado's waiting (a pong, a close): straight to the kernel, which
            # nearly always takes it all, so no future and no buffer bookkeeping per write.
            try:
                sent = stream.socket.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                sent = 0  # a reset: stream.write below finds it and closes the stream
            if sent == len(data):
                return
            data = memoryview(data)[sent:]
        try:
            written = stream.write(data)
        except StreamClosedError:
            return  # on_close detaches it
        if not written.done():
            self.in_flight = len(data)
            written.add_done_callback(self._taken)

    def _taken(self, written: asyncio.Future[None]) -> None:
        self.in_flight = 0
        if written.exception() is None:
            self.flush()

    def shut(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.frames, self.held = [], []
        self.handler.close(code, reason)

    def go_live(self) -> None:
        """The socket's circle is in the hub: once its channels are live, send what was
        stored after last_id, then what was held, then live frames."""
        self.ctx.bus.when_ready(self._start_replay)

    def resync(self) -> None:
        if self.closed:
            return
        if self.replaying:
            self.again = True
            return
        self.replaying = True
        self.explicit = True  # read the database whatever the bus says
        self.ctx.bus.when_ready(self._start_replay)

    def _start_replay(self) -> None:
        if not self.closed:
            asyncio.get_running_loop().create_task(self.replay())

    async def replay(self) -> None:
        """Send what was stored after last_id, then go live."""
        try:
            await self._replay()
        except StreamClosedError:
            pass
        except Exception:
            log.exception("replay failed")
            self.shut(1011, "server error")

    async def _replay(self) -> None:
        ctx = self.ctx
        page = ctx.settings.replay_page
        # Opened without since=: nothing to read if nothing was published since it opened.
        quiet = not self.explicit and await ctx.bus.nothing_after(self.last_id)
        if quiet and self.again:  # but a group's channel became ours meanwhile
            self.again, quiet = False, False
            await self._channels_live()
        while not self.closed and not quiet:
            self.overflowed = False
            rows = await messages.list_since(ctx, self.user_id, self.last_id, page)
            if rows:
                self.last_id = rows[-1]["id"]
                mine, me, plain = self.sent_here or {}, self.user_id, self.plain
                frames = [
                    text_frame(messages.encode(row))
                    for row in rows
                    if not (row["userid"] == me and row["cmid"] in mine)
                    and not (plain and not original.shown_to_original(cast(dict[str, Any], row), me))
                ]
                # One write per page, and the next page is read once the kernel took it.
                if frames:
                    ctx.metrics.tally.frames_out += len(frames)
                    await self.stream.write(b"".join(frames))
            if len(rows) == page or self.overflowed:
                continue
            if not self.again:
                break
            # A group's channel became ours during the replay: read again once it is live.
            self.again = False
            await self._channels_live()
        self.replaying = False
        held, self.held, self.held_bytes = self.held, [], 0
        for message_id, frame in held:
            self.push(message_id, frame)

    async def _channels_live(self) -> None:
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.ctx.bus.when_ready(partial(settle, ready, None))
        await ready

    def sent(self, cmid: str) -> None:
        """A message frame this socket sent (kept for the latest SENT_KEPT)."""
        if self.sent_here is None:
            self.sent_here = {}
        self.sent_here[cmid] = None
        if len(self.sent_here) > SENT_KEPT:
            del self.sent_here[next(iter(self.sent_here))]

    def push_payload(self, payload: bytes) -> None:
        """An ack, an error or a notice for this socket alone."""
        self.ctx.metrics.tally.frames_out += 1
        self.push(0, text_frame(payload))
