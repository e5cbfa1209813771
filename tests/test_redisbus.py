"""The Redis bus's guarantees, each forced where real processes only hit it by chance: a
commit that was never published, a Redis outage, the publish order across connections."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from models import db
from models import messages as message_q
from models.db import now_ms
from server.bus import Delivery
from server.services.changes import ordered_job
from tests.cluster import PrivateRedis
from tests.conftest import assert_next_is_sentinel, befriend, connect, register, wait_until

pytestmark = pytest.mark.redis


@pytest.fixture
def bus_kind() -> str:
    return "redis"


def new_message(sender: int, dst: int, text: str) -> message_q.NewMessage:
    return message_q.NewMessage(
        user_id=sender, cmd=10, dst_id=dst, media=1, content=text, pic="", url="", memo="", amount=0.0,
        cmid=f"ghost-{text}",
    )  # fmt: skip


def store_unpublished(sender: int, dst: int, text: str) -> int:
    """What a process that died between commit and publish leaves: a stored message that
    no bus carried."""
    return message_q.insert_message(new_message(sender, dst, text), now_ms())["id"]


async def friends_online(api, base_url):
    """Ann and Bob, friends, each with a socket that is live (a sentinel went through)."""
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    await befriend(api, ann, bob)
    sa, sb = await connect(base_url, ann), await connect(base_url, bob)
    await assert_next_is_sentinel(sb, sender=sa, dstid=bob.id)
    return ann, bob, sa, sb


@pytest.mark.gen_test(timeout=30)
async def test_a_message_a_dead_process_stored_but_never_published_comes_before_the_next(api, base_url, ctx):
    ann, bob, sa, sb = await friends_online(api, base_url)
    ghost = await ctx.pools.db(store_unpublished, ann.id, bob.id, "lost in a crash")
    await sa.send(cmd=10, dstid=bob.id, media=1, content="next")
    ack = await sa.next_frame()
    assert ack["cmd"] == 12 and ack["id"] > ghost
    first, second = await sb.next_message(), await sb.next_message()
    assert (first["id"], first["content"]) == (ghost, "lost in a crash")
    assert second["content"] == "next"
    await assert_next_is_sentinel(sb, sender=sa, dstid=bob.id)  # and nothing twice


@pytest.mark.gen_test(timeout=30)
async def test_an_unpublished_message_with_nothing_after_it_is_published_within_seconds(api, base_url, ctx):
    ann, bob, sa, sb = await friends_online(api, base_url)
    ghost = await ctx.pools.db(store_unpublished, ann.id, bob.id, "orphan")
    got = await sb.next_message(timeout=10)  # the housekeeping finds it and resyncs everyone
    assert (got["id"], got["content"]) == (ghost, "orphan")
    await assert_next_is_sentinel(sb, sender=sa, dstid=bob.id)


@pytest.fixture
def private_redis(tmp_path):
    redis = PrivateRedis(tmp_path).start()
    yield redis
    redis.stop()


@pytest.fixture
def settings_overrides(request) -> dict[str, Any]:
    if "private_redis" in request.fixturenames:
        return {"redis_url": request.getfixturevalue("private_redis").url}
    return {}


@pytest.mark.gen_test(timeout=60)
async def test_while_redis_is_down_chat_goes_on_from_the_database_and_checks_every_send(
    private_redis, api, base_url, ctx
):
    ann, bob, cy = await register(api, "Ann"), await register(api, "Bob"), await register(api, "Cy")
    await befriend(api, ann, bob)
    await befriend(api, cy, bob)
    sa, sb = await connect(base_url, ann), await connect(base_url, bob)
    await assert_next_is_sentinel(sb, sender=sa, dstid=bob.id)
    private_redis.stop()
    await wait_until(lambda: not ctx.bus.live, 10, "the bus noticed")
    assert not ctx.hub.trusting and ctx.bus.health()["state"] == "down"
    await sa.send(cmd=10, dstid=bob.id, media=1, content="during")
    assert (await sa.next_frame())["cmd"] == 12  # stored: acked
    assert (await sb.next_message())["content"] == "during"  # read from the log
    # Friend sets may miss events while the bus is down: the database checks each send.
    await api.ok("/contact/unfriend", bob.token, dstid=ann.id)
    await sa.send(cmd=10, dstid=bob.id, media=1, content="not any more")
    refused = await sa.next_frame()
    while refused.get("cmd") == 15:
        refused = await sa.next_frame()
    assert (refused["cmd"], refused["code"]) == (13, 403)
    private_redis.start()
    await wait_until(lambda: ctx.bus.live, 20, "the bus came back")
    # Back: every client is told to reload its lists, and messages flow through Redis again.
    while (frame := await sb.next_frame()).get("type") != "resync":
        assert frame.get("cmd") == 15, frame
    await assert_next_is_sentinel(sb, sender=await connect(base_url, cy), dstid=bob.id)
    # One outage, one recovery: a publish that met a socket to the old server was retried,
    # not taken for a second outage.
    assert ctx.hub.trusting and ctx.bus.outages == 1


class Recorder:
    """A bus that records what is published from jobs, and can hold the first publish."""

    name = "recorder"
    publishes_in_job = True

    def __init__(self, hold: threading.Event | None = None) -> None:
        self.hold = hold
        self.committed = threading.Event()
        self.published: list[tuple[int, int]] = []  # (message id, prev_max)
        self.lock = threading.Lock()

    def publish_from_job(self, events: Any, prev_max: int) -> None:
        self.committed.set()
        if self.hold is not None:
            self.hold.wait(2.0)  # a slow publish; another process commits meanwhile?
        with self.lock:
            self.published.extend((e.message_id, prev_max) for e in events if isinstance(e, Delivery))


@pytest.mark.parametrize("db_kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_commit_cannot_be_published_before_an_earlier_one_whose_publish_is_slow(tmp_path, db_kind, request):
    url = request.getfixturevalue("pg_database") if db_kind == "postgres" else f"sqlite:///{tmp_path}/c.db"
    database = db.open_database(url)
    db.bind(database)
    db.migrate(database)
    hold, order = threading.Event(), []
    slow, quick = Recorder(hold), Recorder()

    def job(bus: Recorder, text: str) -> None:
        def store() -> tuple[None, list[Delivery]]:
            row = message_q.insert_message(new_message(1, 2, text), now_ms())
            return None, [Delivery(row["id"], b"{}", user_ids=(1, 2))]

        with database.connection_context():
            ordered_job(bus, store)
        order.append(text)

    first = threading.Thread(target=job, args=(slow, "first"))
    first.start()
    assert slow.committed.wait(10)  # committed, publishing slowly
    second = threading.Thread(target=job, args=(quick, "second"))
    second.start()
    second.join(1.0)  # a second process's commit in that time would publish ahead of it
    hold.set()
    first.join(10)
    second.join(10)
    assert order == ["first", "second"]
    (first_id, _), (second_id, second_prev) = slow.published[0], quick.published[0]
    assert first_id < second_id and second_prev >= first_id  # the second saw the first committed
    database.close()
