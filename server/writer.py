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
from functools import partial
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")
Done = Callable[[Result | BaseException], None]  # told an item's result once committed and published


def _resolve(future: asyncio.Future[Result], result: Result | BaseException) -> None:
    if future.done():
        return  # its waiter gave up (cancelled)
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


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
        self._queue: deque[tuple[Item, Done[Result]]] = deque()
        self._wakeup = asyncio.Event()  # the queue got an item, or close() was called
        self._room = asyncio.Event()  # the queue went below its bound
        self._in_flight: list[tuple[Item, Done[Result]]] = []
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.batches = 0
        self.stored = 0
        self.max_queued = 0  # high-water mark of the queue, for /healthz and tests
        self.restarts = 0
        self.on_batch: Callable[[int], None] | None = None  # told each batch's size (metrics)

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
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self.submit_then(item, partial(_resolve, future))
        return future

    def submit_then(self, item: Item, done: Done[Result]) -> None:
        """submit(), with `done(result or exception)` called once it is committed and
        published, instead of a future (the socket's path: no future and no extra loop
        turn per message). Raises WriterClosed after close(), WriterFull at the bound."""
        if self._closed:
            raise WriterClosed("server is shutting down")
        if self.full():
            raise WriterFull(f"writer queue at its bound of {self.queue_max}")
        self._ensure_task()
        self._queue.append((item, done))
        self.max_queued = max(self.max_queued, len(self._queue))
        self._wakeup.set()

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
        for _, done in self._in_flight:
            done(WriterDied("the server failed storing this message; send it again"))
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

    async def _commit(self, batch: list[tuple[Item, Done[Result]]]) -> None:
        if self.on_batch is not None:
            self.on_batch(len(batch))
        try:
            results = await self._store([item for item, _ in batch])
        except Exception as exc:
            log.exception("storing a batch of %d messages failed", len(batch))
            results = [exc] * len(batch)
        self.batches += 1
        stored = [r for r in results if not isinstance(r, BaseException)]
        if stored:
            try:
                await self._publish(stored)
            except Exception as exc:
                # Stored but not delivered: not acked either, so the clients send them
                # again, find them stored and publish them then.
                log.exception("publishing %d stored messages failed", len(stored))
                results = [r if isinstance(r, BaseException) else exc for r in results]
        for (_, done), result in zip(batch, results, strict=True):
            if not isinstance(result, BaseException):
                self.stored += 1
            try:
                done(result)
            except Exception:
                log.exception("a stored message's callback failed")

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
