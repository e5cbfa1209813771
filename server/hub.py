"""The hub: one per process, IOLoop thread only. user id -> Node (live sockets, group set)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from server.bus import (
    Delivery,
    Ephemeral,
    Event,
    Friendship,
    Membership,
    MembershipEnded,
    Notice,
    NoWatcher,
    TokenRevoked,
)
from server.focus import Focus
from server.frames import text_frame
from server.metrics import Metrics

log = logging.getLogger(__name__)

CMD_SINGLE = 10  # the wire number of a 1:1 message (models/messages.py names it for storage)

# The socket's token was revoked or expired: the client must log in again, not reconnect.
CLOSE_TOKEN_REVOKED = 4001


class Outlet(Protocol):
    """What the hub needs of a socket: a key, a non-blocking push of a prebuilt WebSocket
    frame (server/frames.py), and a close."""

    key: str
    token_digest: str  # SHA-256 of the token the socket was opened with

    def push(self, message_id: int, frame: bytes) -> None: ...

    def shut(self, code: int, reason: str) -> None: ...

    def resync(self) -> None:
        """Read from the database what may have been missed (a group's channel was not
        live here yet), holding live frames meanwhile."""
        ...


class Watcher(Protocol):
    """Told which users and groups have sockets here (the bus subscribes to those)."""

    def watch_user(self, user_id: int) -> None: ...
    def unwatch_user(self, user_id: int) -> None: ...
    def watch_group(self, group_id: int) -> bool: ...  # True: live here already
    def unwatch_group(self, group_id: int) -> None: ...


@dataclass(slots=True)  # one per online user: small, and what is rarely used made on demand
class Node:
    sockets: dict[str, Outlet] = field(default_factory=dict)
    groups: set[int] = field(default_factory=set)
    # group id -> the hub's count when this user's membership ended: a socket that read
    # its groups from the database before that must not add the group back.
    ended: dict[int, int] | None = None
    # Friend ids once loaded (None before): with `groups` after the load, what lets
    # may_send answer from memory. Friendship events that come while it loads wait in
    # friend_changes and are applied over the load, in order, so it ends exact.
    friends: set[int] | None = None
    friend_changes: list[tuple[int, bool]] | None = None
    groups_loaded: bool = False


class Hub:
    def __init__(self, watcher: Watcher | None = None, metrics: Metrics | None = None) -> None:
        self.nodes: dict[int, Node] = {}
        self.metrics = metrics or Metrics()
        self.sockets_open = 0
        # group id -> online members here, so a group message touches only its members
        # (the original scanned every online user per group message).
        self.group_members: dict[int, set[int]] = {}
        self.ends = 0  # MembershipEnded events seen
        self.watcher: Watcher = watcher or NoWatcher()
        # False while the bus is down: events that keep the friend and group sets exact may
        # be lost, so every send is checked by the database until they are reloaded.
        self.trusting = True
        # Told (user id, sockets here) whenever a user's socket count here changes.
        self.on_count: Callable[[int, int], None] | None = None
        self.focus = Focus()  # which conversation each socket has open (server/focus.py)

    def attach(self, user_id: int, outlet: Outlet) -> None:
        node = self.nodes.get(user_id)
        if node is None:
            node = self.nodes[user_id] = Node()
            self.watcher.watch_user(user_id)
        node.sockets[outlet.key] = outlet
        self.sockets_open += 1
        self.metrics.sockets.inc()
        if self.on_count is not None:
            self.on_count(user_id, len(node.sockets))

    def detach(self, user_id: int, outlet: Outlet) -> None:
        node = self.nodes.get(user_id)
        if node is None or node.sockets.get(outlet.key) is not outlet:
            return
        del node.sockets[outlet.key]
        self.focus.drop(outlet.key)
        self.sockets_open -= 1
        self.metrics.sockets.dec()
        if self.on_count is not None:
            self.on_count(user_id, len(node.sockets))
        if not node.sockets:
            for group_id in node.groups:
                self._leave_members(group_id, user_id)
            del self.nodes[user_id]
            self.watcher.unwatch_user(user_id)

    def _leave_members(self, group_id: int, user_id: int) -> None:
        members = self.group_members.get(group_id)
        if members is not None and user_id in members:
            members.discard(user_id)
            if not members:
                del self.group_members[group_id]
                self.watcher.unwatch_group(group_id)

    def oldest_over(self, user_id: int, cap: int) -> list[Outlet]:
        """The user's oldest sockets beyond the newest `cap` (dicts keep attach order)."""
        node = self.nodes.get(user_id)
        if node is None or len(node.sockets) <= cap:
            return []
        return list(node.sockets.values())[: len(node.sockets) - cap]

    def mark(self) -> int:
        """Taken before reading a user's groups from the database, for add_groups."""
        return self.ends

    def add_groups(self, user_id: int, group_ids: Iterable[int], read_at: int | None = None) -> None:
        """Add groups to a user's live sockets. `read_at` (a mark): the ids were read from
        the database then, so a group whose membership ended since is left out."""
        node = self.nodes.get(user_id)
        if node is None:
            return  # offline: the database is the truth, loaded when they connect
        behind = False
        for group_id in group_ids:
            if read_at is not None and node.ended and node.ended.get(group_id, -1) >= read_at:
                continue
            node.groups.add(group_id)
            members = self.group_members.get(group_id)
            if members is None:
                members = self.group_members[group_id] = set()
                behind |= not self.watcher.watch_group(group_id)
            members.add(user_id)
        if behind and read_at is None:
            # Joined while online, and the group's channel is new here: what it carried
            # before it was live is read from the database. (A socket loading its groups
            # replays once they are live anyway.)
            for outlet in tuple(node.sockets.values()):
                outlet.resync()

    def load_circle(self, user_id: int, friend_ids: set[int], group_ids: Iterable[int], read_at: int) -> None:
        """A user's friends and groups as read from the database after `read_at` (a mark)."""
        node = self.nodes.get(user_id)
        if node is None:
            return
        self.add_groups(user_id, group_ids, read_at)
        node.groups_loaded = True
        if node.friends is None:
            node.friends = friend_ids
            for other_id, friends in node.friend_changes or ():
                self._set_friend(node.friends, other_id, friends)
            node.friend_changes = None

    def may_send(self, user_id: int, cmd: int, dst_id: int) -> bool:
        """True when memory says the user may send there; False means "ask the database"
        (not loaded yet, or a refusal, which the database words)."""
        node = self.nodes.get(user_id)
        if node is None or not self.trusting:
            return False
        if cmd == CMD_SINGLE:
            return node.friends is not None and dst_id in node.friends
        return node.groups_loaded and dst_id in node.groups

    def befriend(self, event: Friendship) -> None:
        for user_id, other_id in ((event.user_id, event.other_id), (event.other_id, event.user_id)):
            node = self.nodes.get(user_id)
            if node is None:
                continue
            if node.friends is None:
                if node.friend_changes is None:
                    node.friend_changes = []
                node.friend_changes.append((other_id, event.friends))
            else:
                self._set_friend(node.friends, other_id, event.friends)

    @staticmethod
    def _set_friend(friend_ids: set[int], other_id: int, friends: bool) -> None:
        if friends:
            friend_ids.add(other_id)
        else:
            friend_ids.discard(other_id)

    def remove_group(self, user_id: int, group_id: int) -> None:
        node = self.nodes.get(user_id)
        if node is not None:
            node.groups.discard(group_id)
            if node.ended is None:
                node.ended = {}
            node.ended[group_id] = self.ends
            self.ends += 1
        self._leave_members(group_id, user_id)

    def forget_friends(self) -> list[int]:
        """After a bus outage (Friendship events may be lost): every online user's friend
        set is to be read again; their ids. Until then the database checks their sends."""
        for node in self.nodes.values():
            node.friends, node.friend_changes = None, None
        return list(self.nodes)

    def on_event(self, event: Event) -> None:
        if isinstance(event, Delivery):
            self.deliver(event)
        elif isinstance(event, Membership):
            self.add_groups(event.user_id, [event.group_id])
        elif isinstance(event, MembershipEnded):
            self.remove_group(event.user_id, event.group_id)
        elif isinstance(event, Friendship):
            self.befriend(event)
        elif isinstance(event, Notice):
            self.notify(event)
        elif isinstance(event, TokenRevoked):
            self.revoke(event)
        elif isinstance(event, Ephemeral):
            members = self.group_members.get(event.group_id, ()) if event.group_id is not None else ()
            self.metrics.tally.frames_out += self.focus.deliver(event, members)

    def notify(self, notice: Notice) -> None:
        frame = text_frame(notice.payload)
        pushed = 0
        for user_id in notice.user_ids:
            node = self.nodes.get(user_id)
            if node is not None:
                pushed += len(node.sockets)
                for outlet in tuple(node.sockets.values()):
                    outlet.push(0, frame)
        self.metrics.tally.frames_out += pushed

    def revoke(self, event: TokenRevoked) -> None:
        """Close the sockets opened with tokens that are no longer valid."""
        node = self.nodes.get(event.user_id)
        if node is None:
            return
        for outlet in tuple(node.sockets.values()):
            digest = outlet.token_digest
            if digest in event.digests if event.digests else digest != event.keep:
                outlet.shut(CLOSE_TOKEN_REVOKED, event.reason)

    def deliver(self, delivery: Delivery) -> None:
        if delivery.group_id is not None:
            user_ids: Iterable[int] = tuple(self.group_members.get(delivery.group_id, ()))
        else:
            user_ids = delivery.user_ids
        frame = text_frame(delivery.payload)  # the same bytes for every socket
        message_id, skip = delivery.message_id, delivery.skip_socket
        pushed = 0  # one count per delivery, not one per socket
        for user_id in user_ids:
            node = self.nodes.get(user_id)
            if node is None:
                continue
            pushed += len(node.sockets)
            for key, outlet in tuple(node.sockets.items()):
                if key != skip:
                    outlet.push(message_id, frame)
                else:
                    pushed -= 1
        self.metrics.tally.frames_out += pushed

    def online_sockets(self) -> int:
        return self.sockets_open

    def shut_all(self, code: int, reason: str) -> None:
        for node in list(self.nodes.values()):
            for outlet in list(node.sockets.values()):
                outlet.shut(code, reason)
