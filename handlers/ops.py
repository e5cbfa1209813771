"""What an operator polls: /healthz (for a load balancer) and /metrics (for Prometheus)."""

from __future__ import annotations

import ipaddress

from handlers.base import BaseHandler
from server.errors import ClientError
from server.metrics import CONTENT_TYPE
from server.services import health


class OpsHandler(BaseHandler):
    public = True  # no token: Prometheus and load balancers do not log in

    def may_see_details(self) -> bool:
        """Whether the client is in metrics_allow. The address is the one rate limits
        use: a trusted proxy's X-Real-IP, else the TCP peer (a forged header from anyone
        else does not count)."""
        try:
            address = ipaddress.ip_address(self.client_address)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in ipaddress.ip_network(net) for net in self.ctx.settings.metrics_allow)


class HealthHandler(OpsHandler):
    async def get(self) -> None:
        status, answer = await health.report(self.ctx, detailed=self.may_see_details())
        self.set_status(status)
        self.set_header("Cache-Control", "no-store")
        self.finish(answer)


class MetricsHandler(OpsHandler):
    async def get(self) -> None:
        # It shows how busy the chat is and when its users are active: not for everyone.
        if not self.may_see_details():
            raise ClientError(403, "metrics are not served to this address (see metrics_allow)")
        metrics = self.ctx.metrics
        metrics.flush()  # this process's latest, on the loop that counts them
        body = await self.ctx.pools.media(metrics.render)  # reads /proc and other workers' files
        self.set_header("Content-Type", CONTENT_TYPE)
        self.set_header("Cache-Control", "no-store")
        self.finish(body)
