"""The message writer: commits many messages per transaction, off the IOLoop.

Frames are queued in arrival order and stored in that order, so one sender's messages keep
their order; whatever piles up while a batch commits goes into the next batch, so a busy
server pays one commit (one disk flush) per batch rather than per message."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")


class WriterClosed(RuntimeError):
    pass


class MessageWriter(Generic[Item, Result]):
    """Calls `store(items)` (in the database pool, one transaction) for batches of items.

    `store` returns one result per item, a value or an exception for that item alone;
    `after_commit(results)` runs on the loop once the batch is durable, before the
    submitters' futures resolve."""

    def __init__(
        self,
        store: Callable[[list[Item]], Awaitable[list[Result | BaseException]]],
        after_commit: Callable[[list[Result | BaseException]], Awaitable[None]],
        batch_max: int,
    ) -> None:
        self._store = store
        self._after_commit = after_commit
        self._batch_max = batch_max
        self._queue: asyncio.Queue[tuple[Item, asyncio.Future[Result]] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.batches = 0
        self.stored = 0

    def submit(self, item: Item) -> asyncio.Future[Result]:
        """Queue an item; the future resolves with its result once committed."""
        if self._closed:
            raise WriterClosed("server is shutting down")
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((item, future))
        return future

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self._batch_max and not self._queue.empty():
                nxt = self._queue.get_nowait()
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            await self._commit(batch)
            if stop:
                return

    async def _commit(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            results = await self._store([item for item, _ in batch])
        except Exception as exc:
            log.exception("storing a batch of %d messages failed", len(batch))
            results = [exc] * len(batch)
        self.batches += 1
        try:
            await self._after_commit(results)
        except Exception:
            log.exception("publishing a stored batch failed")
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                self.stored += 1
                future.set_result(result)

    async def close(self) -> None:
        """Stop taking items and wait until every queued one is committed."""
        if self._closed:
            return
        self._closed = True
        if self._task is not None:
            self._queue.put_nowait(None)
            await self._task
