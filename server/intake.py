"""What one process receives from the Redis bus, handed to its hub in the order it came,
with reads of the message log slotted in where they belong.

Redis delivers each subscriber its channels in publish order, which is id order (see
server/redisbus.py). Where that stream has a hole (a subscription that was not live yet, a
connection lost, ids a dead process never published, Redis itself down), the missing
messages are read from the database at the point of the hole, and whatever arrives
meanwhile waits behind the read: sockets then see one stream in id order and drop what
they already have, so nothing is missed or doubled."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol

from server.bus import Delivery, Event
from server.buswire import ALL, Channels, Resync, decode

log = logging.getLogger(__name__)

PAGE = 500  # log rows per query
QUEUE_MAX = 200_000  # live messages waiting behind a read; past it they are read again
SKIPS_KEPT_S = 30.0


class LogReader(Protocol):
    """The message table read as the chat's log (the assembly supplies it)."""

    async def read_after(
        self, after_id: int, limit: int, upto_id: int | None
    ) -> list[tuple[int, list[Event]]]:
        """(message id, the events it stands for) for ids above after_id, oldest first."""
        ...

    async def max_id(self) -> int: ...

    async def keep(self) -> None:
        """Publish nothing under the publish lock: repairs the watermark after a crash."""
        ...


# A queued item: (channel, data) as received, or (None, Resync) for a read of the log
# (after -1: from the horizon as it is when the read's turn comes).
Item = tuple[bytes | None, "bytes | Resync"]


class Intake:
    def __init__(
        self,
        channels: Channels,
        dispatch: Callable[[Event], None],
        reader: LogReader,
        after_loss: Callable[[], Awaitable[None]],
    ) -> None:
        self.channels = channels
        self.dispatch = dispatch
        self.reader = reader
        self.after_loss = after_loss
        # The highest id up to which everything for this process's sockets was handed on.
        self.horizon = 0
        self.reads = 0  # log reads done (a figure for /healthz and tests)
        self.on_lag: Callable[[bytes], None] | None = None
        self._queue: deque[Item] = deque()
        self._worker: asyncio.Future[None] | None = None
        self._gated = False
        self._lost_events = False
        self._skips: dict[int, tuple[str, float]] = {}  # unpublished id -> the sending socket
        self.closed = False

    @property
    def gated(self) -> bool:
        return self._gated

    @property
    def busy(self) -> bool:
        return bool(self._queue) or self._gated or (self._worker is not None and not self._worker.done())

    def receive(self, channel: bytes, data: bytes) -> None:
        """A message from the subscriber connection."""
        if data[:1] == b"X":
            # Ephemeral (typing, a group receipt): no id, nothing in the log to order it
            # by or read it from. Handed on at once, even past a read of the log.
            self._hand_on(channel, data)
            return
        if data[:1] == b"R" or self.busy:
            if len(self._queue) >= QUEUE_MAX:
                self._overflow()
            else:
                self._queue.append((channel, data))
                self._kick()
            return
        self._hand_on(channel, data)

    def read_log(self, after: int = -1, upto: int = 0, first: bool = False) -> None:
        """Queue a read of the log after `after` (-1: the horizon at the read's turn)."""
        item: Item = (None, Resync(after, upto))
        if first:
            self._queue.appendleft(item)
        else:
            self._queue.append(item)
        self._kick()

    def gate(self) -> None:
        """Hold everything received from now (subscriptions are being confirmed)."""
        self._gated = True

    def open_gate(self) -> None:
        self._gated = False
        self._kick()

    async def idle(self) -> None:
        while self._worker is not None and not self._worker.done():
            await asyncio.shield(self._worker)

    def unpublished(self, message_id: int, socket_key: str) -> None:
        """A message stored here that Redis did not take: when the log hands it on, its
        sending socket gets the ack instead, as it would have."""
        self._skips[message_id] = (socket_key, time.monotonic())

    def forget_old_skips(self) -> None:
        now = time.monotonic()
        self._skips = {k: v for k, v in self._skips.items() if now - v[1] < SKIPS_KEPT_S}

    def _overflow(self) -> None:
        # Everything waiting is in the log (messages) or redone after (the other events).
        afters = [data.after for channel, data in self._queue if isinstance(data, Resync) and data.after >= 0]
        log.warning("more than %d events waiting behind a read of the log; reading them again", QUEUE_MAX)
        self._queue.clear()
        self._queue.append((None, Resync(min([self.horizon, *afters]), 0)))
        self._lost_events = True

    def _kick(self) -> None:
        if self._queue and not self._gated and (self._worker is None or self._worker.done()):
            self._worker = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        while self._queue and not self._gated and not self.closed:
            channel, data = self._queue.popleft()
            resync = data if isinstance(data, Resync) else decode(ALL, 0, data) if data[:1] == b"R" else None
            if isinstance(resync, Resync):
                await self._read(self.horizon if resync.after < 0 else resync.after, resync.upto or None)
                if self._lost_events and not any(isinstance(d, Resync) for _, d in self._queue):
                    self._lost_events = False
                    await self.after_loss()
            elif channel is not None and isinstance(data, bytes):
                self._hand_on(channel, data)

    def _hand_on(self, channel: bytes, data: bytes) -> None:
        kind, target_id = self.channels.target(channel)
        event = decode(kind, target_id, data)
        if event is None or isinstance(event, Resync):
            log.warning("unknown event on %r", channel)
            return
        if isinstance(event, Delivery):
            if event.message_id > self.horizon:
                self.horizon = event.message_id
            if self.on_lag is not None:
                self.on_lag(data)
        self.dispatch(event)

    async def _read(self, after: int, upto: int | None) -> None:
        cursor, delay = after, 0.2
        self.reads += 1
        while not self.closed:
            try:
                rows = await self.reader.read_after(cursor, PAGE, upto)
            except Exception as exc:  # noqa: BLE001 - the database is down: wait for it
                log.warning("reading the message log failed (%s); trying again", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            for message_id, events in rows:
                skip = self._skips.pop(message_id, ("", 0.0))[0]
                for event in events:
                    if skip and isinstance(event, Delivery):
                        event = Delivery(
                            event.message_id, event.payload, event.user_ids, event.group_id, skip
                        )
                    self.dispatch(event)
                cursor = message_id
            self.horizon = max(self.horizon, cursor)
            if len(rows) < PAGE:
                return
