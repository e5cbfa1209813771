"""Replies, edits, recalls and reactions: messages about an earlier message (`ref`), stored,
acked, replayed and exactly-once like text, whose effect history shows."""

from __future__ import annotations

import pytest

from models import messages as message_q
from models.messages import Message
from tests import mediafiles
from tests.conftest import (
    assert_next_is_sentinel,
    befriend,
    both_buses,
    both_databases,
    connect,
    join_group,
    register,
)
from tests.test_media_messages import pair
from tests.test_uploads import upload

HOUR_MS = 3600 * 1000


@pytest.fixture
def settings_overrides():
    return {"send_rate": 10_000.0, "send_burst": 10_000, "media_threads": 2}


async def sent(client, **frame):
    """Send a frame and return its ack (or the refusal)."""
    cmid = await client.send(**frame)
    while True:
        reply = await client.next_frame()
        if reply.get("cmid") == cmid and reply["cmd"] in (12, 13):
            return reply


async def history(api, account, cmd, dstid):
    return await api.ok("/message/history", account.token, cmd=cmd, dstid=dstid)


async def reactions(api, account, dstid, message_id):
    rows = await api.ok("/message/get", account.token, cmd=10, dstid=dstid, ids=[message_id])
    return rows[0].get("reactions", {})


async def age(ctx, message_id, ms):
    """Make a stored message `ms` older, as if it had been sent that long ago."""

    def shift():
        Message.update(createat=Message.createat - ms).where(Message.id == message_id).execute()

    await ctx.pools.db(shift)


@both_buses
@pytest.mark.gen_test(timeout=60)
async def test_a_reply_names_its_quote_and_is_refused_outside_the_conversation(api, base_url):
    ann, bob, a, b = await pair(api, base_url)
    cat = await register(api, "Cat")
    await befriend(api, ann, cat)
    first = await sent(a, cmd=10, dstid=bob.id, media=1, content="lunch?")
    await b.next_message()
    reply = await sent(b, cmd=10, dstid=ann.id, media=1, content="yes!", ref=first["id"])
    assert reply["cmd"] == 12
    got = await a.next_message()
    assert (got["content"], got["ref"]) == ("yes!", first["id"])
    # The quote is fetched by id, as it is now.
    rows = await api.ok("/message/get", ann.token, cmd=10, dstid=bob.id, ids=[first["id"]])
    assert [r["content"] for r in rows] == ["lunch?"]
    # Ann's conversation with Cat cannot quote her conversation with Bob, nor a message that
    # does not exist; a bad ref is a bad frame. The socket stays open.
    for ref, code in ((first["id"], 404), (10**12, 404), ("7", 400), (-1, 400)):
        refusal = await sent(a, cmd=10, dstid=cat.id, media=1, content="x", ref=ref)
        assert (refusal["cmd"], refusal["code"]) == (13, code), ref
    # Cat cannot read Ann and Bob's messages by id either.
    status, _ = await api.call("/message/get", cat.token, cmd=10, dstid=bob.id, ids=[first["id"]])
    assert status == 403
    await assert_next_is_sentinel(a, sender=b, dstid=ann.id)


@both_buses
@pytest.mark.gen_test(timeout=60)
async def test_an_edit_rewrites_the_message_everywhere_and_only_its_sender_may(api, base_url, ctx):
    ann, bob, a, b = await pair(api, base_url)
    first = await sent(a, cmd=10, dstid=bob.id, media=1, content="see you at 5")
    await b.next_message()
    edit = await sent(a, cmd=10, dstid=bob.id, media=11, ref=first["id"], content="see you at 6")
    assert edit["cmd"] == 12
    event = await b.next_message()
    # The event names its target; its text is read from the target (see README).
    assert (event["media"], event["ref"], event["content"]) == (11, first["id"], "")
    rows = await api.ok("/message/get", bob.token, cmd=10, dstid=ann.id, ids=[first["id"]])
    assert (rows[0]["content"], rows[0]["editid"]) == ("see you at 6", edit["id"])
    # History shows the message as it is now, without the event.
    assert [(m["id"], m["content"]) for m in await history(api, bob, 10, ann.id)] == [
        (first["id"], "see you at 6")
    ]
    # Search finds the message by its new text only.
    assert await api.ok("/message/search", bob.token, q="you at 5") == []
    [hit] = await api.ok("/message/search", bob.token, q="you at 6")
    assert hit["message"]["id"] == first["id"]
    # Bob cannot edit Ann's message; an empty text is refused.
    refusal = await sent(b, cmd=10, dstid=ann.id, media=11, ref=first["id"], content="at 7")
    assert (refusal["cmd"], refusal["code"]) == (13, 403)
    refusal = await sent(a, cmd=10, dstid=bob.id, media=11, ref=first["id"], content="  ")
    assert (refusal["cmd"], refusal["code"]) == (13, 400)
    # Past the window (48 h by default) the edit is refused and the message stays as it was.
    await age(ctx, first["id"], 49 * HOUR_MS)
    refusal = await sent(a, cmd=10, dstid=bob.id, media=11, ref=first["id"], content="at 8")
    assert (refusal["cmd"], refusal["code"]) == (13, 403) and "too late to edit" in refusal["msg"]
    assert (await history(api, ann, 10, bob.id))[0]["content"] == "see you at 6"
    await assert_next_is_sentinel(b, sender=a, dstid=bob.id)


@both_databases
@pytest.mark.gen_test(timeout=90)
async def test_a_recall_removes_the_content_from_history_replay_and_the_served_upload(
    api, base_url, http_client, ctx
):
    ann, bob, a, b = await pair(api, base_url)
    _, env = await upload(http_client, base_url, ann.token, mediafiles.png_with_alpha())
    image = env["data"]
    photo = await sent(a, cmd=10, dstid=bob.id, media=4, url=image["url"], content="my secret")
    assert photo["cmd"] == 12
    assert (await http_client.fetch(base_url + image["url"], raise_error=False)).code == 200
    await b.next_message()
    recall = await sent(a, cmd=10, dstid=bob.id, media=12, ref=photo["id"])
    assert recall["cmd"] == 12
    event = await b.next_message()
    assert (event["media"], event["ref"], event["userid"]) == (12, photo["id"], ann.id)

    [row] = await history(api, bob, 10, ann.id)
    assert row["id"] == photo["id"] and row["recalled"] == ann.id
    assert (row["content"], row["url"], row["pic"], row["memo"]) == ("", "", "", "")
    # A socket replaying from before it sees the blanked message, then the recall.
    late = await connect(base_url, bob, since=0)
    replayed = [await late.next_message(), await late.next_message()]
    assert [(m["id"], m["recalled"], m["content"], m["url"]) for m in replayed] == [
        (photo["id"], ann.id, "", ""),
        (recall["id"], 0, "", ""),
    ]
    # Nor does search find its caption any more.
    assert await api.ok("/message/search", bob.token, q="my secret") == []
    # The image and its thumbnail are no longer served to anyone.
    for url in (image["url"], image["pic"]):
        assert (await http_client.fetch(base_url + url, raise_error=False)).code == 404, url
    # A recalled message cannot be recalled, edited or reacted to again.
    refusal = await sent(a, cmd=10, dstid=bob.id, media=13, ref=photo["id"], content=":thumbs_up:")
    assert (refusal["cmd"], refusal["code"]) == (13, 409)
    await assert_next_is_sentinel(b, late, sender=a, dstid=bob.id)


@pytest.mark.gen_test(timeout=60)
async def test_an_upload_another_message_still_shows_is_kept_after_a_recall(api, base_url, http_client):
    ann, bob, a, b = await pair(api, base_url)
    _, env = await upload(http_client, base_url, ann.token, mediafiles.png_with_alpha())
    url = env["data"]["url"]
    photo = await sent(a, cmd=10, dstid=bob.id, media=4, url=url)
    forward = await sent(b, cmd=10, dstid=ann.id, media=4, url=url)  # Bob sends it back
    assert photo["cmd"] == forward["cmd"] == 12
    assert (await sent(a, cmd=10, dstid=bob.id, media=12, ref=photo["id"]))["cmd"] == 12
    assert (await http_client.fetch(base_url + url, raise_error=False)).code == 200
    # Once the last message showing it is recalled, it goes.
    assert (await sent(b, cmd=10, dstid=ann.id, media=12, ref=forward["id"]))["cmd"] == 12
    assert (await http_client.fetch(base_url + url, raise_error=False)).code == 404


@both_buses
@pytest.mark.gen_test(timeout=60)
async def test_recall_windows_and_group_admins(api, base_url, ctx):
    owner, member, other = [await register(api, n) for n in ("Olga", "Mia", "Ned")]
    group = await api.ok("/contact/createcommunity", owner.token, name="club")
    for person in (member, other):
        await join_group(api, owner, person, group["id"])
    o, m, n = [await connect(base_url, p) for p in (owner, member, other)]
    mine = await sent(m, cmd=11, dstid=group["id"], media=1, content="oops")
    theirs = await sent(n, cmd=11, dstid=group["id"], media=1, content="spam")
    # A member cannot recall someone else's message, nor their own after the window (2 min).
    refusal = await sent(m, cmd=11, dstid=group["id"], media=12, ref=theirs["id"])
    assert (refusal["cmd"], refusal["code"]) == (13, 403)
    await age(ctx, mine["id"], 3 * 60 * 1000)
    refusal = await sent(m, cmd=11, dstid=group["id"], media=12, ref=mine["id"])
    assert (refusal["cmd"], refusal["code"]) == (13, 403) and "too late to recall" in refusal["msg"]
    # The owner removes any message, old or not.
    await age(ctx, theirs["id"], 30 * 24 * HOUR_MS)
    for target in (mine, theirs):
        assert (await sent(o, cmd=11, dstid=group["id"], media=12, ref=target["id"]))["cmd"] == 12
    rows = {r["id"]: r for r in await history(api, member, 11, group["id"])}
    assert rows[mine["id"]]["recalled"] == rows[theirs["id"]]["recalled"] == owner.id
    assert rows[theirs["id"]]["content"] == ""


@both_buses
@pytest.mark.gen_test(timeout=60)
async def test_reactions_toggle_exactly_once_under_retries(api, base_url):
    ann, bob, a, b = await pair(api, base_url)
    first = await sent(a, cmd=10, dstid=bob.id, media=1, content="we won!")
    await b.next_message()
    cmid = await b.send(cmd=10, dstid=ann.id, media=13, ref=first["id"], content=":thumbsup:")
    ack = await b.next_frame()
    assert ack["cmd"] == 12
    event = await a.next_message()
    # An alias counts as its emoji; amount 1 = added.
    assert (event["media"], event["ref"], event["content"], event["amount"]) == (13, first["id"], "👍", 1)
    # The same frame again (a lost ack): acked with the same id, toggled no further.
    await b.send(cmd=10, dstid=ann.id, media=13, ref=first["id"], content=":thumbsup:", cmid=cmid)
    again = await b.next_frame()
    assert (again["cmd"], again["id"]) == (12, ack["id"])
    await assert_next_is_sentinel(a, sender=b, dstid=ann.id)  # and Ann got it once
    assert await reactions(api, ann, bob.id, first["id"]) == {"👍": [bob.id]}
    # Ann adds the same emoji by its character; counted per user.
    assert (await sent(a, cmd=10, dstid=bob.id, media=13, ref=first["id"], content="👍"))["cmd"] == 12
    [row] = [r for r in await history(api, bob, 10, ann.id) if r["id"] == first["id"]]
    assert row["reactions"] == {"👍": [bob.id, ann.id]}  # history carries them too
    # A new toggle by Bob removes his.
    off = await sent(b, cmd=10, dstid=ann.id, media=13, ref=first["id"], content=":thumbs_up:")
    assert off["cmd"] == 12
    assert await reactions(api, ann, bob.id, first["id"]) == {"👍": [ann.id]}
    # Stickers and unknown codes are not reactions.
    for content in ("chatd-blobs/wave", ":no_such_emoji:", "x"):
        refusal = await sent(b, cmd=10, dstid=ann.id, media=13, ref=first["id"], content=content)
        assert (refusal["cmd"], refusal["code"]) == (13, 400), content


@pytest.mark.gen_test(timeout=60)
async def test_events_are_nobodys_unread_message_nor_the_conversations_last(api, base_url):
    ann, bob, a, _b = await pair(api, base_url)
    first = await sent(a, cmd=10, dstid=bob.id, media=1, content="hi")
    for frame in (
        {"media": 11, "content": "hi there"},
        {"media": 13, "content": ":smile:"},
    ):
        assert (await sent(a, cmd=10, dstid=bob.id, ref=first["id"], **frame))["cmd"] == 12
    [conv] = [c for c in await api.ok("/message/conversations", bob.token) if c["dstid"] == ann.id]
    assert conv["unread"] == 1
    assert (conv["last"]["id"], conv["last"]["content"]) == (first["id"], "hi there")


@pytest.mark.gen_test(timeout=60)
async def test_a_member_who_joined_later_cannot_quote_or_read_older_messages(api, base_url):
    owner, late = await register(api, "Olga"), await register(api, "Lou")
    group = await api.ok("/contact/createcommunity", owner.token, name="club")
    o = await connect(base_url, owner)
    before = await sent(o, cmd=11, dstid=group["id"], media=1, content="before Lou")
    await join_group(api, owner, late, group["id"])
    lou = await connect(base_url, late)
    refusal = await sent(lou, cmd=11, dstid=group["id"], media=13, ref=before["id"], content=":smile:")
    assert (refusal["cmd"], refusal["code"]) == (13, 404)
    assert await api.ok("/message/get", late.token, cmd=11, dstid=group["id"], ids=[before["id"]]) == []


@pytest.mark.gen_test(timeout=30)
async def test_events_are_stored_in_the_conversations_stream(api, base_url, ctx):
    _ann, bob, a, _b = await pair(api, base_url)
    first = await sent(a, cmd=10, dstid=bob.id, media=1, content="hi")
    edit = await sent(a, cmd=10, dstid=bob.id, media=11, ref=first["id"], content="hello")
    rows = await ctx.pools.db(message_q.list_since, bob.id, 0, 10)
    assert [(r["id"], r["media"], r["ref"]) for r in rows] == [
        (first["id"], 1, 0),
        (edit["id"], 11, first["id"]),
    ]
