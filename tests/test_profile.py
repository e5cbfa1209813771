"""POST /user/profile: what may be set, and who hears of it (cmd 15 user_updated)."""

from __future__ import annotations

import pytest

from tests import mediafiles
from tests.conftest import assert_next_is_sentinel, befriend, both_buses, connect, register
from tests.test_uploads import upload


def assert_error(status, envelope, code):
    assert status == code and envelope["code"] == -1 and envelope["msg"], (status, envelope)


@pytest.mark.gen_test
async def test_profile_sets_nickname_memo_and_own_image_as_avatar(api, http_client, base_url):
    ann = await register(api, "Ann")
    status, env = await upload(http_client, base_url, ann.token, mediafiles.png_with_alpha(), kind="image")
    assert status == 200, env
    pic = env["data"]["pic"]
    user = await api.ok("/user/profile", ann.token, nickname="  Annie ", avatar=pic, memo="Likes tea")
    assert user == {"id": ann.id, "nickname": "Annie", "avatar": pic, "sex": "U", "memo": "Likes tea"}
    # Fields left out stay; the full picture's URL works as well as its thumbnail's.
    user = await api.ok("/user/profile", ann.token, avatar=env["data"]["url"])
    assert (user["nickname"], user["memo"], user["avatar"]) == ("Annie", "Likes tea", env["data"]["url"])
    # Others see it; an empty avatar goes back to initials.
    bob = await register(api, "Bob")
    assert (await api.ok("/user/find", bob.token, id=ann.id))["avatar"] == env["data"]["url"]
    assert (await api.ok("/user/profile", ann.token, avatar=""))["avatar"] == ""


@pytest.mark.parametrize(
    "fields",
    [
        {"nickname": ""},
        {"nickname": "x" * 33},
        {"nickname": "Ann\u202eevil"},  # a bidi override
        {"nickname": "A\u200bnn"},  # zero-width space
        {"memo": "m" * 201},
        {"memo": "line\nbreak"},
        {"memo": "tab\x07bell"},
        {"memo": "\u2066isolate"},
        {"avatar": "https://evil.example/a.png"},
        {"avatar": "/upload/ab/cd/abcd0000000000000000000000000000.png"},  # our shape, no such upload
        {"avatar": 12},
        {"nickname": ["Ann"]},
    ],
)
@pytest.mark.gen_test
async def test_bad_fields_are_400_and_change_nothing(api, fields):
    ann = await register(api, "Ann")
    await api.ok("/user/profile", ann.token, memo="before")
    status, env = await api.call(
        "/user/profile", ann.token, **fields, **({"memo": "after"} if "memo" not in fields else {})
    )
    assert_error(status, env, 400)
    me = await api.ok("/user/me", ann.token)
    assert (me["nickname"], me["memo"], me["avatar"]) == ("Ann", "before", "")


@pytest.mark.gen_test(timeout=60)
async def test_avatar_must_be_an_image_the_caller_uploaded(api, http_client, base_url, tmp_path):
    ann, eve = await register(api, "Ann"), await register(api, "Eve")
    status, env = await upload(http_client, base_url, ann.token, mediafiles.png_with_alpha(), kind="image")
    assert status == 200, env
    status, err = await api.call("/user/profile", eve.token, avatar=env["data"]["pic"])
    assert_error(status, err, 400)
    assert "you uploaded" in err["msg"]
    voice = mediafiles.audio("wav", 1.0, tmp_path)
    status, env = await upload(http_client, base_url, ann.token, voice, kind="voice")
    assert status == 200, env
    status, err = await api.call("/user/profile", ann.token, avatar=env["data"]["url"])
    assert_error(status, err, 400)
    assert "image" in err["msg"]
    assert (await api.ok("/user/me", eve.token))["avatar"] == ""


@pytest.mark.gen_test
async def test_no_token_is_401(api):
    status, env = await api.call("/user/profile", None, nickname="Who")
    assert_error(status, env, 401)


@both_buses
@pytest.mark.gen_test
async def test_friends_and_own_sockets_hear_of_the_change_strangers_do_not(api, base_url):
    ann, bob, eve = await register(api, "Ann"), await register(api, "Bob"), await register(api, "Eve")
    await befriend(api, ann, bob)
    await befriend(api, eve, bob)  # Eve knows Bob, not Ann
    group = await api.ok("/contact/createcommunity", ann.token, name="Club")
    a1, a2, b, e = [await connect(base_url, u) for u in (ann, ann, bob, eve)]
    user = await api.ok("/user/profile", ann.token, nickname="Annie", memo="hi")
    expected = {"cmd": 15, "type": "user_updated", "user": user}
    assert await b.next_frame() == expected
    assert await a1.next_frame() == expected
    assert await a2.next_frame() == expected
    # Eve got nothing before Bob's sentinel (a socket the sender has too: Ann's both).
    await assert_next_is_sentinel(e, sender=b, dstid=eve.id)
    await assert_next_is_sentinel(a2, sender=a1, dstid=group["id"], cmd=11)


@both_buses
@pytest.mark.gen_test
async def test_a_heartbeat_with_seq_is_answered_a_plain_one_is_not(api, base_url):
    ann = await register(api, "Ann")
    group = await api.ok("/contact/createcommunity", ann.token, name="Club")
    a = await connect(base_url, ann)
    await a.send(cmd=0, seq=7)
    assert await a.next_frame() == {"cmd": 0, "seq": 7}
    await a.send(cmd=0, seq="x")
    frame = await a.next_frame()
    assert (frame["cmd"], frame["code"]) == (13, 400)
    await a.send(cmd=0)
    await assert_next_is_sentinel(a, sender=a, dstid=group["id"], cmd=11)
