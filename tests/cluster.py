"""Several real `python -m server` processes sharing one PostgreSQL database and one Redis,
and the clients the cluster tests drive through them."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from tornado.httpclient import AsyncHTTPClient

from tests.conftest import REDIS_URL, Account, Api, ChatClient, befriend, connect, register
from tests.serverproc import ServerProcess, free_port


def start_server(data_dir: Path, database: str, redis_url: str = REDIS_URL, *extra: str) -> ServerProcess:
    # Uploads are shared as a network disk would share them between machines.
    return ServerProcess(data_dir, None, "--redis-url", redis_url, *extra, database=database).start()


async def health(server: ServerProcess) -> dict[str, Any]:
    response = await AsyncHTTPClient().fetch(server.base_url + "/healthz", raise_error=False)
    return orjson.loads(response.body)


def api_of(server: ServerProcess) -> Api:
    return Api(AsyncHTTPClient(), server.base_url)


class Reader:
    """One user's messages as their client sees them across reconnects: every message
    frame in arrival order per connection, and the resume cursor (the highest id read)."""

    def __init__(self, account: Account) -> None:
        self.account = account
        self.connections: list[list[dict[str, Any]]] = []
        self.cursor: int | None = None

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [m for conn in self.connections for m in conn]

    async def open(self, server: ServerProcess) -> ChatClient:
        client = await connect(server.base_url, self.account, since=self.cursor)
        self.connections.append([])
        return client

    async def read(self, client: ChatClient, count: int, timeout: float = 10.0) -> int:
        """Read up to `count` message frames (acks and notices skipped); returns how many."""
        got = 0
        while got < count:
            try:
                frame = await client.next_frame(timeout)
            except (AssertionError, TimeoutError):
                break  # closed by the server, or quiet: the caller reconnects
            if frame.get("cmd") in (10, 11) and "id" in frame:
                self.connections[-1].append(frame)
                self.cursor = max(self.cursor or 0, frame["id"])
                got += 1
        return got

    def ids(self) -> list[int]:
        return [m["id"] for m in self.messages]


def assert_exactly_once_in_order(reader: Reader, expected_ids: set[int]) -> None:
    """Each expected message arrived once; each connection's stream grew in id order."""
    ids = reader.ids()
    doubled = sorted({i for i in ids if ids.count(i) > 1})
    assert not doubled, f"{reader.account.nickname} got these twice: {doubled[:20]}"
    missing = sorted(expected_ids - set(ids))
    assert not missing, f"{reader.account.nickname} never got {len(missing)}: {missing[:20]}"
    for number, conn in enumerate(reader.connections):
        conn_ids = [m["id"] for m in conn]
        assert conn_ids == sorted(conn_ids), f"connection {number} out of order: {conn_ids[:40]}"


async def all_messages(api: Api, token: str, cmd: int, dst_id: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    before = None
    while True:
        body: dict[str, Any] = {"cmd": cmd, "dstid": dst_id, "limit": 100}
        if before is not None:
            body["before"] = before
        page = await api.ok("/message/history", token, **body)
        if not page:
            return sorted(rows, key=lambda m: m["id"])
        rows.extend(page)
        before = page[-1]["id"]


class PrivateRedis:
    """A redis-server of the test's own on a free port, to stop and start again (the
    machine's Redis on 6379 serves every other test)."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.data_dir = data_dir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> PrivateRedis:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.data_dir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                __import__("socket").create_connection(("127.0.0.1", self.port), 0.2),
            ):
                return self
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)  # an outage, not a clean shutdown
            self.proc.wait(10)
        self.proc = None


@contextlib.contextmanager
def servers(*procs: ServerProcess) -> Iterator[tuple[ServerProcess, ...]]:
    try:
        yield procs
    finally:
        for proc in procs:
            proc.stop()


def children_of(pid: int) -> set[int]:
    """The worker pids of a `--processes` parent."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found.update(int(p) for p in task.read_text().split())
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own (initdb in a temp dir, trust auth, a free
    port), to stop and start again while chatd runs on it."""

    BIN = (
        sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
        if Path("/usr/lib/postgresql").exists()
        else None
    )

    def __init__(self) -> None:
        self.port = free_port()
        # Its own temp dir: pytest's are root's alone, and the server runs as postgres.
        self.root = Path(tempfile.mkdtemp(prefix="chatd-pg-"))
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *args: str) -> None:
        # PostgreSQL refuses to run as root: its own user runs it.
        runner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*runner, *args], check=True, capture_output=True, timeout=60)

    def create(self) -> PrivatePostgres:
        assert self.BIN is not None, "PostgreSQL server binaries not found"
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        self._as_postgres(
            str(self.BIN / "initdb"), "-D", str(self.root / "data"), "-A", "trust", "-U", "postgres"
        )
        return self.start()

    def start(self) -> PrivatePostgres:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.root / "server.log")
        self._as_postgres(
            str(self.BIN / "pg_ctl"), "-D", str(self.root / "data"), "-o", options, "-l", log, "-w", "start"
        )
        return self

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._as_postgres(
                str(self.BIN / "pg_ctl"), "-D", str(self.root / "data"), "-m", "fast", "-w", "stop"
            )

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@dataclasses.dataclass
class Pair:
    """Ann sending on one process, Bob (friends) reading from the start on another."""

    ann: Account
    bob: Account
    sender: ChatClient  # Ann's socket
    reader: Reader  # Bob's view
    bob_client: ChatClient  # Bob's socket


async def friends_across(sending: ServerProcess, reading: ServerProcess, api: Api) -> Pair:
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    await befriend(api, ann, bob)
    reader = Reader(bob)
    reader.cursor = 0
    bob_client = await reader.open(reading)
    return Pair(ann, bob, await connect(sending.base_url, ann), reader, bob_client)


async def collect_acks(client: ChatClient, acks: dict[str, int], count: int, timeout: float = 10.0) -> None:
    """Read `client`'s frames until `acks` (cmid -> id) holds `count` acks."""
    while len(acks) < count:
        frame = await client.next_frame(timeout)
        if frame["cmd"] == 12:
            acks[frame["cmid"]] = frame["id"]
