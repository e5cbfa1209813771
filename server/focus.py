"""Which sockets have which conversation open, so that an ephemeral frame (typing, a group
read receipt) reaches only the sockets that would show it: nothing for a socket looking
elsewhere, nothing stored, nothing broadcast to a user's friends. IOLoop thread only."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from server.bus import Ephemeral
from server.frames import text_frame

if TYPE_CHECKING:
    from server.hub import Outlet

Conversation = tuple[int, int]  # (10, the other user) or (11, the group), as the viewer names it


class Focus:
    def __init__(self) -> None:
        # conversation -> socket key -> (its user, its outlet)
        self.watching: dict[Conversation, dict[str, tuple[int, Outlet]]] = {}
        self.of_socket: dict[str, Conversation] = {}

    def set(self, user_id: int, outlet: Outlet, conversation: Conversation | None) -> None:
        """The socket now has `conversation` open (None: none, or the tab is hidden)."""
        self.drop(outlet.key)
        if conversation is not None:
            self.of_socket[outlet.key] = conversation
            self.watching.setdefault(conversation, {})[outlet.key] = (user_id, outlet)

    def drop(self, socket_key: str) -> None:
        conversation = self.of_socket.pop(socket_key, None)
        if conversation is None:
            return
        sockets = self.watching.get(conversation)
        if sockets is not None:
            sockets.pop(socket_key, None)
            if not sockets:
                del self.watching[conversation]

    def deliver(self, event: Ephemeral, group_members: Collection[int]) -> int:
        """Push the frame to the sockets of its recipients that have its conversation open
        (group: current members online here, 1:1: `user_ids`), never to its sender's.
        Returns how many sockets got it."""
        sockets = self.watching.get(event.focus)
        if not sockets:
            return 0
        allowed = group_members if event.group_id is not None else event.user_ids
        frame = b""
        pushed = 0
        for user_id, outlet in tuple(sockets.values()):
            if user_id != event.from_user and user_id in allowed:
                frame = frame or text_frame(event.payload)  # built once, only if wanted
                outlet.push(0, frame)
                pushed += 1
        return pushed
