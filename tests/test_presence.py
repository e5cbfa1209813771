"""Presence: a friend's sockets counted across processes, last seen when they left, and
nothing shown to anyone who is not a friend."""

from __future__ import annotations

import asyncio

import pytest

from tests.cluster import api_of, servers, start_server
from tests.conftest import Api, befriend, both_buses, connect, register


async def presence_of(api: Api, token: str) -> dict[int, dict]:
    return {row["userid"]: row for row in await api.ok("/contact/presence", token)}


async def until(api: Api, token: str, user_id: int, sockets: int, timeout: float = 10.0) -> dict:
    """The caller's view of one friend once it shows `sockets` (written as counts change)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        row = (await presence_of(api, token))[user_id]
        if row["sockets"] == sockets or loop.time() > deadline:
            return row
        await asyncio.sleep(0.05)


@both_buses
@pytest.mark.gen_test(timeout=30)
async def test_friends_see_each_other_online_and_strangers_see_nothing(api, base_url):
    ann, bob, eve = await register(api, "Ann"), await register(api, "Bob"), await register(api, "Eve")
    await befriend(api, ann, bob)
    assert (await presence_of(api, ann.token))[bob.id]["online"] is False
    phone, laptop = await connect(base_url, bob), await connect(base_url, bob)
    row = await until(api, ann.token, bob.id, 2)
    assert (row["online"], row["sockets"], row["lastseen"]) == (True, 2, 0)
    assert await presence_of(api, eve.token) == {}  # not a friend of anyone
    phone.close()
    laptop.close()
    row = await until(api, ann.token, bob.id, 0)
    assert row["online"] is False and row["lastseen"] > 0


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.gen_test(timeout=60)
async def test_sockets_on_two_processes_add_up(tmp_path, pg_database):
    with servers(start_server(tmp_path, pg_database), start_server(tmp_path, pg_database)) as (a, b):
        api_a = api_of(a)
        ann, bob = await register(api_a, "Ann"), await register(api_a, "Bob")
        await befriend(api_a, ann, bob)
        on_a, _on_b = await connect(a.base_url, bob), await connect(b.base_url, bob)
        assert (await until(api_a, ann.token, bob.id, 2))["sockets"] == 2
        assert (await until(api_of(b), ann.token, bob.id, 2))["sockets"] == 2
        # A process that stops takes its sockets off at once (one killed: once its count is
        # a minute old, STALE_S).
        await asyncio.get_running_loop().run_in_executor(None, b.terminate)
        assert (await until(api_a, ann.token, bob.id, 1))["sockets"] == 1
        on_a.close()
        row = await until(api_a, ann.token, bob.id, 0)
        assert row["online"] is False and row["lastseen"] > 0
