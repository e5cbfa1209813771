"""Ctx: what handlers and services share within one process."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from server.bus import InProcessBus
from server.emoji import EmojiCatalog
from server.hub import Hub
from server.pools import Pools
from server.ratelimit import FailureWindow, TokenBuckets
from server.settings import Settings
from server.writer import MessageWriter

log = logging.getLogger(__name__)


@dataclass
class Ctx:
    settings: Settings
    pools: Pools
    bus: InProcessBus
    hub: Hub
    writer: MessageWriter
    emoji: EmojiCatalog
    send_limits: TokenBuckets = field(init=False)
    login_failures: FailureWindow = field(init=False)

    def __post_init__(self) -> None:
        self.send_limits = TokenBuckets(self.settings.send_rate, self.settings.send_burst)
        self.login_failures = FailureWindow(self.settings.login_attempts, 600.0)

    async def close(self) -> None:
        """Finish pending writes, then release threads and connections."""
        await self.writer.close()
        await self.bus.close()
        self.pools.close()
