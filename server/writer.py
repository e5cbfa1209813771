"""The message writer: commits many messages per transaction, off the IOLoop.

Frames are queued in arrival order and stored in that order, so one sender's messages keep
their order; whatever piles up while a batch commits goes into the next batch, so a busy
server pays one commit (one disk flush) per batch rather than per message.

The queue is bounded: when it is full, submitters wait (`room()`) and the sockets feeding
them stop reading, so memory stays bounded and nothing already accepted is ever dropped."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")


class WriterClosed(RuntimeError):
    pass


class WriterFull(RuntimeError):
    """submit() on a full queue: await room() first."""


class WriterDied(RuntimeError):
    """The writer task stopped while this item was being stored; it may or may not have
    been committed, so the client sends it again (its cmid makes that safe)."""


class MessageWriter(Generic[Item, Result]):
    """Calls `store(items)` (in the database pool, one transaction) for batches of items.

    `store` returns one result per item, a value or an exception for that item alone;
    `publish(results)` runs on the loop once per batch, with every stored item, once the
    batch is durable and before their futures resolve: an item is acked only once it was
    published, and a failed publish fails the items (the clients' retries store nothing new
    and publish again)."""

    def __init__(
        self,
        store: Callable[[list[Item]], Awaitable[list[Result | BaseException]]],
        publish: Callable[[list[Result]], Awaitable[None]],
        batch_max: int,
        queue_max: int = 10_000,
    ) -> None:
        self._store = store
        self._publish = publish
        self._batch_max = batch_max
        self.queue_max = queue_max
        self._queue: deque[tuple[Item, asyncio.Future[Result]]] = deque()
        self._wakeup = asyncio.Event()  # the queue got an item, or close() was called
        self._room = asyncio.Event()  # the queue went below its bound
        self._in_flight: list[tuple[Item, asyncio.Future[Result]]] = []
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.batches = 0
        self.stored = 0
        self.max_queued = 0  # high-water mark of the queue, for /healthz and tests
        self.restarts = 0

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def in_flight(self) -> int:
        """Items taken into the batch being stored and published now."""
        return len(self._in_flight)

    def full(self) -> bool:
        return len(self._queue) >= self.queue_max

    async def room(self) -> None:
        """Wait until submit() would not raise WriterFull. Waiters re-check on waking,
        so the one that runs first takes the room."""
        while self.full() and not self._closed:
            self._room.clear()
            await self._room.wait()

    def submit(self, item: Item) -> asyncio.Future[Result]:
        """Queue an item; the future resolves with its result once committed and published.
        Raises WriterClosed after close(), WriterFull at the bound."""
        if self._closed:
            raise WriterClosed("server is shutting down")
        if self.full():
            raise WriterFull(f"writer queue at its bound of {self.queue_max}")
        self._ensure_task()
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        self.max_queued = max(self.max_queued, len(self._queue))
        self._wakeup.set()
        return future

    def _ensure_task(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
            self._task.add_done_callback(self._on_task_done)

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        # The task returns only after close() drained the queue; anything else is a death
        # (a BaseException out of a store or publish, a cancel). Without this, every
        # pending future would hang forever: fail the batch it held, restart for the rest.
        if self._closed and not self._queue:
            return
        error = task.exception() if not task.cancelled() else asyncio.CancelledError()
        log.critical("the message writer died (%r); failing its batch and restarting", error, exc_info=error)
        self.restarts += 1
        for _, future in self._in_flight:
            if not future.done():
                future.set_exception(WriterDied("the server failed storing this message; send it again"))
        self._in_flight = []
        self._task = None
        if self._queue:
            self._ensure_task()

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._closed:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            count = min(self._batch_max, len(self._queue))
            self._in_flight = [self._queue.popleft() for _ in range(count)]
            self._room.set()
            await self._commit(self._in_flight)
            self._in_flight = []

    async def _commit(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            results = await self._store([item for item, _ in batch])
        except Exception as exc:
            log.exception("storing a batch of %d messages failed", len(batch))
            results = [exc] * len(batch)
        self.batches += 1
        done = [r for r in results if not isinstance(r, BaseException)]
        if done:
            try:
                await self._publish(done)
            except Exception as exc:
                # Stored but not delivered: not acked either, so the clients send them
                # again, find them stored and publish them then.
                log.exception("publishing %d stored messages failed", len(done))
                results = [r if isinstance(r, BaseException) else exc for r in results]
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
        self._room.set()
        self._wakeup.set()
        # A task that dies here is restarted by _on_task_done (registered first, so it
        # runs before this wait returns) while items remain.
        while self._task is not None and not self._task.done():
            await asyncio.wait([self._task])
