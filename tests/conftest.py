"""Shared fixtures: a real app on a real SQLite file per test, users, sockets."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from server.app import make_app
from server.httpserver import make_http_server
from server.settings import Settings

TIMEOUT = 5.0
# A stored message on the wire, as PROTOCOL.md lists it.
MESSAGE_FIELDS = frozenset(
    "id userid cmd dstid media content pic url memo amount cmid createat ref editid recalled".split()
)


def pytest_configure(config):
    # A loaded CI machine can take longer than pytest-tornado's 5 s default for a whole
    # test; a hang still fails. This bounds time only: it asserts nothing about speed.
    if config.pluginmanager.has_plugin("tornado") and config.getoption("async_test_timeout") == 5:
        config.option.async_test_timeout = 30.0


@contextlib.contextmanager
def fresh_pg_database() -> Iterator[str]:
    """A new PostgreSQL database on the local server (its URL), dropped afterwards."""
    import psycopg2

    name = "chatd_test_" + uuid.uuid4().hex[:10]
    admin = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="test")
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name}")
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        admin.close()


@pytest.fixture
def pg_database() -> Iterator[str]:
    with fresh_pg_database() as url:
        yield url


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to change settings for its app."""
    return {}


@pytest.fixture
def db_kind() -> str:
    """The store the app runs on; `both_databases` runs a test on SQLite and PostgreSQL."""
    return "sqlite"


both_databases = pytest.mark.parametrize(
    "db_kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)

REDIS_URL = "redis://127.0.0.1:6379/0"  # the machine's Redis; each test's chat has its own names


@pytest.fixture
def bus_kind(request) -> str:
    """The bus the app runs on; `both_buses` runs a test on the in-process and Redis buses."""
    return getattr(request, "param", "memory")


both_buses = pytest.mark.parametrize(
    "bus_kind", ["memory", pytest.param("redis", marks=pytest.mark.redis)], indirect=True
)


@pytest.fixture
def settings(request, tmp_path, settings_overrides, db_kind, bus_kind) -> Settings:
    database = f"sqlite:///{tmp_path}/chatd.db"
    if db_kind == "postgres":
        database = request.getfixturevalue("pg_database")
    bus = {"redis_url": REDIS_URL} if bus_kind == "redis" else {}
    return Settings.for_tests(
        **{
            "database": database,
            "upload_dir": tmp_path / "up",
            "ping_interval": 0,
            **bus,
            **settings_overrides,
        }
    )


@pytest.fixture
def app(settings, io_loop):
    application = make_app(settings)
    io_loop.run_sync(application.settings["ctx"].start, timeout=10)
    yield application
    io_loop.run_sync(application.settings["ctx"].close, timeout=10)


@pytest.fixture
def http_server(app, settings, io_loop, _unused_port):
    """pytest-tornado's server, built as production builds it (body limits, timeouts)."""
    server = make_http_server(app, settings)
    server.add_socket(_unused_port[0])
    yield server
    server.stop()
    io_loop.run_sync(server.close_all_connections, timeout=10)


@pytest.fixture
def base_url(http_port) -> str:
    return f"http://127.0.0.1:{http_port}"


@pytest.fixture
def ctx(app):
    return app.settings["ctx"]


class Api:
    """Calls the HTTP API the way a client does and returns (status, envelope)."""

    def __init__(self, client: AsyncHTTPClient, base_url: str) -> None:
        self.client = client
        self.base_url = base_url

    async def call(
        self, path: str, token: str | None = None, headers: dict[str, str] | None = None, **body: Any
    ) -> tuple[int, dict[str, Any]]:
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        response = await self.client.fetch(
            HTTPRequest(self.base_url + path, method="POST", headers=all_headers, body=orjson.dumps(body)),
            raise_error=False,
        )
        return response.code, orjson.loads(response.body) if response.body else {}

    async def ok(self, path: str, token: str | None = None, **body: Any) -> Any:
        status, envelope = await self.call(path, token, **body)
        assert status == 200 and envelope["code"] == 0, (path, status, envelope)
        return envelope.get("data", envelope.get("rows"))


@pytest.fixture
def api(http_client, base_url) -> Api:
    return Api(http_client, base_url)


@dataclass
class Account:
    id: int
    token: str
    mobile: str
    nickname: str


_mobiles = iter(range(13_900_000_000, 13_999_999_999))


async def register(api: Api, nickname: str, passwd: str = "correct horse") -> Account:
    mobile = str(next(_mobiles))
    data = await api.ok("/user/register", mobile=mobile, passwd=passwd, nickname=nickname)
    return Account(id=data["id"], token=data["token"], mobile=mobile, nickname=nickname)


async def befriend(api: Api, a: Account, b: Account) -> None:
    """Make `a` and `b` friends the way users do: `a` asks, `b` accepts (one call when the
    server adds at once: `open_contacts`, or `b` had asked already)."""
    data = await api.ok("/contact/addfriend", a.token, dstid=b.id)
    if data.get("status") == "requested":
        await api.ok("/contact/accept", b.token, dstid=a.id)


class ChatClient:
    """A WebSocket client as a test sees it: send frames, read frames.

    To check that nothing arrived, use `assert_next_is_sentinel`: waiting a while for
    "nothing" lets a late duplicate pass."""

    def __init__(self, conn: WebSocketClientConnection, account: Account) -> None:
        self.conn = conn
        self.account = account
        self._counter = 0
        self._tag = uuid.uuid4().hex[:12]

    async def send(self, **frame: Any) -> str:
        """Send a frame; fills in a fresh cmid unless one is given. Returns the cmid."""
        if "cmid" not in frame and frame.get("cmd") != 0:
            self._counter += 1
            # Unique per client object for its whole life: id(self) is not (a collected
            # client's address comes back), and a reused cmid is a retry to the server.
            frame["cmid"] = f"{self.account.id}-{self._counter}-{self._tag}"
        await self.conn.write_message(orjson.dumps(frame).decode())
        return frame.get("cmid", "")

    async def send_raw(self, raw: str) -> None:
        await self.conn.write_message(raw)

    async def next_frame(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.conn.read_message(), timeout)
        assert raw is not None, f"socket closed: {self.conn.close_code} {self.conn.close_reason}"
        return orjson.loads(raw)

    async def next_message(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next chat message, skipping acks."""
        while True:
            frame = await self.next_frame(timeout)
            if frame.get("cmd") in (10, 11):
                return frame

    async def closed(self, timeout: float = TIMEOUT) -> int | None:
        """Wait until the server closes the socket; returns the close code."""
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            raw = await asyncio.wait_for(self.conn.read_message(), timeout)
            if raw is None:
                return self.conn.close_code
        raise AssertionError("socket did not close")

    def close(self) -> None:
        self.conn.close()


async def connect(base_url: str, account: Account, since: int | None = None, **headers: str) -> ChatClient:
    url = base_url.replace("http", "ws", 1) + f"/chat?id={account.id}&token={account.token}"
    if since is not None:
        url += f"&since={since}"
    conn = await websocket_connect(HTTPRequest(url, headers=headers or None))
    return ChatClient(conn, account)


_sentinels = itertools.count(1)


async def assert_next_is_sentinel(
    *watched: ChatClient, sender: ChatClient, dstid: int, cmd: int = 10
) -> None:
    """Prove each `watched` socket received nothing unwanted so far.

    `sender` sends a text message (`cmd` 10 to a friend, 11 to a group) that reaches every
    watched socket; it must be each one's very next frame, so anything unwanted the server
    sent before it handled the sentinel fails the test, however slow the server was. A
    watched `sender` must get the sentinel's ack as its very next frame (a sending socket
    gets the ack, not a copy). The sender must be allowed to send there, and each watched
    socket must be a recipient or another socket of the sender."""
    content = f"sentinel {next(_sentinels)}"
    cmid = await sender.send(cmd=cmd, dstid=dstid, media=1, content=content)
    frame = await sender.next_frame()
    if sender not in watched:
        while frame.get("cmid") != cmid:  # earlier acks of an unwatched sender do not matter
            frame = await sender.next_frame()
    assert (frame["cmd"], frame.get("cmid")) == (12, cmid), f"expected the sentinel's ack, got {frame}"
    for client in watched:
        if client is not sender:
            frame = await client.next_frame()
            assert (frame.get("cmid"), frame.get("content")) == (cmid, content), (
                f"{client.account.nickname}: expected the sentinel {content!r}, got {frame}"
            )


async def wait_until(
    predicate: Callable[[], bool], timeout: float = TIMEOUT, what: str = "", interval: float = 0.01
) -> None:
    """Wait for a condition the test cannot await (a file gone, a count in the hub), checking
    it every `interval` until `timeout`; raises AssertionError naming `what` if it never holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"still not true after {timeout} s: {what or predicate}")
        await asyncio.sleep(interval)


BROWSER_TESTS = Path(__file__).resolve().parent / "browser"


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """Say so when a run over the whole tests directory left the browser tests out: setup.cfg's
    `norecursedirs` skips them because sync Playwright cannot share a process with
    pytest-tornado's event loops."""
    paths = [Path(str(arg).split("::")[0]).resolve() for arg in config.args]
    if any(path.is_relative_to(BROWSER_TESTS) for path in paths):
        return  # they are this run
    if any(BROWSER_TESTS.is_relative_to(path) for path in paths):
        terminalreporter.write_sep("-", "browser tests not run")
        terminalreporter.write_line(
            "browser tests (tests/browser) run in their own process: `make test` runs both, "
            "or `.venv/bin/python -m pytest tests/browser -p no:tornado`"
        )


async def join_group(api: Api, owner: Account, member: Account, group_id: int) -> None:
    """Let a member into a group the way a user does: the owner makes an invite, the
    member joins with its code (a group id alone lets nobody into a closed group)."""
    invite = await api.ok("/contact/invite", owner.token, dstid=group_id)
    await api.ok("/contact/joincommunity", member.token, code=invite["code"])
