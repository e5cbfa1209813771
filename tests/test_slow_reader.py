"""A reader that never reads is cut off (1013) and holds nobody back."""

from __future__ import annotations

import asyncio
import socket

import pytest

from tests.conftest import assert_next_is_sentinel, befriend, connect, register, wait_until

OUTBOX_BYTES = 150_000


@pytest.fixture
def settings_overrides():
    return {"outbox_bytes": OUTBOX_BYTES, "send_rate": 100_000.0, "send_burst": 100_000}


async def stalled_socket(base_url: str, user_id: int, token: str) -> socket.socket:
    """Upgrade to a WebSocket by hand, then never read again (a tiny receive buffer
    makes the server's writes back up quickly)."""
    loop = asyncio.get_running_loop()
    host, port = base_url.split("//")[1].split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await loop.sock_connect(sock, (host, int(port)))
    request = (
        f"GET /chat?id={user_id}&token={token} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    await loop.sock_sendall(sock, request.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += await loop.sock_recv(sock, 1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


async def read_to_eof(sock: socket.socket, timeout: float) -> bytes:
    loop = asyncio.get_running_loop()
    data = bytearray()
    while True:
        chunk = await asyncio.wait_for(loop.sock_recv(sock, 65536), timeout)
        if not chunk:
            return bytes(data)
        data += chunk


@pytest.mark.gen_test(timeout=90)
async def test_stalled_reader_is_closed_with_1013_without_delaying_others(api, base_url, ctx):
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    carol, dave = await register(api, "Carol"), await register(api, "Dave")
    await befriend(api, ann, bob)
    await befriend(api, carol, dave)
    slow = await stalled_socket(base_url, bob.id, bob.token)
    a = await connect(base_url, ann)
    c, d = await connect(base_url, carol), await connect(base_url, dave)
    assert ctx.hub.online_sockets() == 4

    big = "x" * 3000
    flood = 3000  # ~9 MB: far more than the kernel buffers hold for a reader that never reads

    async def read_once_dropped() -> bytes:
        # The reader wakes up once the server gave up on it: it finds its close frame
        # (1013, "try again later") behind what the server had handed over, then the end.
        await wait_until(lambda: ctx.hub.online_sockets() == 3, what="the stalled socket gone from the hub")
        return await read_to_eof(slow, 20)

    closing = asyncio.ensure_future(read_once_dropped())
    for i in range(flood):
        await a.send(cmd=10, dstid=bob.id, media=1, content=f"{i} {big}")
    acks = 0
    round_trips = 0
    # While Ann's flood is stored and pushed at the stalled reader, Carol and Dave chat
    # and Ann keeps getting her acks.
    while acks < flood:
        frame = await a.next_frame(10)
        assert frame["cmd"] == 12, frame
        acks += 1
        if acks % 300 == 0:
            await c.send(cmd=10, dstid=dave.id, media=1, content=f"ping {acks}")
            assert (await d.next_message(5))["content"] == f"ping {acks}"
            assert (await c.next_frame(5))["cmd"] == 12
            round_trips += 1
    assert round_trips == flood // 300

    tail = (await closing)[-64:]
    assert b"\x88" in tail and (1013).to_bytes(2, "big") in tail
    slow.close()

    # Bob comes back with since=0 and gets every one of Ann's messages, once, in order.
    b = await connect(base_url, bob, since=0)
    contents = [int((await b.next_message(10))["content"].split()[0]) for _ in range(flood)]
    assert contents == list(range(flood))
    await assert_next_is_sentinel(b, sender=a, dstid=bob.id)


@pytest.mark.parametrize("settings_overrides", [{"ping_interval": 0.2}])
@pytest.mark.gen_test(timeout=30)
async def test_a_peer_that_never_answers_pings_is_closed_and_one_that_does_stays(api, base_url, ctx):
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    await befriend(api, ann, bob)
    dead = await stalled_socket(base_url, bob.id, bob.token)  # never reads, so never pongs
    a, b = await connect(base_url, ann), await connect(base_url, bob)  # these answer pings
    await wait_until(lambda: ctx.hub.online_sockets() == 2, timeout=10, what="the silent socket closed")
    # The ones that answered lived through the same rounds and still work both ways.
    await a.send(cmd=10, dstid=bob.id, media=1, content="still here")
    assert (await a.next_frame())["cmd"] == 12
    assert (await b.next_message())["content"] == "still here"
    dead.close()
