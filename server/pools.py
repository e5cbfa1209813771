"""Pools that keep the IOLoop free: threads for the database, password hashing and media
file I/O; worker processes for decoding and encoding media. Each is bounded and apart, so
twenty uploads at once never hold up a chat message.

Media decoding runs in processes, not threads: Pillow holds the GIL through a whole JPEG
encode into memory (about 330 ms for 12 MP here) and would stall the IOLoop with it; and a
decoder that crashes on a hostile file takes down a worker, not the server."""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

import peewee
from tornado.ioloop import IOLoop

from server.errors import ClientError

T = TypeVar("T")
log = logging.getLogger(__name__)


def _init_media_worker(server_pid: int) -> None:
    # On a small machine, media work would otherwise take CPU from the IOLoop process;
    # a lower priority (inherited by ffmpeg) keeps chat latency steady while uploads run.
    os.nice(10)
    threading.Thread(target=_exit_with, args=(server_pid,), daemon=True, name="chatd-orphan-watch").start()


def _exit_with(server_pid: int) -> None:
    """Leave when the server is gone (a crash or SIGKILL gives no chance to shut the
    pool down); the forkserver then exits too, as its last worker leaves."""
    while True:
        time.sleep(1.0)
        try:
            os.kill(server_pid, 0)
        except ProcessLookupError:
            os._exit(0)


class Pools:
    def __init__(
        self, database: peewee.Database, db_threads: int, hash_threads: int, media_threads: int = 2
    ) -> None:
        self.database = database
        # SQLite has one writer at a time; a single thread avoids "database is locked" retries.
        threads = 1 if isinstance(database, peewee.SqliteDatabase) else db_threads
        self.db_pool = ThreadPoolExecutor(threads, thread_name_prefix="chatd-db")
        self.hash_pool = ThreadPoolExecutor(hash_threads, thread_name_prefix="chatd-hash")
        self.media_pool = ThreadPoolExecutor(media_threads, thread_name_prefix="chatd-media")
        self.media_workers = media_threads
        self._media_procs: ProcessPoolExecutor | None = None
        self.media_jobs = 0  # decoding jobs queued or running, for /healthz and tests
        self.closed = False

    # Database jobs queued or running that may be refused, and the bound past which new
    # ones get 503 at once instead of waiting behind a queue that only grows (0: none).
    # The writer's batches are not counted: its own queue is bounded and pushes back.
    db_jobs = 0
    db_queue_max = 0

    async def db(self, fn: Callable[..., T], *args: Any, shed: bool = True) -> T:
        """Run fn(*args) in the database pool as one transaction. With shed (HTTP work),
        ClientError(503) at once when db_queue_max jobs are already waiting or running."""
        if not shed:
            return await self._run(self.db_pool, self._db_job(fn, *args))
        if self.db_queue_max and self.db_jobs >= self.db_queue_max:
            raise ClientError(503, "the server is busy; try again in a moment")
        self.db_jobs += 1
        try:
            return await self._run(self.db_pool, self._db_job(fn, *args))
        finally:
            self.db_jobs -= 1

    def _db_job(self, fn: Callable[..., T], *args: Any) -> Callable[[], T]:
        """The pool job: fn(*args) in one transaction, retried once on a lost connection."""

        def job() -> T:
            try:
                return in_transaction()
            except (peewee.OperationalError, peewee.InterfaceError):
                if not self._connection_lost():
                    raise
            # PostgreSQL restarted or dropped us: the transaction was rolled back with the
            # connection, so one retry on a new connection is safe (the writer's batches
            # are deduplicated by (sender, cmid) even if a commit did land).
            log.warning("database connection lost; reconnecting")
            self.database.close()
            return in_transaction()

        def in_transaction() -> T:
            self.database.connect(reuse_if_open=True)
            with self.database.atomic():
                return fn(*args)

        return job

    async def hashing(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._run(self.hash_pool, fn, *args)

    async def media(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._run(self.media_pool, fn, *args)

    async def media_process(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a picklable fn(*args) in a media worker process. Raises BrokenProcessPool if
        the worker died (the pool is replaced for the next job)."""
        if self._media_procs is None:
            # forkserver: workers fork from a clean single-threaded server process, never
            # from this one with its threads and sockets.
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["server.media"])
            self._media_procs = ProcessPoolExecutor(
                self.media_workers,
                mp_context=context,
                initializer=_init_media_worker,
                initargs=(os.getpid(),),
            )
        pool = self._media_procs
        self.media_jobs += 1
        try:
            return await self._run(pool, fn, *args)
        except BrokenProcessPool:
            log.error("a media worker died; starting new ones")
            if self._media_procs is pool:
                self._media_procs = None
                pool.shutdown(wait=False, cancel_futures=True)
            raise
        finally:
            self.media_jobs -= 1

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
        if self._media_procs is not None:
            self._media_procs.shutdown(wait=True, cancel_futures=True)
        self.db_pool.submit(self._close_connection).result()
        self.db_pool.shutdown(wait=True)

    def _close_connection(self) -> None:
        if not self.database.is_closed():
            self.database.close()
