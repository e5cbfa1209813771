"""The bus carries what was stored to every process's hub: in-process here, Redis for
several processes or machines (server/redisbus.py), both behind the `Bus` protocol.

Contract for any bus: events reach subscribers in the order they were published (a batch
from `publish_many` in its order), and a Delivery is published only after its message is
committed. A bus whose `publishes_in_job` is true publishes from inside the database job
that committed the events (`publish_from_job`, under the chat-wide publish lock), so that
commits from every process reach every subscriber in id order."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Delivery:
    """A stored message for some users' sockets. `payload` is the message frame, encoded once."""

    message_id: int
    payload: bytes
    user_ids: tuple[int, ...] = ()  # 1:1: sender and recipient
    group_id: int | None = None  # group: every member online
    skip_socket: str = ""  # the socket that sent it gets the ack instead


@dataclass(frozen=True)
class Membership:
    """A user joined a group: live nodes start receiving its messages at once."""

    user_id: int
    group_id: int


@dataclass(frozen=True)
class MembershipEnded:
    """A user left or was removed from a group: their live sockets stop getting it at once.
    Published after the leave/removal system message's Delivery, so they get that one."""

    user_id: int
    group_id: int


@dataclass(frozen=True)
class Friendship:
    """Two users became friends (`friends`) or stopped being friends (an unfriend, a block):
    the hubs' in-memory friend sets, which let a message skip the database check, follow."""

    user_id: int
    other_id: int
    friends: bool


@dataclass(frozen=True)
class Notice:
    """A frame for every socket of some users that is not a stored message (cmd 15: a
    friend request, a friendship made or ended). `payload` is encoded once."""

    user_ids: tuple[int, ...]
    payload: bytes


@dataclass(frozen=True)
class TokenRevoked:
    """Tokens stopped being valid (logout, password change, expiry): their sockets close at
    once. `digests` empty means every token of the user except `keep`."""

    user_id: int
    digests: tuple[str, ...] = ()
    keep: str = ""
    reason: str = "logged out"


@dataclass(frozen=True)
class Ephemeral:
    """A frame for the sockets that have one conversation open (typing, a group read
    receipt): never stored, no id, no place in the message order. `focus` is the
    conversation as those sockets name it ((10, peer) or (11, group)); 1:1: the sockets of
    `user_ids` only; group: of `group_id`'s members; never `from_user`'s own sockets."""

    payload: bytes
    focus: tuple[int, int]
    from_user: int
    user_ids: tuple[int, ...] = ()
    group_id: int | None = None


Event = Delivery | Membership | MembershipEnded | Friendship | Notice | TokenRevoked | Ephemeral
Subscriber = Callable[[Event], None]


def settle(future: asyncio.Future[T], value: T) -> None:
    """Resolve a future unless its waiter gave up already."""
    if not future.done():
        future.set_result(value)


def highest_message_id(events: Sequence[Event]) -> int:
    return max((e.message_id for e in events if isinstance(e, Delivery)), default=0)


class Bus(Protocol):
    """What the rest of chatd uses of a bus. The hub tells it which users and groups have
    sockets here (watch_*), so a bus between processes carries only what those need."""

    name: str
    publishes_in_job: bool

    @property
    def horizon(self) -> int:
        """The highest message id up to which every message for this process's sockets
        has been handed to the hub."""
        ...

    @property
    def live(self) -> bool: ...

    def subscribe(self, subscriber: Subscriber) -> None: ...
    async def start(self) -> None: ...
    async def publish(self, event: Event) -> None: ...
    async def publish_many(self, events: Sequence[Event]) -> None: ...
    def publish_from_job(self, events: Sequence[Event], prev_max: int) -> None: ...
    async def flash(self, event: Ephemeral) -> None:
        """Carry an ephemeral frame at once, outside the message order: never read from the
        log, lost (not retried) while the bus is down."""
        ...

    def watch_user(self, user_id: int) -> None: ...
    def unwatch_user(self, user_id: int) -> None: ...
    def watch_group(self, group_id: int) -> bool: ...
    def unwatch_group(self, group_id: int) -> None: ...
    def on_state(self, listener: Callable[[bool], None]) -> None: ...
    def on_recovered(self, action: Callable[[], Awaitable[None]]) -> None: ...
    def when_ready(self, callback: Callable[[], None]) -> None: ...
    async def sync(self) -> bool: ...
    async def start_after(self) -> int: ...
    async def nothing_after(self, message_id: int) -> bool: ...
    def health(self) -> dict[str, Any]: ...
    async def close(self) -> None: ...


class NoWatcher:
    """One process has every user's events: nothing to subscribe to, always live (the
    in-process bus, and a hub made without a bus)."""

    def watch_user(self, user_id: int) -> None:
        pass

    def unwatch_user(self, user_id: int) -> None:
        pass

    def watch_group(self, group_id: int) -> bool:
        return True

    def unwatch_group(self, group_id: int) -> None:
        pass


class InProcessBus(NoWatcher):
    """Hands each event straight to the subscribers, on the IOLoop that publishes it."""

    name = "in-process"
    publishes_in_job = False
    live = True

    def __init__(self, horizon: int = 0) -> None:
        self._subscribers: list[Subscriber] = []
        # The last message id published (one process sees every one); at start, the last
        # stored: nothing before it is owed to a socket of this process.
        self.horizon = horizon

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    async def start(self) -> None:
        pass

    async def publish(self, event: Event) -> None:
        await self.publish_many((event,))

    async def publish_many(self, events: Sequence[Event]) -> None:
        """Several events in order, in one go (the writer's batch: one call, not one each)."""
        self.horizon = max(self.horizon, highest_message_id(events))
        for subscriber in self._subscribers:
            for event in events:
                try:
                    subscriber(event)
                except Exception:
                    log.exception("bus subscriber failed on %r", type(event).__name__)

    async def flash(self, event: Ephemeral) -> None:
        await self.publish_many((event,))

    def publish_from_job(self, events: Sequence[Event], prev_max: int) -> None:
        raise RuntimeError("the in-process bus publishes on the loop, after the job")

    def on_state(self, listener: Callable[[bool], None]) -> None:
        pass  # never down

    def on_recovered(self, action: Callable[[], Awaitable[None]]) -> None:
        pass

    def when_ready(self, callback: Callable[[], None]) -> None:
        callback()

    async def sync(self) -> bool:
        return True

    async def start_after(self) -> int:
        return self.horizon

    async def nothing_after(self, message_id: int) -> bool:
        return self.horizon <= message_id

    def health(self) -> dict[str, Any]:
        return {"kind": self.name, "state": "ok"}

    async def close(self) -> None:
        self._subscribers.clear()
