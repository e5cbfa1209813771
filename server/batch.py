"""Lookups by key from many callers, answered by one database job per batch.

Two hundred sockets opening at once would otherwise cost two hundred thread-pool hops and
transactions for their tokens, and as many again for their friends and groups. Keys asked
for while a job runs wait and go together in the next one; the same key asked twice is
looked up once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from itertools import islice
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


Answer = Callable[[V | None, BaseException | None], None]


class Batcher(Generic[K, V]):
    """`get(key)` -> a future of run([...keys])[key] (None when absent from the answer);
    `add(key, answer)` calls answer(value, None) or answer(None, exception) instead.
    An exception from `run` is every waiting caller's of that batch.

    The keys asked for in one turn of the loop go in one job, started at the end of that
    turn, without waiting for earlier jobs: the database pool runs jobs in the order they
    come. Answers are given in the same step that sees the job done, as a coroutine
    awaiting the pool would be resumed: a socket's circle is in the hub before a message
    stored after it opened is published (server/writer.py takes as many steps)."""

    def __init__(self, run: Callable[[list[K]], Awaitable[dict[K, V]]], max_batch: int = 500) -> None:
        self.run = run
        self.max_batch = max_batch  # SQLite allows 32,766 bound values per statement
        self.waiting: dict[K, list[Answer[V]]] = {}
        self.scheduled: asyncio.AbstractEventLoop | None = None  # the loop a start is due on
        self.jobs: set[asyncio.Task[None]] = set()

    def get(self, key: K) -> asyncio.Future[V | None]:
        future: asyncio.Future[V | None] = asyncio.get_running_loop().create_future()

        def answer(value: V | None, exc: BaseException | None) -> None:
            if future.done():
                return
            if exc is not None:
                future.set_exception(exc)
            else:
                future.set_result(value)

        self.add(key, answer)
        return future

    def add(self, key: K, answer: Answer[V]) -> None:
        loop = asyncio.get_running_loop()
        answers = self.waiting.get(key)
        if answers is None:
            self.waiting[key] = [answer]
        else:
            answers.append(answer)
        if self.scheduled is not loop:
            self.scheduled = loop
            loop.call_soon(self._start)

    def _start(self) -> None:
        self.scheduled = None
        while self.waiting:
            keys = list(islice(self.waiting, self.max_batch))
            batch = {key: self.waiting.pop(key) for key in keys}
            job = asyncio.ensure_future(self._answer(keys, batch))
            self.jobs.add(job)
            job.add_done_callback(self.jobs.discard)

    async def _answer(self, keys: list[K], batch: dict[K, list[Answer[V]]]) -> None:
        try:
            found = await self.run(keys)
        except Exception as exc:  # noqa: BLE001 - handed to the callers, who raise it
            for answers in batch.values():
                for answer in answers:
                    _call(answer, None, exc)
            return
        for key, answers in batch.items():
            value = found.get(key)
            for answer in answers:
                _call(answer, value, None)


def _call(answer: Answer[V], value: V | None, exc: BaseException | None) -> None:
    try:
        answer(value, exc)
    except Exception:
        log.exception("a batched lookup's answer failed")  # the others still get theirs
