"""End to end: the real server process, real clients, SIGTERM and SIGKILL."""

from __future__ import annotations

import asyncio
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from tornado.httpclient import AsyncHTTPClient

from tests import mediafiles
from tests.conftest import Api, befriend, connect, join_group, register, wait_until
from tests.serverproc import ROOT, ServerProcess
from tests.test_uploads import upload

pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request, tmp_path):
    database = request.getfixturevalue("pg_database") if request.param == "postgres" else None
    proc = ServerProcess(tmp_path, database=database).start()
    yield proc
    proc.stop()


@pytest.fixture
def papi(server, io_loop):
    return Api(AsyncHTTPClient(), server.base_url)


@pytest.mark.gen_test(timeout=30)
async def test_two_people_register_befriend_and_chat(server, papi):
    ann, bob = await register(papi, "Ann"), await register(papi, "Bob")
    assert (await papi.ok("/contact/addfriend", ann.token, mobile=bob.mobile))["status"] == "requested"
    await papi.ok("/contact/accept", bob.token, dstid=ann.id)
    a, b = await connect(server.base_url, ann), await connect(server.base_url, bob)
    await a.send(cmd=10, dstid=bob.id, media=1, content="hello Bob")
    assert (await a.next_frame())["cmd"] == 12
    assert (await b.next_message())["content"] == "hello Bob"
    await b.send(cmd=10, dstid=ann.id, media=1, content="hi Ann")
    got = await a.next_message()
    assert (got["content"], got["userid"]) == ("hi Ann", bob.id)
    history = await papi.ok("/message/history", ann.token, cmd=10, dstid=bob.id)
    assert [m["content"] for m in history] == ["hi Ann", "hello Bob"]
    # Groups, and a reconnect with since= that replays what was missed.
    club = await papi.ok("/contact/createcommunity", ann.token, name="Club")
    await join_group(papi, ann, bob, club["id"])
    joined = await a.next_frame()  # Ann, a member, sees Bob's join line
    assert (joined["media"], joined["userid"]) == (10, bob.id)
    b.close()
    await a.send(cmd=11, dstid=club["id"], media=1, content="while you were away")
    assert (await a.next_frame())["cmd"] == 12
    b = await connect(server.base_url, bob, since=got["id"])
    joined = await b.next_message()  # the group's system line for Bob's join comes first
    assert (joined["media"], joined["dstid"]) == (10, club["id"])
    assert (await b.next_message())["content"] == "while you were away"
    # Tokens never reach the log, though the WebSocket URL carries them.
    log_text = server.log_path.read_text()
    assert "GET /chat" in log_text and ann.token not in log_text and bob.token not in log_text


def test_the_server_raises_its_open_files_limit_to_the_hard_one_and_logs_it(tmp_path):
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    proc = ServerProcess(tmp_path, open_files=256).start()
    try:
        limits = Path(f"/proc/{proc.proc.pid}/limits").read_text()
        soft_now = int(next(line for line in limits.splitlines() if "open files" in line).split()[3])
        assert soft_now == hard > 256
        assert f"open files limit: {hard} " in proc.log_path.read_text()
    finally:
        proc.stop()


@pytest.mark.gen_test(timeout=30)
async def test_sigterm_closes_sockets_with_1001_and_exits_0(server, papi):
    ann = await register(papi, "Ann")
    a = await connect(server.base_url, ann)
    code = await asyncio.get_running_loop().run_in_executor(None, server.terminate)
    assert code == 0
    assert await a.closed() == 1001


@pytest.mark.gen_test(timeout=90)
async def test_sigkill_loses_no_acknowledged_message_and_doubles_none(tmp_path, io_loop):
    server = ServerProcess(tmp_path).start()
    try:
        api = Api(AsyncHTTPClient(), server.base_url)
        ann, bob = await register(api, "Ann"), await register(api, "Bob")
        await befriend(api, ann, bob)
        a = await connect(server.base_url, ann)
        total, kill_after = 600, 300
        cmids = [f"k{i}" for i in range(total)]
        for cmid in cmids:
            await a.send(cmd=10, dstid=bob.id, media=1, content=cmid, cmid=cmid)
        acked: dict[str, int] = {}
        while len(acked) < kill_after:
            frame = await a.next_frame(10)
            assert frame["cmd"] == 12
            acked[frame["cmid"]] = frame["id"]
        server.kill()  # right after the acks, with more messages in flight
        a.close()

        server.start()
        api = Api(AsyncHTTPClient(), server.base_url)
        stored = await all_history(api, ann.token, bob.id)
        by_cmid: dict[str, list[int]] = {}
        for message in stored:
            by_cmid.setdefault(message["cmid"], []).append(message["id"])
        for cmid, message_id in acked.items():
            assert by_cmid.get(cmid) == [message_id], f"acked {cmid} lost or doubled"

        # The client retries everything it has no ack for, with the same cmids: each
        # message ends up stored exactly once.
        a = await connect(server.base_url, ann)
        for cmid in cmids:
            if cmid not in acked:
                await a.send(cmd=10, dstid=bob.id, media=1, content=cmid, cmid=cmid)
        for _ in range(total - len(acked)):
            assert (await a.next_frame(10))["cmd"] == 12
        stored = await all_history(api, ann.token, bob.id)
        assert sorted(m["cmid"] for m in stored) == sorted(cmids)
    finally:
        server.stop()


async def all_history(api: Api, token: str, dst_id: int) -> list[dict]:
    rows: list[dict] = []
    before = None
    while True:
        body = {"cmd": 10, "dstid": dst_id, "limit": 100}
        if before is not None:
            body["before"] = before
        page = await api.ok("/message/history", token, **body)
        if not page:
            return rows
        rows.extend(page)
        before = page[-1]["id"]


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--database", "sqlite:////proc/no-such-dir/chatd.db"], "database"),
        (["--database", "postgresql://nobody@127.0.0.1:1/none"], "database"),
        (["--upload-dir", "/proc/version/upload"], "upload dir"),
        (["--port", "70000"], "port"),
    ],
)
def test_unusable_option_stops_startup_with_one_line(tmp_path, args, names):
    base = ["--database", f"sqlite:///{tmp_path}/c.db", "--upload-dir", str(tmp_path / "up")]
    result = subprocess.run(
        [sys.executable, "-m", "server", "--port", "1", *base, *args],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and names in lines[0], result.stderr


def processes_writing_to(path) -> list[int]:
    """Pids whose stdout is this file: the server and everything it started."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and os.readlink(proc / "fd" / "1") == str(path):
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


@pytest.mark.gen_test(timeout=60)
async def test_media_workers_do_not_outlive_a_killed_server(tmp_path, io_loop):
    server = ServerProcess(tmp_path).start()
    try:
        api = Api(AsyncHTTPClient(), server.base_url)
        ann = await register(api, "Ann")
        status, _ = await upload(AsyncHTTPClient(), server.base_url, ann.token, mediafiles.png_with_alpha())
        assert status == 200
        assert len(processes_writing_to(server.log_path)) >= 3  # server, forkserver, worker
        server.kill()
        await wait_until(
            lambda: processes_writing_to(server.log_path) == [], 5, "the media workers gone", interval=0.1
        )
    finally:
        server.stop()


@pytest.mark.postgres
@pytest.mark.gen_test(timeout=60)
async def test_a_dropped_postgresql_connection_is_reopened(tmp_path, io_loop, pg_database):
    import psycopg2

    server = ServerProcess(tmp_path, database=pg_database).start()
    try:
        api = Api(AsyncHTTPClient(), server.base_url)
        ann, bob = await register(api, "Ann"), await register(api, "Bob")
        await befriend(api, ann, bob)
        # PostgreSQL restarts, or an admin kills the server's sessions.
        admin = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="test")
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s",
                (pg_database.rsplit("/", 1)[1],),
            )
            assert cur.fetchone()[0] >= 1
        admin.close()
        assert [f["nickname"] for f in await api.ok("/contact/loadfriend", ann.token)] == ["Bob"]
        a, b = await connect(server.base_url, ann), await connect(server.base_url, bob)
        await a.send(cmd=10, dstid=bob.id, media=1, content="still here")
        assert (await a.next_frame())["cmd"] == 12
        assert (await b.next_message())["content"] == "still here"
        assert "reconnecting" in server.log_path.read_text()
    finally:
        server.stop()
