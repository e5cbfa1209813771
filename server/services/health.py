"""/healthz: the database probed on a connection of its own (in a thread, with a deadline),
the bus's state, and the status a load balancer acts on."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from models import db
from server import __version__

if TYPE_CHECKING:
    from server.context import Ctx

log = logging.getLogger(__name__)

# A load balancer polls every second or so: a probe that has not answered by then is a
# database that is not serving (libpq's connect_timeout cannot go below 2 s either).
PROBE_TIMEOUT_S = 2.0
# Polls closer together than this share one probe (a connection each), so a flood of
# /healthz requests costs the database at most a couple of connections a second.
PROBE_REUSE_S = 0.5
HIDDEN_REASON = "unreachable"  # what addresses outside metrics_allow see of a fault


def _probe(url: str) -> str:
    """In the health thread: "ok" or why not (any error, not only the driver's)."""
    try:
        return db.probe(url, timeout_s=int(PROBE_TIMEOUT_S))
    except Exception as exc:  # noqa: BLE001 - e.g. an OSError making a SQLite file's folder
        text = str(exc).strip()
        return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


class HealthCheck:
    """One probe at a time, in a thread of its own: a database that hangs holds that
    thread, never the IOLoop, a database job or the message writer."""

    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="chatd-health")
        self._running: asyncio.Future[str] | None = None
        self._last = (-PROBE_REUSE_S, "")  # (monotonic time it finished, result)
        self._was = "ok"
        self.closed = False

    async def database(self, url: str) -> str:
        """ "ok", or why the database does not answer (within PROBE_TIMEOUT_S)."""
        finished, result = self._last
        if time.monotonic() - finished < PROBE_REUSE_S:
            return result
        if self.closed:
            return "the server is stopping"
        if self._running is None or self._running.done():
            loop = asyncio.get_running_loop()
            self._running = loop.run_in_executor(self._thread, _probe, url)
            self._running.add_done_callback(self._finished)
        try:
            # shield: a poll that gives up leaves the probe to finish for the next one
            return await asyncio.wait_for(asyncio.shield(self._running), PROBE_TIMEOUT_S)
        except TimeoutError:
            self._note(f"no answer within {PROBE_TIMEOUT_S:g} s")
            return f"no answer within {PROBE_TIMEOUT_S:g} s"

    def _finished(self, probe: asyncio.Future[str]) -> None:
        if not probe.cancelled() and probe.exception() is None:
            self._last = (time.monotonic(), probe.result())
            self._note(probe.result())

    def _note(self, result: str) -> None:
        # One log line when the answer changes, not one per poll.
        if result != self._was:
            if result == "ok":
                log.info("database answers again")
            else:
                log.warning("database probe failed: %s", result)
            self._was = result

    def close(self) -> None:
        self.closed = True
        self._thread.shutdown(wait=False, cancel_futures=True)


async def report(ctx: Ctx, detailed: bool) -> tuple[int, dict[str, Any]]:
    """(HTTP status, answer): "down" (503) when the database does not answer, so a load
    balancer takes this process out; "degraded" while the bus is down (each process still
    serves its own sockets from the database); else "ok". `detailed`: say why (the
    reason can name hosts and users), else only "unreachable"."""
    database = await ctx.health.database(ctx.settings.database)
    bus = ctx.bus.health()
    status = "down" if database != "ok" else "degraded" if bus.get("state") != "ok" else "ok"
    answer = {
        "status": status,
        "pid": os.getpid(),
        "version": __version__,
        "database": database if database == "ok" or detailed else HIDDEN_REASON,
        "bus": bus,
        "sockets": ctx.hub.online_sockets(),
        "users_online": len(ctx.hub.nodes),
        "media_jobs": ctx.pools.media_jobs,
    }
    return (503 if status == "down" else 200), answer
