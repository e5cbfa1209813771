"""One Redis pub/sub connection, read with hiredis straight off an asyncio protocol.

redis-py's asyncio connection costs about 6 us of Python per message received; fed from
`data_received` into a `hiredis.Reader`, a message costs about 1 us (measured here with
50,000 publishes from another process), and every message a process serves crosses this
connection once. Commands are SUBSCRIBE, UNSUBSCRIBE and PING; a PONG means every
command sent before its PING has taken effect, which is how the bus knows a subscription
is live."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable
from urllib.parse import unquote, urlparse

import hiredis

log = logging.getLogger(__name__)

OnMessage = Callable[[bytes, bytes], None]  # (channel, data)
OnPong = Callable[[bytes], None]  # the PING's payload
OnLost = Callable[[BaseException | None], None]


def encode_command(*args: bytes | str | int) -> bytes:
    """A command in RESP: an array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        raw = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(parts)


class _Protocol(asyncio.Protocol):
    def __init__(self, owner: Subscriber) -> None:
        self.owner = owner
        self.reader = hiredis.Reader()

    def data_received(self, data: bytes) -> None:
        reader, owner = self.reader, self.owner
        reader.feed(data)
        while True:
            try:
                reply = reader.gets()
            except hiredis.ProtocolError as exc:
                owner.lost(exc)
                return
            if reply is False:
                return
            owner.reply(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner.lost(exc or ConnectionError("Redis closed the connection"))


class Subscriber:
    """A subscriber connection; `on_message(channel, data)` for every message,
    `on_pong(payload)`, and `on_lost(error)` once when the connection ends."""

    def __init__(self, url: str, on_message: OnMessage, on_pong: OnPong, on_lost: OnLost) -> None:
        self.url = url
        self.on_message = on_message
        self.on_pong = on_pong
        self.on_lost = on_lost
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._auth_replies = 0  # AUTH answers still to come before pub/sub replies
        self._auth_error: Exception | None = None

    async def connect(self, timeout: float) -> None:
        """Open the connection and authenticate; raises OSError or TimeoutError."""
        parsed = urlparse(self.url)
        loop = asyncio.get_running_loop()
        protocol = _Protocol(self)
        if parsed.scheme == "unix":
            make = loop.create_unix_connection(lambda: protocol, parsed.path)
        else:
            tls = ssl.create_default_context() if parsed.scheme == "rediss" else None
            make = loop.create_connection(
                lambda: protocol, parsed.hostname or "127.0.0.1", parsed.port or 6379, ssl=tls
            )
        transport, _ = await asyncio.wait_for(make, timeout)
        self.transport = transport
        if parsed.password:
            self._auth_replies = 1
            args = ["AUTH", unquote(parsed.username or ""), unquote(parsed.password)]
            self.send(*(args if parsed.username else ["AUTH", unquote(parsed.password)]))

    def send(self, *args: bytes | str | int) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(encode_command(*args))

    def subscribe(self, channels: list[bytes]) -> None:
        for start in range(0, len(channels), 1000):  # keep each command a sane size
            self.send(b"SUBSCRIBE", *channels[start : start + 1000])

    def unsubscribe(self, channels: list[bytes]) -> None:
        for start in range(0, len(channels), 1000):
            self.send(b"UNSUBSCRIBE", *channels[start : start + 1000])

    def ping(self, payload: bytes) -> None:
        self.send(b"PING", payload)

    def reply(self, reply: object) -> None:
        if self._auth_replies:
            self._auth_replies -= 1
            if isinstance(reply, hiredis.ReplyError):
                self.lost(ConnectionError(f"Redis refused the password: {reply}"))
            return
        if isinstance(reply, list) and reply:
            kind = reply[0]
            if kind == b"message":
                self.on_message(reply[1], reply[2])
            elif kind == b"pong":
                self.on_pong(reply[1])
            return  # subscribe/unsubscribe confirmations: the PONG after them says enough
        if isinstance(reply, hiredis.ReplyError):
            self.lost(ConnectionError(f"Redis answered an error: {reply}"))

    def lost(self, error: BaseException | None) -> None:
        if self.closed:
            return
        self.closed = True
        if self.transport is not None:
            self.transport.abort()
        self.on_lost(error)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            with contextlib.suppress(Exception):
                self.transport.close()
