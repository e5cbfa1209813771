"""The Redis bus: several processes, on one machine or many, share one chat.

A process subscribes to the channels of the users and groups it has sockets for
(server/buswire.py), so what reaches it grows with what it serves, not with the chat.

No gaps, no doubles. The message table is the chat's log: ids grow in commit order (one
writer on SQLite, an advisory lock on PostgreSQL). Redis carries it fast:
- every process publishes from inside the database job that committed, still holding the
  chat-wide publish lock (models.messages.publish_lock), so Redis sees the commits of all
  processes in id order and each subscriber receives its channels in id order;
- the publish script keeps a watermark; ids committed above it that no process published
  (it died between commit and publish) make the next publisher send a resync first, and
  every process reads them from the database at that point of its stream;
- a subscription not confirmed yet, a lost connection, Redis down: what was published
  meanwhile is read from the log in its place (server/intake.py).
While Redis is down a process reads the log itself, every `poll_s` and at once after its
own commits: local and remote messages keep flowing, in order, a little later."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

from server.bus import Delivery, Ephemeral, Event, MembershipEnded, Subscriber, highest_message_id, settle
from server.buswire import PUBLISH_LUA, Channels, encode
from server.intake import Intake, LogReader
from server.redissub import Subscriber as RedisSubscriber
from server.subscriptions import Subscriptions, Waiter

log = logging.getLogger(__name__)

PING_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 2.0


class RedisBus:
    name = "redis"
    publishes_in_job = True

    def __init__(self, url: str, prefix: str, reader: LogReader, poll_s: float = 0.5) -> None:
        self.url = url
        self.channels = Channels(prefix.encode())
        self.reader = reader
        self.poll_s = poll_s
        # Database threads publish with a blocking client (a timeout, so a hung Redis
        # cannot hold the publish lock long); the loop uses an asyncio one.
        # One retry on a fresh connection: after a Redis restart the pools still hold sockets
        # to the old server. (A publish retried after its reply was lost publishes twice:
        # sockets drop the second copy by id.)
        options: dict[str, Any] = {"socket_timeout": 2.0, "socket_connect_timeout": 2.0}
        self.sync_client = redis.Redis.from_url(url, retry=Retry(NoBackoff(), 1), **options)
        self._script = self.sync_client.register_script(PUBLISH_LUA)
        self.client = redis.asyncio.Redis.from_url(url, retry=AsyncRetry(NoBackoff(), 1), **options)
        self._connection = 0  # bumped by every connect: a failure seen on an older one is old news
        self._subscribers: list[Subscriber] = []
        self.intake = Intake(self.channels, self._dispatch, reader, self._after_loss)
        self.state = "starting"  # then "live" or "down"
        self.down_since: float | None = None
        self.outages = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self.subs = Subscriptions(self.channels.all)
        self._poke = asyncio.Event()  # a commit here while Redis is down: read the log now
        self._tasks: set[asyncio.Future[None]] = set()
        self._state_listeners: list[Callable[[bool], None]] = []
        self._recovered: list[Callable[[], Awaitable[None]]] = []
        self._announced_live = False
        self._serving_log = False
        self._reconnecting = False
        self._closed = False

    # --- wiring ------------------------------------------------------------------------

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def on_state(self, listener: Callable[[bool], None]) -> None:
        """listener(live) when the bus goes down and when it is back and caught up."""
        self._state_listeners.append(listener)

    def on_recovered(self, action: Callable[[], Awaitable[None]]) -> None:
        """Run after an outage, once caught up: what the events lost meanwhile would have done."""
        self._recovered.append(action)

    @property
    def live(self) -> bool:
        return self.state == "live"

    @property
    def horizon(self) -> int:
        return self.intake.horizon

    async def start(self) -> None:
        """Connect, or serve from the log and keep trying if Redis is unreachable."""
        self._loop = asyncio.get_running_loop()
        self.intake.horizon = await self.reader.max_id()  # a new process owes nobody older ids
        self._spawn(self._housekeeping())
        if not await self._connect_once():
            self._went_down(ConnectionError(f"Redis at {self.url} is not reachable"))

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _dispatch(self, event: Event) -> None:
        for subscriber in self._subscribers:
            try:
                subscriber(event)
            except Exception:
                log.exception("bus subscriber failed on %r", type(event).__name__)

    # --- publishing ----------------------------------------------------------------------

    def publish_from_job(self, events: Sequence[Event], prev_max: int) -> None:
        """In a database thread, right after the commit, still holding the publish lock."""
        if self.state != "live":
            self._fall_back(events)
            return
        connection = self._connection
        args: list[bytes | int] = [prev_max, highest_message_id(events)]
        now = int(time.time() * 1000)
        for event in events:
            for channel, data in encode(self.channels.prefix, event, now):
                args.extend((channel, data))
        try:
            self._script(keys=[self.channels.watermark, self.channels.all], args=args)
        except redis.RedisError as exc:
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._failed_on, connection, exc)
            self._fall_back(events)

    def _failed_on(self, connection: int, error: BaseException) -> None:
        if connection == self._connection:
            self._went_down(error)

    def _fall_back(self, events: Sequence[Event]) -> None:
        if events and self._loop is not None:
            self._loop.call_soon_threadsafe(self._apply_unpublished, list(events))

    def _apply_unpublished(self, events: list[Event]) -> None:
        """Events Redis did not take. Messages come from the log, in order with everyone
        else's; the rest is applied here so local users see it at once. A group's end
        waits for its leave line in the log, so the leaver still gets that line."""
        for event in events:
            if isinstance(event, Delivery) and event.message_id:
                self.intake.unpublished(event.message_id, event.skip_socket)
            elif not isinstance(event, MembershipEnded):
                self._dispatch(event)
        self._poke.set()

    async def publish(self, event: Event) -> None:
        await self.publish_many((event,))

    async def publish_many(self, events: Sequence[Event]) -> None:
        """From the loop: events that carry no stored message (those go through jobs)."""
        assert highest_message_id(events) == 0, "stored messages are published by their job"
        if self.state != "live":
            self._apply_unpublished(list(events))
            return
        now = int(time.time() * 1000)
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for event in events:
                    for channel, data in encode(self.channels.prefix, event, now):
                        pipe.publish(channel, data)
                await pipe.execute()
        except redis.RedisError as exc:
            self._went_down(exc)
            self._apply_unpublished(list(events))

    async def flash(self, event: Ephemeral) -> None:
        """One PUBLISH on the conversation's channel, which only processes with its users'
        or group's sockets subscribe to. While Redis is down: this process's sockets only,
        and no read of the log (there is nothing of it there)."""
        if self.state == "live":
            try:
                for channel, data in encode(self.channels.prefix, event, 0):
                    await self.client.publish(channel, data)
                return
            except redis.RedisError as exc:
                self._went_down(exc)
        self._dispatch(event)

    # --- what this process subscribes to (the hub says) -----------------------------------

    def watch_user(self, user_id: int) -> None:
        self.subs.watch(self.channels.user(user_id))

    def unwatch_user(self, user_id: int) -> None:
        self.subs.unwatch(self.channels.user(user_id))

    def watch_group(self, group_id: int) -> bool:
        """True when the group's channel is live here already (nothing to catch up)."""
        channel = self.channels.group(group_id)
        self.subs.watch(channel)
        return channel in self.subs.confirmed or self.state != "live"

    def unwatch_group(self, group_id: int) -> None:
        self.subs.unwatch(self.channels.group(group_id))

    def when_ready(self, callback: Callable[[], None]) -> None:
        """callback() once every subscription asked for so far is live, and everything
        received before is handed on (at once when Redis is down: the log is read)."""
        if self.state != "live":
            callback()
            return
        self.subs.wait(lambda _live: callback())

    async def sync(self) -> bool:
        """Wait until every event published before this call has reached the hub here (a
        PING through the subscriber connection). False when Redis is down."""
        if self.state != "live":
            return False
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.subs.wait(partial(settle, future))
        try:
            return await asyncio.wait_for(future, PING_TIMEOUT_S)
        except TimeoutError:
            return False

    async def start_after(self) -> int:
        """Where a socket opened without since= starts: what was published before now is
        the past (the watermark); what comes after is its to receive."""
        if self.state == "live":
            try:
                mark = await self.client.get(self.channels.watermark)
                return max(self.horizon, int(mark or 0))
            except redis.RedisError as exc:
                self._went_down(exc)
        return self.horizon

    async def nothing_after(self, message_id: int) -> bool:
        return await self.start_after() <= message_id

    def _on_pong(self, payload: bytes) -> None:
        waiters = self.subs.pong()
        if not waiters:
            return
        if self.intake.busy and not self.intake.gated:
            # What came before the PONG still waits behind a read of the log.
            self._spawn(self._when_idle(waiters))
            return
        for waiter in waiters:
            waiter(True)

    async def _when_idle(self, waiters: list[Waiter]) -> None:
        await self.intake.idle()
        for waiter in waiters:
            waiter(self.state == "live")

    # --- going down and coming back ---------------------------------------------------------

    def _went_down(self, error: BaseException | None) -> None:
        if self.state == "down" or self._closed:
            return
        self.state = "down"
        self.down_since = time.time()
        self.outages += 1
        log.warning("redis bus unavailable (%s); serving from the database until it is back", error)
        if self.subs.connection is not None:
            self.subs.connection.close()
        for waiter in self.subs.lost():
            waiter(False)
        self._announced_live = False
        self._notify_state(False)  # also when it never came up: the hub must not trust memory
        if not self._serving_log:
            self._spawn(self._serve_from_log())
        if not self._reconnecting:
            self._spawn(self._reconnect())

    def _notify_state(self, live: bool) -> None:
        for listener in self._state_listeners:
            try:
                listener(live)
            except Exception:
                log.exception("bus state listener failed")

    async def _serve_from_log(self) -> None:
        self._serving_log = True
        try:
            while self.state == "down" and not self._closed:
                self._poke.clear()
                if not self.intake.busy:
                    self.intake.read_log()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._poke.wait(), self.poll_s)
        finally:
            self._serving_log = False

    async def _reconnect(self) -> None:
        self._reconnecting = True
        delay = 0.2
        try:
            while self.state == "down" and not self._closed:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                if await self._connect_once():
                    down_for = time.time() - (self.down_since or time.time())
                    log.info("redis bus back after %.1f s", down_for)
                    self.down_since = None
                    await self._after_loss()
                    return
        finally:
            self._reconnecting = False

    async def _connect_once(self) -> bool:
        """Connect, subscribe to every channel wanted, then read from the log what was
        published before the subscriptions were live, ahead of what arrives."""
        sub = RedisSubscriber(self.url, self.intake.receive, self._on_pong, self._went_down)
        try:
            await sub.connect(CONNECT_TIMEOUT_S)
            await self.client.ping()
            await asyncio.get_running_loop().run_in_executor(None, self.sync_client.ping)
        except (OSError, TimeoutError, redis.RedisError) as exc:
            sub.close()
            if self.state == "starting":
                log.warning("redis bus: cannot connect to %s: %s", self.url, exc)
            return False
        await self.intake.idle()
        self.subs.connection = sub
        self._connection += 1
        self.state = "live"
        self.intake.gate()
        ready: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.subs.wait(partial(settle, ready))
        try:
            confirmed = await asyncio.wait_for(asyncio.shield(ready), PING_TIMEOUT_S)
        except TimeoutError:
            confirmed = False
        if not confirmed or self.state != "live":
            self.intake.open_gate()
            self._went_down(TimeoutError("Redis did not confirm the subscriptions"))
            return False
        self.intake.read_log(first=True)
        self.intake.open_gate()
        await self.intake.idle()
        if self.state != "live":
            return False
        self._announced_live = True
        self._notify_state(True)
        return True

    async def _after_loss(self) -> None:
        for action in self._recovered:
            try:
                await action()
            except Exception:
                log.exception("recovering after a bus outage failed")

    # --- housekeeping -----------------------------------------------------------------------

    async def _housekeeping(self) -> None:
        """Each second: bring the horizon up to the watermark (a quiet process then starts a
        read of the log near its end), repair a watermark a dead process left behind, and
        unsubscribe from channels nobody here has wanted for a while."""
        behind: tuple[int, int] | None = None
        while not self._closed:
            await asyncio.sleep(1.0)
            self.intake.forget_old_skips()
            if self.state != "live":
                continue
            try:
                mark = int(await self.client.get(self.channels.watermark) or 0)
                if await self.sync():
                    self.intake.horizon = max(self.intake.horizon, mark)
                top = await self.reader.max_id()
                if mark >= top:
                    behind = None
                elif behind is not None and mark <= behind[0] and top >= behind[1]:
                    await self.reader.keep()  # the same ids unpublished a second on: orphans
                    behind = None
                else:
                    behind = (mark, top)
            except redis.RedisError as exc:
                self._went_down(exc)
            except Exception:
                log.exception("bus housekeeping failed")
            self.subs.unsubscribe_idle(time.monotonic())

    def health(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"kind": self.name, "state": "ok" if self.live else "down"}
        if self.down_since is not None:
            answer["down_since"] = int(self.down_since * 1000)
        answer.update(channels=len(self.subs.want), outages=self.outages, log_reads=self.intake.reads)
        return answer

    async def close(self) -> None:
        self._closed = True
        self.intake.closed = True
        for task in list(self._tasks):
            task.cancel()
        if self.subs.connection is not None:
            self.subs.connection.close()
        with contextlib.suppress(Exception):
            await self.client.aclose()
        self.sync_client.close()
        self._subscribers.clear()
