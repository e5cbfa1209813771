"""Issue 10, point 4 (limits): with Redis, the send allowance, login failures, registrations,
lookups by mobile and uploads in progress are counted once for the chat, whatever process a
request lands on; while Redis is unreachable each process counts its own (server/sharedlimits.py)."""

from __future__ import annotations

import contextlib
import itertools
import math
import socket
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis.asyncio
from tornado.httpclient import AsyncHTTPClient

from server.sharedlimits import LeasedBuckets, RedisLink, send_lease
from tests import mediafiles
from tests.conftest import (
    REDIS_URL,
    Account,
    Api,
    ChatClient,
    befriend,
    connect,
    fresh_pg_database,
    wait_until,
)
from tests.serverproc import ServerProcess, free_port
from tests.test_hostile_http import open_raw, request_head, temp_files
from tests.test_uploads import multipart, upload

pytestmark = pytest.mark.redis

_addresses = itertools.count(1)
_mobiles = iter(range(16_600_000_000, 16_699_999_999))


def new_address() -> str:
    n = next(_addresses)
    return f"10.{60 + n // 62_500}.{n // 250 % 250}.{n % 250 + 1}"


def from_ip(ip: str) -> dict[str, str]:
    return {"X-Real-IP": ip}


async def register(api: Api, nickname: str) -> Account:
    """A user registered from an address of its own (registrations per address are limited)."""
    mobile = str(next(_mobiles))
    status, envelope = await api.call(
        "/user/register",
        headers=from_ip(new_address()),
        mobile=mobile,
        passwd="correct horse",
        nickname=nickname,
    )
    assert status == 200, envelope
    data = envelope["data"]
    return Account(id=data["id"], token=data["token"], mobile=mobile, nickname=nickname)


# --- the lease: tokens come from the chat's bucket only ------------------------------------


@contextlib.asynccontextmanager
async def link_to_redis():
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        yield RedisLink(client, f"chatd:test-{uuid.uuid4().hex}:", lambda: True)
    finally:
        await client.aclose()


async def spend(limits: LeasedBuckets, key: object) -> bool:
    """One frame, as a socket spends it: fetch a lease first when none is at hand."""
    while not limits.ready(key):
        await limits.refill(key)
    return limits.allow(key)


@pytest.mark.gen_test
async def test_processes_taking_leases_never_spend_more_than_the_bucket_holds():
    # Three "processes" spend one user's allowance in turn, leases of 4 frames each. A token
    # comes back every 10 s, so what they spend is the burst and no more, however slowly the
    # test runs: the leases share the bucket, they do not add to it.
    async with link_to_redis() as link:
        procs = [LeasedBuckets(0.1, 30, link, "send", lease=4) for _ in range(3)]
        allowed = [0, 0, 0]
        refused = [False, False, False]
        for turn in itertools.count():
            if all(refused):
                break
            i = turn % 3
            if not refused[i]:
                if await spend(procs[i], 7):
                    allowed[i] += 1
                else:
                    refused[i] = True
                    assert procs[i].wait_s(7) > 1.0  # refused until a frame is earned back
        assert sum(allowed) == 30
        # Refused everywhere now, without asking Redis again until a token is due.
        calls = link.calls
        assert not any([await spend(p, 7) for p in procs]) and link.calls == calls


@pytest.mark.gen_test
async def test_a_sender_asks_redis_once_per_lease_not_once_per_frame():
    async with link_to_redis() as link:
        lease = send_lease(20.0, 100)  # the defaults: 20 frames/s, bursts of 100
        assert lease == 5
        limits = LeasedBuckets(0.1, 1000, link, "send", lease)
        assert all([await spend(limits, 1) for _ in range(1000)])
        assert link.calls == math.ceil(1000 / lease)  # 200 round trips for 1,000 frames
        # The frames other users send ask for their own leases.
        assert await spend(limits, 2) and link.calls == 201


# --- two real processes on one PostgreSQL database and one Redis ---------------------------

LIMITS = {
    "--send-rate": "0.1",  # a frame earned back every 10 s: a burst meets an empty allowance
    "--send-burst": "6",
    "--login-attempts": "3",
    "--login-address-attempts": "5",
    "--login-account-attempts": "8",
    "--register-per-address": "3",
    "--find-rate": "3",
    "--uploads-per-user": "2",
}


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory) -> Iterator[list[ServerProcess]]:
    extra = ["--redis-url", REDIS_URL, *itertools.chain.from_iterable(LIMITS.items())]
    with fresh_pg_database() as database:
        servers: list[ServerProcess] = []
        try:
            for name in ("one", "two"):
                data_dir = tmp_path_factory.mktemp(name)
                servers.append(ServerProcess(data_dir, None, *extra, database=database).start())
            yield servers
        finally:
            for server in servers:
                server.stop()


@pytest.fixture
def apis(two_processes) -> list[Api]:
    client = AsyncHTTPClient()
    return [Api(client, server.base_url) for server in two_processes]


async def answer_to(sock: ChatClient, cmid: str) -> dict[str, Any]:
    """The ack or refusal of `cmid`, past copies of the user's messages from other devices."""
    while True:
        frame = await sock.next_frame()
        if frame["cmd"] in (12, 13) and frame["cmid"] == cmid:
            return frame


@pytest.mark.slow
@pytest.mark.gen_test(timeout=60)
async def test_a_burst_split_across_two_processes_gets_429_after_send_burst_frames_in_all(
    two_processes, apis
):
    eve, ann = await register(apis[0], "Eve"), await register(apis[0], "Ann")
    await befriend(apis[0], eve, ann)
    sockets = [await connect(server.base_url, eve) for server in two_processes]
    for i in range(6):  # the burst, one frame on each process in turn
        cmid = await sockets[i % 2].send(cmd=10, dstid=ann.id, media=1, content=f"m{i}")
        assert (await answer_to(sockets[i % 2], cmid))["cmd"] == 12
    for sock in sockets:  # spent for the chat: refused on either process
        cmid = await sock.send(cmd=10, dstid=ann.id, media=1, content="one more")
        frame = await answer_to(sock, cmid)
        assert (frame["cmd"], frame["code"]) == (13, 429), frame
        assert sock.conn.close_code is None  # the socket stays open
    for sock in sockets:
        sock.close()


@pytest.mark.slow
@pytest.mark.gen_test(timeout=60)
async def test_failed_logins_alternating_between_processes_hit_429_after_login_attempts(apis):
    ann = await register(apis[0], "Ann")
    guesser = new_address()
    statuses = []
    for i in range(5):
        status, _ = await apis[i % 2].call(
            "/user/login", headers=from_ip(guesser), mobile=ann.mobile, passwd="wrong guess"
        )
        statuses.append(status)
    assert statuses == [401, 401, 401, 429, 429]
    # The owner, from her own address, logs in at once on either process.
    for api in apis:
        status, envelope = await api.call(
            "/user/login", headers=from_ip(new_address()), mobile=ann.mobile, passwd="correct horse"
        )
        assert status == 200 and envelope["data"]["id"] == ann.id

    # One address trying many mobiles reaches the per-address limit across both, too.
    sweeper, statuses = new_address(), []
    for i in range(7):
        status, _ = await apis[i % 2].call(
            "/user/login", headers=from_ip(sweeper), mobile=str(next(_mobiles)), passwd="guess it"
        )
        statuses.append(status)
    assert statuses == [401] * 5 + [429] * 2


@pytest.mark.slow
@pytest.mark.gen_test(timeout=60)
async def test_registrations_from_one_address_are_counted_once_across_processes(apis):
    address, statuses = new_address(), []
    for i in range(5):
        status, _ = await apis[i % 2].call(
            "/user/register", headers=from_ip(address), mobile=str(next(_mobiles)), passwd="pw pw pw",
            nickname=f"r{i}",
        )  # fmt: skip
        statuses.append(status)
    assert statuses == [200, 200, 200, 429, 429]


@pytest.mark.slow
@pytest.mark.gen_test(timeout=60)
async def test_lookups_by_mobile_are_counted_once_across_processes(apis):
    ann, bob = await register(apis[0], "Ann"), await register(apis[0], "Bob")
    for i in range(3):
        assert (await apis[i % 2].ok("/user/find", ann.token, mobile=bob.mobile))["id"] == bob.id
    for api in apis:
        status, envelope = await api.call("/user/find", ann.token, mobile=bob.mobile)
        assert status == 429 and "lookups" in envelope["msg"], envelope
    # Another user's lookups are theirs.
    assert (await apis[1].ok("/user/find", bob.token, mobile=ann.mobile))["id"] == ann.id


async def hold_upload(base_url: str, token: str, data: bytes) -> tuple[Any, Any, bytes]:
    """An upload that sends its headers and the first half of its body, then waits: it holds
    its slot. Returns (reader, writer, the rest of the body)."""
    body, content_type = multipart(data, filename="a.png", content_type="image/png")
    half = len(body) // 2
    reader, writer = await open_raw(base_url)
    writer.write(
        request_head("/attach/upload", len(body), content_type, Authorization=f"Bearer {token}") + body[:half]
    )
    await writer.drain()
    return reader, writer, body[half:]


@pytest.mark.slow
@pytest.mark.gen_test(timeout=90)
async def test_uploads_in_progress_are_counted_once_for_a_user_across_processes(two_processes, apis):
    ann, bob = await register(apis[0], "Ann"), await register(apis[0], "Bob")
    photo, http_client = mediafiles.png_with_alpha(), AsyncHTTPClient()
    # One upload in progress on each process: uploads_per_user (2) for Ann in all.
    held = []
    for server in two_processes:
        held.append(await hold_upload(server.base_url, ann.token, photo))
        upload_dir = server.data_dir / "upload"
        await wait_until(lambda d=upload_dir: len(temp_files(d)) == 1, what="the upload in progress")
    for server in two_processes:
        status, envelope = await upload(http_client, server.base_url, ann.token, photo)
        assert status == 429 and "uploads in progress" in envelope["msg"], envelope
    # Bob's slots are his own.
    status, _ = await upload(http_client, two_processes[1].base_url, bob.token, photo)
    assert status == 200
    # Once one of Ann's ends (answered), the other process takes her next upload.
    reader, writer, rest = held[0]
    writer.write(rest)
    await writer.drain()
    assert (await reader.readuntil(b"\r\n")).startswith(b"HTTP/1.1 200")
    status, envelope = await upload(http_client, two_processes[1].base_url, ann.token, photo)
    assert status == 200, envelope
    for _, writer, _ in held:
        writer.close()


# --- a Redis outage: each process counts its own, and chat keeps working --------------------


@pytest.fixture
def own_redis() -> Iterator[dict[str, Any]]:
    """A Redis server of this test's own, which the test may stop and start again."""
    port = free_port()
    args = ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"]
    state: dict[str, Any] = {"url": f"redis://127.0.0.1:{port}/0"}

    def start() -> None:
        state["proc"] = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        for _ in range(500):  # until it accepts connections (a few ms)
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.1):
                return
            assert state["proc"].poll() is None, "redis-server exited"
            with contextlib.suppress(subprocess.TimeoutExpired):
                state["proc"].wait(0.01)
        raise AssertionError("redis-server did not start")

    def stop() -> None:
        state["proc"].terminate()
        state["proc"].wait(10)

    state.update(start=start, stop=stop)
    start()
    yield state
    if state["proc"].poll() is None:
        stop()


@pytest.fixture
def settings_overrides(own_redis) -> dict[str, Any]:
    return {"redis_url": own_redis["url"], "send_rate": 0.1, "send_burst": 3, "login_attempts": 2}


@pytest.mark.gen_test(timeout=60)
async def test_while_redis_is_down_limits_are_counted_per_process_and_chat_goes_on(
    api, base_url, ctx, own_redis, caplog
):
    users = [await register(api, name) for name in ("Ann", "Bob", "Cat")]
    ann, bob, cat = users
    await befriend(api, ann, bob)
    await befriend(api, cat, bob)

    async def sends(account: Account, count: int) -> list[int]:
        sock = await connect(base_url, account)
        codes = []
        for i in range(count):
            await sock.send(cmd=10, dstid=bob.id, media=1, content=f"{account.nickname} {i}")
            frame = await sock.next_frame()
            codes.append(frame["cmd"] if frame["cmd"] == 12 else frame["code"])
        sock.close()
        return codes

    assert await sends(ann, 4) == [12, 12, 12, 429]  # counted in Redis
    assert ctx.limits_link.calls > 0
    with caplog.at_level("INFO", logger="server.sharedlimits"):
        own_redis["stop"]()
        # Still limited, by this process: Cat's burst, then 429; messages are still stored.
        assert await sends(cat, 4) == [12, 12, 12, 429]
        guesses = [
            (await api.call("/user/login", headers=from_ip("10.9.8.7"), mobile=ann.mobile, passwd="nope"))[0]
            for _ in range(3)
        ]
        assert guesses == [401, 401, 429]
        down = [r for r in caplog.records if "redis unusable for limits" in r.getMessage()]
        assert len(down) == 1, [r.getMessage() for r in caplog.records]  # once, not per request

        own_redis["start"]()  # empty: it kept nothing
        await wait_until(lambda: ctx.bus.live, timeout=30, what="the bus back on Redis")
        # Counted in Redis again: Cat's spent local allowance does not matter there.
        assert await sends(cat, 1) == [12]
    assert any("limits are counted for the whole chat" in r.getMessage() for r in caplog.records)
