"""Which Redis channels one process wants, which it has subscribed to on its current
connection, and which are confirmed live: a PING sent after the SUBSCRIBEs comes back as a
PONG only once they took effect, so whoever waits for "live" waits for that PONG.

Channels nobody here watches any more are unsubscribed after a few seconds, not at once:
a page reload comes back within them and costs no churn."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from server.redissub import Subscriber

UNSUBSCRIBE_AFTER_S = 5.0
Waiter = Callable[[bool], None]  # told True once live, False if the connection went away


class Subscriptions:
    def __init__(self, always: bytes) -> None:
        self.want: dict[bytes, int] = {always: 1}  # channel -> watchers here
        self.sent: set[bytes] = set()  # SUBSCRIBE sent on this connection
        self.confirmed: set[bytes] = set()  # ... and a PONG came after it
        self.idle: dict[bytes, float] = {}  # channels nobody here watches, since when
        self.pings: list[tuple[set[bytes], list[Waiter]]] = []  # PINGs in flight, in order
        self.next: list[Waiter] = []  # waiters for the next PING
        self.flush_due = False
        self.connection: Subscriber | None = None

    def watch(self, channel: bytes) -> None:
        count = self.want.get(channel, 0)
        self.want[channel] = count + 1
        if count == 0:
            self.idle.pop(channel, None)
            if channel not in self.sent:
                self.schedule_flush()

    def unwatch(self, channel: bytes) -> None:
        count = self.want.get(channel, 0) - 1
        if count > 0:
            self.want[channel] = count
        else:
            self.want.pop(channel, None)
            self.idle[channel] = time.monotonic()

    def wait(self, waiter: Waiter) -> None:
        """waiter(True) at the PONG after every SUBSCRIBE asked for so far."""
        self.next.append(waiter)
        self.schedule_flush()

    def schedule_flush(self) -> None:
        if not self.flush_due:
            self.flush_due = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Send this turn's SUBSCRIBEs, then one PING for every waiter."""
        self.flush_due = False
        connection, waiters, self.next = self.connection, self.next, []
        if connection is None:
            for waiter in waiters:
                waiter(False)
            return
        new = [channel for channel in self.want if channel not in self.sent]
        if new:
            connection.subscribe(new)
            self.sent.update(new)
        self.pings.append((set(new), waiters))
        connection.ping(b"%d" % len(self.pings))

    def pong(self) -> list[Waiter]:
        """A PONG came (they come in the order the PINGs went): its waiters."""
        if not self.pings:
            return []
        subscribed, waiters = self.pings.pop(0)
        self.confirmed.update(subscribed)
        return waiters

    def lost(self) -> list[Waiter]:
        """The connection is gone: nothing is subscribed; the waiters to tell."""
        self.connection = None
        self.sent.clear()
        self.confirmed.clear()
        waiters = [w for _, ws in self.pings for w in ws] + self.next
        self.pings, self.next = [], []
        return waiters

    def unsubscribe_idle(self, now: float) -> None:
        stale = [c for c, since in self.idle.items() if now - since > UNSUBSCRIBE_AFTER_S]
        for channel in stale:
            del self.idle[channel]
        stale = [c for c in stale if c in self.sent and c not in self.want]
        if stale and self.connection is not None:
            self.connection.unsubscribe(stale)
            self.sent.difference_update(stale)
            self.confirmed.difference_update(stale)
