"""Recently checked login tokens, so a reconnect or an API call skips the database.

Exact on this process's bus: a TokenRevoked (logout, password change, disabled account,
expiry) drops the tokens it names at once. An entry lives `ttl` seconds at most, the same
bound the socket token check (`token_check_interval`) gives a token deleted some other way."""

from __future__ import annotations

import time
from collections import OrderedDict

from server.bus import Event, TokenRevoked


class TokenCache:
    def __init__(self, ttl: float, max_entries: int = 100_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._users: OrderedDict[str, tuple[int, float]] = OrderedDict()  # digest -> (user, expiry)
        # Bumped by every revocation: a lookup that started before one may not be cached.
        self.generation = 0
        # Off while the bus is down: a revocation published elsewhere may not reach us.
        self.enabled = True

    def clear(self) -> None:
        self.generation += 1
        self._users.clear()

    def get(self, digest: str) -> int | None:
        if not self.enabled:
            return None
        entry = self._users.get(digest)
        if entry is None:
            return None
        if entry[1] < time.monotonic():
            del self._users[digest]
            return None
        return entry[0]

    def put(self, digest: str, user_id: int, generation: int) -> None:
        """Remember a lookup that began at `generation` (unless a revocation came since)."""
        if generation != self.generation or not self.enabled:
            return
        self._users[digest] = (user_id, time.monotonic() + self.ttl)
        self._users.move_to_end(digest)
        while len(self._users) > self.max_entries:
            self._users.popitem(last=False)

    def on_event(self, event: Event) -> None:
        if not isinstance(event, TokenRevoked):
            return
        self.generation += 1
        if event.digests:
            for digest in event.digests:
                self._users.pop(digest, None)
            return
        gone = [d for d, (user_id, _) in self._users.items() if user_id == event.user_id and d != event.keep]
        for digest in gone:
            del self._users[digest]
