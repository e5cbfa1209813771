"""/metrics with `--processes 2` on Redis: a scrape reaches one worker and must count every
worker's sockets and messages; a worker that dies stops counting as open sockets but its
messages stay in the totals. Each connection's worker is told by /healthz's pid, asked on
that same keep-alive connection before it is upgraded to a WebSocket."""

from __future__ import annotations

import base64
import http.client
import os
import re
import signal
import struct
import time

import orjson
import pytest

from tests.conftest import REDIS_URL
from tests.serverproc import ServerProcess
from tests.test_metrics import parse, value

pytestmark = [pytest.mark.slow, pytest.mark.redis]
SOCKETS_PER_WORKER = 2
FLUSH_WAIT_S = 10.0  # workers write their counts every second (server/metrics.py FLUSH_S)


class Conn:
    """One keep-alive HTTP connection, and so one worker; it can become a WebSocket."""

    def __init__(self, port: int) -> None:
        self.http = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.pid = int(self.get("/healthz")[1]["pid"])

    def get(self, path: str) -> tuple[int, dict]:
        self.http.request("GET", path)
        response = self.http.getresponse()
        return response.status, orjson.loads(response.read())

    def metrics(self) -> dict:
        self.http.request("GET", "/metrics")
        response = self.http.getresponse()
        assert response.status == 200
        return parse(response.read().decode())

    def upgrade(self, user_id: int, token: str) -> None:
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET /chat?id={user_id}&token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1)
        assert head.startswith(b"HTTP/1.1 101"), head

    @property
    def sock(self):
        assert self.http.sock is not None
        return self.http.sock

    def send(self, frame: dict) -> None:
        payload = orjson.dumps(frame)
        assert len(payload) < 126
        self.sock.sendall(bytes([0x81, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)  # a zero mask

    def next_frame(self) -> dict:
        first, second = self._read(2)
        size = second & 0x7F
        if size == 126:
            size = struct.unpack("!H", self._read(2))[0]
        elif size == 127:
            size = struct.unpack("!Q", self._read(8))[0]
        payload = self._read(size)
        if first & 0x0F != 0x1:
            return self.next_frame()  # not text (a ping): the next one
        return orjson.loads(payload)

    def _read(self, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            assert chunk, "socket closed"
            data += chunk
        return data

    def close(self) -> None:
        self.http.close()


def post(port: int, path: str, token: str = "", **body) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    conn.request("POST", path, orjson.dumps(body), headers)
    envelope = orjson.loads(conn.getresponse().read())
    conn.close()
    assert envelope["code"] == 0, envelope
    return envelope.get("data", {})


def until(scrape, name: str, wanted: float, **labels: str) -> dict:
    """Scrape until `name` reaches `wanted`: another worker's counts arrive within a second."""
    deadline = time.monotonic() + FLUSH_WAIT_S
    while True:
        samples = scrape()
        if value(samples, name, **labels) == wanted or time.monotonic() > deadline:
            return samples
        time.sleep(0.05)


def test_every_worker_counts_whichever_answers_the_scrape(tmp_path):
    server = ServerProcess(tmp_path, None, "--processes", "2", "--redis-url", REDIS_URL).start()
    conns: list[Conn] = []
    try:
        port = server.port
        alice = post(port, "/user/register", mobile="13800000001", passwd="correct horse", nickname="Alice")
        bob = post(port, "/user/register", mobile="13800000002", passwd="correct horse", nickname="Bob")
        if post(port, "/contact/addfriend", alice["token"], dstid=bob["id"]).get("status") == "requested":
            post(port, "/contact/accept", bob["token"], dstid=alice["id"])

        # Connections land on whichever worker accepts first: keep opening until each of the
        # two has a scrape connection and SOCKETS_PER_WORKER WebSockets.
        scrapers: dict[int, Conn] = {}
        sockets: dict[int, list[Conn]] = {}
        for _ in range(400):
            conn = Conn(port)
            conns.append(conn)
            if conn.pid not in scrapers:
                scrapers[conn.pid] = conn
            elif len(sockets.setdefault(conn.pid, [])) < SOCKETS_PER_WORKER:
                conn.upgrade(alice["id"], alice["token"])
                sockets[conn.pid].append(conn)
            else:
                conn.close()
            if len(scrapers) == 2 and all(
                len(sockets.get(pid, [])) == SOCKETS_PER_WORKER for pid in scrapers
            ):
                break
        else:
            pytest.fail(f"connections did not reach both workers: {sorted(scrapers)}")

        # Open sockets are counted at once, by both workers' answers alike.
        for pid, scraper in scrapers.items():
            assert scraper.get("/healthz")[1]["sockets"] == SOCKETS_PER_WORKER, pid
            assert value(scraper.metrics(), "chatd_sockets_open") == 2 * SOCKETS_PER_WORKER, pid

        # One message through each worker, each acked.
        for pid, (sock, *_) in sockets.items():
            sock.send({"cmd": 10, "dstid": bob["id"], "media": 1, "content": "hi", "cmid": f"m{pid}"})
            while (frame := sock.next_frame()).get("cmd") != 12:
                pass
            assert frame["cmid"] == f"m{pid}"
        for pid, scraper in scrapers.items():
            samples = until(scraper.metrics, "chatd_acks_total", 2)
            assert value(samples, "chatd_acks_total") == 2, pid
            assert value(samples, "chatd_frames_in_total") == 2, pid
            assert value(samples, "chatd_ack_seconds_count") == 2, pid
            assert value(samples, "chatd_bus_lag_seconds_count") >= 2, pid  # Redis: publish to receipt
            assert value(samples, "chatd_bus_up") == 1
            # Each worker's own process figures, labelled by its pid.
            assert value(samples, "process_resident_memory_bytes", pid=str(pid)) > 0

        # A worker killed: its sockets no longer count once the supervisor has seen it go;
        # the messages it acked stay in the totals.
        dead, alive = list(scrapers)
        os.kill(dead, signal.SIGKILL)
        samples = until(scrapers[alive].metrics, "chatd_sockets_open", SOCKETS_PER_WORKER)
        assert value(samples, "chatd_sockets_open") == SOCKETS_PER_WORKER
        assert value(samples, "chatd_acks_total") == 2
        # Its process figures go too: mark_process_dead removes its files one at a time.
        samples = until(scrapers[alive].metrics, "process_resident_memory_bytes", 0, pid=str(dead))
        assert value(samples, "process_resident_memory_bytes", pid=str(dead)) == 0
    finally:
        for conn in conns:
            conn.close()
        server.stop()
    # The workers' metrics directory goes with the server.
    named = re.search(r"metrics files in (\S+)", server.log_path.read_text())
    assert named is not None and not os.path.exists(named.group(1))
