"""The socket reads client frames a chunk at a time (handlers/wsreader.py): frames that share
a TCP segment, frames split across many, fragmented messages with a ping between their
parts, and the three length encodings all arrive whole; a frame over the limit gets 1009."""

from __future__ import annotations

import asyncio
import os
import socket

import orjson
import pytest

from tests.conftest import befriend, connect, register


@pytest.fixture
def settings_overrides():
    return {"send_rate": 100_000.0, "send_burst": 100_000, "max_frame_bytes": 70_000, "max_text": 100_000}


def client_frame(payload: bytes, opcode: int = 0x1, final: bool = True) -> bytes:
    """A masked client frame (RFC 6455 5.2)."""
    mask = os.urandom(4)
    size = len(payload)
    if size < 126:
        head = bytes([(0x80 if final else 0) | opcode, 0x80 | size])
    elif size <= 0xFFFF:
        head = bytes([(0x80 if final else 0) | opcode, 0x80 | 126]) + size.to_bytes(2, "big")
    else:
        head = bytes([(0x80 if final else 0) | opcode, 0x80 | 127]) + size.to_bytes(8, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class RawClient:
    """A WebSocket client by hand, to control exactly which bytes go in which write."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    @classmethod
    async def open(cls, base_url: str, user_id: int, token: str) -> RawClient:
        loop = asyncio.get_running_loop()
        host, port = base_url.split("//")[1].split(":")
        sock = socket.socket()
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await loop.sock_connect(sock, (host, int(port)))
        await loop.sock_sendall(
            sock,
            (
                f"GET /chat?id={user_id}&token={token} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode(),
        )
        client = cls(sock)
        head = await client._read_until(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        return client

    async def _fill(self) -> None:
        chunk = await asyncio.wait_for(asyncio.get_running_loop().sock_recv(self.sock, 65536), 10)
        if not chunk:
            raise EOFError
        self.buffer += chunk

    async def _read_until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            await self._fill()
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    async def send(self, data: bytes) -> None:
        await asyncio.get_running_loop().sock_sendall(self.sock, data)

    async def next_frame(self) -> tuple[int, bytes]:
        """(opcode, payload) of the next server frame (never masked, never fragmented here)."""
        while len(self.buffer) < 2:
            await self._fill()
        opcode, size, start = self.buffer[0] & 0x0F, self.buffer[1] & 0x7F, 2
        if size == 126:
            while len(self.buffer) < 4:
                await self._fill()
            size, start = int.from_bytes(self.buffer[2:4], "big"), 4
        while len(self.buffer) < start + size:
            await self._fill()
        payload, self.buffer = self.buffer[start : start + size], self.buffer[start + size :]
        return opcode, payload


def text(content: str, dstid: int, cmid: str) -> bytes:
    return orjson.dumps({"cmd": 10, "dstid": dstid, "media": 1, "content": content, "cmid": cmid})


@pytest.mark.gen_test(timeout=30)
async def test_frames_in_one_write_split_byte_by_byte_and_fragmented_all_arrive(api, base_url):
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    await befriend(api, ann, bob)
    raw = await RawClient.open(base_url, ann.id, ann.token)
    b = await connect(base_url, bob)
    # Three whole frames in one write; 7-bit, 16-bit and 64-bit lengths.
    contents = ["short", "m" * 300, "L" * 66_000]
    await raw.send(b"".join(client_frame(text(c, bob.id, f"w{i}")) for i, c in enumerate(contents)))
    # One frame a byte at a time.
    for byte in client_frame(text("dribbled", bob.id, "d1")):
        await raw.send(bytes([byte]))
    # A message in three fragments with a ping between them: the pong comes back at once.
    body = text("in three parts", bob.id, "f1")
    await raw.send(client_frame(body[:10], final=False))
    await raw.send(client_frame(b"are you there", opcode=0x9))
    assert await raw.next_frame() == (0xA, b"are you there")
    await raw.send(client_frame(body[10:20], opcode=0x0, final=False))
    await raw.send(client_frame(body[20:], opcode=0x0))
    expected = [*contents, "dribbled", "in three parts"]
    acks = [orjson.loads((await raw.next_frame())[1]) for _ in expected]
    assert [(a["cmd"], a["cmid"]) for a in acks] == [
        (12, "w0"),
        (12, "w1"),
        (12, "w2"),
        (12, "d1"),
        (12, "f1"),
    ]
    assert [(await b.next_message())["content"] for _ in expected] == expected


@pytest.mark.gen_test(timeout=30)
async def test_a_frame_over_max_frame_bytes_closes_with_1009_and_nothing_of_it_is_stored(api, base_url):
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    await befriend(api, ann, bob)
    raw = await RawClient.open(base_url, ann.id, ann.token)
    await raw.send(client_frame(text("x" * 71_000, bob.id, "big")))
    opcode, payload = await raw.next_frame()
    assert (opcode, int.from_bytes(payload[:2], "big")) == (0x8, 1009)
    assert await api.ok("/message/history", ann.token, cmd=10, dstid=bob.id) == []
