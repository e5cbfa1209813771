"""PostgreSQL and Redis for bench/scenarios.py's runs of chatd between processes: the seeded
template databases, one database per server start, the CPU their processes use, and
Redis keys left behind.

Both are the machine's shared services (other sessions' tests may use them too), so the
bench makes databases of its own (``chatd_bench_<pid>_*``, dropped at the end), gives
every server start a fresh chat identity (seed.py leaves it out, chatd makes one; its
Redis keys and channels are named after it) and deletes that chat's keys when the server
stops. CPU is read from /proc: PostgreSQL's backends serving the run's database and its
background processes (checkpointer, WAL writer, background writer: these also work for
anyone else on the cluster), and the Redis server process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlparse, urlunparse

import psycopg2
import psycopg2.extensions
import redis
from relay_bench import CLK_TCK, BenchError

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def proc_ticks(pid: int) -> int:
    """utime + stime of one process, in clock ticks (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0
    return int(rest[11]) + int(rest[12])


def ticks_delta(start: dict[int, int], end: dict[int, int]) -> float:
    """CPU seconds between two {pid: ticks} readings; a pid new at the end started since."""
    return sum(t - start.get(pid, 0) for pid, t in end.items() if t >= start.get(pid, 0)) / CLK_TCK


@dataclass
class Services:
    """The PostgreSQL cluster (an admin connection to an existing database) and Redis."""

    pg_url: str = DEFAULT_PG
    redis_url: str = DEFAULT_REDIS
    prefix: str = field(default_factory=lambda: f"chatd_bench_{os.getpid()}")
    made: list[str] = field(default_factory=list)  # databases to drop at the end
    runs: int = 0

    def __post_init__(self) -> None:
        try:
            self.admin = psycopg2.connect(self.pg_url, connect_timeout=5)
        except psycopg2.Error as exc:
            raise BenchError(
                f"PostgreSQL at {self.pg_url}: {str(exc).strip()} (--no-cluster skips it)"
            ) from None
        self.admin.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
        self.redis = redis.Redis.from_url(self.redis_url, socket_timeout=5, socket_connect_timeout=5)
        try:
            self.redis_pid = int(self.redis.info("server")["process_id"])
        except redis.RedisError as exc:
            raise BenchError(f"Redis at {self.redis_url}: {exc} (--no-cluster skips it)") from None
        if not os.path.exists(f"/proc/{self.redis_pid}"):
            raise BenchError(f"Redis at {self.redis_url} is not on this machine: its CPU cannot be read")

    def url(self, name: str) -> str:
        return urlunparse(urlparse(self.pg_url)._replace(path=f"/{name}"))

    def _sql(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        with self.admin.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall()) if cur.description else []

    def create(self, name: str, template: str | None = None) -> str:
        """A new database (a copy of ``template``); its URL. Dropped by close()."""
        full = f"{self.prefix}_{name}"
        self._sql(f'DROP DATABASE IF EXISTS "{full}" WITH (FORCE)')
        self._sql(f'CREATE DATABASE "{full}"' + (f' TEMPLATE "{self.prefix}_{template}"' if template else ""))
        self.made.append(full)
        return self.url(full)

    def new_run(self, template: str) -> str:
        """A database for one server start, copied from a seeded template."""
        self.runs += 1
        return self.create(f"run{self.runs}", template)

    def drop(self, url: str) -> None:
        """Drop a run's database and delete its chat's Redis keys (the server has stopped)."""
        name = urlparse(url).path.lstrip("/")
        try:
            with psycopg2.connect(url, connect_timeout=5) as conn, conn.cursor() as cur:
                cur.execute("SELECT value FROM chat_meta WHERE key = 'chat_uid'")
                row = cur.fetchone()
            conn.close()
        except psycopg2.Error:
            row = None
        if row:
            keys = list(self.redis.scan_iter(match=f"chatd:{row[0]}:*", count=1000))
            for start in range(0, len(keys), 500):
                self.redis.delete(*keys[start : start + 500])
        self._sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self.made:
            self.made.remove(name)

    def close(self) -> None:
        for name in list(self.made):
            try:
                self._sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except psycopg2.Error:
                pass
        self.made.clear()
        self.admin.close()
        self.redis.close()

    # ----------------------------------------------------------------------- readings

    def pg_pids(self, url: str | None) -> list[int]:
        """PostgreSQL processes working for a run: the backends connected to its database
        and the cluster's background processes (no database: checkpointer, WAL writer...)."""
        name = urlparse(url).path.lstrip("/") if url else ""
        rows = self._sql(
            "SELECT pid FROM pg_stat_activity"
            " WHERE (datname = %s OR datname IS NULL) AND pid <> pg_backend_pid()",
            (name,),
        )
        return [int(str(r[0])) for r in rows]

    def pg_ticks(self, url: str | None) -> dict[int, int]:
        return {pid: proc_ticks(pid) for pid in self.pg_pids(url)}

    def redis_ticks(self) -> dict[int, int]:
        return {self.redis_pid: proc_ticks(self.redis_pid)}

    def redis_memory(self) -> int:
        """Bytes Redis has allocated (INFO memory used_memory)."""
        return int(self.redis.info("memory")["used_memory"])
