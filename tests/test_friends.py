"""Friends by consent (PROTOCOL.md "Consent"): requests, accept/decline/cancel, unfriend,
block/unblock, the live cmd 15 frames on every socket of both sides, open_contacts, and
finding people by mobile (rate limit, `findable`)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from tornado.httpclient import HTTPRequest

from models.contacts import FRIEND, Contact
from server.settings import Settings
from tests.conftest import (
    REDIS_URL,
    Account,
    ChatClient,
    assert_next_is_sentinel,
    befriend,
    both_buses,
    connect,
    fresh_pg_database,
    register,
)


@pytest.fixture
def database(request, tmp_path) -> Iterator[str]:
    """SQLite unless a test asks for PostgreSQL (several DB threads: truly concurrent jobs)."""
    if getattr(request, "param", "sqlite") == "postgres":
        with fresh_pg_database() as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path}/chatd.db"


@pytest.fixture
def settings(tmp_path, database, settings_overrides, bus_kind) -> Settings:
    bus = {"redis_url": REDIS_URL} if bus_kind == "redis" else {}
    return Settings.for_tests(
        database=database, upload_dir=tmp_path / "up", ping_interval=0, **bus, **settings_overrides
    )


def assert_error(status: int, envelope: dict[str, Any], expected: int) -> str:
    assert status == expected, (status, envelope)
    assert envelope["code"] == -1 and envelope["msg"], envelope
    return envelope["msg"]


async def notice(client: ChatClient) -> dict[str, Any]:
    frame = await client.next_frame()
    assert frame["cmd"] == 15, f"{client.account.nickname}: expected a cmd 15 frame, got {frame}"
    return frame


async def friend_ids(api, account: Account) -> list[int]:
    return sorted(row["id"] for row in await api.ok("/contact/loadfriend", account.token))


async def request_rows(api, account: Account) -> list[tuple[str, int]]:
    return [(row["direction"], row["user"]["id"]) for row in await api.ok("/contact/requests", account.token)]


async def send_refused(client: ChatClient, dst: Account) -> str:
    """Send a 1:1 text that must be refused with 403; returns the refusal's message."""
    cmid = await client.send(cmd=10, dstid=dst.id, media=1, content="let me in")
    frame = await client.next_frame()
    assert (frame["cmd"], frame["cmid"], frame["code"]) == (13, cmid, 403), frame
    return frame["msg"]


async def sends(client: ChatClient, dst: Account, text: str) -> int:
    cmid = await client.send(cmd=10, dstid=dst.id, media=1, content=text)
    frame = await client.next_frame()
    assert (frame["cmd"], frame["cmid"]) == (12, cmid), frame
    return frame["id"]


def public(account: Account) -> dict[str, Any]:
    return {"id": account.id, "nickname": account.nickname, "avatar": "", "sex": "U", "memo": ""}


@both_buses
@pytest.mark.gen_test
async def test_request_accept_then_message_with_live_frames_on_every_device(api, base_url):
    ann, bob, eve = await register(api, "Ann"), await register(api, "Bob"), await register(api, "Eve")
    phone, laptop, b = (
        await connect(base_url, ann),
        await connect(base_url, ann),
        await connect(base_url, bob),
    )
    e = await connect(base_url, eve)

    data = await api.ok("/contact/addfriend", ann.token, dstid=bob.id)
    assert data == {"status": "requested", "user": public(bob)}
    assert await notice(b) == {"cmd": 15, "type": "friend_request", "user": public(ann)}
    for device in (phone, laptop):  # the acting user's other device learns it too
        assert await notice(device) == {"cmd": 15, "type": "request_sent", "user": public(bob)}
    assert await request_rows(api, ann) == [("out", bob.id)]
    assert await request_rows(api, bob) == [("in", ann.id)]
    row = (await api.ok("/contact/requests", bob.token))[0]
    assert set(row) == {"direction", "user", "createat"} and row["createat"] > 0
    assert await send_refused(phone, bob)  # a request alone lets no message through

    data = await api.ok("/contact/accept", bob.token, dstid=ann.id)
    assert data == {"status": "friends", "user": public(ann)}
    assert await notice(b) == {"cmd": 15, "type": "friend_added", "user": public(ann)}
    for device in (phone, laptop):
        assert await notice(device) == {"cmd": 15, "type": "friend_added", "user": public(bob)}
    assert await friend_ids(api, ann) == [bob.id] and await friend_ids(api, bob) == [ann.id]
    assert await request_rows(api, ann) == [] and await request_rows(api, bob) == []

    await sends(phone, bob, "hello Bob")
    assert (await b.next_message())["content"] == "hello Bob"
    assert (await laptop.next_message())["content"] == "hello Bob"
    await sends(b, ann, "hi Ann")
    assert (await phone.next_message())["content"] == "hi Ann"
    # Eve, a stranger to both, heard none of it.
    await befriend(api, bob, eve)
    assert [(await notice(e))["type"] for _ in range(2)] == ["friend_request", "friend_added"]
    assert [(await notice(b))["type"] for _ in range(2)] == ["request_sent", "friend_added"]
    await assert_next_is_sentinel(e, sender=b, dstid=eve.id)


@both_buses
@pytest.mark.gen_test
async def test_asking_again_tells_nobody_twice_and_the_other_asking_makes_friends(api, base_url):
    ann, bob, cat = await register(api, "Ann"), await register(api, "Bob"), await register(api, "Cat")
    await befriend(api, cat, bob)
    b, c = await connect(base_url, bob), await connect(base_url, cat)
    await api.ok("/contact/addfriend", ann.token, dstid=bob.id)
    assert (await notice(b))["type"] == "friend_request"
    assert await api.ok("/contact/addfriend", ann.token, dstid=bob.id) == {
        "status": "requested",
        "user": public(bob),
    }
    await assert_next_is_sentinel(b, sender=c, dstid=bob.id)  # no second friend_request
    # Bob asking Ann back is an acceptance.
    assert await api.ok("/contact/addfriend", bob.token, mobile=ann.mobile) == {
        "status": "friends",
        "user": public(ann),
    }
    assert await notice(b) == {"cmd": 15, "type": "friend_added", "user": public(ann)}
    assert await friend_ids(api, ann) == [bob.id]
    assert await request_rows(api, ann) == [] and await request_rows(api, bob) == []


@both_buses
@pytest.mark.gen_test
async def test_decline_and_cancel_end_the_request_on_both_sides(api, base_url):
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    a, b = await connect(base_url, ann), await connect(base_url, bob)
    await api.ok("/contact/addfriend", ann.token, dstid=bob.id)
    assert (await notice(a))["type"] == "request_sent" and (await notice(b))["type"] == "friend_request"

    await api.ok("/contact/decline", bob.token, dstid=ann.id)
    assert await notice(a) == {"cmd": 15, "type": "request_removed", "userid": bob.id}
    assert await notice(b) == {"cmd": 15, "type": "request_removed", "userid": ann.id}
    assert_error(*await api.call("/contact/accept", bob.token, dstid=ann.id), 404)
    assert_error(*await api.call("/contact/decline", bob.token, dstid=ann.id), 404)
    assert await send_refused(a, bob) and await send_refused(b, ann)
    assert await friend_ids(api, ann) == [] and await request_rows(api, bob) == []

    # Asking again after a decline is allowed; the asker may take it back.
    await api.ok("/contact/addfriend", ann.token, dstid=bob.id)
    assert (await notice(a))["type"] == "request_sent" and (await notice(b))["type"] == "friend_request"
    assert_error(
        *await api.call("/contact/cancelrequest", bob.token, dstid=ann.id), 404
    )  # not Bob's to cancel
    await api.ok("/contact/cancelrequest", ann.token, dstid=bob.id)
    assert await notice(a) == {"cmd": 15, "type": "request_removed", "userid": bob.id}
    assert await notice(b) == {"cmd": 15, "type": "request_removed", "userid": ann.id}
    assert_error(*await api.call("/contact/accept", bob.token, dstid=ann.id), 404)
    assert await request_rows(api, ann) == [] and await request_rows(api, bob) == []


@both_buses
@pytest.mark.gen_test
async def test_block_refuses_requests_and_messages_with_a_plain_403(api, base_url):
    ann, bob, cat = await register(api, "Ann"), await register(api, "Bob"), await register(api, "Cat")
    stranger = await register(api, "Stranger")
    await befriend(api, ann, bob)
    a, b = await connect(base_url, ann), await connect(base_url, bob)
    await sends(a, bob, "before the block")
    assert (await b.next_message())["content"] == "before the block"
    await api.ok("/contact/addfriend", cat.token, dstid=bob.id)  # a pending request, then blocked
    assert (await notice(b))["type"] == "friend_request"

    await api.ok("/contact/block", bob.token, dstid=ann.id)
    assert await notice(a) == {"cmd": 15, "type": "friend_removed", "userid": bob.id}
    assert await notice(b) == {"cmd": 15, "type": "friend_removed", "userid": ann.id}
    await api.ok("/contact/block", bob.token, dstid=cat.id)
    assert await notice(b) == {"cmd": 15, "type": "request_removed", "userid": cat.id}
    await api.ok("/contact/block", bob.token, dstid=ann.id)  # idempotent, tells nobody again

    # Ann (blocked) and Bob (the blocker) are refused alike, with words that never say "block".
    refused = await send_refused(a, bob)
    assert refused == f"not a friend of user {bob.id}"  # what any non-friend is told
    assert await send_refused(b, ann)
    for who, other in ((ann, bob), (bob, ann), (cat, bob)):
        msg = assert_error(*await api.call("/contact/addfriend", who.token, dstid=other.id), 403)
        assert msg == "you cannot add this user"
    msg = assert_error(*await api.call("/contact/addfriend", ann.token, mobile=bob.mobile), 403)
    assert "block" not in msg.lower() and "block" not in refused.lower()
    assert_error(*await api.call("/contact/accept", bob.token, dstid=cat.id), 404)  # the request is gone
    # Bob's profile still looks to Ann as to anyone.
    assert await api.ok("/user/find", ann.token, id=bob.id) == await api.ok(
        "/user/find", stranger.token, id=bob.id
    )

    assert [u["id"] for u in await api.ok("/contact/blocked", bob.token)] == sorted([ann.id, cat.id])
    assert await api.ok("/contact/blocked", ann.token) == []
    assert await friend_ids(api, ann) == [] and await friend_ids(api, bob) == []
    assert await request_rows(api, bob) == [] and await request_rows(api, cat) == []
    # Both still read what they said before.
    rows = await api.ok("/message/history", ann.token, cmd=10, dstid=bob.id)
    assert [r["content"] for r in rows] == ["before the block"]

    # Unblocking makes nobody friends: Ann may ask again and Bob decide.
    assert_error(*await api.call("/contact/unblock", ann.token, dstid=bob.id), 404)  # Ann never blocked
    await api.ok("/contact/unblock", bob.token, dstid=ann.id)
    assert [u["id"] for u in await api.ok("/contact/blocked", bob.token)] == [cat.id]
    assert await send_refused(a, bob)
    assert (await api.ok("/contact/addfriend", ann.token, dstid=bob.id))["status"] == "requested"
    assert (await notice(a))["type"] == "request_sent" and (await notice(b))["type"] == "friend_request"


@both_buses
@pytest.mark.gen_test
async def test_unfriended_pair_reads_their_history_but_cannot_send(api, base_url):
    ann, bob, eve = await register(api, "Ann"), await register(api, "Bob"), await register(api, "Eve")
    await befriend(api, ann, bob)
    phone, laptop, b = (
        await connect(base_url, ann),
        await connect(base_url, ann),
        await connect(base_url, bob),
    )
    await sends(phone, bob, "one")
    assert (await b.next_message())["content"] == "one"
    await sends(b, ann, "two")
    assert [(await laptop.next_message())["content"] for _ in range(2)] == ["one", "two"]
    assert (await phone.next_message())["content"] == "two"

    await api.ok("/contact/unfriend", ann.token, dstid=bob.id)
    assert await notice(b) == {"cmd": 15, "type": "friend_removed", "userid": ann.id}
    for device in (phone, laptop):
        assert await notice(device) == {"cmd": 15, "type": "friend_removed", "userid": bob.id}
    assert_error(*await api.call("/contact/unfriend", bob.token, dstid=ann.id), 404)
    assert await friend_ids(api, ann) == [] and await friend_ids(api, bob) == []

    assert await send_refused(phone, bob) and await send_refused(b, ann)
    for me, other in ((ann, bob), (bob, ann)):
        rows = await api.ok("/message/history", me.token, cmd=10, dstid=other.id)
        assert [r["content"] for r in rows] == ["two", "one"]
    # A stranger still reads nothing of theirs.
    assert_error(*await api.call("/message/history", eve.token, cmd=10, dstid=bob.id), 403)


@both_buses
@pytest.mark.gen_test
async def test_wrong_requests_are_refused_and_change_nothing(api):
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    for path, body, status in [
        ("/contact/accept", {"dstid": bob.id}, 404),
        ("/contact/accept", {"dstid": ann.id + 1000}, 404),
        ("/contact/decline", {"dstid": bob.id}, 404),
        ("/contact/cancelrequest", {"dstid": bob.id}, 404),
        ("/contact/unfriend", {"dstid": bob.id}, 404),
        ("/contact/unblock", {"dstid": bob.id}, 404),
        ("/contact/block", {"dstid": ann.id}, 400),
        ("/contact/block", {"dstid": ann.id + 1000}, 404),
        ("/contact/block", {}, 400),
        ("/contact/accept", {"dstid": "x"}, 400),
        ("/user/settings", {"findable": "maybe"}, 400),
    ]:
        assert_error(*await api.call(path, ann.token, **body), status)
    assert (await api.call("/contact/requests"))[0] == 401
    assert await friend_ids(api, ann) == [] and await request_rows(api, ann) == []
    assert await api.ok("/contact/blocked", ann.token) == []
    assert (await api.ok("/user/me", ann.token))["findable"] is True


@pytest.mark.gen_test
@pytest.mark.parametrize("database", ["sqlite", "postgres"], indirect=True)
async def test_crossing_requests_and_accepts_make_exactly_one_friendship(api, base_url, ctx):
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    a, b = await connect(base_url, ann), await connect(base_url, bob)
    # Both ask each other at the same moment: one friendship, however the jobs interleave.
    answers = await asyncio.gather(
        *(
            api.call("/contact/addfriend", who.token, dstid=other.id)
            for who, other in [(ann, bob), (bob, ann)] * 3
        )
    )
    statuses = [envelope["data"]["status"] if code == 200 else code for code, envelope in answers]
    assert "friends" in statuses and set(statuses) <= {"friends", "requested", 409}, statuses
    assert await friend_ids(api, ann) == [bob.id] and await friend_ids(api, bob) == [ann.id]
    assert await request_rows(api, ann) == [] and await request_rows(api, bob) == []

    # Each socket got exactly one friend_added, after whatever request frames came first.
    for client, other in ((a, bob), (b, ann)):
        frame = await notice(client)
        while frame["type"] in ("request_sent", "friend_request"):
            frame = await notice(client)
        assert frame == {"cmd": 15, "type": "friend_added", "user": public(other)}
    await assert_next_is_sentinel(b, sender=a, dstid=bob.id)
    await assert_next_is_sentinel(a, sender=b, dstid=ann.id)

    # Unfriend, then Ann asks and Bob accepts from three devices at once while Ann asks again.
    await api.ok("/contact/unfriend", bob.token, dstid=ann.id)
    await api.ok("/contact/addfriend", ann.token, dstid=bob.id)
    answers = await asyncio.gather(
        *(api.call("/contact/accept", bob.token, dstid=ann.id) for _ in range(3)),
        api.call("/contact/addfriend", ann.token, dstid=bob.id),
    )
    assert all(code == 200 for code, _ in answers[:3]), answers
    assert all(envelope["data"]["status"] == "friends" for _, envelope in answers[:3])
    assert answers[3][0] in (200, 409)

    def pair_rows() -> int:
        return (
            Contact.select()
            .where(
                (Contact.cate == FRIEND)
                & (Contact.owner_id.in_([ann.id, bob.id]))
                & (Contact.dst_id.in_([ann.id, bob.id]))
            )
            .count()
        )

    assert await ctx.pools.db(pair_rows) == 2  # one row each way, no duplicates
    want = {
        a: ["friend_removed", "request_sent", "friend_added"],
        b: ["friend_removed", "friend_request", "friend_added"],
    }
    for client, types in want.items():
        assert [(await notice(client))["type"] for _ in types] == types
    await assert_next_is_sentinel(a, b, sender=a, dstid=bob.id)  # and no second friend_added


@pytest.mark.gen_test
@pytest.mark.parametrize("settings_overrides", [{"open_contacts": True}])
async def test_open_contacts_restores_the_direct_two_way_add(api, base_url):
    ann, bob, eve = await register(api, "Ann"), await register(api, "Bob"), await register(api, "Eve")
    a, b = await connect(base_url, ann), await connect(base_url, bob)
    assert await api.ok("/contact/addfriend", ann.token, dstid=bob.id) == {
        "status": "friends",
        "user": public(bob),
    }
    assert await notice(a) == {"cmd": 15, "type": "friend_added", "user": public(bob)}
    assert await notice(b) == {"cmd": 15, "type": "friend_added", "user": public(ann)}
    assert await friend_ids(api, ann) == [bob.id] and await friend_ids(api, bob) == [ann.id]
    assert await request_rows(api, bob) == []
    await sends(a, bob, "no asking needed")
    assert (await b.next_message())["content"] == "no asking needed"
    assert_error(*await api.call("/contact/addfriend", bob.token, mobile=ann.mobile), 409)
    # A block still holds on an open server.
    await api.ok("/contact/block", eve.token, dstid=ann.id)
    assert_error(*await api.call("/contact/addfriend", ann.token, dstid=eve.id), 403)


@both_buses
@pytest.mark.gen_test
@pytest.mark.parametrize("settings_overrides", [{"find_rate": 3}])
async def test_lookups_by_mobile_are_limited_per_user(api, http_client, base_url):
    ann, bob, cat = await register(api, "Ann"), await register(api, "Bob"), await register(api, "Cat")
    # Hits and misses cost alike: walking a range of numbers is what the limit stops.
    assert (await api.ok("/user/find", ann.token, mobile=bob.mobile))["id"] == bob.id
    assert_error(*await api.call("/user/find", ann.token, mobile="13800000001"), 404)
    assert (await api.ok("/contact/addfriend", ann.token, mobile=cat.mobile))["status"] == "requested"
    response = await http_client.fetch(
        HTTPRequest(
            base_url + "/user/find",
            method="POST",
            headers={"Authorization": f"Bearer {ann.token}", "Content-Type": "application/json"},
            body=orjson.dumps({"mobile": bob.mobile}),
        ),
        raise_error=False,
    )
    assert response.code == 429 and int(response.headers["Retry-After"]) >= 1
    assert "bob" not in response.body.decode().lower()
    assert_error(*await api.call("/contact/addfriend", ann.token, mobile=bob.mobile), 429)
    assert await request_rows(api, bob) == []  # the refused add asked nobody
    # Lookups by id (shared knowingly: an Add-me card) and other users are not limited.
    assert (await api.ok("/user/find", ann.token, id=bob.id))["id"] == bob.id
    assert (await api.ok("/user/find", bob.token, mobile=ann.mobile))["id"] == ann.id


@both_buses
@pytest.mark.gen_test
async def test_a_user_who_is_not_findable_is_unknown_by_mobile_only(api):
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    me = await api.ok("/user/me", bob.token)
    assert (me["id"], me["findable"], me["role"]) == (bob.id, True, "")
    live_defaults = {"show_presence": True, "send_receipts": True}  # tests/test_live_settings.py
    assert await api.ok("/user/settings", bob.token) == {"findable": True, **live_defaults}
    assert await api.ok("/user/settings", bob.token, findable=False) == {"findable": False, **live_defaults}
    assert (await api.ok("/user/me", bob.token))["findable"] is False

    nobody = assert_error(*await api.call("/user/find", ann.token, mobile="13800000002"), 404)
    assert assert_error(*await api.call("/user/find", ann.token, mobile=bob.mobile), 404) == nobody
    assert assert_error(*await api.call("/contact/addfriend", ann.token, mobile=bob.mobile), 404) == nobody
    assert await request_rows(api, bob) == []
    # By id (from his Add-me card) he is still found and can be asked.
    assert (await api.ok("/user/find", ann.token, id=bob.id))["id"] == bob.id
    assert (await api.ok("/contact/addfriend", ann.token, dstid=bob.id))["status"] == "requested"

    assert (await api.ok("/user/settings", bob.token, findable="true"))["findable"] is True  # a form post
    assert (await api.ok("/user/find", ann.token, mobile=bob.mobile))["id"] == bob.id
