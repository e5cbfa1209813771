"""Running as several processes or machines: start-up checks on Redis, the one-machine rule
for SQLite, and each worker's share of what the machine has."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import redis
import redis.asyncio
from prometheus_client import multiprocess

from server import procs
from server.settings import Settings

if TYPE_CHECKING:
    from server.context import Ctx

log = logging.getLogger("chatd")

MACHINE_KEY_TTL_S = 60  # a machine that stopped frees its SQLite claim after this
MACHINE_REFRESH_S = 20.0
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # where prometheus-client's workers write their figures
_metrics_dir = ""  # the supervisor's, while it runs


class ClusterError(RuntimeError):
    """Why this process may not join the chat (one line for the operator)."""


def machine_id(settings: Settings) -> str:
    if settings.machine_id:
        return settings.machine_id
    try:
        found = Path("/etc/machine-id").read_text().strip()
    except OSError:
        found = ""
    return found or socket.gethostname()


def sqlite_key(chat_uid: str) -> str:
    return f"chatd:{chat_uid}:sqlite-machine"


def check_redis(settings: Settings, chat_uid: str) -> None:
    """Redis must answer; and a SQLite database may be shared by processes of one machine
    only (a file on a network disk, or copied, is not one database): refuse a second one."""
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)
    try:
        client.ping()
        if settings.is_sqlite:
            claim_sqlite(client, chat_uid, machine_id(settings))
    except redis.RedisError as exc:
        raise ClusterError(f"redis at {settings.redis_url} is not usable: {exc}") from None
    finally:
        client.close()


def claim_sqlite(client: redis.Redis, chat_uid: str, machine: str) -> None:
    key = sqlite_key(chat_uid)
    if client.set(key, machine, nx=True, ex=MACHINE_KEY_TTL_S):
        return
    holder = client.get(key)
    other = holder.decode() if isinstance(holder, bytes) else str(holder)
    if other != machine:
        raise ClusterError(
            f"this SQLite database is in use on another machine ({other}) on the same Redis; "
            "chatd on several machines needs PostgreSQL (--database postgresql://...)"
        )
    client.expire(key, MACHINE_KEY_TTL_S)


async def _keep_sqlite_claim(ctx: Ctx) -> None:
    client = redis.asyncio.Redis.from_url(ctx.settings.redis_url, socket_timeout=2.0)
    key, machine = sqlite_key(ctx.chat_uid), machine_id(ctx.settings)
    try:
        while True:
            await asyncio.sleep(MACHINE_REFRESH_S)
            try:
                await client.set(key, machine, ex=MACHINE_KEY_TTL_S)
            except redis.RedisError:
                pass  # the bus reports the outage; the claim is renewed once Redis is back
    finally:
        await client.aclose()


def start_process_tasks(ctx: Ctx) -> list[asyncio.Task[None]]:
    """What each process keeps doing for the cluster while it serves."""
    tasks: list[asyncio.Task[None]] = []
    if ctx.settings.redis_url and ctx.settings.is_sqlite:
        tasks.append(asyncio.get_running_loop().create_task(_keep_sqlite_claim(ctx)))
    return tasks


def worker_settings(settings: Settings) -> Settings:
    """A worker's settings: the machine's media workers shared out among the processes
    (each still gets one, so a photo never waits for another process)."""
    share = procs.worker_count(settings.media_threads, settings.processes)
    return dataclasses.replace(settings, media_threads=share)


@contextlib.contextmanager
def metrics_dir() -> Iterator[str]:
    """A fresh directory for the workers' metrics files (prometheus-client's multiprocess
    mode), named in the environment the workers inherit, removed at exit. Fresh, because
    files left by an earlier run would be counted as workers of this one."""
    global _metrics_dir
    path = tempfile.mkdtemp(prefix="chatd-metrics-")
    os.environ[MULTIPROC_ENV] = _metrics_dir = path
    log.info("the workers keep their metrics files in %s", path)
    try:
        yield path
    finally:
        _metrics_dir = ""
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(path, ignore_errors=True)


def worker_exited(pid: int) -> None:
    """A worker is gone: its live gauges (open sockets, bus state, memory) stop counting;
    its counters stay in the totals, as counters must."""
    if _metrics_dir:
        multiprocess.mark_process_dead(pid, _metrics_dir)
