"""Thread pools that keep the IOLoop free: the database, password hashing, and media
(Pillow, libmagic, ffmpeg, upload file I/O), each bounded and apart, so twenty uploads
at once never hold up a chat message's database write."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import peewee
from tornado.ioloop import IOLoop

T = TypeVar("T")
log = logging.getLogger(__name__)


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

    async def db(self, fn: Callable[..., T], *args: Any) -> T:
        """Run fn(*args) in the database pool as one transaction."""

        def job() -> T:
            self.database.connect(reuse_if_open=True)
            with self.database.atomic():
                return fn(*args)

        return await IOLoop.current().run_in_executor(self.db_pool, job)

    async def hashing(self, fn: Callable[..., T], *args: Any) -> T:
        return await IOLoop.current().run_in_executor(self.hash_pool, fn, *args)

    async def media(self, fn: Callable[..., T], *args: Any) -> T:
        return await IOLoop.current().run_in_executor(self.media_pool, fn, *args)

    def close(self) -> None:
        self.hash_pool.shutdown(wait=True)
        self.media_pool.shutdown(wait=True)
        self.db_pool.submit(self._close_connection).result()
        self.db_pool.shutdown(wait=True)

    def _close_connection(self) -> None:
        if not self.database.is_closed():
            self.database.close()
