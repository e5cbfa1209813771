"""Who is online, on how many sockets, and when they were last seen, across every process
of the chat.

One process answers from its hub. With Redis each process keeps, per user it has
sockets for, a field in that user's hash (`presence:<id>`: process -> "<sockets> <time>"),
written when the count changes and refreshed every HEARTBEAT_S; a field older than STALE_S
is a process that died and is not counted, and the hash expires once nobody refreshes it.
Nothing is broadcast: a count is read only when someone asks."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from typing import Any

import redis

log = logging.getLogger(__name__)

HEARTBEAT_S = 20.0
STALE_S = 3 * HEARTBEAT_S  # a process silent this long is gone
EXPIRE_S = int(STALE_S + HEARTBEAT_S)
SEEN_DAYS = 30


class LocalPresence:
    """One process: the hub knows every socket."""

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.seen: dict[int, int] = {}  # user id -> ms their last socket closed

    def changed(self, user_id: int, sockets: int) -> None:
        if sockets:
            self.counts[user_id] = sockets
        else:
            self.counts.pop(user_id, None)
            self.seen[user_id] = int(time.time() * 1000)
            if len(self.seen) > 1_000_000:
                self.seen.clear()

    async def start(self) -> None:
        pass

    async def online(self, user_ids: list[int]) -> dict[int, tuple[int, int]]:
        """user id -> (sockets, last seen ms: 0 when online or unknown)."""
        return {u: (self.counts.get(u, 0), 0 if u in self.counts else self.seen.get(u, 0)) for u in user_ids}

    async def close(self) -> None:
        pass


class RedisPresence(LocalPresence):
    def __init__(self, client: Any, prefix: str) -> None:
        super().__init__()
        self.client = client
        self.prefix = prefix
        self.me = f"{socket.gethostname()}:{os.getpid()}"
        self._dirty: set[int] = set()
        self._flush_due = False
        self._flushing: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None

    def _key(self, user_id: int) -> str:
        return f"{self.prefix}presence:{user_id}"

    def changed(self, user_id: int, sockets: int) -> None:
        super().changed(user_id, sockets)
        self._dirty.add(user_id)
        if not self._flush_due:
            self._flush_due = True
            asyncio.get_running_loop().call_soon(self._start_flush)

    def _start_flush(self) -> None:
        self._flushing = asyncio.ensure_future(self._flush())

    async def start(self) -> None:
        self._task = asyncio.ensure_future(self._heartbeat())

    async def _flush(self, users: set[int] | None = None) -> None:
        """Write this process's count for the users that changed (or all of `users`)."""
        self._flush_due = False
        if users is None:
            users, self._dirty = self._dirty, set()
        now = int(time.time())
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for user_id in users:
                    count = self.counts.get(user_id, 0)
                    if count:
                        pipe.hset(self._key(user_id), self.me, f"{count} {now}")
                        pipe.expire(self._key(user_id), EXPIRE_S)
                    else:
                        pipe.hdel(self._key(user_id), self.me)
                        pipe.set(f"{self.prefix}seen:{user_id}", now * 1000, ex=SEEN_DAYS * 86400)
                await pipe.execute()
        except redis.RedisError as exc:
            log.debug("presence not written (%s); the next heartbeat writes it", exc)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            users = list(self.counts)
            for start in range(0, len(users), 1000):
                await self._flush(set(users[start : start + 1000]))

    async def online(self, user_ids: list[int]) -> dict[int, tuple[int, int]]:
        if not user_ids:
            return {}
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for user_id in user_ids:
                    pipe.hgetall(self._key(user_id))
                    pipe.get(f"{self.prefix}seen:{user_id}")
                replies = await pipe.execute()
        except redis.RedisError:
            return await super().online(user_ids)  # Redis down: what this process knows
        fresh_after = time.time() - STALE_S
        answer: dict[int, tuple[int, int]] = {}
        for index, user_id in enumerate(user_ids):
            fields, seen = replies[2 * index], replies[2 * index + 1]
            sockets = 0
            for value in fields.values():
                count, stamp = value.split()
                if float(stamp) >= fresh_after:
                    sockets += int(count)
            answer[user_id] = (sockets, 0 if sockets else int(seen or 0))
        return answer

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._flushing is not None and not self._flushing.done():
            await self._flushing
        users = set(self.counts)
        if users:  # this process's sockets are gone: say so now, not in a minute
            for user_id in users:
                LocalPresence.changed(self, user_id, 0)
            await self._flush(users)
