"""The WebSocket rules of PROTOCOL.md, each with its wrong case."""

from __future__ import annotations

import asyncio

import pytest
from tornado.httpclient import HTTPClientError

from tests.conftest import (
    MESSAGE_FIELDS,
    assert_next_is_sentinel,
    befriend,
    both_buses,
    connect,
    join_group,
    register,
    wait_until,
)


async def friends(api, a, b):
    await befriend(api, a, b)


@pytest.fixture
def settings_overrides():
    return {"send_rate": 10_000.0, "send_burst": 10_000}


@both_buses
@pytest.mark.gen_test
async def test_wrong_token_or_foreign_id_gets_401_and_no_socket(api, base_url):
    ann = await register(api, "Ann")
    bob = await register(api, "Bob")
    for url in (
        f"/chat?id={ann.id}&token=not-a-token",
        f"/chat?id={bob.id}&token={ann.token}",  # ann's token, bob's id: impersonation
        f"/chat?id={ann.id}",
    ):
        with pytest.raises(HTTPClientError) as err:
            from tornado.websocket import websocket_connect

            await websocket_connect(base_url.replace("http", "ws") + url)
        assert err.value.code == 401, url


@both_buses
@pytest.mark.gen_test
async def test_one_to_one_between_friends_with_real_sender(api, base_url):
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    await friends(api, ann, bob)
    a, b = await connect(base_url, ann), await connect(base_url, bob)
    # Ann claims to be Bob in the frame; the server must say it was Ann.
    cmid = await a.send(cmd=10, dstid=bob.id, media=1, content="hello", userid=bob.id)
    ack = await a.next_frame()
    assert ack["cmd"] == 12 and ack["cmid"] == cmid and ack["id"] > 0
    got = await b.next_message()
    assert got["content"] == "hello" and got["userid"] == ann.id and got["dstid"] == bob.id
    assert got["id"] == ack["id"] and got["cmid"] == cmid and got["createat"] == ack["createat"]
    assert set(got) == MESSAGE_FIELDS
    # The sending socket gets the ack, not a copy: Bob's reply is the next thing it sees.
    await assert_next_is_sentinel(a, sender=b, dstid=ann.id)


@both_buses
@pytest.mark.gen_test
async def test_non_friend_is_refused_and_socket_stays_open(api, base_url):
    ann, bob, eve = await register(api, "Ann"), await register(api, "Bob"), await register(api, "Eve")
    await friends(api, ann, bob)
    e, b, a = await connect(base_url, eve), await connect(base_url, bob), await connect(base_url, ann)
    cmid = await e.send(cmd=10, dstid=bob.id, media=1, content="spam")
    err = await e.next_frame()
    assert err == {"cmd": 13, "cmid": cmid, "code": 403, "msg": f"not a friend of user {bob.id}"}
    await assert_next_is_sentinel(b, sender=a, dstid=bob.id)
    # Still open: a heartbeat and a message to someone allowed work after the refusal.
    await befriend(api, eve, ann)
    assert [(await e.next_frame())["type"] for _ in range(2)] == ["request_sent", "friend_added"]
    await e.send(cmd=0)
    await e.send(cmd=10, dstid=ann.id, media=1, content="hi ann")
    assert (await e.next_frame())["cmd"] == 12


@both_buses
@pytest.mark.gen_test
async def test_bad_frames_get_error_frames_and_change_nothing(api, base_url, ctx):
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    await friends(api, ann, bob)
    a, b = await connect(base_url, ann), await connect(base_url, bob)
    bad = [
        ("{not json", 400),
        ("[1, 2]", 400),
        ('{"cmd": 99, "dstid": 2, "media": 1, "content": "x", "cmid": "u1"}', 400),
        (f'{{"cmd": 10, "dstid": {bob.id}, "media": 5, "content": "x", "cmid": "u2"}}', 400),
        (f'{{"cmd": 10, "dstid": {bob.id}, "media": 1, "content": "", "cmid": "u3"}}', 400),
        (f'{{"cmd": 10, "dstid": {bob.id}, "media": 1, "content": "x"}}', 400),
        (f'{{"cmd": 10, "dstid": "{bob.id}", "media": 1, "content": "x", "cmid": "u4"}}', 400),
        (f'{{"cmd": 10, "dstid": {bob.id}, "media": 1, "content": "{"x" * 4001}", "cmid": "u5"}}', 413),
        (f'{{"cmd": 10, "dstid": {bob.id}, "media": 6, "content": "<b>", "cmid": "u6"}}', 400),
        (f'{{"cmd": 10, "dstid": {bob.id}, "media": 4, "url": "http://evil/x.jpg", "cmid": "u7"}}', 404),
        (f'{{"cmd": 10, "dstid": {ann.id}, "media": 1, "content": "me", "cmid": "u8"}}', 400),
    ]
    for raw, code in bad:
        await a.send_raw(raw)
        frame = await a.next_frame()
        assert frame["cmd"] == 13 and frame["code"] == code, (raw[:60], frame)
        assert frame["msg"]
    from models.messages import count_all

    assert await ctx.pools.db(count_all) == 0
    # The socket is still open, and Bob got nothing before this message.
    await assert_next_is_sentinel(b, sender=a, dstid=bob.id)


@both_buses
@pytest.mark.gen_test
async def test_heartbeat_is_ignored(api, base_url):
    ann = await register(api, "Ann")
    group = await api.ok("/contact/createcommunity", ann.token, name="Club")
    a = await connect(base_url, ann)
    await a.send(cmd=0)
    await assert_next_is_sentinel(a, sender=a, dstid=group["id"], cmd=11)  # no answer before the next ack


@both_buses
@pytest.mark.gen_test
async def test_duplicate_cmid_is_stored_and_delivered_once_and_acked_again(api, base_url, ctx):
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    await friends(api, ann, bob)
    a, b = await connect(base_url, ann), await connect(base_url, bob)
    await a.send(cmd=10, dstid=bob.id, media=1, content="once", cmid="same")
    first = await a.next_frame()
    await a.send(cmd=10, dstid=bob.id, media=1, content="once", cmid="same")
    second = await a.next_frame()
    assert first["cmd"] == second["cmd"] == 12 and first["id"] == second["id"]
    # Two copies in one batch (sent back to back) collapse too.
    await a.send(cmd=10, dstid=bob.id, media=1, content="twin", cmid="twin")
    await a.send(cmd=10, dstid=bob.id, media=1, content="twin", cmid="twin")
    t1, t2 = await a.next_frame(), await a.next_frame()
    assert t1["id"] == t2["id"]
    assert [(await b.next_message())["content"], (await b.next_message())["content"]] == ["once", "twin"]
    from models.messages import count_all

    assert await ctx.pools.db(count_all) == 2
    await assert_next_is_sentinel(b, sender=a, dstid=bob.id)


@both_buses
@pytest.mark.gen_test
async def test_group_reaches_members_and_senders_other_sockets_only(api, base_url):
    ann, bob, carol = await register(api, "Ann"), await register(api, "Bob"), await register(api, "Carol")
    group = await api.ok("/contact/createcommunity", ann.token, name="Club")
    await join_group(api, ann, bob, group["id"])
    await friends(api, ann, carol)  # a friend, but not a member
    a1, a2 = await connect(base_url, ann), await connect(base_url, ann)
    b, c = await connect(base_url, bob), await connect(base_url, carol)
    cmid = await a1.send(cmd=11, dstid=group["id"], media=1, content="hi club")
    assert (await a1.next_frame())["cmd"] == 12
    for client in (a2, b):
        got = await client.next_message()
        assert (got["cmd"], got["dstid"], got["userid"], got["cmid"]) == (11, group["id"], ann.id, cmid)
    # Neither Carol nor the sending socket got the group message: Ann's next 1:1 message to
    # Carol (reaching her and Ann's other socket) comes first.
    await assert_next_is_sentinel(c, a1, sender=a2, dstid=carol.id)
    # A non-member may not post there.
    await c.send(cmd=11, dstid=group["id"], media=1, content="let me in")
    err = await c.next_frame()
    assert err["cmd"] == 13 and err["code"] == 403
    await c.send(cmd=11, dstid=999_999, media=1, content="anyone?")
    assert (await c.next_frame())["code"] == 404
    await assert_next_is_sentinel(b, sender=a1, dstid=group["id"], cmd=11)


@both_buses
@pytest.mark.gen_test
async def test_joining_a_group_updates_the_live_socket_at_once(api, base_url):
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    group = await api.ok("/contact/createcommunity", ann.token, name="Club")
    a, b = await connect(base_url, ann), await connect(base_url, bob)  # bob not a member yet
    await join_group(api, ann, bob, group["id"])
    await a.send(cmd=11, dstid=group["id"], media=1, content="welcome")
    joined = await b.next_message()  # the group's line announcing Bob's join
    assert (joined["media"], joined["userid"]) == (10, bob.id)
    assert (await b.next_message())["content"] == "welcome"


@both_buses
@pytest.mark.gen_test
async def test_every_socket_of_a_user_gets_each_message(api, base_url):
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    await friends(api, ann, bob)
    a = await connect(base_url, ann)
    phone, laptop = await connect(base_url, bob), await connect(base_url, bob)
    await a.send(cmd=10, dstid=bob.id, media=1, content="both")
    assert (await phone.next_message())["content"] == "both"
    assert (await laptop.next_message())["content"] == "both"
    # Bob's reply from the phone reaches his laptop too (not the phone: it gets the ack).
    await phone.send(cmd=10, dstid=ann.id, media=1, content="from phone")
    assert (await phone.next_frame())["cmd"] == 12
    assert (await laptop.next_message())["content"] == "from phone"
    assert (await a.next_message())["content"] == "from phone"


@both_buses
@pytest.mark.gen_test
async def test_offline_recipient_gets_everything_on_reconnect_in_order(api, base_url, ctx):
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    await friends(api, ann, bob)
    b = await connect(base_url, bob)
    await api.ok("/contact/addfriend", ann.token, mobile=(await register(api, "Zed")).mobile)
    a = await connect(base_url, ann)
    await a.send(cmd=10, dstid=bob.id, media=1, content="m0")
    last_seen = (await b.next_message())["id"]
    b.close()
    await wait_until(lambda: ctx.hub.online_sockets() == 1, what="Bob's socket gone from the hub")
    for i in range(1, 6):
        await a.send(cmd=10, dstid=bob.id, media=1, content=f"m{i}")
        assert (await a.next_frame())["cmd"] == 12
    b2 = await connect(base_url, bob, since=last_seen)
    got = [(await b2.next_message())["content"] for _ in range(5)]
    assert got == ["m1", "m2", "m3", "m4", "m5"]
    await assert_next_is_sentinel(b2, sender=a, dstid=bob.id)


@both_buses
@pytest.mark.gen_test(timeout=60)
async def test_reconnect_with_since_while_messages_keep_arriving_misses_nothing(api, base_url):
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    await friends(api, ann, bob)
    a = await connect(base_url, ann)
    total = 400
    sent_ids: list[int] = []

    async def sender():
        # Ten at a time, each ten acked before the next: messages keep arriving over the reconnects.
        for start in range(0, total, 10):
            for i in range(start, start + 10):
                await a.send(cmd=10, dstid=bob.id, media=1, content=f"n{i}")
            for _ in range(10):
                frame = await a.next_frame(10)
                assert frame["cmd"] == 12, frame
                sent_ids.append(frame["id"])

    send_task = asyncio.ensure_future(sender())
    seen: list[int] = []
    since = 0
    # Bob drops and reconnects with since= several times while Ann keeps sending.
    while len(seen) < total:
        b = await connect(base_url, bob, since=since)
        try:
            for _ in range(37):
                frame = await b.next_message(10)
                seen.append(frame["id"])
                since = frame["id"]
                if len(seen) == total:
                    break
        finally:
            b.close()
    await send_task
    assert seen == sorted(set(seen)), "doubles or out of order"
    assert seen == sorted(sent_ids), "a message was lost"


@pytest.mark.parametrize("settings_overrides", [{"send_rate": 0.5, "send_burst": 3}])
@both_buses
@pytest.mark.gen_test
async def test_rate_limit_refuses_with_429(api, base_url):
    # On Redis the allowance is the chat's, taken in leases (server/sharedlimits.py).
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    await friends(api, ann, bob)
    a = await connect(base_url, ann)
    for i in range(4):
        await a.send(cmd=10, dstid=bob.id, media=1, content=f"r{i}")
    frames = [await a.next_frame() for _ in range(4)]
    assert [f["cmd"] for f in frames].count(12) == 3
    assert [f.get("code") for f in frames if f["cmd"] == 13] == [429]


@both_buses
@pytest.mark.gen_test
async def test_cross_site_socket_is_refused(api, base_url):
    ann = await register(api, "Ann")
    with pytest.raises(HTTPClientError) as err:
        await connect(base_url, ann, Origin="http://evil.example")
    assert err.value.code == 403
    ok = await connect(base_url, ann, Origin=base_url)
    ok.close()


@both_buses
@pytest.mark.gen_test
async def test_a_bug_on_an_open_socket_is_logged_with_its_request_but_no_token(
    api, base_url, monkeypatch, caplog
):
    # The socket lets go of its upgrade request once open (handlers/socket.py OpenRequest);
    # what Tornado logs for an uncaught error must still name it, without the token.
    ann = await register(api, "Ann")
    sock = await connect(base_url, ann)

    def broken(raw):
        raise RuntimeError("bug in parse_frame")

    monkeypatch.setattr("handlers.socket.messages.parse_frame", broken)
    with caplog.at_level("ERROR"):
        await sock.send(cmd=10, dstid=ann.id, media=1, content="hi")
        await wait_until(lambda: "bug in parse_frame" in caplog.text)
    assert "GET /chat?" in caplog.text and "token=***" in caplog.text
    assert ann.token not in caplog.text


@both_buses
@pytest.mark.gen_test
async def test_sockets_opening_at_once_each_get_their_own_user_and_circle(api, base_url):
    # Tokens and friends/groups of sockets opening together are read in shared database
    # jobs (server/batch.py): each socket must still be its own user, a bad token among
    # them a 401, and a frame sent before the circle is loaded still checked.
    from tornado.websocket import websocket_connect

    users = [await register(api, f"U{i}") for i in range(6)]
    for a, b in zip(users[::2], users[1::2], strict=True):
        await befriend(api, a, b)
    bad = base_url.replace("http", "ws", 1) + f"/chat?id={users[0].id}&token=not-a-token"
    results = await asyncio.gather(
        *(connect(base_url, user) for user in users), *(connect(base_url, user) for user in users[:2]),
        websocket_connect(bad), return_exceptions=True,
    )  # fmt: skip
    assert isinstance(results[-1], HTTPClientError) and results[-1].code == 401
    socks = results[:-1]
    assert not [s for s in socks if isinstance(s, BaseException)]
    # Straight away, each to its friend and to a stranger.
    for i, b in enumerate(users[1::2]):
        sock = socks[2 * i]
        cmid = await sock.send(cmd=10, dstid=b.id, media=1, content=f"to {b.id}")
        assert (await sock.next_frame())["cmid"] == cmid
        stranger = users[(2 * i + 2) % len(users)]
        await sock.send(cmd=10, dstid=stranger.id, media=1, content="hi")
        assert (await sock.next_frame())["cmd"] == 13
    for i, b in enumerate(users[1::2]):
        got = await socks[2 * i + 1].next_message()
        assert got["content"] == f"to {b.id}" and got["userid"] == users[2 * i].id
