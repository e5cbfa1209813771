"""Pools that keep the IOLoop free: threads for the database, password hashing and media
file I/O; worker processes for decoding and encoding media (server/mediajobs.py). Each is
bounded and apart, so twenty uploads at once never hold up a chat message.

Media decoding runs in processes, not threads: Pillow holds the GIL through a whole JPEG
encode into memory (about 330 ms for 12 MP here) and would stall the IOLoop with it; and a
decoder that crashes on a hostile file takes down a worker, not the server."""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, TypeVar

import peewee
from tornado.ioloop import IOLoop

from server.errors import ClientError
from server.mediajobs import MediaJobs

T = TypeVar("T")
log = logging.getLogger(__name__)

UNAVAILABLE = "the database is unavailable; try again in a moment"


class Pools:
    def __init__(
        self,
        database: peewee.Database,
        db_threads: int,
        hash_threads: int,
        media_threads: int = 2,
        hash_queue: int = 16,
        media_procs: MediaJobs | None = None,
        db_queue_max: int = 0,
    ) -> None:
        self.database = database
        # SQLite has one writer at a time; a single thread avoids "database is locked" retries.
        threads = 1 if isinstance(database, peewee.SqliteDatabase) else db_threads
        self.db_pool = ThreadPoolExecutor(threads, thread_name_prefix="chatd-db")
        # Database jobs queued or running that may be refused, and the bound past which new
        # ones get 503 at once instead of waiting behind a queue that only grows (0: none).
        # The writer's batches are not counted: its own queue is bounded and pushes back.
        self.db_jobs = 0
        self.db_queue_max = db_queue_max
        self.hash_pool = ThreadPoolExecutor(hash_threads, thread_name_prefix="chatd-hash")
        # Hash jobs queued or running. Past hash_queue a login is refused at once: an
        # unbounded queue let 200 logins for random mobiles delay a real user's by 39 s.
        self.hash_queue = hash_queue
        self.hash_jobs = 0
        self.media_pool = ThreadPoolExecutor(media_threads, thread_name_prefix="chatd-media")
        # Decoding and encoding: supervised worker processes behind a fair, bounded queue.
        self.media_procs = media_procs or MediaJobs(workers=media_threads)
        self.closed = False

    async def db(self, fn: Callable[..., T], *args: Any, shed: bool = True, transaction: bool = True) -> T:
        """Run fn(*args) in the database pool as one transaction (`transaction=False`: fn
        makes its own). With shed (HTTP work), ClientError(503) at once when db_queue_max
        jobs are already waiting or running; ClientError(503) too while the database
        cannot be reached (a PostgreSQL restart)."""
        if not shed:
            return await self._run(self.db_pool, self._db_job(fn, args, transaction))
        if self.db_queue_max and self.db_jobs >= self.db_queue_max:
            raise ClientError(503, "the server is busy; try again in a moment")
        self.db_jobs += 1
        try:
            return await self._run(self.db_pool, self._db_job(fn, args, transaction))
        finally:
            self.db_jobs -= 1

    def _db_job(self, fn: Callable[..., T], args: tuple[Any, ...], transaction: bool) -> Callable[[], T]:
        """The pool job: fn(*args) in one transaction, retried once on a lost connection."""

        def job() -> T:
            try:
                return attempt()
            except (peewee.OperationalError, peewee.InterfaceError):
                if not self._connection_lost():
                    raise
            # PostgreSQL restarted or dropped us: the transaction was rolled back with the
            # connection, so one retry on a new connection is safe (the writer's batches
            # are deduplicated by (sender, cmid) even if a commit did land).
            log.warning("database connection lost; reconnecting")
            self.database.close()
            try:
                return attempt()
            except (peewee.OperationalError, peewee.InterfaceError) as exc:
                if self._connection_lost() or self.database.is_closed():
                    raise ClientError(503, UNAVAILABLE, retry_after=2) from exc
                raise

        def attempt() -> T:
            try:
                self.database.connect(reuse_if_open=True)
            except (peewee.OperationalError, peewee.InterfaceError) as exc:
                self.database.close()
                raise ClientError(503, UNAVAILABLE, retry_after=2) from exc
            if not transaction:
                return fn(*args)
            with self.database.atomic():
                return fn(*args)

        return job

    def check_hash_room(self) -> None:
        """ClientError(503) when hash_queue hash jobs are already queued or running."""
        if self.hash_jobs >= self.hash_queue:
            raise ClientError(
                503, "the server is busy checking passwords; try again in a moment", retry_after=2
            )

    async def hashing(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a password hash or check; ClientError(503) at once when hash_queue jobs are
        already queued or running."""
        self.check_hash_room()
        self.hash_jobs += 1
        try:
            return await self._run(self.hash_pool, fn, *args)
        finally:
            self.hash_jobs -= 1

    async def media(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._run(self.media_pool, fn, *args)

    @property
    def media_jobs(self) -> int:
        """Decoding jobs waiting or running, for /healthz and tests."""
        return self.media_procs.jobs

    async def media_process(self, fn: Callable[..., T], *args: Any, owner: Hashable = None) -> T:
        """Run a picklable fn(*args) in a media worker process, in `owner`'s fair turn.
        ClientError: 503/429 when the line is full, 413 past the job timeout, 415 if the
        worker died (a fresh one takes the next job)."""
        if self.closed:
            raise ClientError(503, "the server is restarting; try again in a moment")
        return await self.media_procs.run(owner, fn, *args)

    async def _run(self, pool: Executor, fn: Callable[..., T], *args: Any) -> T:
        if self.closed:
            raise ClientError(503, "the server is restarting; try again in a moment")
        return await IOLoop.current().run_in_executor(pool, fn, *args)

    def _connection_lost(self) -> bool:
        if not isinstance(self.database, peewee.PostgresqlDatabase) or self.database.is_closed():
            return False
        try:
            self.database.execute_sql("SELECT 1")
            return False
        except (peewee.OperationalError, peewee.InterfaceError):
            return True

    def close(self) -> None:
        # Requests still arriving on open connections get a clean 503 from now on.
        self.closed = True
        self.hash_pool.shutdown(wait=True)
        self.media_pool.shutdown(wait=True)
        self.media_procs.kill_all()
        self.db_pool.submit(self._close_connection).result()
        self.db_pool.shutdown(wait=True)

    def _close_connection(self) -> None:
        if not self.database.is_closed():
            self.database.close()
