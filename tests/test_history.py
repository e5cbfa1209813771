"""POST /message/history (PROTOCOL.md): newest first, `before` paging, friends/members only."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from models import messages as message_q
from models.db import now_ms
from models.messages import MessageRow, NewMessage
from tests.conftest import MESSAGE_FIELDS, befriend, join_group, register

_cmids = itertools.count(1)


async def insert(ctx, sender_id: int, cmd: int, dst_id: int, content: str) -> MessageRow:
    """Store a message with the model layer, as the socket's writer would."""
    new = NewMessage(
        user_id=sender_id,
        cmd=cmd,
        dst_id=dst_id,
        media=1,
        content=content,
        pic="",
        url="",
        memo="",
        amount=0.0,
        cmid=f"h-{next(_cmids)}",
    )
    return await ctx.pools.db(message_q.insert_message, new, now_ms())


def assert_error(status: int, envelope: dict[str, Any], expected: int) -> None:
    assert status == expected, (status, envelope)
    assert set(envelope) == {"code", "msg"} and envelope["code"] == -1 and envelope["msg"], envelope


async def history(api, token: str, **body: Any) -> list[dict[str, Any]]:
    status, envelope = await api.call("/message/history", token, **body)
    assert status == 200, envelope
    assert set(envelope) == {"code", "rows", "total"} and envelope["code"] == 0
    assert envelope["total"] == len(envelope["rows"])
    return envelope["rows"]


async def friends(api):
    """Two fresh users who are friends. (pytest-tornado has no async fixtures.)"""
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    await befriend(api, ann, bob)
    return ann, bob


@pytest.mark.gen_test
async def test_single_history_is_the_conversation_newest_first(api, ctx):
    ann, bob, cat = await register(api, "Ann"), await register(api, "Bob"), await register(api, "Cat")
    await befriend(api, ann, bob)
    await befriend(api, ann, cat)
    m1 = await insert(ctx, ann.id, 10, bob.id, "hi bob")
    await insert(ctx, ann.id, 10, cat.id, "hi cat")  # another conversation
    m2 = await insert(ctx, bob.id, 10, ann.id, "hi ann")
    await insert(ctx, cat.id, 10, ann.id, "cat here")
    await insert(ctx, ann.id, 11, bob.id, "group message to a group whose id is bob's")
    m3 = await insert(ctx, ann.id, 10, bob.id, "how are you")

    rows = await history(api, ann.token, cmd=10, dstid=bob.id)
    assert [r["content"] for r in rows] == ["how are you", "hi ann", "hi bob"]
    assert rows == [m3, m2, m1]  # as stored, every field
    assert set(rows[0]) == MESSAGE_FIELDS and isinstance(rows[0]["createat"], int)
    # Bob sees the same conversation from his side.
    assert await history(api, bob.token, cmd=10, dstid=ann.id) == rows


@pytest.mark.gen_test
async def test_group_history_is_the_groups_messages_newest_first(api, ctx):
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    hikers = await api.ok("/contact/createcommunity", ann.token, name="Hikers")
    cooks = await api.ok("/contact/createcommunity", ann.token, name="Cooks")
    await join_group(api, ann, bob, hikers["id"])
    await insert(ctx, ann.id, 11, hikers["id"], "one")
    await insert(ctx, ann.id, 11, cooks["id"], "soup")  # another group
    await insert(ctx, bob.id, 11, hikers["id"], "two")
    await insert(ctx, ann.id, 10, hikers["id"], "1:1 to the user whose id is the group's")
    await insert(ctx, ann.id, 11, hikers["id"], "three")

    for member in (ann, bob):
        rows = await history(api, member.token, cmd=11, dstid=hikers["id"])
        assert [(r["content"], r["userid"]) for r in rows[:3]] == [
            ("three", ann.id),
            ("two", bob.id),
            ("one", ann.id),
        ]
        assert (rows[3]["media"], rows[3]["userid"], len(rows)) == (10, bob.id, 4)  # Bob's join line
        ids = [r["id"] for r in rows]
        assert ids == sorted(ids, reverse=True)


@pytest.mark.gen_test
async def test_before_pages_without_overlap_or_gaps(api, ctx):
    ann, bob = await friends(api)
    stored = [await insert(ctx, (ann, bob)[i % 2].id, 10, (bob, ann)[i % 2].id, f"m{i}") for i in range(25)]
    all_ids = [m["id"] for m in reversed(stored)]

    pages: list[list[int]] = []
    before = None
    while True:
        body: dict[str, Any] = {"cmd": 10, "dstid": bob.id, "limit": 10}
        if before is not None:
            body["before"] = before
        page = [r["id"] for r in await history(api, ann.token, **body)]
        if not page:
            break
        pages.append(page)
        before = page[-1]
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [i for p in pages for i in p] == all_ids  # every message once, newest first

    # `before` is exclusive: the page starts just under it.
    rows = await history(api, ann.token, cmd=10, dstid=bob.id, before=all_ids[3], limit=2)
    assert [r["id"] for r in rows] == all_ids[4:6]


@pytest.mark.gen_test
async def test_default_and_largest_limits(api, ctx):
    ann, bob = await friends(api)
    for i in range(105):
        await insert(ctx, ann.id, 10, bob.id, f"m{i}")
    assert len(await history(api, ann.token, cmd=10, dstid=bob.id)) == 50
    assert len(await history(api, ann.token, cmd=10, dstid=bob.id, limit=100)) == 100
    status, envelope = await api.call("/message/history", ann.token, cmd=10, dstid=bob.id, limit=101)
    assert_error(status, envelope, 400)
    status, envelope = await api.call("/message/history", ann.token, cmd=10, dstid=bob.id, limit=-1)
    assert_error(status, envelope, 400)
    status, envelope = await api.call("/message/history", ann.token, cmd=10, dstid=bob.id, limit=0)
    assert_error(status, envelope, 400)


@pytest.mark.gen_test
async def test_non_friend_cannot_read_a_conversation(api, ctx):
    ann, bob = await friends(api)
    eve = await register(api, "Eve")
    await insert(ctx, ann.id, 10, bob.id, "secret")
    status, envelope = await api.call("/message/history", eve.token, cmd=10, dstid=bob.id)
    assert_error(status, envelope, 403)
    status, envelope = await api.call("/message/history", eve.token, cmd=10, dstid=ann.id)
    assert_error(status, envelope, 403)
    assert "secret" not in str(envelope)
    # A userid in the body does not let Eve read as Ann.
    status, envelope = await api.call("/message/history", eve.token, cmd=10, dstid=bob.id, userid=ann.id)
    assert_error(status, envelope, 403)


@pytest.mark.gen_test
async def test_non_member_cannot_read_a_group_and_unknown_group_is_404(api, ctx):
    ann, eve = await register(api, "Ann"), await register(api, "Eve")
    group = await api.ok("/contact/createcommunity", ann.token, name="Hikers")
    await insert(ctx, ann.id, 11, group["id"], "members only")
    status, envelope = await api.call("/message/history", eve.token, cmd=11, dstid=group["id"])
    assert_error(status, envelope, 403)
    status, envelope = await api.call("/message/history", ann.token, cmd=11, dstid=group["id"] + 100)
    assert_error(status, envelope, 404)
    # Once Eve joins she reads the group from her join on (its history is "joined").
    await join_group(api, ann, eve, group["id"])
    await insert(ctx, ann.id, 11, group["id"], "welcome")
    rows = await history(api, eve.token, cmd=11, dstid=group["id"])
    assert [(r["media"], r["userid"]) for r in rows] == [(1, ann.id), (10, eve.id)]
    assert rows[0]["content"] == "welcome"


@pytest.mark.parametrize(
    "body",
    [
        {"cmd": 12},
        {"cmd": 0},
        {"cmd": "abc"},
        {},  # no cmd
        {"cmd": 10, "dstid": None},  # no dstid
        {"cmd": 10, "before": "abc"},
        {"cmd": 10, "limit": "many"},
    ],
)
@pytest.mark.gen_test
async def test_bad_request_is_400(api, body):
    ann, bob = await friends(api)
    status, envelope = await api.call("/message/history", ann.token, **{"dstid": bob.id, **body})
    assert_error(status, envelope, 400)


@pytest.mark.gen_test
async def test_empty_conversation_is_an_empty_list(api):
    ann, bob = await friends(api)
    assert await history(api, ann.token, cmd=10, dstid=bob.id) == []
