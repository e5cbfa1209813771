"""The conversation list (last message, unread count) and read marks."""

from __future__ import annotations

import pytest

from models import messages as message_q
from models.db import now_ms
from models.messages import NewMessage
from tests.conftest import befriend, both_buses, connect, join_group, register


async def say(ctx, sender: int, cmd: int, dst: int, text: str) -> int:
    new = NewMessage(user_id=sender, cmd=cmd, dst_id=dst, media=1, content=text, pic="", url="", memo="",
                     amount=0.0, cmid=f"{sender}-{text}")  # fmt: skip
    return (await ctx.pools.db(message_q.insert_message, new, now_ms()))["id"]


@both_buses
@pytest.mark.gen_test
async def test_every_friend_and_group_with_last_message_and_unread_count(api, ctx):
    ann, bob, cat = await register(api, "Ann"), await register(api, "Bob"), await register(api, "Cat")
    await befriend(api, ann, bob)
    await befriend(api, ann, cat)
    club = await api.ok("/contact/createcommunity", bob.token, name="Club")
    await join_group(api, bob, ann, club["id"])
    await say(ctx, bob.id, 10, ann.id, "b1")
    await say(ctx, ann.id, 10, bob.id, "a1")  # Ann's own message is never unread for her
    b2 = await say(ctx, bob.id, 10, ann.id, "b2")
    await say(ctx, bob.id, 11, club["id"], "club news")
    rows = await api.ok("/message/conversations", ann.token)
    by = {(r["cmd"], r["dstid"]): r for r in rows}
    assert set(by) == {(10, bob.id), (10, cat.id), (11, club["id"])}
    assert [(r["cmd"], r["dstid"]) for r in rows][:2] == [(11, club["id"]), (10, bob.id)]  # newest first
    assert by[(10, bob.id)]["last"]["content"] == "b2" and by[(10, bob.id)]["unread"] == 2
    assert by[(11, club["id"])]["unread"] == 1 and by[(11, club["id"])]["last"]["userid"] == bob.id
    assert by[(10, cat.id)] == {
        "cmd": 10,
        "dstid": cat.id,
        "last": None,
        "unread": 0,
        "readid": 0,
        "peerread": 0,
    }

    # Reading moves the count on every device; a mark never moves back.
    read = await api.ok("/message/read", ann.token, cmd=10, dstid=bob.id, id=b2)
    assert (read["unread"], read["readid"]) == (0, b2)
    again = await api.ok("/message/read", ann.token, cmd=10, dstid=bob.id, id=1)
    assert again["readid"] == b2
    await say(ctx, bob.id, 10, ann.id, "b3")
    by = {(r["cmd"], r["dstid"]): r for r in await api.ok("/message/conversations", ann.token)}
    assert by[(10, bob.id)]["unread"] == 1


@both_buses
@pytest.mark.gen_test
async def test_reading_on_one_device_tells_the_others(api, base_url, ctx):
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    await befriend(api, ann, bob)
    laptop = await connect(base_url, ann)
    last = await say(ctx, bob.id, 10, ann.id, "hello")
    await api.ok("/message/read", ann.token, cmd=10, dstid=bob.id, id=last)
    assert await laptop.next_frame() == {
        "cmd": 14,
        "dstcmd": 10,
        "dstid": bob.id,
        "readid": last,
        "unread": 0,
    }


@both_buses
@pytest.mark.gen_test
async def test_marking_a_stranger_or_foreign_group_read_is_refused(api):
    ann, eve = await register(api, "Ann"), await register(api, "Eve")
    club = await api.ok("/contact/createcommunity", eve.token, name="Eve's")
    for body, status in [
        ({"cmd": 10, "dstid": eve.id, "id": 5}, 403),
        ({"cmd": 11, "dstid": club["id"], "id": 5}, 403),
        ({"cmd": 12, "dstid": eve.id, "id": 5}, 400),
        ({"cmd": 10, "dstid": eve.id}, 400),
    ]:
        code, envelope = await api.call("/message/read", ann.token, **body)
        assert code == status and envelope["code"] == -1, body
    assert (await api.call("/message/conversations"))[0] == 401


@both_buses
@pytest.mark.gen_test
async def test_chat_page_carries_the_limits_the_client_enforces(http_client, base_url, ctx):
    page = (await http_client.fetch(base_url + "/chat.html")).body.decode()
    assert "data-limits=" in page and "voice_max_seconds" in page
