"""Groups with consent (PROTOCOL.md "Consent"): invites, roles, system lines, and what a
member, a past member and a stranger may read, through the real app on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from tornado.httpclient import HTTPRequest

from models import invites as invite_q
from models.db import now_ms
from server.bus import Membership, MembershipEnded
from server.hub import Hub
from tests.conftest import (
    Account,
    Api,
    ChatClient,
    assert_next_is_sentinel,
    both_buses,
    both_databases,
    connect,
    join_group,
    register,
)


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    # open_contacts: the friends these tests need (for 1:1 sentinels) are added directly.
    return {"open_contacts": True, "send_rate": 10_000.0, "send_burst": 10_000}


async def befriend(api: Api, a: Account, b: Account) -> None:
    await api.ok("/contact/addfriend", a.token, dstid=b.id)


async def refused(api: Api, path: str, token: str, status: int, **body: Any) -> str:
    code, envelope = await api.call(path, token, **body)
    assert (code, envelope.get("code")) == (status, -1), (path, code, envelope)
    return str(envelope["msg"])


def event_of(frame: dict[str, Any]) -> dict[str, Any]:
    assert (frame["cmd"], frame["media"]) == (11, 10), frame
    event: dict[str, Any] = orjson.loads(frame["content"])
    return event


async def say(client: ChatClient, group_id: int, text: str) -> dict[str, Any]:
    """Send a group text and wait for its ack; returns the ack."""
    cmid = await client.send(cmd=11, dstid=group_id, media=1, content=text)
    while True:
        frame = await client.next_frame()
        if frame.get("cmid") == cmid and frame["cmd"] in (12, 13):
            assert frame["cmd"] == 12, frame
            return frame


async def replay(base_url: str, account: Account, since: int, until_id: int) -> list[dict[str, Any]]:
    """What a socket opened with since= replays, up to a message id we know comes last."""
    client = await connect(base_url, account, since=since)
    frames = []
    while True:
        frame = await client.next_message()
        frames.append(frame)
        if frame["id"] >= until_id:
            client.close()
            return frames


async def history(api: Api, account: Account, group_id: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await api.ok("/message/history", account.token, cmd=11, dstid=group_id)
    return rows


@both_databases
@both_buses
@pytest.mark.gen_test
async def test_a_stranger_cannot_join_read_message_or_learn_a_closed_group(api, base_url, db_kind):
    ann, eve = await register(api, "Ann"), await register(api, "Eve")
    group = await api.ok("/contact/createcommunity", ann.token, name="Family")
    gid = group["id"]
    a = await connect(base_url, ann)
    secret = await say(a, gid, "the door code is 4711")
    await befriend(api, ann, eve)  # a friend of the owner, still not let into the group

    msg = await refused(api, "/contact/joincommunity", eve.token, 403, dstid=gid)
    assert "invite" in msg
    # A missing group answers the same, so ids reveal nothing more.
    assert await refused(api, "/contact/joincommunity", eve.token, 403, dstid=gid + 1000) == msg
    await refused(api, "/message/history", eve.token, 403, cmd=11, dstid=gid)
    await refused(api, "/contact/members", eve.token, 403, dstid=gid)
    await refused(api, "/contact/invites", eve.token, 403, dstid=gid)
    await refused(api, "/contact/invite", eve.token, 403, dstid=gid)
    await refused(api, "/contact/updatecommunity", eve.token, 403, dstid=gid, open=True)
    await refused(api, "/contact/kick", eve.token, 403, dstid=gid, userid=ann.id)
    await refused(api, "/message/read", eve.token, 403, cmd=11, dstid=gid, id=secret["id"])
    assert await api.ok("/contact/loadcommunity", eve.token) == []
    assert all(row["cmd"] == 10 for row in await api.ok("/message/conversations", eve.token))

    e = await connect(base_url, eve, since=0)  # replays nothing of the group
    await e.send(cmd=11, dstid=gid, media=1, content="let me in")
    refusal = await e.next_frame()
    assert (refusal["cmd"], refusal["code"]) == (13, 403)
    await say(a, gid, "still secret")
    await assert_next_is_sentinel(e, sender=a, dstid=eve.id)
    assert [m["content"] for m in await history(api, ann, gid)] == ["still secret", "the door code is 4711"]


@both_databases
@both_buses
@pytest.mark.gen_test
async def test_joining_by_invite_gives_the_joiners_socket_the_group_at_once(
    api, base_url, http_client, db_kind
):
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    group = await api.ok("/contact/createcommunity", ann.token, name="Club")
    gid = group["id"]
    invite = await api.ok("/contact/invite", ann.token, dstid=gid)
    assert len(invite["code"]) == 32 and int(invite["code"], 16) >= 0
    assert invite["url"] == "/invite/" + invite["code"] and (invite["maxuses"], invite["uses"]) == (0, 0)
    # The invite URL opens the chat page, which logs in or registers, then joins.
    response = await http_client.fetch(
        HTTPRequest(base_url + invite["url"], follow_redirects=False), raise_error=False
    )
    assert response.code == 302 and response.headers["Location"] == f"/chat.html?join={invite['code']}"

    a, b = await connect(base_url, ann), await connect(base_url, bob)
    joined = await api.ok("/contact/joincommunity", bob.token, code=invite["code"])
    assert (joined["id"], joined["role"], joined["open"], joined["history"]) == (
        gid,
        "member",
        False,
        "joined",
    )
    notice = await b.next_frame()
    assert notice == {"cmd": 15, "type": "group_added", "group": joined}
    line = await b.next_frame()
    assert event_of(line) == {"event": "joined", "userid": bob.id, "by": ann.id} and line["userid"] == bob.id
    assert await a.next_frame() == line  # the members see the join line too
    await say(a, gid, "welcome Bob")
    assert (await b.next_frame())["content"] == "welcome Bob"
    members = await api.ok("/contact/members", bob.token, dstid=gid)
    assert [(m["user"]["id"], m["role"]) for m in members] == [(ann.id, "owner"), (bob.id, "member")]
    assert set(members[0]["user"]) == {"id", "nickname", "avatar", "sex", "memo"}
    rows = await api.ok("/contact/invites", ann.token, dstid=gid)
    assert [(r["code"], r["uses"]) for r in rows] == [(invite["code"], 1)]


@both_buses
@pytest.mark.gen_test
async def test_revoked_expired_and_used_up_codes_are_refused_saying_why(api, ctx):
    ann, bob, cat, dan = [await register(api, n) for n in ("Ann", "Bob", "Cat", "Dan")]
    gid = (await api.ok("/contact/createcommunity", ann.token, name="Club"))["id"]
    once = await api.ok("/contact/invite", ann.token, dstid=gid, uses=1, expires=3600)
    assert once["maxuses"] == 1 and once["expireat"] > now_ms()
    await api.ok("/contact/joincommunity", bob.token, code=once["code"])
    assert "used up" in await refused(api, "/contact/joincommunity", cat.token, 404, code=once["code"])

    # Any member may invite; only the invite's creator or an admin may revoke it.
    by_bob = await api.ok("/contact/invite", bob.token, dstid=gid)
    await refused(api, "/contact/invites", bob.token, 403, dstid=gid)
    other = await api.ok("/contact/invite", ann.token, dstid=gid)
    await refused(api, "/contact/revokeinvite", bob.token, 403, code=other["code"])
    assert (await api.ok("/contact/revokeinvite", bob.token, code=by_bob["code"]))["revoked"] is True
    assert "revoked" in await refused(api, "/contact/joincommunity", cat.token, 404, code=by_bob["code"])
    await api.ok("/contact/revokeinvite", ann.token, code=other["code"])
    assert "revoked" in await refused(api, "/contact/joincommunity", cat.token, 404, code=other["code"])

    past = await ctx.pools.db(invite_q.insert_invite, gid, ann.id, now_ms() - 1, 0)
    assert "expired" in await refused(api, "/contact/joincommunity", cat.token, 404, code=past["code"])
    assert "no such" in await refused(api, "/contact/joincommunity", cat.token, 404, code="0" * 32)
    signup = await ctx.pools.db(invite_q.insert_invite, invite_q.SIGNUP, ann.id, 0, 0)
    assert "no such" in await refused(api, "/contact/joincommunity", cat.token, 404, code=signup["code"])
    await refused(api, "/contact/invite", ann.token, 400, dstid=gid, uses=-1)
    members = await api.ok("/contact/members", ann.token, dstid=gid)
    assert {m["user"]["id"] for m in members} == {ann.id, bob.id}
    assert (
        await api.ok("/contact/loadcommunity", cat.token)
        == []
        == await api.ok("/contact/loadcommunity", dan.token)
    )


@both_databases
@both_buses
@pytest.mark.gen_test
async def test_a_kicked_members_socket_stops_before_the_kick_answer_and_replay_ends_at_removal(
    api, base_url, db_kind
):
    ann, bob, cat = [await register(api, n) for n in ("Ann", "Bob", "Cat")]
    gid = (await api.ok("/contact/createcommunity", ann.token, name="Club"))["id"]
    await join_group(api, ann, bob, gid)
    await befriend(api, cat, bob)
    a, b, c = await connect(base_url, ann), await connect(base_url, bob), await connect(base_url, cat)
    before = await say(a, gid, "before")
    assert (await b.next_message())["id"] == before["id"]

    await api.ok("/contact/kick", ann.token, dstid=gid, userid=bob.id)
    after = await say(a, gid, "after the kick")  # sent once the kick's answer is back
    line = await b.next_frame()
    assert event_of(line) == {"event": "removed", "userid": bob.id, "by": ann.id} and line["userid"] == ann.id
    assert await b.next_frame() == {"cmd": 15, "type": "group_removed", "dstid": gid}
    await assert_next_is_sentinel(b, sender=c, dstid=bob.id)  # and nothing of the group

    await b.send(cmd=11, dstid=gid, media=1, content="still here?")
    refusal = await b.next_frame()
    assert (refusal["cmd"], refusal["code"]) == (13, 403)
    # History and replay end at the removal line, inclusive.
    assert [m["id"] for m in await history(api, bob, gid)][:2] == [line["id"], before["id"]]
    replayed = await replay(base_url, bob, 0, line["id"])
    assert [m["id"] for m in replayed if m["cmd"] == 11][-2:] == [before["id"], line["id"]]
    b2 = await connect(base_url, bob, since=before["id"])
    assert await b2.next_message() == line
    assert (await b2.next_message())["userid"] == cat.id  # the first sentinel, 1:1 from Cat
    await assert_next_is_sentinel(b2, sender=c, dstid=bob.id)  # "after the kick" never comes
    assert all(
        row["dstid"] != gid or row["cmd"] != 11 for row in await api.ok("/message/conversations", bob.token)
    )
    await refused(api, "/contact/members", bob.token, 403, dstid=gid)
    assert after["id"] > line["id"]
    assert (await history(api, ann, gid))[0]["id"] == after["id"]


@both_databases
@both_buses
@pytest.mark.gen_test
async def test_a_new_member_reads_from_their_join_unless_history_is_all(api, base_url, db_kind):
    ann, bob, cat = [await register(api, n) for n in ("Ann", "Bob", "Cat")]
    gid = (await api.ok("/contact/createcommunity", ann.token, name="Club"))["id"]
    a = await connect(base_url, ann)
    old = [(await say(a, gid, text))["id"] for text in ("old 1", "old 2")]
    await join_group(api, ann, bob, gid)
    new = (await say(a, gid, "new"))["id"]

    rows = await history(api, bob, gid)
    assert rows[0]["id"] == new and len(rows) == 2 and event_of(rows[1])["event"] == "joined"
    assert [m["id"] for m in await replay(base_url, bob, 0, new)] == [rows[1]["id"], new]
    convo = next(r for r in await api.ok("/message/conversations", bob.token) if r["cmd"] == 11)
    assert (convo["last"]["id"], convo["unread"]) == (new, 1)  # the old ones are not his to count
    await refused(api, "/contact/updatecommunity", bob.token, 403, dstid=gid, history="all")
    await refused(api, "/contact/updatecommunity", ann.token, 400, dstid=gid, history="some")

    updated = await api.ok("/contact/updatecommunity", ann.token, dstid=gid, history="all")
    assert updated["history"] == "all"
    line = await a.next_frame()
    assert event_of(line) == {"event": "updated", "by": ann.id, "history": "all"}
    await join_group(api, ann, cat, gid)
    for member in (bob, cat):
        ids = [r["id"] for r in await history(api, member, gid)]
        assert ids[-2:] == old[::-1] and new in ids and line["id"] in ids
        assert [m["id"] for m in await replay(base_url, member, 0, ids[0]) if m["cmd"] == 11][:2] == old


@both_databases
@both_buses
@pytest.mark.gen_test
async def test_system_lines_are_stored_once_and_replayed_once_across_a_reconnect(api, base_url, db_kind):
    ann, bob, cat = [await register(api, n) for n in ("Ann", "Bob", "Cat")]
    gid = (await api.ok("/contact/createcommunity", ann.token, name="Club"))["id"]
    await join_group(api, ann, bob, gid)
    await befriend(api, ann, bob)
    b = await connect(base_url, bob)
    await join_group(api, ann, cat, gid)
    await api.ok("/contact/joincommunity", cat.token, dstid=gid)  # again: no second join line
    await api.ok("/contact/leavecommunity", cat.token, dstid=gid)
    await api.ok("/contact/updatecommunity", ann.token, dstid=gid, name="Club 2", memo="")  # memo unchanged
    lines = [await b.next_message() for _ in range(3)]
    assert [event_of(m) for m in lines] == [
        {"event": "joined", "userid": cat.id, "by": ann.id},
        {"event": "left", "userid": cat.id},
        {"event": "renamed", "name": "Club 2", "by": ann.id},
    ]
    assert all(m["cmid"].startswith("sys:") and len(m["cmid"]) == 36 for m in lines)
    a = await connect(base_url, ann)
    await assert_next_is_sentinel(b, sender=a, dstid=bob.id)
    b.close()

    b2 = await connect(base_url, bob, since=lines[0]["id"])
    replayed = [await b2.next_message() for _ in range(3)]
    assert replayed[:2] == lines[1:] and (replayed[2]["cmd"], replayed[2]["userid"]) == (
        10,
        ann.id,
    )  # sentinel
    await assert_next_is_sentinel(b2, sender=a, dstid=bob.id)
    ids = [r["id"] for r in await history(api, bob, gid)]
    assert len(ids) == len(set(ids)) == 4  # Bob's own join line and these three

    # Clients cannot forge a system line.
    await b2.send(cmd=11, dstid=gid, media=10, content='{"event":"left","userid":1}')
    refusal = await b2.next_frame()
    assert (refusal["cmd"], refusal["code"]) == (13, 400)


@both_buses
@pytest.mark.gen_test
async def test_ownership_passes_to_the_longest_standing_admin_else_member(api, base_url):
    ann, bob, cat = [await register(api, n) for n in ("Ann", "Bob", "Cat")]
    gid = (await api.ok("/contact/createcommunity", ann.token, name="Club"))["id"]
    await join_group(api, ann, bob, gid)
    await join_group(api, ann, cat, gid)
    await refused(api, "/contact/setrole", bob.token, 403, dstid=gid, userid=cat.id, role="admin")
    await refused(api, "/contact/setrole", ann.token, 400, dstid=gid, userid=cat.id, role="owner")
    assert (await api.ok("/contact/setrole", ann.token, dstid=gid, userid=cat.id, role="admin"))[
        "role"
    ] == "admin"

    await api.ok("/contact/leavecommunity", ann.token, dstid=gid)
    members = await api.ok("/contact/members", bob.token, dstid=gid)
    assert [(m["user"]["id"], m["role"]) for m in members] == [(cat.id, "owner"), (bob.id, "member")]
    (row,) = await api.ok("/contact/loadcommunity", cat.token)
    assert (row["ownerid"], row["role"]) == (cat.id, "owner")
    events = [event_of(r) for r in await history(api, bob, gid)][:2]
    assert events == [
        {"event": "updated", "by": ann.id, "owner": cat.id},
        {"event": "left", "userid": ann.id},
    ]
    left = (await history(api, ann, gid))[0]
    assert event_of(left) == {"event": "left", "userid": ann.id}
    # Ann's replay ends at her leave too, though she is the actor of the line after it.
    await befriend(api, ann, bob)
    a = await connect(base_url, ann, since=left["id"] - 1)
    assert await a.next_message() == left
    await assert_next_is_sentinel(a, sender=await connect(base_url, bob), dstid=ann.id)
    await refused(api, "/contact/leavecommunity", ann.token, 403, dstid=gid)

    await api.ok("/contact/leavecommunity", cat.token, dstid=gid)
    (row,) = await api.ok("/contact/loadcommunity", bob.token)
    assert (row["ownerid"], row["role"]) == (bob.id, "owner")
    await api.ok("/contact/leavecommunity", bob.token, dstid=gid)  # an empty group stays empty
    await refused(api, "/contact/members", bob.token, 403, dstid=gid)


@both_buses
@pytest.mark.gen_test
async def test_admins_remove_members_but_not_the_owner_or_other_admins(api):
    ann, bob, cat, dan = [await register(api, n) for n in ("Ann", "Bob", "Cat", "Dan")]
    gid = (await api.ok("/contact/createcommunity", ann.token, name="Club"))["id"]
    for member in (bob, cat, dan):
        await join_group(api, ann, member, gid)
    for admin in (bob, cat):
        await api.ok("/contact/setrole", ann.token, dstid=gid, userid=admin.id, role="admin")
    await refused(api, "/contact/kick", dan.token, 403, dstid=gid, userid=bob.id)
    await refused(api, "/contact/kick", bob.token, 403, dstid=gid, userid=ann.id)
    await refused(api, "/contact/kick", bob.token, 403, dstid=gid, userid=cat.id)
    await refused(api, "/contact/kick", bob.token, 400, dstid=gid, userid=bob.id)
    await api.ok("/contact/kick", bob.token, dstid=gid, userid=dan.id)
    await refused(api, "/contact/kick", bob.token, 404, dstid=gid, userid=dan.id)
    await api.ok("/contact/kick", ann.token, dstid=gid, userid=cat.id)
    members = await api.ok("/contact/members", bob.token, dstid=gid)
    assert [(m["user"]["id"], m["role"]) for m in members] == [(ann.id, "owner"), (bob.id, "admin")]
    # Dan, removed, may come back with a new invite.
    await join_group(api, bob, dan, gid)
    assert len(await api.ok("/contact/members", dan.token, dstid=gid)) == 3


@both_buses
@pytest.mark.gen_test
async def test_an_open_group_is_joined_by_its_id_until_it_is_closed_again(api):
    ann, bob, eve, fay = [await register(api, n) for n in ("Ann", "Bob", "Eve", "Fay")]
    gid = (await api.ok("/contact/createcommunity", ann.token, name="Town square"))["id"]
    await join_group(api, ann, bob, gid)
    await refused(api, "/contact/updatecommunity", bob.token, 403, dstid=gid, open=True)
    await refused(api, "/contact/updatecommunity", ann.token, 400, dstid=gid, open="maybe")
    assert (await api.ok("/contact/updatecommunity", ann.token, dstid=gid, open=True))["open"] is True
    joined = await api.ok("/contact/joincommunity", eve.token, dstid=gid)
    assert (joined["id"], joined["role"], joined["open"]) == (gid, "member", True)
    assert event_of((await history(api, eve, gid))[0]) == {"event": "joined", "userid": eve.id, "by": eve.id}
    await api.ok("/contact/updatecommunity", ann.token, dstid=gid, open=False)
    await refused(api, "/contact/joincommunity", fay.token, 403, dstid=gid)


@both_databases
@both_buses
@pytest.mark.gen_test
async def test_a_code_with_two_uses_lets_exactly_two_of_five_concurrent_joiners_in(api, db_kind):
    ann = await register(api, "Ann")
    others = [await register(api, f"U{i}") for i in range(5)]
    gid = (await api.ok("/contact/createcommunity", ann.token, name="Club"))["id"]
    invite = await api.ok("/contact/invite", ann.token, dstid=gid, uses=2)
    results = await asyncio.gather(
        *(api.call("/contact/joincommunity", u.token, code=invite["code"]) for u in others)
    )
    assert sorted(status for status, _ in results) == [200, 200, 404, 404, 404]
    assert len(await api.ok("/contact/members", ann.token, dstid=gid)) == 3
    lines = [r for r in await history(api, ann, gid) if r["media"] == 10]
    assert len(lines) == 2


class _Outlet:
    """The hub's view of a socket (key, push, shut), enough to watch its group set."""

    key = "k"
    token_digest = ""

    def push(self, message_id: int, payload: bytes) -> None: ...

    def shut(self, code: int, reason: str) -> None: ...


def test_a_removal_while_a_socket_loads_its_groups_is_not_undone_by_the_load():
    # The socket reads its groups from the database (G included), the kick commits and
    # its MembershipEnded reaches the hub, then the socket adds what it read: G stays out.
    hub = Hub()
    hub.attach(7, _Outlet())
    read_at = hub.mark()
    hub.on_event(MembershipEnded(7, 3))
    hub.add_groups(7, [3, 4], read_at)
    assert hub.nodes[7].groups == {4} and 3 not in hub.group_members
    # A removal before the read is already in the database's answer; a rejoin counts.
    read_at = hub.mark()
    hub.on_event(Membership(7, 3))
    hub.add_groups(7, [3, 4], read_at)
    assert hub.nodes[7].groups == {3, 4}
