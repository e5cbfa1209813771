"""GET /healthz: the database and the bus as a load balancer needs them: "ok", "degraded"
(the bus is down, still serving) or "down" with 503 (the database does not answer)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import subprocess
import time
from urllib.parse import urlparse

import orjson
import psycopg2
import pytest
import redis

from tests.serverproc import free_port
from tests.test_metrics import scrape, value


async def health(http_client, base_url: str, **headers: str) -> tuple[int, dict]:
    response = await http_client.fetch(base_url + "/healthz", headers=headers or None, raise_error=False)
    assert response.headers["Cache-Control"] == "no-store"
    return response.code, orjson.loads(response.body)


@pytest.fixture
def own_redis(tmp_path):
    """A Redis server of this test's own, to stop (never the machine's on 6379)."""
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(port=port, socket_connect_timeout=1)
    try:
        for _ in range(200):  # until it answers (start-up, not a wait for chatd)
            if proc.poll() is not None:
                raise RuntimeError("redis-server did not start")
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield proc, f"redis://127.0.0.1:{port}/0"
    finally:
        client.close()
        if proc.poll() is None:
            proc.terminate()
            proc.wait(10)


@pytest.fixture
def settings_overrides(request):
    if "own_redis" in request.fixturenames:
        return {"redis_url": request.getfixturevalue("own_redis")[1]}
    return {}


@pytest.mark.gen_test
async def test_healthy_says_ok_with_database_bus_and_pid(http_client, base_url):
    status, answer = await health(http_client, base_url)
    assert status == 200
    assert answer["status"] == "ok" and answer["database"] == "ok"
    assert answer["bus"] == {"kind": "in-process", "state": "ok"}
    assert answer["pid"] == os.getpid()
    assert {"version", "sockets", "users_online", "media_jobs"} <= answer.keys()


@pytest.mark.redis
@pytest.mark.gen_test(timeout=30)
async def test_a_stopped_redis_makes_it_degraded_but_serving(own_redis, http_client, base_url):
    proc, _ = own_redis
    status, answer = await health(http_client, base_url)
    assert (status, answer["status"], answer["bus"]["kind"], answer["bus"]["state"]) == (
        200,
        "ok",
        "redis",
        "ok",
    )

    proc.terminate()
    proc.wait(10)
    # The bus notices on its own connection, whenever the loop reads that close: until then
    # /healthz says what it knew (ok), and from then on degraded.
    deadline = time.monotonic() + 10
    while (answer := (await health(http_client, base_url))[1])["status"] == "ok":
        assert time.monotonic() < deadline, "the bus never noticed Redis stopped"
        await asyncio.sleep(0.02)
    assert answer["status"] == "degraded"
    status, answer = await health(http_client, base_url)
    assert status == 200  # still serving: a load balancer keeps it
    assert answer["database"] == "ok"
    assert answer["bus"]["state"] == "down" and isinstance(answer["bus"]["down_since"], int)
    samples = await scrape(http_client, base_url)
    assert value(samples, "chatd_bus_up") == 0


@pytest.mark.postgres
@pytest.mark.parametrize("db_kind", ["postgres"])
@pytest.mark.gen_test(timeout=30)
async def test_a_database_refusing_connections_is_down_with_503(http_client, base_url, ctx, db_kind):
    # (No /healthz before: polls within PROBE_REUSE_S share one probe's answer.)
    name = urlparse(ctx.settings.database).path.lstrip("/")
    admin = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="test")
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
        status, answer = await health(http_client, base_url)
        assert status == 503
        assert answer["status"] == "down"
        assert "not currently accepting connections" in answer["database"]
        # Reasons can name hosts and users: outside metrics_allow, only that it is down.
        status, answer = await health(http_client, base_url, **{"X-Real-IP": "203.0.113.7"})
        assert (status, answer["status"], answer["database"]) == (503, "down", "unreachable")
    finally:
        with admin.cursor() as cur:
            cur.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
        admin.close()


@pytest.mark.gen_test(timeout=30)
async def test_a_database_that_does_not_answer_is_down_without_holding_the_loop(http_client, base_url, ctx):
    # A port that accepts connections and never says a word: the probe waits in its own
    # thread, /healthz gives up after its deadline, and the loop serves meanwhile.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    original = ctx.settings
    ctx.settings = dataclasses.replace(
        original, database=f"postgresql://postgres@127.0.0.1:{silent.getsockname()[1]}/test"
    )
    try:
        status, answer = await health(http_client, base_url)
        assert status == 503 and answer["status"] == "down"
        assert answer["database"] != "ok" and answer["database"]
    finally:
        ctx.settings = original
        silent.close()


@pytest.mark.gen_test
async def test_a_closed_database_port_is_down(http_client, base_url, ctx):
    original = ctx.settings
    ctx.settings = dataclasses.replace(
        original, database=f"postgresql://postgres@127.0.0.1:{free_port()}/test"
    )
    try:
        status, answer = await health(http_client, base_url)
        assert (status, answer["status"]) == (503, "down")
        assert "refused" in answer["database"] or "failed" in answer["database"]
    finally:
        ctx.settings = original
