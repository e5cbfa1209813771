"""POST /message/search and /message/history `around`/`after`: ranked hits with their snippet,
only among the messages the user may read, on SQLite (FTS5 trigram) and PostgreSQL (pg_trgm)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from models import messages as message_q
from models.db import is_postgres, now_ms
from models.messages import Message, MessageRow, NewMessage
from tests.conftest import Account, Api, befriend, both_buses, both_databases, connect, join_group, register

_cmids = itertools.count(1)
GREETING = "你好\uff0cAnn\uff01"  # with Chinese (full-width) punctuation


async def insert(ctx, sender: Account, cmd: int, dst_id: int, content: str, media: int = 1) -> MessageRow:
    """Store a message with the model layer, as the socket's writer would."""
    new = NewMessage(
        user_id=sender.id,
        cmd=cmd,
        dst_id=dst_id,
        media=media,
        content=content,
        pic="",
        url="",
        memo="",
        amount=0.0,
        cmid=f"s-{next(_cmids)}",
    )
    return await ctx.pools.db(message_q.insert_message, new, now_ms())


async def search(api: Api, who: Account, q: str, **body: Any) -> list[dict[str, Any]]:
    return await api.ok("/message/search", who.token, q=q, **body)


async def found(api: Api, who: Account, q: str, **body: Any) -> list[str]:
    """The contents of the hits, best first."""
    return [hit["message"]["content"] for hit in await search(api, who, q, **body)]


def marked(hit: dict[str, Any]) -> list[str]:
    """The highlighted parts of a hit's snippet (offsets count code points)."""
    return [hit["snippet"][start:end] for start, end in hit["highlights"]]


async def set_content(ctx, message_id: int, content: str) -> None:
    """An edit in place (or a recall, with ''), as the edit feature rewrites the row."""

    def job() -> None:
        Message.update(content=content).where(Message.id == message_id).execute()

    await ctx.pools.db(job)


async def pair(api: Api) -> tuple[Account, Account]:
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    await befriend(api, ann, bob)
    return ann, bob


@both_databases
@pytest.mark.gen_test
async def test_latin_and_chinese_text_is_found_case_insensitively_with_the_hit_marked(api, ctx, db_kind):
    ann, bob = await pair(api)
    lighthouse = await insert(ctx, bob, 10, ann.id, "Meet me at the LightHouse tomorrow")
    await insert(ctx, ann, 10, bob.id, "我们明天在灯塔见面吧")
    await insert(ctx, bob, 10, ann.id, GREETING)
    await insert(ctx, ann, 10, bob.id, "ok see you")
    await insert(ctx, bob, 10, ann.id, "100% sure, under_score")
    await insert(ctx, ann, 10, bob.id, "nothing to see")
    await insert(ctx, ann, 10, bob.id, "saved in C:\\temp")

    [hit] = await search(api, ann, "lighthouse")
    assert hit["message"] == lighthouse  # the stored row, as history gives it
    assert hit["snippet"] == "Meet me at the LightHouse tomorrow"
    assert hit["highlights"] == [[15, 25]] and marked(hit) == ["LightHouse"]
    assert await found(api, bob, "LIGHTHOUSE") == ["Meet me at the LightHouse tomorrow"]  # both ends
    [hit] = await search(api, ann, "灯塔见")  # three characters: the trigram index
    assert (hit["message"]["content"], marked(hit)) == ("我们明天在灯塔见面吧", ["灯塔见"])
    [hit] = await search(api, ann, "你好")  # two characters: the short scan
    assert (hit["message"]["content"], marked(hit)) == (GREETING, ["你好"])
    [hit] = await search(api, ann, "Ok")
    assert marked(hit) == ["ok"]
    # Every word must be there, each one marked; LIKE's wildcards are only characters.
    [hit] = await search(api, ann, "tomorrow light")
    assert marked(hit) == ["Light", "tomorrow"]
    assert await found(api, ann, "0%") == ["100% sure, under_score"]
    assert await found(api, ann, "r_s") == ["100% sure, under_score"]
    assert await found(api, ann, "%") == ["100% sure, under_score"]
    assert await found(api, ann, "_") == ["100% sure, under_score"]
    assert await found(api, ann, "lighthouse nowhere") == []
    assert await found(api, ann, "e%s") == []
    assert await found(api, ann, "\\") == ["saved in C:\\temp"]
    assert await found(api, ann, ":\\t") == ["saved in C:\\temp"]
    assert await found(api, ann, "\\%") == []


@both_databases
@pytest.mark.gen_test
async def test_captions_are_found_system_lines_and_other_peoples_messages_never(api, ctx, db_kind):
    ann, bob = await pair(api)
    cat = await register(api, "Cat")
    await befriend(api, bob, cat)
    await insert(ctx, bob, 10, ann.id, "sunset over the bay", media=4)  # a photo's caption
    await insert(ctx, bob, 10, ann.id, "sunset voice note", media=3)
    await insert(ctx, bob, 10, cat.id, "sunset plans, just us")  # Bob and Cat's conversation
    group = await api.ok("/contact/createcommunity", ann.token, name="Sunset club")
    await join_group(api, ann, bob, group["id"])  # a system line: {"event": "joined", ...}

    assert sorted(await found(api, ann, "sunset")) == ["sunset over the bay", "sunset voice note"]
    assert sorted(await found(api, cat, "sunset")) == ["sunset plans, just us"]
    assert await found(api, ann, "joined") == [] and await found(api, ann, "event") == []
    assert await found(api, bob, "joined") == []


@both_databases
@pytest.mark.gen_test
async def test_search_never_returns_a_message_the_user_may_not_read_a_left_group_or_one_never_joined(
    api, ctx, db_kind
):
    ann, bob = await pair(api)
    cat = await register(api, "Cat")
    hikers = (await api.ok("/contact/createcommunity", bob.token, name="Hikers"))["id"]
    early = await insert(ctx, bob, 11, hikers, "trail before Ann came")
    await join_group(api, bob, ann, hikers)
    await insert(ctx, bob, 11, hikers, "trail while Ann is here")
    await api.ok("/contact/leavecommunity", ann.token, dstid=hikers)
    await insert(ctx, bob, 11, hikers, "trail after Ann left")
    cooks = (await api.ok("/contact/createcommunity", cat.token, name="Cooks"))["id"]
    await insert(ctx, cat, 11, cooks, "trail mix recipe")

    assert await found(api, ann, "trail") == ["trail while Ann is here"]
    assert await found(api, ann, "tr") == ["trail while Ann is here"]  # the short scan too
    assert await found(api, ann, "trail", cmd=11, dstid=hikers) == ["trail while Ann is here"]
    status, _ = await api.call("/message/search", ann.token, q="trail", cmd=11, dstid=cooks)
    assert status == 403
    assert sorted(await found(api, bob, "trail")) == sorted(
        ["trail before Ann came", "trail while Ann is here", "trail after Ann left"]
    )
    # Before the join only when the group's history is `all`.
    await api.ok("/contact/updatecommunity", bob.token, dstid=hikers, history="all")
    assert sorted(await found(api, ann, "trail")) == ["trail before Ann came", "trail while Ann is here"]
    assert early["content"] == "trail before Ann came"


@both_databases
@pytest.mark.gen_test
async def test_search_never_returns_a_message_the_user_may_not_read_a_blocked_friend(
    api, base_url, ctx, db_kind
):
    ann, bob = await pair(api)
    b = await connect(base_url, bob)
    await b.send(cmd=10, dstid=ann.id, media=1, content="pineapple before the block")
    assert (await b.next_frame())["cmd"] == 12
    await api.ok("/contact/block", ann.token, dstid=bob.id)
    await b.send(cmd=10, dstid=ann.id, media=1, content="pineapple after the block")
    while (frame := await b.next_frame())["cmd"] == 15:  # the unfriend notice comes first
        pass
    assert (frame["cmd"], frame["code"]) == (13, 403)
    # 1:1 history stays readable to both after a block, and search follows it.
    assert await found(api, ann, "pineapple") == ["pineapple before the block"]
    assert await found(api, bob, "pineapple") == ["pineapple before the block"]
    b.close()


@both_databases
@pytest.mark.gen_test
async def test_an_edit_in_place_and_a_recall_leave_no_old_text_findable(api, ctx, db_kind):
    ann, bob = await pair(api)
    row = await insert(ctx, ann, 10, bob.id, "the quick brown fox")
    await insert(ctx, ann, 10, bob.id, "a lazy afternoon")
    assert await found(api, bob, "quick") == ["the quick brown fox"]

    await set_content(ctx, row["id"], "the lazy dog")
    assert await found(api, bob, "quick") == []
    assert sorted(await found(api, bob, "lazy")) == ["a lazy afternoon", "the lazy dog"]
    await set_content(ctx, row["id"], "")  # recalled: the text is gone
    assert await found(api, bob, "lazy") == ["a lazy afternoon"]
    assert await found(api, bob, "the") == []
    await set_content(ctx, row["id"], "brown again")
    assert await found(api, bob, "brown") == ["brown again"]

    def index_is_sound() -> bool:
        if is_postgres():
            return True  # no separate index to drift: the query reads the row
        Message._meta.database.execute_sql("INSERT INTO message_fts(message_fts) VALUES ('integrity-check')")
        return True

    assert await ctx.pools.db(index_is_sound)


@both_databases
@pytest.mark.gen_test
async def test_the_closest_hits_come_first_newest_first_among_equals_and_pages_follow(api, ctx, db_kind):
    ann, bob = await pair(api)
    long_one = await insert(
        ctx, ann, 10, bob.id, "I had an apple with lunch, and then a long walk by the river"
    )
    first = await insert(ctx, ann, 10, bob.id, "apple")
    second = await insert(ctx, bob, 10, ann.id, "apple")
    rows = await search(api, ann, "apple")
    # The message that is nothing but the word beats one where it is lost in a sentence.
    assert [r["message"]["id"] for r in rows] == [second["id"], first["id"], long_one["id"]]
    assert rows[2]["snippet"].startswith("I had an apple") and marked(rows[2]) == ["apple"]

    for i in range(7):
        await insert(ctx, bob, 10, ann.id, f"pear number {i}")
    everything = [r["message"]["id"] for r in await search(api, ann, "pear", limit=50)]
    assert len(everything) == 7
    pages: list[int] = []
    before = None
    while True:
        page = await search(api, ann, "pear", limit=3, **({"before": before} if before else {}))
        if not page:
            break
        assert len(page) <= 3
        pages += [r["message"]["id"] for r in page]
        before = page[-1]["message"]["id"]
    assert pages == everything  # no hit twice, none left out
    # Equal hits: newest first.
    assert everything == sorted(everything, reverse=True)


@pytest.mark.gen_test
async def test_a_long_message_shows_a_snippet_around_its_hit(api, ctx):
    ann, bob = await pair(api)
    text = "word " * 60 + "the needle 🪡 here " + "more " * 60
    await insert(ctx, ann, 10, bob.id, text)
    [hit] = await search(api, bob, "needle")
    assert hit["snippet"].startswith("…") and hit["snippet"].endswith("…")
    assert len(hit["snippet"]) <= 122 and marked(hit) == ["needle"]
    [hit] = await search(api, bob, "here")  # after an emoji: offsets count code points
    assert marked(hit) == ["here"]


@pytest.mark.gen_test
async def test_a_message_sent_over_the_socket_is_found_at_once(api, base_url):
    ann, bob = await pair(api)
    a = await connect(base_url, ann)
    await a.send(cmd=10, dstid=bob.id, media=1, content="straight from the writer")
    ack = await a.next_frame()
    assert ack["cmd"] == 12
    [hit] = await search(api, bob, "writer")
    assert hit["message"]["id"] == ack["id"]
    a.close()


@pytest.mark.gen_test
async def test_bad_searches_are_400_and_change_nothing(api, ctx):
    ann, bob = await pair(api)
    stranger = await register(api, "Stranger")
    await insert(ctx, ann, 10, bob.id, "hello there")
    for body in (
        {},
        {"q": ""},
        {"q": "   "},
        {"q": "x" * 101},
        {"q": " ".join("abc" for _ in range(9)) + " a b c d e f g h i"},
        {"q": "hello", "limit": 51},
        {"q": "hello", "limit": 0},
        {"q": "hello", "dstid": bob.id},
        {"q": "hello", "cmd": 12, "dstid": bob.id},
        {"q": "hel\x00lo"},
    ):
        status, envelope = await api.call("/message/search", ann.token, **body)
        assert status == 400 and envelope["code"] == -1 and envelope["msg"], (body, envelope)
    status, _ = await api.call("/message/search", stranger.token, q="hello", cmd=10, dstid=bob.id)
    assert status == 403
    assert await found(api, ann, "hello", cmd=10, dstid=bob.id) == ["hello there"]
    # What FTS5 would read as its own syntax is only text here.
    for q in ('"hello', 'hello" OR "x', "NEAR(hello there)", "hel*", "^hello", "hello:", "AND OR NOT"):
        assert await found(api, ann, q) == [], q
    assert await found(api, ann, 'hello "there') == []
    assert await found(api, ann, "hello there") == ["hello there"]
    status, _ = await api.call("/message/search", None, q="hello")
    assert status == 401


@both_buses  # with Redis the count is the chat's (server/sharedlimits.py)
@pytest.mark.parametrize("settings_overrides", [{"search_rate": 2}])
@pytest.mark.gen_test
async def test_searching_too_often_is_429(api, bus_kind):
    ann, _ = await pair(api)
    assert await found(api, ann, "one") == [] and await found(api, ann, "two") == []
    status, envelope = await api.call("/message/search", ann.token, q="three")
    assert status == 429 and "too often" in envelope["msg"]


# --- /message/history around and after ---------------------------------------------------


async def history(api: Api, who: Account, **body: Any) -> list[int]:
    return [row["id"] for row in await api.ok("/message/history", who.token, **body)]


@both_databases
@pytest.mark.gen_test
async def test_history_around_a_message_and_the_pages_below_it(api, ctx, db_kind):
    ann, bob = await pair(api)
    cat = await register(api, "Cat")
    await befriend(api, ann, cat)
    ids = [
        (await insert(ctx, ann if i % 2 else bob, 10, bob.id if i % 2 else ann.id, f"m{i}"))["id"]
        for i in range(30)
    ]
    elsewhere = await insert(ctx, ann, 10, cat.id, "to cat")

    # The message, 3 older and 3 newer, newest first, as every page is.
    assert await history(api, ann, cmd=10, dstid=bob.id, around=ids[10], limit=7) == ids[7:14][::-1]
    assert await history(api, bob, cmd=10, dstid=ann.id, around=ids[10], limit=8) == ids[7:15][::-1]
    assert await history(api, ann, cmd=10, dstid=bob.id, around=ids[1], limit=7) == ids[0:5][::-1]
    assert await history(api, ann, cmd=10, dstid=bob.id, around=ids[28], limit=7) == ids[25:30][::-1]
    # `after`: the page just below, then the next; the last is short.
    assert await history(api, ann, cmd=10, dstid=bob.id, after=ids[13], limit=10) == ids[14:24][::-1]
    assert await history(api, ann, cmd=10, dstid=bob.id, after=ids[23], limit=10) == ids[24:30][::-1]
    assert await history(api, ann, cmd=10, dstid=bob.id, after=ids[29], limit=10) == []

    # Not a message of this conversation, or not one this user may read: 404.
    for who, body in (
        (ann, {"cmd": 10, "dstid": bob.id, "around": elsewhere["id"]}),
        (bob, {"cmd": 10, "dstid": ann.id, "around": elsewhere["id"]}),
        (ann, {"cmd": 10, "dstid": bob.id, "around": ids[-1] + 1000}),
    ):
        status, envelope = await api.call("/message/history", who.token, **body)
        assert status == 404 and envelope["code"] == -1, (body, envelope)
    status, _ = await api.call("/message/history", cat.token, cmd=10, dstid=bob.id, around=ids[3])
    assert status == 403
    status, _ = await api.call(
        "/message/history", ann.token, cmd=10, dstid=bob.id, around=ids[3], before=ids[5]
    )
    assert status == 400


@both_databases
@pytest.mark.gen_test
async def test_history_around_stays_inside_a_past_members_window(api, ctx, db_kind):
    ann, bob = await pair(api)
    group = (await api.ok("/contact/createcommunity", bob.token, name="Hikers"))["id"]
    before_join = await insert(ctx, bob, 11, group, "before")
    await join_group(api, bob, ann, group)
    inside = await insert(ctx, bob, 11, group, "inside")
    await api.ok("/contact/leavecommunity", ann.token, dstid=group)
    after_leave = await insert(ctx, bob, 11, group, "after")

    rows = await api.ok("/message/history", ann.token, cmd=11, dstid=group, around=inside["id"])
    assert inside["id"] in [r["id"] for r in rows]
    assert {r["id"] for r in rows}.isdisjoint({before_join["id"], after_leave["id"]})
    for message in (before_join, after_leave):
        status, _ = await api.call("/message/history", ann.token, cmd=11, dstid=group, around=message["id"])
        assert status == 404
