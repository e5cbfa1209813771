"""The bus carries what was stored to every process's hub. In-process here; a Redis bus
with the same two methods drops in for several processes or machines.

Contract for any bus: events reach subscribers in the order they were published (a batch
from `publish_many` in its order), and a Delivery is published only after its message is
committed."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)


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


Event = Delivery | Membership | MembershipEnded | Friendship | Notice | TokenRevoked
Subscriber = Callable[[Event], None]


class InProcessBus:
    """Hands each event straight to the subscribers, on the IOLoop that publishes it."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    async def publish(self, event: Event) -> None:
        await self.publish_many((event,))

    async def publish_many(self, events: Sequence[Event]) -> None:
        """Several events in order, in one go (the writer's batch: one call, not one each)."""
        for subscriber in self._subscribers:
            for event in events:
                try:
                    subscriber(event)
                except Exception:
                    log.exception("bus subscriber failed on %r", type(event).__name__)

    async def close(self) -> None:
        self._subscribers.clear()
