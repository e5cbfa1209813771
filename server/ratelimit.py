"""Small in-memory rate limiters (per process): a token bucket for sends, windows for logins
and registrations. With Redis, server/sharedlimits.py counts them for the whole chat and
falls back to these while Redis is unreachable."""

from __future__ import annotations

import time
from collections import deque


class TokenBuckets:
    """Each key may spend `burst` at once and earns `rate` tokens per second back."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._buckets: dict[object, tuple[float, float]] = {}

    def _tokens(self, key: object, now: float) -> float:
        tokens, stamp = self._buckets.get(key, (self.burst, now))
        return min(self.burst, tokens + (now - stamp) * self.rate)

    def ready(self, key: object) -> bool:
        """Whether allow(key) can answer now: always, the tokens are in this process
        (sharedlimits.LeasedBuckets may have to fetch some from Redis first)."""
        return True

    async def refill(self, key: object) -> None:
        """Fetch tokens for `key` while ready(key) is False: never needed here."""

    def allow(self, key: object, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        tokens = self._tokens(key, now)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return False
        self._buckets[key] = (tokens - 1.0, now)
        if len(self._buckets) > 100_000:
            self._forget_full(now)
        return True

    def wait_s(self, key: object, now: float | None = None) -> float:
        """Seconds until `key` has a whole token again (0 if it has one now)."""
        now = time.monotonic() if now is None else now
        return max(0.0, (1.0 - self._tokens(key, now)) / self.rate)

    def _forget_full(self, now: float) -> None:
        # Buckets that have refilled carry no state worth keeping.
        full_after = self.burst / self.rate
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < full_after}


class FailureWindow:
    """Counts failures per key over a sliding window; blocked once `limit` is reached."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        stamps = self._failures.get(key, deque())
        while stamps and now - stamps[0] > self.window_s:
            stamps.popleft()
        return stamps

    def blocked(self, key: str) -> bool:
        # Looking does not create an entry: only failures take memory.
        return len(self._recent(key, time.monotonic())) >= self.limit

    def fail(self, key: str) -> None:
        now = time.monotonic()
        self._failures[key] = stamps = self._recent(key, now)
        stamps.append(now)
        if len(self._failures) > 100_000:
            self._failures = {k: v for k, v in self._failures.items() if self._recent(k, now)}

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)

    def forgive(self, key: str) -> None:
        """Take back the latest failure (an attempt that never got to the check)."""
        stamps = self._failures.get(key)
        if stamps:
            stamps.pop()


class LoginLimits:
    """Failed logins counted three ways, so that neither one address can try many accounts
    nor a stranger lock an owner out: per account+address (`login_attempts`), per address
    across accounts, and per account across addresses (set well above the first, so only a
    wide attack from many addresses reaches it)."""

    WINDOW_S = 600.0

    def __init__(self, per_account_address: int, per_address: int, per_account: int) -> None:
        self.account_address = FailureWindow(per_account_address, self.WINDOW_S)
        self.address = FailureWindow(per_address, self.WINDOW_S)
        self.account = FailureWindow(per_account, self.WINDOW_S)

    def _keys(self, account: str, address: str) -> tuple[tuple[FailureWindow, str], ...]:
        return (
            (self.account_address, f"{account} {address}"),
            (self.address, address),
            (self.account, account),
        )

    def blocked(self, account: str, address: str) -> bool:
        return any(window.blocked(key) for window, key in self._keys(account, address))

    def fail(self, account: str, address: str) -> None:
        for window, key in self._keys(account, address):
            window.fail(key)

    def forgive(self, account: str, address: str) -> None:
        for window, key in self._keys(account, address):
            window.forgive(key)

    def succeeded(self, account: str, address: str) -> None:
        # Take back this attempt's reserved failure; the owner's success clears only their
        # own account+address count: the wider counts still remember a stranger's guesses.
        self.account_address.clear(f"{account} {address}")
        self.address.forgive(address)
        self.account.forgive(account)


class LogThrottle:
    """At most one log line per key per `interval_s`; counts what it held back, so a flood
    of refused frames costs a few lines, not one per frame."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._last: dict[object, tuple[float, int]] = {}  # key -> (last line at, held back since)

    def allow(self, key: object, now: float | None = None) -> int | None:
        """None: stay silent. Otherwise log now, mentioning the returned count held back."""
        now = time.monotonic() if now is None else now
        last, held = self._last.get(key, (-self.interval_s, 0))
        if now - last < self.interval_s:
            self._last[key] = (last, held + 1)
            return None
        self._last[key] = (now, 0)
        if len(self._last) > 100_000:
            self._last = {k: v for k, v in self._last.items() if now - v[0] < self.interval_s}
        return held
