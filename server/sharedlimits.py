"""The chat's limits when its processes share a Redis: each limit is counted there, so N
processes give one allowance, not N. While Redis is not usable (the bus is down, or a call
failed) every limit falls back to the in-memory one of this process (server/ratelimit.py),
and the outage is logged once. Without Redis (one process) Ctx keeps to ratelimit.py."""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import redis

from server.ratelimit import FailureWindow, LoginLimits, TokenBuckets

log = logging.getLogger(__name__)

T = TypeVar("T")
REDIS_ERRORS = (redis.RedisError, OSError)

# The scripts read Redis's clock, so processes on machines whose clocks differ still agree.
_NOW_MS = (
    "local t = redis.call('TIME')\nlocal now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
)

# A token bucket, as TokenBuckets: refilled by the time elapsed, capped at the burst, and
# granting up to ARGV[3] whole tokens. Answers {granted, ms until a whole token is there}.
# A full bucket is no key at all: the key expires once it would have refilled.
BUCKET_LUA = (
    _NOW_MS
    + """
local rate, burst = tonumber(ARGV[1]) / 1000, tonumber(ARGV[2])
local held = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(held[1]) or burst, tonumber(held[2]) or now
if now > at then tokens = math.min(burst, tokens + (now - at) * rate) end
local granted = math.min(tonumber(ARGV[3]), math.floor(tokens))
tokens = tokens - granted
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate) + 1000)
local wait = 0
if tokens < 1 then wait = math.max(1, math.ceil((1 - tokens) / rate)) end
return {granted, wait}
"""
)

# Sliding windows, as FailureWindow: a sorted set per key of failures scored by when. Checks
# every window and counts one failure in all of them in one step, unless one is at its limit.
# KEYS: the windows; ARGV: window ms, this failure's id, then each window's limit.
WINDOW_LUA = (
    _NOW_MS
    + """
local window = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. (now - window))
  if redis.call('ZCARD', key) >= tonumber(ARGV[i + 2]) then return 0 end
end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[2])
  redis.call('PEXPIRE', key, window)
end
return 1
"""
)

# The first ARGV[1] windows are cleared; the others lose their latest failure.
TAKE_BACK_LUA = """
for i, key in ipairs(KEYS) do
  if i <= tonumber(ARGV[1]) then redis.call('DEL', key) else redis.call('ZPOPMAX', key) end
end
return 1
"""

# Slots in progress: a sorted set per key of slot ids scored by when each expires, so slots
# of a process that died mid-way free themselves. ARGV: the limit, the new id, ms to hold it.
SLOTS_LUA = (
    _NOW_MS
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""
)


class RedisLink:
    """The chat's Redis as the limits use it: the loop's client (None: no Redis, every limit
    is this process's), the keys' prefix, and whether to count there now: not while the bus
    is down, nor for RETRY_S after a call failed."""

    RETRY_S = 1.0  # a hung Redis costs a call's timeout (2 s) at most once per this

    def __init__(self, client: Any, prefix: str, live: Callable[[], bool]) -> None:
        self.client = client
        self.prefix = prefix + "limit:"
        self._live = live
        self._retry_at = 0.0
        self.down = False  # counting locally since the outage was logged
        self.calls = 0  # round trips made (for bench/ and the tests' figures)
        if client is not None:
            self.bucket = client.register_script(BUCKET_LUA)
            self.window = client.register_script(WINDOW_LUA)
            self.take_back = client.register_script(TAKE_BACK_LUA)
            self.slots = client.register_script(SLOTS_LUA)

    def key(self, *parts: object) -> str:
        return self.prefix + ":".join(str(part) for part in parts)

    def usable(self) -> bool:
        if self.client is None:
            return False
        if self._live() and time.monotonic() >= self._retry_at:
            return True
        self._go_local("the bus is down")
        return False

    async def call(self, request: Callable[[], Awaitable[T]]) -> T | None:
        """request()'s answer from Redis; None when Redis is not usable now or the call
        failed (the caller then counts in this process)."""
        if not self.usable():
            return None
        self.calls += 1
        try:
            answer = await request()
        except REDIS_ERRORS as exc:
            self._retry_at = time.monotonic() + self.RETRY_S
            self._go_local(exc)
            return None
        if self.down:
            self.down = False
            log.info("redis answers again: limits are counted for the whole chat")
        return answer

    def _go_local(self, why: object) -> None:
        # Once per outage, not once per request: a flood would write a line per frame.
        if not self.down:
            self.down = True
            log.warning("redis unusable for limits (%s): this process counts its own until it is back", why)


def send_lease(rate: float, burst: int) -> int:
    """Frames a process takes from a user's bucket at a time: a quarter second of the rate,
    at most a quarter of the burst and 32, at least 1. Each process holds at most one lease
    unspent, so N processes can give at most N * lease frames beyond the burst (5 each at
    the defaults of 20/s and 100), and never more than the rate over time."""
    return max(1, min(math.ceil(rate * 0.25), burst // 4, 32))


@dataclass(slots=True)
class _Lease:
    tokens: int = 0  # taken from Redis, not spent yet
    empty_until: float = 0.0  # monotonic: Redis has no whole token for this key before then
    used_at: float = 0.0


class LeasedBuckets(TokenBuckets):
    """TokenBuckets for the chat: each key's bucket is in Redis (BUCKET_LUA), and this
    process takes `lease` tokens at a time from it and spends them here, so spending makes
    no round trip. Ask `ready(key)` before `allow(key)`; while it is False, `await
    refill(key)` (one request per key at a time). Tokens come only from the bucket: all
    processes together spend at most the bucket plus the leases they hold unspent. While
    Redis is not usable the inherited in-process bucket answers."""

    def __init__(self, rate: float, burst: int, link: RedisLink, name: str, lease: int) -> None:
        super().__init__(rate, burst)
        self.link = link
        self.name = name
        self.lease = lease
        self._leases: dict[object, _Lease] = {}
        self._asking: dict[object, asyncio.Future[None]] = {}

    def ready(self, key: object) -> bool:
        lease = self._leases.get(key)
        if lease is not None and (lease.tokens > 0 or lease.empty_until > time.monotonic()):
            return True
        return not self.link.usable()

    def allow(self, key: object, now: float | None = None) -> bool:
        lease = self._leases.get(key)
        if lease is not None and lease.tokens > 0:
            lease.tokens -= 1
            return True
        if not self.link.usable():
            return super().allow(key, now)
        if not self.ready(key):  # asked without ready(): refused, and tokens fetched for next time
            self._asking_for(key)
        return False

    def wait_s(self, key: object, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        lease = self._leases.get(key)
        if lease is not None and lease.tokens > 0:
            return 0.0
        if lease is not None and lease.empty_until > now:
            return lease.empty_until - now
        return super().wait_s(key, now) if not self.link.usable() else 0.0

    async def refill(self, key: object) -> None:
        """Take a lease for `key` from Redis, unless ready(key) already; returns once Redis
        answered (or failed: then the in-process bucket answers)."""
        if not self.ready(key):
            await asyncio.shield(self._asking_for(key))  # a waiter that leaves cancels it for no one

    def _asking_for(self, key: object) -> asyncio.Future[None]:
        asking = self._asking.get(key)
        if asking is None:
            asking = self._asking[key] = asyncio.ensure_future(self._ask(key))
        return asking

    async def _ask(self, key: object) -> None:
        link = self.link
        try:
            answer = await link.call(
                lambda: link.bucket(keys=[link.key(self.name, key)], args=[self.rate, self.burst, self.lease])
            )
        finally:
            del self._asking[key]
        if answer is None:
            return
        granted, wait_ms = int(answer[0]), int(answer[1])
        now = time.monotonic()
        lease = self._leases.get(key)
        if lease is None:
            if len(self._leases) > 100_000:
                self._forget_idle(now)
            lease = self._leases[key] = _Lease()
        lease.tokens += granted
        lease.empty_until = now + wait_ms / 1000.0
        lease.used_at = now

    def _forget_idle(self, now: float) -> None:
        # Forgetting a lease loses its few tokens: the user gets less, never more.
        self._leases = {k: v for k, v in self._leases.items() if now - v.used_at < 60.0}


class SharedWindow:
    """FailureWindow for the chat: failures per key over a sliding window, in Redis
    (WINDOW_LUA); in `local` while Redis is not usable."""

    def __init__(self, local: FailureWindow, link: RedisLink, name: str) -> None:
        self.local = local
        self.link = link
        self.name = name

    async def attempt(self, key: str) -> bool:
        """Count a failure for `key` in advance unless it is blocked (False: nothing counted).
        Checked and counted in one step, so parallel attempts cannot all pass the check
        before any of them is counted."""
        link, local = self.link, self.local
        keys = [link.key(self.name, key)]
        args = [int(local.window_s * 1000), uuid.uuid4().hex, local.limit]
        answer = await link.call(lambda: link.window(keys=keys, args=args))
        if answer is None:
            if local.blocked(key):
                return False
            local.fail(key)
            return True
        return bool(answer)

    async def forgive(self, key: str) -> None:
        """Take back the latest failure (an attempt that never got to the check)."""
        link = self.link
        if await link.call(lambda: link.take_back(keys=[link.key(self.name, key)], args=[0])) is None:
            self.local.forgive(key)


class SharedLoginLimits:
    """LoginLimits for the chat: its three windows (account+address, address, account) in
    Redis; in `local` while Redis is not usable."""

    def __init__(self, local: LoginLimits, link: RedisLink) -> None:
        self.local = local
        self.link = link

    def _keys(self, account: str, address: str) -> list[str]:
        key = self.link.key
        return [
            key("login", f"{account} {address}"),
            key("login-address", address),
            key("login-account", account),
        ]

    async def attempt(self, account: str, address: str) -> bool:
        """Count a failed login in advance unless one of the windows is full (False: nothing
        counted); a success takes it back (succeeded)."""
        link, local = self.link, self.local
        limits = [local.account_address.limit, local.address.limit, local.account.limit]
        args = [int(local.WINDOW_S * 1000), uuid.uuid4().hex, *limits]
        keys = self._keys(account, address)
        answer = await link.call(lambda: link.window(keys=keys, args=args))
        if answer is None:
            if local.blocked(account, address):
                return False
            local.fail(account, address)
            return True
        return bool(answer)

    async def forgive(self, account: str, address: str) -> None:
        """Take back this attempt's failure (it never got to the password check)."""
        await self._take_back(account, address, 0, self.local.forgive)

    async def succeeded(self, account: str, address: str) -> None:
        """As LoginLimits.succeeded: the account+address count cleared, this attempt taken
        back from the wider two."""
        await self._take_back(account, address, 1, self.local.succeeded)

    async def _take_back(
        self, account: str, address: str, cleared: int, locally: Callable[[str, str], None]
    ) -> None:
        link, keys = self.link, self._keys(account, address)
        if await link.call(lambda: link.take_back(keys=keys, args=[cleared])) is None:
            locally(account, address)


class SharedSlots:
    """Things in progress per key, counted across processes (SLOTS_LUA). Each slot expires
    after `hold_s`, so a process that dies mid-way does not hold its slots forever."""

    def __init__(self, link: RedisLink, name: str, hold_s: float) -> None:
        self.link = link
        self.name = name
        self.hold_ms = max(1, int(hold_s * 1000))
        self._unreleased: list[tuple[str, str]] = []  # given back while Redis was unreachable

    async def take(self, key: object, limit: int) -> str | None:
        """The new slot's id; "" when `key` already holds `limit`; None when Redis is not
        usable now (the caller counts in this process)."""
        if self._unreleased:
            await self._release_late()
        link, slot_id = self.link, uuid.uuid4().hex
        answer = await link.call(
            lambda: link.slots(keys=[link.key(self.name, key)], args=[limit, slot_id, self.hold_ms])
        )
        if answer is None:
            return None
        return slot_id if answer else ""

    async def give_back(self, key: object, slot_id: str) -> None:
        link, entry = self.link, (self.link.key(self.name, key), slot_id)
        if await link.call(lambda: link.client.zrem(*entry)) is None:
            # Kept for later: after a short outage the user would otherwise find their
            # slots taken until they expire.
            self._unreleased.append(entry)
            del self._unreleased[:-10_000]  # past that many, let the oldest expire by themselves

    async def _release_late(self) -> None:
        entries, self._unreleased = self._unreleased, []

        async def release() -> list[Any]:
            async with self.link.client.pipeline(transaction=False) as pipe:
                for key, slot_id in entries:
                    pipe.zrem(key, slot_id)
                return await pipe.execute()

        if await self.link.call(release) is None:
            self._unreleased.extend(entries)
