"""Ctx: what handlers and services share within one process."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from server.batch import Batcher
from server.bus import Bus, Notice
from server.emoji import EmojiCatalog
from server.hub import Hub
from server.metrics import Metrics
from server.pools import Pools
from server.presence import LocalPresence
from server.ratelimit import FailureWindow, LoginLimits, TokenBuckets
from server.services import accounts, contacts, messages, tokenwatch
from server.services.health import HealthCheck
from server.services.linkpreview import LinkPreviews
from server.services.tokenwatch import TokenWatch
from server.settings import Settings
from server.sharedlimits import LeasedBuckets, RedisLink, SharedLoginLimits, SharedWindow, send_lease
from server.tokencache import TokenCache
from server.writer import MessageWriter

log = logging.getLogger(__name__)


@dataclass
class Ctx:
    settings: Settings
    pools: Pools
    bus: Bus
    hub: Hub
    writer: MessageWriter
    emoji: EmojiCatalog
    metrics: Metrics
    chat_uid: str = ""  # the chat's identity, from its database (Redis keys are named after it)
    # The loop's Redis client when the bus is Redis (limits and presence use it too), and
    # the prefix of every key and channel of this chat there.
    redis: Any = None
    redis_prefix: str = ""
    presence: LocalPresence = field(default_factory=LocalPresence)
    # Limits are the chat's: in Redis when the bus is Redis (server/sharedlimits.py), else,
    # and while Redis is unreachable, this process's (server/ratelimit.py).
    limits_link: RedisLink = field(init=False)
    send_limits: TokenBuckets = field(init=False)
    login_failures: SharedLoginLimits = field(init=False)
    registrations: SharedWindow = field(init=False)
    token_watch: TokenWatch = field(init=False)
    find_limits: TokenBuckets = field(init=False)  # lookups by mobile, per user
    tokens: TokenCache = field(init=False)
    # Sockets opening at once share a database job for their tokens and one for their circles.
    token_lookups: Batcher[str, int] = field(init=False)
    circle_loads: Batcher[int, contacts.Circle] = field(init=False)
    health: HealthCheck = field(init=False)  # /healthz's database probe
    link_previews: LinkPreviews = field(init=False)  # fetches under way, and their per-user limit

    def __post_init__(self) -> None:
        settings = self.settings
        link = self.limits_link = RedisLink(self.redis, self.redis_prefix, lambda: self.bus.live)
        send_rate, send_burst, find_rate = settings.send_rate, settings.send_burst, settings.find_rate
        if self.redis is None:  # one process: the send path stays as it always was
            self.send_limits = TokenBuckets(send_rate, send_burst)
            self.find_limits = TokenBuckets(find_rate / 60.0, find_rate)
        else:
            lease = send_lease(send_rate, send_burst)
            self.send_limits = LeasedBuckets(send_rate, send_burst, link, "send", lease)
            self.find_limits = LeasedBuckets(find_rate / 60.0, find_rate, link, "find", 1)
        login = LoginLimits(
            settings.login_attempts, settings.login_address_attempts, settings.login_account_attempts
        )
        self.login_failures = SharedLoginLimits(login, link)
        self.registrations = SharedWindow(
            FailureWindow(settings.register_per_address, 3600.0), link, "register"
        )
        self.token_watch = TokenWatch(settings.token_check_interval)
        self.tokens = TokenCache(settings.token_check_interval)
        self.bus.subscribe(self.tokens.on_event)
        self.token_lookups = Batcher(partial(accounts.lookup_tokens, self))
        self.circle_loads = Batcher(partial(contacts.load_circles, self))
        self.health = HealthCheck()
        self.link_previews = LinkPreviews(settings, link, shared=self.redis is not None)

    async def start(self) -> None:
        """Connect what needs the loop: the bus (Redis: subscriptions, catch-up)."""
        self.bus.on_state(self._bus_state)
        self.bus.on_recovered(self._after_bus_outage)
        await self.bus.start()
        await self.presence.start()
        self.metrics.bus_state(self.bus.live)
        self.metrics.start(self.pools.media)

    def _bus_state(self, live: bool) -> None:
        # While the bus is down, events that keep these exact may be lost: the database
        # answers instead (every send checked, every token looked up).
        self.hub.trusting = live
        self.tokens.enabled = live
        self.metrics.bus_state(live)

    async def _after_bus_outage(self) -> None:
        """What the events lost during an outage would have done: friend sets read again,
        no cached token trusted, expired sockets closed, and every client told to reload
        its lists (friend requests and group changes are not in the message log)."""
        self.tokens.clear()
        contacts.reload_circles(self)
        await tokenwatch.close_dead_token_sockets(self)
        users = tuple(self.hub.nodes)
        if users:
            self.hub.notify(Notice(users, messages.encode({"cmd": messages.CMD_NOTICE, "type": "resync"})))

    async def close(self) -> None:
        """Finish pending writes, then release threads and connections."""
        self.token_watch.stop()
        await self.writer.close()
        await self.presence.close()
        await self.bus.close()
        await self.metrics.close()
        self.health.close()
        self.pools.close()
