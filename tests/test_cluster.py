"""Issue 10: several processes on Redis and PostgreSQL serve one chat, with no gaps and no
doubles, through kills and outages. Real `python -m server` processes, the machine's
PostgreSQL and Redis (a private Redis where a test stops it)."""

from __future__ import annotations

import asyncio
import random
import signal

import pytest

from tests.cluster import (
    PrivatePostgres,
    PrivateRedis,
    Reader,
    alive,
    all_messages,
    api_of,
    assert_exactly_once_in_order,
    children_of,
    collect_acks,
    friends_across,
    health,
    servers,
    start_server,
)
from tests.conftest import assert_next_is_sentinel, befriend, connect, join_group, register, wait_until
from tests.serverproc import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture(params=["postgres", "sqlite"])
def shared_database(request, tmp_path) -> str:
    """PostgreSQL (any machines), or one SQLite file (processes of one machine)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/chatd.db"
    return request.getfixturevalue("pg_database")


@pytest.mark.gen_test(timeout=60)
async def test_users_on_two_processes_chat_one_to_one_and_in_groups(tmp_path, shared_database):
    pair = start_server(tmp_path, shared_database), start_server(tmp_path, shared_database)
    with servers(*pair) as (a, b):
        api_a, api_b = api_of(a), api_of(b)
        ann, bob, cy = await register(api_a, "Ann"), await register(api_b, "Bob"), await register(api_b, "Cy")
        await befriend(api_a, ann, bob)
        await befriend(api_b, cy, bob)
        club = await api_a.ok("/contact/createcommunity", ann.token, name="Club")
        await join_group(api_a, ann, bob, club["id"])
        await join_group(api_b, ann, cy, club["id"])  # the same chat through either process
        sa, sb, sc = (
            await connect(a.base_url, ann),
            await connect(b.base_url, bob),
            await connect(a.base_url, cy),
        )

        await sa.send(cmd=10, dstid=bob.id, media=1, content="hello Bob")
        assert (await sa.next_frame())["cmd"] == 12
        got = await sb.next_message()
        assert (got["content"], got["userid"], got["dstid"]) == ("hello Bob", ann.id, bob.id)
        await sb.send(cmd=10, dstid=ann.id, media=1, content="hi Ann")
        assert (await sb.next_frame())["cmd"] == 12
        assert (await sa.next_message())["content"] == "hi Ann"

        await sb.send(cmd=11, dstid=club["id"], media=1, content="hi all")
        assert (await sb.next_frame())["cmd"] == 12
        for member in (sa, sc):
            message = await member.next_message()
            assert (message["content"], message["userid"]) == ("hi all", bob.id)
        # Each got it once, and nobody got anything else: a sentinel is the next frame.
        await assert_next_is_sentinel(sa, sc, sender=sb, dstid=club["id"], cmd=11)
        await assert_next_is_sentinel(sb, sender=sa, dstid=bob.id)


@pytest.mark.gen_test(timeout=60)
async def test_joining_a_group_on_one_process_while_online_on_another_misses_nothing(tmp_path, pg_database):
    with servers(start_server(tmp_path, pg_database), start_server(tmp_path, pg_database)) as (a, b):
        api_a = api_of(a)
        ann, bob = await register(api_a, "Ann"), await register(api_a, "Bob")
        club = await api_a.ok("/contact/createcommunity", ann.token, name="Club")
        sa, sb = await connect(a.base_url, ann), await connect(b.base_url, bob)  # B has no member yet
        invite = await api_a.ok("/contact/invite", ann.token, dstid=club["id"])
        joining = asyncio.ensure_future(api_a.ok("/contact/joincommunity", bob.token, code=invite["code"]))
        # Ann talks on as Bob's join commits: B subscribes to the group only once told.
        for n in range(10):
            await sa.send(cmd=11, dstid=club["id"], media=1, content=f"m{n}")
        await joining
        acked = []
        while len(acked) < 10:
            frame = await sa.next_frame()
            if frame["cmd"] == 12:
                acked.append(frame["id"])
        line = (await all_messages(api_a, bob.token, 11, club["id"]))[0]
        assert (line["media"], line["userid"]) == (10, bob.id)
        expected = [line["id"]] + [i for i in acked if i > line["id"]]
        got = []
        while len(got) < len(expected):
            frame = await sb.next_frame()
            if frame.get("cmd") == 11:
                got.append(frame["id"])
        assert got == expected  # the join line and everything after it, once, in order
        await assert_next_is_sentinel(sb, sender=sa, dstid=club["id"], cmd=11)


@pytest.mark.gen_test(timeout=60)
async def test_messages_to_someone_offline_wait_and_replay_through_the_other_process(tmp_path, pg_database):
    with servers(start_server(tmp_path, pg_database), start_server(tmp_path, pg_database)) as (a, b):
        api_a = api_of(a)
        ann, bob = await register(api_a, "Ann"), await register(api_a, "Bob")
        await befriend(api_a, ann, bob)
        club = await api_a.ok("/contact/createcommunity", ann.token, name="Club")
        await join_group(api_a, ann, bob, club["id"])
        sb = await connect(a.base_url, bob)
        await assert_next_is_sentinel(sb, sender=await connect(a.base_url, ann), dstid=bob.id)
        seen = (await all_messages(api_a, bob.token, 10, ann.id))[-1]["id"]
        sb.close()

        sa = await connect(a.base_url, ann)
        sent = []
        for n in range(20):
            cmd, dst = (10, bob.id) if n % 2 else (11, club["id"])
            cmid = await sa.send(cmd=cmd, dstid=dst, media=1, content=f"while away {n}")
            ack = await sa.next_frame()
            assert (ack["cmd"], ack["cmid"]) == (12, cmid)
            sent.append(ack["id"])

        later = Reader(bob)
        later.cursor = seen
        client = await later.open(b)  # the other process, with since=
        assert await later.read(client, len(sent)) == len(sent)
        assert later.ids() == sent
        unread = {
            (c["cmd"], c["dstid"]): c["unread"]
            for c in await api_of(b).ok("/message/conversations", bob.token)
        }
        # Nothing was read yet: the sentinel and ten more from Ann, ten in the group.
        assert unread[(10, ann.id)] == 11 and unread[(11, club["id"])] == 10


@pytest.mark.gen_test(timeout=90)
async def test_two_processes_on_one_port_share_the_chat_and_survive_a_worker_killed(tmp_path, pg_database):
    server = start_server(tmp_path, pg_database, "redis://127.0.0.1:6379/0", "--processes", "2")
    with servers(server):
        assert server.proc is not None
        workers = children_of(server.proc.pid)
        assert len(workers) == 2
        api = api_of(server)
        ann, bob = await register(api, "Ann"), await register(api, "Bob")
        await befriend(api, ann, bob)
        # New connections land on either worker (whichever accepts first).
        pids: set[int] = set()
        for _ in range(500):
            pids.add((await health(server))["pid"])
            if pids == workers:
                break
        assert pids == workers
        readers = [Reader(bob) for _ in range(6)]
        clients = [await r.open(server) for r in readers]
        sa = await connect(server.base_url, ann)
        for n in range(5):
            await sa.send(cmd=10, dstid=bob.id, media=1, content=f"m{n}")
            assert (await sa.next_frame())["cmd"] == 12
        for reader, client in zip(readers, clients, strict=True):
            assert await reader.read(client, 5) == 5

        victim = next(iter(workers))
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: __import__("os").kill(victim, signal.SIGKILL)
        )
        # Its sockets drop; the clients come back on the same port and catch up.
        await wait_until(
            lambda: not alive(victim) and len(children_of(server.proc.pid)) == 2, 20, "restarted"
        )
        assert victim not in children_of(server.proc.pid)
        sa = await connect(server.base_url, ann)
        for n in range(5, 10):
            await sa.send(cmd=10, dstid=bob.id, media=1, content=f"m{n}")
            assert (await sa.next_frame())["cmd"] == 12
        for reader, client in zip(readers, clients, strict=True):
            await reader.read(client, 5, timeout=2)  # those on the dead worker got nothing more
            client.close()
            client = await reader.open(server)
            await reader.read(client, 10 - len(reader.ids()))
            assert [m["content"] for m in reader.messages] == [f"m{n}" for n in range(10)]
        code = await asyncio.get_running_loop().run_in_executor(None, server.terminate)
        assert code == 0 and not any(alive(pid) for pid in children_of(server.proc.pid))


@pytest.mark.gen_test(timeout=180)
async def test_concurrent_senders_on_three_processes_while_one_user_keeps_reconnecting(tmp_path, pg_database):
    procs = [start_server(tmp_path, pg_database) for _ in range(3)]
    with servers(*procs):
        apis = [api_of(p) for p in procs]
        target = await register(apis[0], "Target")
        senders = [await register(apis[n % 3], f"S{n}") for n in range(4)]
        club = await apis[0].ok("/contact/createcommunity", target.token, name="Club")
        for n, sender in enumerate(senders):
            await befriend(apis[n % 3], sender, target)
            await join_group(apis[0], target, sender, club["id"])
        start = max(m["id"] for m in await all_messages(apis[0], target.token, 11, club["id"]))
        per_sender = 120

        async def send_all(n: int) -> list[int]:
            client = await connect(procs[n % 2].base_url, senders[n])  # processes 0 and 1 send
            cmids = []
            for k in range(per_sender):
                cmd, dst = (10, target.id) if k % 2 else (11, club["id"])
                cmids.append(await client.send(cmd=cmd, dstid=dst, media=1, content=f"{n}:{k}"))
                if k % 8 == 7:
                    await asyncio.sleep(0)  # let the other senders interleave
            acked = []
            while len(acked) < per_sender:
                frame = await client.next_frame(20)
                if frame["cmd"] == 12:
                    acked.append(frame["id"])
            return acked

        sending = asyncio.gather(*(send_all(n) for n in range(len(senders))))
        reader = Reader(target)
        reader.cursor = start
        rng = random.Random(7)
        expected = per_sender * len(senders)
        rounds = 0
        while len(set(reader.ids())) < expected and rounds < 400:
            client = await reader.open(procs[rounds % 3])  # all three, in turn
            await reader.read(client, rng.randint(1, 40), timeout=5)
            client.close()
            rounds += 1
        acked = [i for ids in await sending for i in ids]
        assert rounds > 10  # it really did reconnect again and again
        assert_exactly_once_in_order(reader, set(acked))
        assert len(reader.ids()) == expected
        # Each conversation in the order its messages were stored.
        for n in range(len(senders)):
            mine = [m["content"] for m in reader.messages if m["userid"] == senders[n].id]
            assert mine == [f"{n}:{k}" for k in range(per_sender)]


@pytest.mark.gen_test(timeout=60)
async def test_a_kick_or_a_block_on_one_process_stops_delivery_on_the_other_at_once(tmp_path, pg_database):
    with servers(start_server(tmp_path, pg_database), start_server(tmp_path, pg_database)) as (a, b):
        api_a = api_of(a)
        ann, bob, cy = await register(api_a, "Ann"), await register(api_a, "Bob"), await register(api_a, "Cy")
        await befriend(api_a, ann, bob)
        await befriend(api_a, cy, bob)
        club = await api_a.ok("/contact/createcommunity", ann.token, name="Club")
        for member in (bob, cy):
            await join_group(api_a, ann, member, club["id"])
        sa, sb, sc = (
            await connect(a.base_url, ann),
            await connect(b.base_url, bob),
            await connect(b.base_url, cy),
        )
        await assert_next_is_sentinel(sb, sc, sender=sa, dstid=club["id"], cmd=11)

        await api_a.ok("/contact/kick", ann.token, dstid=club["id"], userid=bob.id)  # on A
        removal = await sb.next_frame()  # Bob, on B, sees his removal line and the notice
        assert (removal["media"], removal["dstid"]) == (10, club["id"])
        assert (await sb.next_frame())["type"] == "group_removed"
        for member in (sa, sc):
            assert (await member.next_message())["media"] == 10
        await sa.send(cmd=11, dstid=club["id"], media=1, content="after the kick")
        assert (await sa.next_frame())["cmd"] == 12
        assert (await sc.next_message())["content"] == "after the kick"
        await assert_next_is_sentinel(sb, sender=sc, dstid=bob.id)  # nothing of the group reached Bob
        await sb.send(cmd=11, dstid=club["id"], media=1, content="let me in")
        refused = await sb.next_frame()
        assert (refused["cmd"], refused["code"]) == (13, 403)

        await api_a.ok("/contact/block", ann.token, dstid=bob.id)  # on A
        for side in (sa, sb):
            assert (await side.next_frame())["type"] == "friend_removed"
        await sb.send(cmd=10, dstid=ann.id, media=1, content="still there?")  # on B, at once
        refused = await sb.next_frame()
        assert (refused["cmd"], refused["code"]) == (13, 403)
        await assert_next_is_sentinel(sa, sender=await connect(a.base_url, cy), dstid=club["id"], cmd=11)


@pytest.mark.gen_test(timeout=120)
async def test_killing_the_senders_process_loses_no_acked_message_and_doubles_none(tmp_path, pg_database):
    a, b = start_server(tmp_path, pg_database), start_server(tmp_path, pg_database)
    with servers(a, b):
        api_b = api_of(b)
        pair = await friends_across(a, b, api_b)
        ann, bob, sa, reader = pair.ann, pair.bob, pair.sender, pair.reader
        total, kill_after = 400, 150
        cmids = [f"k{i}" for i in range(total)]
        for cmid in cmids:  # in flight all at once, as a busy client's queue would be
            await sa.send(cmd=10, dstid=bob.id, media=1, content=cmid, cmid=cmid)
        acked: dict[str, int] = {}
        await collect_acks(sa, acked, kill_after)
        a.kill()  # right after the acks, with more committed or in flight
        sa = await connect(b.base_url, ann)  # the client comes back on another process
        for cmid in cmids:
            if cmid not in acked:
                await sa.send(cmd=10, dstid=bob.id, media=1, content=cmid, cmid=cmid)
        await collect_acks(sa, acked, total)
        stored = await all_messages(api_b, ann.token, 10, bob.id)
        assert sorted(m["cmid"] for m in stored) == sorted(cmids)  # each stored once
        assert all(acked[m["cmid"]] == m["id"] for m in stored)
        # Bob, online on B throughout, got every one once, in order, also those A stored
        # and died before publishing.
        await reader.read(pair.bob_client, total)
        assert_exactly_once_in_order(reader, set(acked.values()))
        assert [m["content"] for m in reader.messages] == [m["content"] for m in stored]


@pytest.mark.gen_test(timeout=120)
async def test_a_redis_restart_during_traffic_loses_no_acked_message(tmp_path, pg_database):
    redis = PrivateRedis(tmp_path).start()
    try:
        a, b = start_server(tmp_path, pg_database, redis.url), start_server(tmp_path, pg_database, redis.url)
        with servers(a, b):
            pair = await friends_across(a, b, api_of(a))
            bob, sa, reader, bob_client = pair.bob, pair.sender, pair.reader, pair.bob_client
            acked: list[int] = []

            async def send(count: int, tag: str) -> None:
                for n in range(count):
                    cmid = await sa.send(cmd=10, dstid=bob.id, media=1, content=f"{tag}{n}")
                    frame = await sa.next_frame(15)
                    while frame.get("type") == "resync":  # after the outage: reload the lists
                        frame = await sa.next_frame(15)
                    assert (frame["cmd"], frame["cmid"]) == (12, cmid), frame
                    acked.append(frame["id"])

            await send(30, "before")
            redis.stop()
            for server in (a, b):  # both notice, keep serving, and say so
                await wait_until_async(lambda s=server: health(s), lambda h: h["bus"]["state"] == "down")
            await send(30, "during")  # stored and delivered from the database meanwhile
            redis.start()  # empty, on the same port, as after a restart
            for server in (a, b):
                await wait_until_async(lambda s=server: health(s), lambda h: h["bus"]["state"] == "ok")
            await send(30, "after")
            await reader.read(bob_client, len(acked))
            assert_exactly_once_in_order(reader, set(acked))
            assert len(reader.ids()) == 90
    finally:
        redis.stop()


async def wait_until_async(fetch, check, timeout: float = 20.0) -> None:
    """Poll an async `fetch()` until `check(value)` holds (a process's /healthz)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await fetch()
        if check(value):
            return
        if loop.time() > deadline:
            raise AssertionError(f"still {value} after {timeout} s")
        await asyncio.sleep(0.1)


def test_more_than_one_process_needs_redis_and_sqlite_stays_on_one_machine(tmp_path):
    refused = ServerProcess(tmp_path, None, "--processes", "2")
    with pytest.raises(RuntimeError, match="more than 1 needs redis_url"):
        refused.start()
    first = ServerProcess(tmp_path, None, "--redis-url", "redis://127.0.0.1:6379/0").start()
    try:
        other = ServerProcess(
            tmp_path, None, "--redis-url", "redis://127.0.0.1:6379/0", "--machine-id", "elsewhere"
        )
        with pytest.raises(RuntimeError, match="in use on another machine"):
            other.start()
        # Processes of one machine may share the SQLite file.
        ServerProcess(tmp_path, None, "--redis-url", "redis://127.0.0.1:6379/0").start().stop()
    finally:
        first.stop()


@pytest.mark.gen_test(timeout=120)
async def test_a_postgresql_restart_is_waited_out_and_loses_no_acked_message(tmp_path):
    pg = PrivatePostgres().create()
    try:
        with servers(start_server(tmp_path, pg.url), start_server(tmp_path, pg.url)) as (a, b):
            api_a = api_of(a)
            pair = await friends_across(a, b, api_a)
            ann, bob, sa, reader, bob_client = pair.ann, pair.bob, pair.sender, pair.reader, pair.bob_client
            acks: dict[str, int] = {}
            for n in range(20):
                await sa.send(cmd=10, dstid=bob.id, media=1, content=f"before {n}")
            await collect_acks(sa, acks, 20, timeout=40)
            await asyncio.get_running_loop().run_in_executor(None, pg.stop)
            # While it is down: requests get 503 (try again), messages wait unacked.
            status, envelope = await api_a.call("/contact/loadfriend", ann.token)
            assert status == 503 and "database" in envelope["msg"]
            for n in range(20):
                await sa.send(cmd=10, dstid=bob.id, media=1, content=f"during {n}")
            await asyncio.get_running_loop().run_in_executor(None, pg.start)
            await collect_acks(
                sa, acks, 40, timeout=40
            )  # stored once it is back: nothing lost, nothing refused
            await reader.read(bob_client, 40, timeout=20)
            assert_exactly_once_in_order(reader, set(acks.values()))
            contents = [m["content"] for m in reader.messages]
            assert contents == [f"before {n}" for n in range(20)] + [f"during {n}" for n in range(20)]
            assert (await api_a.call("/contact/loadfriend", ann.token))[0] == 200
    finally:
        pg.remove()


@pytest.mark.gen_test(timeout=60)
async def test_a_logout_or_a_disabled_account_on_one_process_ends_the_sessions_on_the_other(
    tmp_path, pg_database
):
    with servers(start_server(tmp_path, pg_database), start_server(tmp_path, pg_database)) as (a, b):
        api_a, api_b = api_of(a), api_of(b)
        admin, bob = await register(api_a, "Admin"), await register(api_a, "Bob")  # the first is admin
        on_b = await connect(b.base_url, bob)
        assert (await api_b.call("/user/me", bob.token))[0] == 200  # B now caches the token
        await api_a.ok("/user/logout", bob.token)
        assert await on_b.closed() == 4001
        assert (await api_b.call("/user/me", bob.token))[0] == 401  # at once, not in a minute
        again = await api_b.ok("/user/login", mobile=bob.mobile, passwd="correct horse")
        bob.token = again["token"]
        on_b = await connect(b.base_url, bob)
        assert (await api_b.call("/user/me", bob.token))[0] == 200
        await api_a.ok("/admin/disable", admin.token, userid=bob.id, disabled=True)
        assert await on_b.closed() == 4001
        assert (await api_b.call("/user/me", bob.token))[0] == 401
