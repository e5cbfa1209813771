"""Typing indicators (cmd 16): only to the recipients' sockets that have the conversation
open, throttled, refused to strangers, never stored; on one process and on Redis, and
between two processes."""

from __future__ import annotations

import asyncio

import pytest

from models.messages import count_all
from server.bus import Ephemeral
from server.buswire import GROUP, USER, decode, encode
from server.services.live import TYPING_INTERVAL_S, typing_event
from tests.cluster import api_of, servers, start_server
from tests.conftest import (
    Account,
    ChatClient,
    assert_next_is_sentinel,
    befriend,
    both_buses,
    connect,
    join_group,
    register,
)


async def handled(client: ChatClient) -> None:
    """Wait until the server has handled every frame `client` sent so far: a socket's frames
    are handled in order, so the cmd 13 for a bad one comes after them."""
    await client.send(cmd=16, type="probe")
    frame = await client.next_frame()
    assert (frame["cmd"], frame["code"]) == (13, 400), frame


async def focus(client: ChatClient, dstcmd: int, dstid: int) -> None:
    await client.send(cmd=16, type="focus", dstcmd=dstcmd, dstid=dstid)
    await handled(client)


def typing_from(user: Account, dstcmd: int, dstid: int, **extra: object) -> dict:
    return {"cmd": 16, "type": "typing", "dstcmd": dstcmd, "dstid": dstid, "userid": user.id, **extra}


@both_buses
@pytest.mark.gen_test(timeout=30)
async def test_typing_reaches_the_focused_socket_only(api, base_url):
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    await befriend(api, ann, bob)
    ann_sock, ann_other = await connect(base_url, ann), await connect(base_url, ann)
    watching, elsewhere = await connect(base_url, bob), await connect(base_url, bob)
    # Every socket is live (its channels subscribed) once it has had a message.
    await assert_next_is_sentinel(watching, elsewhere, ann_other, sender=ann_sock, dstid=bob.id)
    await focus(watching, 10, ann.id)

    await ann_sock.send(cmd=16, type="typing", dstcmd=10, dstid=bob.id)
    assert await watching.next_frame() == typing_from(ann, 10, ann.id)  # named as Bob names the chat
    # Nothing for Bob's other socket, for Ann's own other socket, and once only.
    await assert_next_is_sentinel(watching, elsewhere, ann_other, sender=ann_sock, dstid=bob.id)

    # Looking at nothing (a hidden tab): nothing either.
    await focus(watching, 10, 0)
    await ann_sock.send(cmd=16, type="typing", dstcmd=10, dstid=bob.id, stop=True)
    await ann_sock.send(cmd=16, type="typing", dstcmd=10, dstid=bob.id)
    await assert_next_is_sentinel(watching, elsewhere, sender=ann_sock, dstid=bob.id)


@both_buses
@pytest.mark.gen_test(timeout=30)
async def test_a_burst_of_typing_gives_one_frame_per_interval_and_stop_clears_it(api, base_url):
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    await befriend(api, ann, bob)
    ann_sock, bob_sock = await connect(base_url, ann), await connect(base_url, bob)
    await assert_next_is_sentinel(bob_sock, sender=ann_sock, dstid=bob.id)
    await focus(bob_sock, 10, ann.id)

    for _ in range(20):  # a page sending one per key press, far inside TYPING_INTERVAL_S
        await ann_sock.send(cmd=16, type="typing", dstcmd=10, dstid=bob.id)
    assert await bob_sock.next_frame() == typing_from(ann, 10, ann.id)
    await assert_next_is_sentinel(bob_sock, sender=ann_sock, dstid=bob.id)  # the other 19 dropped
    assert TYPING_INTERVAL_S >= 1.0  # the burst above took far less

    # The draft was cleared: one stop, and the next key shows "typing" again at once.
    await ann_sock.send(cmd=16, type="typing", dstcmd=10, dstid=bob.id, stop=True)
    await ann_sock.send(cmd=16, type="typing", dstcmd=10, dstid=bob.id, stop=True)
    await ann_sock.send(cmd=16, type="typing", dstcmd=10, dstid=bob.id)
    assert await bob_sock.next_frame() == typing_from(ann, 10, ann.id, stop=True)
    assert await bob_sock.next_frame() == typing_from(ann, 10, ann.id)
    await assert_next_is_sentinel(bob_sock, sender=ann_sock, dstid=bob.id)


@pytest.mark.gen_test(timeout=30)
async def test_typing_goes_through_again_once_the_interval_has_passed(api, base_url, monkeypatch):
    monkeypatch.setattr("server.services.live.TYPING_INTERVAL_S", 1.0)
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    await befriend(api, ann, bob)
    ann_sock, bob_sock = await connect(base_url, ann), await connect(base_url, bob)
    await assert_next_is_sentinel(bob_sock, sender=ann_sock, dstid=bob.id)
    await focus(bob_sock, 10, ann.id)
    for _round in range(2):
        for _ in range(5):
            await ann_sock.send(cmd=16, type="typing", dstcmd=10, dstid=bob.id)
        assert await bob_sock.next_frame() == typing_from(ann, 10, ann.id)
        await assert_next_is_sentinel(bob_sock, sender=ann_sock, dstid=bob.id)
        await asyncio.sleep(1.05)  # the throttle's interval itself, not a wait for an event


@both_buses
@pytest.mark.gen_test(timeout=30)
async def test_typing_in_a_group_reaches_members_who_have_it_open(api, base_url):
    ann, bob, cy = await register(api, "Ann"), await register(api, "Bob"), await register(api, "Cy")
    await befriend(api, ann, bob)
    club = (await api.ok("/contact/createcommunity", ann.token, name="Club"))["id"]
    await join_group(api, ann, bob, club)
    await join_group(api, ann, cy, club)
    ann_sock, bob_sock, cy_sock = [await connect(base_url, u) for u in (ann, bob, cy)]
    await assert_next_is_sentinel(bob_sock, cy_sock, sender=ann_sock, dstid=club, cmd=11)
    await focus(bob_sock, 11, club)
    await focus(ann_sock, 11, club)  # the typer's own open chat shows no "you are typing"

    await ann_sock.send(cmd=16, type="typing", dstcmd=11, dstid=club)
    assert await bob_sock.next_frame() == typing_from(ann, 11, club)
    await assert_next_is_sentinel(ann_sock, bob_sock, cy_sock, sender=ann_sock, dstid=club, cmd=11)

    # Bob leaves: his open chat of the group gets nothing more.
    await api.ok("/contact/leavecommunity", bob.token, dstid=club)
    while (await bob_sock.next_frame()).get("type") != "group_removed":
        pass  # his leave line, then the notice
    await ann_sock.send(cmd=16, type="typing", dstcmd=11, dstid=club, stop=True)
    await ann_sock.send(cmd=16, type="typing", dstcmd=11, dstid=club)
    await assert_next_is_sentinel(bob_sock, sender=ann_sock, dstid=bob.id)
    await bob_sock.send(cmd=16, type="typing", dstcmd=11, dstid=club)
    refused = await bob_sock.next_frame()
    assert (refused["cmd"], refused["code"]) == (13, 403)


@both_buses
@pytest.mark.gen_test(timeout=30)
async def test_strangers_are_refused_and_bad_frames_get_400_with_the_socket_open(api, base_url):
    ann, bob, eve = await register(api, "Ann"), await register(api, "Bob"), await register(api, "Eve")
    await befriend(api, ann, bob)
    club = (await api.ok("/contact/createcommunity", ann.token, name="Club"))["id"]
    ann_sock, bob_sock, eve_sock = (
        await connect(base_url, ann),
        await connect(base_url, bob),
        await connect(base_url, eve),
    )
    await assert_next_is_sentinel(bob_sock, sender=ann_sock, dstid=bob.id)
    await focus(bob_sock, 10, eve.id)  # looking at a chat with her does not make her a friend

    for frame, code in (
        ({"dstcmd": 10, "dstid": bob.id}, 403),  # not a friend
        ({"dstcmd": 11, "dstid": club}, 403),  # not a member
        ({"dstcmd": 11, "dstid": 999_999}, 404),  # no such group
        ({"dstcmd": 10, "dstid": eve.id}, 400),  # herself
        ({"dstcmd": 12, "dstid": bob.id}, 400),
        ({"dstcmd": 10, "dstid": "2"}, 400),
        ({"dstcmd": 10, "dstid": 0}, 400),
    ):
        await eve_sock.send(cmd=16, type="typing", **frame)
        refused = await eve_sock.next_frame()
        assert (refused["cmd"], refused["code"]) == (13, code), (frame, refused)
    await eve_sock.send(cmd=16, type="focus", dstcmd=10, dstid=-1)
    assert (await eve_sock.next_frame())["code"] == 400
    # Still open, and Bob saw none of it.
    await handled(eve_sock)
    await assert_next_is_sentinel(bob_sock, sender=ann_sock, dstid=bob.id)


@both_buses
@pytest.mark.gen_test(timeout=30)
async def test_typing_frames_are_never_stored(api, base_url, ctx):
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    await befriend(api, ann, bob)
    club = (await api.ok("/contact/createcommunity", ann.token, name="Club"))["id"]
    await join_group(api, ann, bob, club)
    stored_before = await ctx.pools.db(count_all)  # the join line
    ann_sock, bob_sock = await connect(base_url, ann), await connect(base_url, bob)
    await focus(bob_sock, 10, ann.id)
    for dstcmd, dstid in ((10, bob.id), (11, club)):
        await ann_sock.send(cmd=16, type="typing", dstcmd=dstcmd, dstid=dstid)
        await ann_sock.send(cmd=16, type="typing", dstcmd=dstcmd, dstid=dstid, stop=True)
    await handled(ann_sock)
    assert await ctx.pools.db(count_all) == stored_before

    # Bob's devices see none of it later: not in a replay from the start, not in history.
    await ann_sock.send(cmd=10, dstid=bob.id, media=1, content="after")
    replay = await connect(base_url, bob, since=0)
    frame = await replay.next_frame()
    while frame.get("content") != "after":
        assert frame["cmd"] in (10, 11), frame  # stored messages only (the join line)
        frame = await replay.next_frame()
    for cmd, dst in ((10, ann.id), (11, club)):
        rows = await api.ok("/message/history", bob.token, cmd=cmd, dstid=dst)
        assert all(row["cmd"] in (10, 11) for row in rows)
    assert [r["content"] for r in await api.ok("/message/history", bob.token, cmd=10, dstid=ann.id)] == [
        "after"
    ]


def test_an_ephemeral_event_travels_redis_as_itself():
    for event, kind, target in (
        (typing_event(7, 10, 9, False), USER, 9),
        (typing_event(7, 11, 3, True), GROUP, 3),
    ):
        [(channel, data)] = encode(b"chat:", event, 0)
        assert channel == (b"chat:u:9" if kind == USER else b"chat:g:3") and data[:1] == b"X"
        assert decode(kind, target, data) == event
        assert isinstance(event, Ephemeral) and event.from_user == 7


@pytest.mark.redis
@pytest.mark.parametrize("bus_kind", ["redis"], indirect=True)
@pytest.mark.gen_test(timeout=30)
async def test_on_redis_typing_passes_a_held_stream_and_never_reads_the_log(api, base_url, ctx):
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    await befriend(api, ann, bob)
    ann_sock, bob_sock = await connect(base_url, ann), await connect(base_url, bob)
    await assert_next_is_sentinel(bob_sock, sender=ann_sock, dstid=bob.id)
    await focus(bob_sock, 10, ann.id)
    intake, reads = ctx.bus.intake, ctx.bus.intake.reads
    intake.gate()  # as while subscriptions are confirmed: stored messages wait, in order
    try:
        await ann_sock.send(cmd=10, dstid=bob.id, media=1, content="held")
        assert (await ann_sock.next_frame())["cmd"] == 12  # stored and given to Redis
        await ann_sock.send(cmd=16, type="typing", dstcmd=10, dstid=bob.id)
        # No id, nothing to order it by: it overtakes the held message.
        assert await bob_sock.next_frame() == typing_from(ann, 10, ann.id)
    finally:
        intake.open_gate()
    assert (await bob_sock.next_frame())["content"] == "held"
    assert intake.reads == reads  # no read of the log for it


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.gen_test(timeout=60)
async def test_typing_reaches_a_focused_socket_on_another_process(tmp_path, pg_database):
    with servers(start_server(tmp_path, pg_database), start_server(tmp_path, pg_database)) as (a, b):
        api_a = api_of(a)
        ann, bob, cy = await register(api_a, "Ann"), await register(api_a, "Bob"), await register(api_a, "Cy")
        await befriend(api_a, ann, bob)
        club = (await api_a.ok("/contact/createcommunity", ann.token, name="Club"))["id"]
        await join_group(api_a, ann, cy, club)
        ann_sock = await connect(a.base_url, ann)
        bob_sock, cy_sock = await connect(b.base_url, bob), await connect(b.base_url, cy)
        await assert_next_is_sentinel(bob_sock, sender=ann_sock, dstid=bob.id)
        await assert_next_is_sentinel(cy_sock, sender=ann_sock, dstid=club, cmd=11)
        await focus(bob_sock, 10, ann.id)
        await focus(cy_sock, 11, club)

        await ann_sock.send(cmd=16, type="typing", dstcmd=10, dstid=bob.id)
        await ann_sock.send(cmd=16, type="typing", dstcmd=11, dstid=club)
        assert await bob_sock.next_frame() == typing_from(ann, 10, ann.id)
        assert await cy_sock.next_frame() == typing_from(ann, 11, club)
        await assert_next_is_sentinel(bob_sock, sender=ann_sock, dstid=bob.id)
        await assert_next_is_sentinel(cy_sock, sender=ann_sock, dstid=club, cmd=11)
