"""The message path under hostile or failing conditions: socket caps, refused-frame floods,
values the database refuses, a dying writer, lost connections and back-pressure."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from tornado.websocket import websocket_connect

from models import db
from server import storage
from server.services.messages import Outgoing, Stored
from server.services.storing import store_batch_apart
from server.writer import MessageWriter
from tests import mediafiles
from tests.conftest import (
    Api,
    ChatClient,
    assert_next_is_sentinel,
    befriend,
    both_buses,
    both_databases,
    connect,
    register,
    wait_until,
)
from tests.serverproc import ServerProcess
from tests.test_uploads import upload

FAST = {"send_rate": 100_000.0, "send_burst": 100_000}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return FAST


async def friends(api: Api, *names: str) -> list[Any]:
    accounts = [await register(api, name) for name in names]
    for other in accounts[1:]:
        await befriend(api, accounts[0], other)
    return accounts


def frame_of(client: ChatClient, **frame: Any) -> dict[str, Any]:
    return {"cmd": 10, "media": 1, **frame}


# --- 4: a per-user socket cap --------------------------------------------------------------


@pytest.mark.parametrize("settings_overrides", [{**FAST, "sockets_per_user": 3}])
@both_buses
@pytest.mark.gen_test(timeout=30)
async def test_opening_more_sockets_than_the_cap_closes_the_oldest_with_4008(api, base_url, ctx):
    ann, bob = await friends(api, "Ann", "Bob")
    sockets = [await connect(base_url, ann) for _ in range(4)]
    assert await sockets[0].closed() == 4008
    assert sockets[0].conn.close_reason == "too many open connections"
    newest = sockets[-1]
    cmid = await newest.send(cmd=10, dstid=bob.id, media=1, content="from the newest")
    ack = await newest.next_frame()
    assert (ack["cmd"], ack["cmid"]) == (12, cmid)
    # The other two still within the cap keep working: they get the message live.
    for kept in sockets[1:3]:
        assert (await kept.next_message())["content"] == "from the newest"
    assert ctx.hub.online_sockets() == 3


# --- 7: refused frames cost allowance, and their logging is throttled ------------------------


@pytest.mark.slow
@pytest.mark.gen_test(timeout=60)
async def test_a_flood_of_bad_frames_spends_the_allowance_gets_429s_and_few_log_lines(tmp_path, io_loop):
    # One frame earned back per second: the burst is answered long before the first is.
    server = ServerProcess(tmp_path, None, "--send-rate", "1", "--send-burst", "20").start()
    try:
        api = Api(AsyncHTTPClient(), server.base_url)
        eve, ann = await register(api, "Eve"), await register(api, "Ann")
        await befriend(api, eve, ann)
        e = await connect(server.base_url, eve)
        for i in range(2000):
            await e.send_raw("not json" if i % 2 else '{"cmd": 10, "cmid": "x", "dstid": -1}')
        codes = [(await e.next_frame(20))["code"] for _ in range(30)]
        assert codes[:20] == [400] * 20  # the allowance pays for 20 frames, good or bad
        # Then a 429, and from there the socket is read only as fast as frames are earned
        # back (each earned one pays for one more bad frame); it stays open throughout.
        assert codes[20] == 429 and set(codes[20:]) == {400, 429}
        assert codes[20:].count(400) <= codes[20:].count(429)
        assert e.conn.close_code is None
    finally:
        e.close()
        server.stop()
    refused_lines = [line for line in server.log_path.read_text().splitlines() if "frame refused" in line]
    assert 1 <= len(refused_lines) <= 3, refused_lines  # 30+ frames answered, 2000 sent


@pytest.mark.gen_test(timeout=30)
async def test_after_its_429_a_socket_stays_open_and_sends_again_once_earned(tmp_path, io_loop):
    # A frame is earned back every 5 s: the six frames below meet an empty allowance however
    # slowly a loaded machine sends them.
    server = ServerProcess(tmp_path, None, "--send-rate", "0.2", "--send-burst", "5").start()
    try:
        api = Api(AsyncHTTPClient(), server.base_url)
        eve, ann = await register(api, "Eve"), await register(api, "Ann")
        await befriend(api, eve, ann)
        e, a = await connect(server.base_url, eve), await connect(server.base_url, ann)
        for _ in range(5):
            await e.send_raw("not json")
        refused = await e.send(cmd=10, dstid=ann.id, media=1, content="over the allowance")
        codes = [(await e.next_frame())["code"] for _ in range(6)]
        assert codes == [400] * 5 + [429]
        # Not closed: the next message is read once a frame is earned back, stored and delivered.
        cmid = await e.send(cmd=10, dstid=ann.id, media=1, content="later")
        ack = await e.next_frame(15)
        assert ack["cmd"] == 12 and ack["cmid"] == cmid
        got = await a.next_message()
        assert got["content"] == "later" and got["cmid"] != refused  # the refused one was never stored
    finally:
        server.stop()


# --- 13: since= takes ASCII digits only; upload URLs match in full ---------------------------


@both_buses
@pytest.mark.gen_test
async def test_since_with_a_unicode_digit_or_out_of_range_is_400(api, base_url):
    ann = await register(api, "Ann")
    ws = base_url.replace("http", "ws", 1)
    for since in ("%C2%B2", "%D9%A3", str(2**63), "%2B1", "-1", "1e3"):
        with pytest.raises(HTTPClientError) as err:
            await websocket_connect(f"{ws}/chat?id={ann.id}&token={ann.token}&since={since}")
        assert err.value.code == 400, since
    socket = await connect(base_url, ann, since=2**63 - 1)
    await socket.send(cmd=0)  # a valid since still opens a socket


@both_buses
@pytest.mark.gen_test(timeout=60)
async def test_an_upload_url_with_a_trailing_newline_is_not_ours(api, http_client, base_url):
    ann, bob = await friends(api, "Ann", "Bob")
    a = await connect(base_url, ann)
    status, env = await upload(http_client, base_url, ann.token, mediafiles.png_with_alpha())
    assert status == 200, env
    url = env["data"]["url"]
    assert storage.key_of_url(url) and storage.key_of_url(url + "\n") is None
    await a.send(cmd=10, dstid=bob.id, media=4, url=url + "\n")
    error = await a.next_frame()
    assert (error["cmd"], error["code"]) == (13, 404)


# --- 8: one frame the database would refuse never fails anyone else's -----------------------


@both_databases
@both_buses
@pytest.mark.gen_test(timeout=60)
async def test_out_of_range_ids_and_nuls_are_400_and_others_in_the_batch_are_stored(api, base_url, db_kind):
    ann, bob = await friends(api, "Ann", "Bob")
    eve, carol = await friends(api, "Eve", "Carol")
    a, e, b = await connect(base_url, ann), await connect(base_url, eve), await connect(base_url, bob)
    culprits = [
        {"dstid": 2**63, "content": "overflow"},
        {"dstid": 2**31, "content": "past int4"},
        {"dstid": carol.id, "content": "nul\x00here"},
        {"dstid": carol.id, "content": "nul cmid", "cmid": "c\x00"},
    ]
    for i in range(80):  # the culprits' frames land among Ann's, in the same batches
        await a.send(cmd=10, dstid=bob.id, media=1, content=f"m{i}")
        if i % 20 == 0:
            await e.send(cmd=10, media=1, **culprits[i // 20])
    acks = [await a.next_frame() for _ in range(80)]
    assert [f["cmd"] for f in acks] == [12] * 80
    assert [(await b.next_message())["content"] for _ in range(80)] == [f"m{i}" for i in range(80)]
    errors = [await e.next_frame() for _ in culprits]
    assert [(f["cmd"], f["code"]) for f in errors] == [(13, 400)] * 4
    history = await api.ok("/message/history", eve.token, cmd=10, dstid=carol.id)
    assert history == []


async def refuse_boom(ctx, db_kind: str) -> None:
    """A rule of this database (not of check_frame): content 'boom' is refused on insert."""
    database = db.database.obj
    if db_kind == "postgres":
        sql = "ALTER TABLE message ADD CONSTRAINT no_boom CHECK (content <> 'boom')"
    else:
        sql = (
            "CREATE TRIGGER no_boom BEFORE INSERT ON message WHEN NEW.content = 'boom' "
            "BEGIN SELECT RAISE(ABORT, 'boom refused'); END"
        )
    await ctx.pools.db(database.execute_sql, sql)


def outgoing(sender_id: int, dst_id: int, content: str, cmid: str) -> Outgoing:
    new = {"user_id": sender_id, "cmd": 10, "dst_id": dst_id, "media": 1, "content": content,
           "pic": "", "url": "", "memo": "", "amount": 0.0, "cmid": cmid}  # fmt: skip
    return Outgoing(new, "")  # type: ignore[arg-type]


@both_databases
@both_buses
@pytest.mark.gen_test(timeout=60)
async def test_a_batch_the_database_refuses_is_stored_item_by_item_so_only_the_culprit_fails(
    api, base_url, ctx, db_kind
):
    ann, bob = await friends(api, "Ann", "Bob")
    eve, carol = await friends(api, "Eve", "Carol")
    b = await connect(base_url, bob)
    await refuse_boom(ctx, db_kind)
    batches = ctx.writer.batches
    # Queued in one go, so the real writer stores them as one batch with the real store.
    futures = [ctx.writer.submit(outgoing(ann.id, bob.id, f"m{i}", f"a{i}")) for i in range(40)]
    futures.append(ctx.writer.submit(outgoing(eve.id, carol.id, "boom", "e1")))
    if db_kind == "sqlite":  # past what SQLite can bind; check_frame refuses it earlier
        futures.append(ctx.writer.submit(outgoing(eve.id, 2**63, "x", "e2")))
    futures += [ctx.writer.submit(outgoing(ann.id, bob.id, f"m{i}", f"a{i}")) for i in range(40, 80)]
    results = await asyncio.gather(*futures, return_exceptions=True)
    assert ctx.writer.batches == batches + 1
    culprits = results[40:-40]
    assert all(isinstance(r, Exception) for r in culprits), culprits
    stored = results[:40] + results[-40:]
    assert all(isinstance(r, Stored) for r in stored), stored
    assert [r.row["content"] for r in stored] == [f"m{i}" for i in range(80)]
    assert [(await b.next_message())["content"] for _ in range(80)] == [f"m{i}" for i in range(80)]
    history = await api.ok("/message/history", ann.token, cmd=10, dstid=bob.id, limit=100)
    assert len(history) == 80
    assert await api.ok("/message/history", eve.token, cmd=10, dstid=carol.id) == []


# --- 9: every ack is published; a dying writer fails its batch loudly and restarts -----------


@both_buses
@pytest.mark.gen_test(timeout=60)
async def test_a_killed_writer_fails_its_batch_with_an_error_frame_and_is_restarted(api, base_url, ctx):
    ann, bob = await friends(api, "Ann", "Bob")
    a, b = await connect(base_url, ann), await connect(base_url, bob)
    # A long job holds the database thread, so the writer's batch waits in the pool...
    release = threading.Event()
    long_job = asyncio.ensure_future(ctx.pools.db(release.wait, 30, shed=False))
    try:
        cmid = await a.send(cmd=10, dstid=bob.id, media=1, content="in flight")
        await asyncio.wait_for(until(lambda: ctx.writer.in_flight == 1), 10)
        ctx.writer._task.cancel()  # ...and the writer task dies (a bug, a stray cancel)
        error = await a.next_frame()
        assert (error["cmd"], error["cmid"], error["code"]) == (13, cmid, 500)
    finally:
        release.set()
        await long_job
    assert ctx.writer.restarts == 1
    # The client sends it again with the same cmid: stored once, acked, delivered once.
    await a.send(cmd=10, dstid=bob.id, media=1, content="in flight", cmid=cmid)
    ack = await a.next_frame()
    assert (ack["cmd"], ack["cmid"]) == (12, cmid)
    got = await b.next_message()
    assert (got["id"], got["content"]) == (ack["id"], "in flight")
    await a.send(cmd=10, dstid=bob.id, media=1, content="sentinel")
    assert (await a.next_frame())["cmd"] == 12
    assert (await b.next_message())["content"] == "sentinel"  # no second copy before it


async def until(condition) -> None:
    while not condition():
        await asyncio.sleep(0.01)


@both_buses
@pytest.mark.gen_test(timeout=30)
async def test_a_stored_message_whose_publish_fails_is_not_acked_and_its_retry_is(api, ctx):
    # The in-process bus cannot fail, a Redis bus can: the real store and writer, with a
    # publish step that fails while the "bus" is down.
    ann, bob = await friends(api, "Ann", "Bob")
    published: list[int] = []
    outage = True

    async def publish(batch: list[Stored]) -> None:
        if outage:
            raise ConnectionError("bus unreachable")
        published.extend(stored.row["id"] for stored in batch)

    async def store(items):
        return await ctx.pools.db(store_batch_apart, items, shed=False)

    writer: MessageWriter[Any, Any] = MessageWriter(store, publish, batch_max=10)
    with pytest.raises(ConnectionError):
        await writer.submit(outgoing(ann.id, bob.id, "hello", "c1"))  # stored, not acked
    outage = False
    stored = await writer.submit(outgoing(ann.id, bob.id, "hello", "c1"))  # the client's retry
    assert stored.row["content"] == "hello" and published == [stored.row["id"]]
    assert [m["id"] for m in await api.ok("/message/history", ann.token, cmd=10, dstid=bob.id)] == published
    await writer.close()


# --- 21: bounded queues that push back on the sockets feeding them ---------------------------


@pytest.mark.parametrize(
    "settings_overrides", [{**FAST, "socket_pending_max": 8, "write_queue_max": 10, "write_batch": 5}]
)
@both_buses
@pytest.mark.gen_test(timeout=60)
async def test_a_socket_sending_far_more_than_the_bounds_gets_every_message_stored_in_order(
    api, base_url, ctx
):
    ann, bob, carol = await friends(api, "Ann", "Bob", "Carol")
    await befriend(api, carol, bob)
    a, c, b = await connect(base_url, ann), await connect(base_url, carol), await connect(base_url, bob)
    for i in range(300):  # two sockets at once, so the writer's queue fills up, not one socket's
        await a.send(cmd=10, dstid=bob.id, media=1, content=f"a{i}", cmid=f"a{i}")
        await c.send(cmd=10, dstid=bob.id, media=1, content=f"c{i}", cmid=f"c{i}")
    assert [(await a.next_frame())["cmid"] for _ in range(300)] == [f"a{i}" for i in range(300)]
    assert [(await c.next_frame())["cmid"] for _ in range(300)] == [f"c{i}" for i in range(300)]
    got = [(await b.next_message())["content"] for _ in range(600)]
    assert [m for m in got if m[0] == "a"] == [f"a{i}" for i in range(300)]
    assert [m for m in got if m[0] == "c"] == [f"c{i}" for i in range(300)]
    assert ctx.writer.max_queued == 10  # the bound was reached, and held
    history = await api.ok("/message/history", bob.token, cmd=10, dstid=ann.id, limit=100)
    assert len(history) == 100


@pytest.mark.parametrize("settings_overrides", [{**FAST, "db_queue_max": 1}])
@both_buses
@pytest.mark.gen_test(timeout=30)
async def test_past_the_database_queue_bound_http_gets_503_at_once_but_messages_are_stored(
    api, base_url, ctx
):
    ann, bob = await friends(api, "Ann", "Bob")
    # One at a time: with room for one job, a socket whose friend list loads while the
    # other's does is refused as "busy" (1013, it would reconnect), which is not this test.
    a = await connect(base_url, ann)
    await wait_until(lambda: ctx.hub.may_send(ann.id, 10, bob.id))
    b = await connect(base_url, bob)
    await a.send(cmd=10, dstid=bob.id, media=1, content="warm-up")
    assert (await a.next_frame())["cmd"] == 12 and (await b.next_message())["content"] == "warm-up"
    # Both sockets' friend sets loaded: neither has a database job of its own still queued.
    await wait_until(lambda: ctx.hub.may_send(ann.id, 10, bob.id) and ctx.hub.may_send(bob.id, 10, ann.id))
    release = threading.Event()
    long_job = asyncio.ensure_future(ctx.pools.db(release.wait, 30, shed=False))  # holds the thread
    try:
        first = asyncio.ensure_future(api.call("/contact/loadfriend", ann.token))
        await asyncio.wait_for(until(lambda: ctx.pools.db_jobs == 1), 10)  # queued behind it
        status, envelope = await api.call("/contact/loadfriend", bob.token)
        assert (status, envelope["code"]) == (503, -1) and "busy" in envelope["msg"]
        cmid = await a.send(cmd=10, dstid=bob.id, media=1, content="not refused")
    finally:
        release.set()
        await long_job
    assert (await first)[0] == 200
    ack = await a.next_frame()
    assert (ack["cmd"], ack["cmid"]) == (12, cmid)
    assert (await b.next_message())["content"] == "not refused"
    assert (await api.call("/contact/loadfriend", bob.token))[0] == 200


# --- 9: a commit that lands while the connection drops is delivered on the retry -------------


class CommitDropper:
    """A TCP proxy to PostgreSQL that, once armed, lets a message INSERT's COMMIT reach the
    server and then cuts the connection before the reply: the commit landed, the client
    saw a lost connection (what a PostgreSQL restart or a network cut can do)."""

    def __init__(self) -> None:
        self.armed = False
        self.dropped = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", 5432)
        inserted = False

        async def to_server() -> None:
            nonlocal inserted
            while data := await reader.read(65536):
                if self.armed and b'INSERT INTO "message"' in data:
                    inserted = True
                up_writer.write(data)
                await up_writer.drain()
            up_writer.close()

        async def to_client() -> None:
            while data := await up_reader.read(65536):
                if inserted and self.armed and b"COMMIT\x00" in data:
                    self.armed = False
                    self.dropped += 1
                    writer.transport.abort()
                    up_writer.transport.abort()
                    return
                writer.write(data)
                await writer.drain()
            writer.close()

        await asyncio.gather(to_server(), to_client(), return_exceptions=True)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.gen_test(timeout=60)
async def test_a_batch_retried_after_its_commit_landed_is_still_delivered_live(
    tmp_path, io_loop, pg_database, monkeypatch
):
    dropper = CommitDropper()
    proxy = await asyncio.start_server(dropper.handle, "127.0.0.1", 0)
    port = proxy.sockets[0].getsockname()[1]
    monkeypatch.setenv("PGSSLMODE", "disable")  # the proxy reads the protocol in the clear
    database = pg_database.replace("127.0.0.1:5432", f"127.0.0.1:{port}")
    server = ServerProcess(tmp_path, database=database)
    loop = asyncio.get_running_loop()
    try:
        await loop.run_in_executor(None, server.start)  # the proxy runs on this loop meanwhile
        api = Api(AsyncHTTPClient(), server.base_url)
        ann, bob = await friends(api, "Ann", "Bob")
        a, b = await connect(server.base_url, ann), await connect(server.base_url, bob)
        dropper.armed = True
        cmid = await a.send(cmd=10, dstid=bob.id, media=1, content="committed, then cut")
        ack = await a.next_frame(10)
        assert (ack["cmd"], ack["cmid"]) == (12, cmid)
        assert dropper.dropped == 1 and "reconnecting" in server.log_path.read_text()
        got = await b.next_message(10)  # acked, so delivered live too
        assert (got["id"], got["content"]) == (ack["id"], "committed, then cut")
        await a.send(cmd=10, dstid=bob.id, media=1, content="sentinel")
        assert (await b.next_message(10))["content"] == "sentinel"  # and only once
        history = await api.ok("/message/history", ann.token, cmd=10, dstid=bob.id)
        assert [m["content"] for m in history] == ["sentinel", "committed, then cut"]
    finally:
        await loop.run_in_executor(None, server.stop)
        proxy.close()


@pytest.mark.parametrize("settings_overrides", [{**FAST, "outbox_bytes": 4096, "replay_page": 10}])
@both_buses
@pytest.mark.gen_test(timeout=60)
async def test_a_reconnect_replaying_while_many_arrive_live_gets_each_once_in_order(api, base_url, ctx):
    # Live messages that come during a long replay wait for it; past outbox_bytes they are
    # dropped and the replay reads them from the database instead. Either way: no gap, no double.
    ann, bob = await friends(api, "Ann", "Bob")
    a = await connect(base_url, ann)
    for i in range(300):
        await a.send(cmd=10, dstid=bob.id, media=1, content=f"m{i}", cmid=f"m{i}")
    assert [(await a.next_frame())["cmid"] for _ in range(300)] == [f"m{i}" for i in range(300)]
    b = await connect(base_url, bob, since=0)  # 30 pages to replay...
    for i in range(300, 400):  # ...while these are stored and published
        await a.send(cmd=10, dstid=bob.id, media=1, content=f"m{i}", cmid=f"m{i}")
    got = [(await b.next_message(10))["content"] for _ in range(400)]
    assert got == [f"m{i}" for i in range(400)]
    await assert_next_is_sentinel(b, sender=a, dstid=bob.id)
