"""Friends and communities (PROTOCOL.md /contact/*), each rule with its wrong case."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import befriend, join_group, register

PUBLIC_FIELDS = {"id", "nickname", "avatar", "sex", "memo"}
COMMUNITY_FIELDS = {"id", "name", "ownerid", "icon", "cate", "memo", "createat", "open", "history", "role"}


def assert_error(status: int, envelope: dict[str, Any], expected: int) -> None:
    assert status == expected, (status, envelope)
    assert set(envelope) == {"code", "msg"} and envelope["code"] == -1 and envelope["msg"], envelope


async def rows_of(api, path: str, token: str) -> list[dict[str, Any]]:
    """A list answer, checking its envelope: {"code": 0, "rows": [...], "total": N}."""
    status, envelope = await api.call(path, token)
    assert status == 200, envelope
    assert set(envelope) == {"code", "rows", "total"} and envelope["code"] == 0, envelope
    assert envelope["total"] == len(envelope["rows"])
    return envelope["rows"]


async def friend_ids(api, token: str) -> list[int]:
    return sorted(row["id"] for row in await rows_of(api, "/contact/loadfriend", token))


async def community_ids(api, token: str) -> list[int]:
    return sorted(row["id"] for row in await rows_of(api, "/contact/loadcommunity", token))


# --- friends -----------------------------------------------------------------------------------


@pytest.mark.gen_test
async def test_addfriend_by_dstid_asks_and_accept_makes_friends_both_ways(api):
    ann, bob, eve = await register(api, "Ann"), await register(api, "Bob"), await register(api, "Eve")
    status, envelope = await api.call("/contact/addfriend", ann.token, dstid=bob.id)
    assert status == 200 and envelope["code"] == 0
    assert envelope["data"]["status"] == "requested"
    assert set(envelope["data"]["user"]) == PUBLIC_FIELDS and envelope["data"]["user"]["id"] == bob.id
    assert await friend_ids(api, ann.token) == []  # nobody is a friend before saying yes
    assert await friend_ids(api, bob.token) == []
    data = await api.ok("/contact/accept", bob.token, dstid=ann.id)
    assert data["status"] == "friends" and data["user"]["id"] == ann.id
    assert await friend_ids(api, ann.token) == [bob.id]
    assert await friend_ids(api, bob.token) == [ann.id]
    assert await friend_ids(api, eve.token) == []  # nobody else is touched
    rows = await rows_of(api, "/contact/loadfriend", ann.token)
    assert set(rows[0]) == PUBLIC_FIELDS  # no mobile, no password in friend lists


@pytest.mark.gen_test
async def test_addfriend_by_mobile_asks_and_accept_makes_friends_both_ways(api):
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    data = await api.ok("/contact/addfriend", ann.token, mobile=bob.mobile)
    assert (data["status"], data["user"]["id"]) == ("requested", bob.id)
    await api.ok("/contact/accept", bob.token, dstid=ann.id)
    assert await friend_ids(api, ann.token) == [bob.id]
    assert await friend_ids(api, bob.token) == [ann.id]


@pytest.mark.gen_test
async def test_addfriend_self_is_400(api):
    ann = await register(api, "Ann")
    status, envelope = await api.call("/contact/addfriend", ann.token, dstid=ann.id)
    assert_error(status, envelope, 400)
    status, envelope = await api.call("/contact/addfriend", ann.token, mobile=ann.mobile)
    assert_error(status, envelope, 400)
    assert await friend_ids(api, ann.token) == []


@pytest.mark.gen_test
async def test_addfriend_twice_is_409_from_either_side(api):
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    await befriend(api, ann, bob)
    status, envelope = await api.call("/contact/addfriend", ann.token, dstid=bob.id)
    assert_error(status, envelope, 409)
    status, envelope = await api.call("/contact/addfriend", bob.token, mobile=ann.mobile)
    assert_error(status, envelope, 409)
    assert await friend_ids(api, ann.token) == [bob.id]  # still one row each
    assert await friend_ids(api, bob.token) == [ann.id]


@pytest.mark.gen_test
async def test_addfriend_unknown_is_404_and_bad_input_400(api):
    ann = await register(api, "Ann")
    status, envelope = await api.call("/contact/addfriend", ann.token, dstid=ann.id + 1000)
    assert_error(status, envelope, 404)
    status, envelope = await api.call("/contact/addfriend", ann.token, mobile="13899999999")
    assert_error(status, envelope, 404)
    status, envelope = await api.call("/contact/addfriend", ann.token)
    assert_error(status, envelope, 400)
    status, envelope = await api.call("/contact/addfriend", ann.token, dstid="abc")
    assert_error(status, envelope, 400)
    assert await friend_ids(api, ann.token) == []


@pytest.mark.gen_test
async def test_addfriend_acts_as_the_token_user_not_a_sent_userid(api):
    ann, bob, eve = await register(api, "Ann"), await register(api, "Bob"), await register(api, "Eve")
    # Eve claims to be Ann: the request is Eve's, Ann's list stays empty.
    await api.ok("/contact/addfriend", eve.token, dstid=bob.id, userid=ann.id, ownerid=ann.id)
    await api.ok("/contact/accept", bob.token, dstid=eve.id)
    assert await friend_ids(api, eve.token) == [bob.id]
    assert await friend_ids(api, bob.token) == [eve.id]
    assert await friend_ids(api, ann.token) == []


# --- communities -------------------------------------------------------------------------------


@pytest.mark.gen_test
async def test_createcommunity_is_owned_by_the_token_user_who_is_a_member(api):
    ann, eve = await register(api, "Ann"), await register(api, "Eve")
    status, envelope = await api.call(
        "/contact/createcommunity",
        ann.token,
        name="  Hikers ",
        icon="/asset/i.png",
        memo="weekends",
        cate=2,
        ownerid=eve.id,
        userid=eve.id,
    )
    assert status == 200 and envelope["code"] == 0
    group = envelope["data"]
    assert set(group) == COMMUNITY_FIELDS
    assert group["ownerid"] == ann.id and group["name"] == "Hikers"
    assert (group["role"], group["open"], group["history"]) == ("owner", False, "joined")
    assert (group["icon"], group["memo"], group["cate"]) == ("/asset/i.png", "weekends", 2)
    assert isinstance(group["createat"], int) and group["createat"] > 1_600_000_000_000
    rows = await rows_of(api, "/contact/loadcommunity", ann.token)
    assert rows == [group]
    assert await community_ids(api, eve.token) == []


@pytest.mark.parametrize("name", ["", "   ", "n" * 65])
@pytest.mark.gen_test
async def test_createcommunity_bad_name_is_400_and_creates_nothing(api, name):
    ann = await register(api, "Ann")
    status, envelope = await api.call("/contact/createcommunity", ann.token, name=name)
    assert_error(status, envelope, 400)
    assert await community_ids(api, ann.token) == []


@pytest.mark.gen_test
async def test_createcommunity_without_name_is_400(api):
    ann = await register(api, "Ann")
    status, envelope = await api.call("/contact/createcommunity", ann.token)
    assert_error(status, envelope, 400)
    assert await community_ids(api, ann.token) == []


@pytest.mark.gen_test
async def test_joincommunity_is_idempotent(api):
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    group = await api.ok("/contact/createcommunity", ann.token, name="Hikers")
    invite = await api.ok("/contact/invite", ann.token, dstid=group["id"])
    for _ in range(2):
        data = await api.ok("/contact/joincommunity", bob.token, code=invite["code"])
        assert data == {**group, "role": "member"}
    rows = await rows_of(api, "/contact/loadcommunity", bob.token)
    assert rows == [{**group, "role": "member"}]  # once, not twice
    # The owner joining their own group again changes nothing either.
    assert (await api.ok("/contact/joincommunity", ann.token, dstid=group["id"]))["role"] == "owner"
    assert await community_ids(api, ann.token) == [group["id"]]


@pytest.mark.gen_test
async def test_joincommunity_unknown_is_403_and_missing_dstid_400(api):
    ann = await register(api, "Ann")
    # A missing group answers like a closed one: it needs an invite.
    status, envelope = await api.call("/contact/joincommunity", ann.token, dstid=999)
    assert_error(status, envelope, 403)
    status, envelope = await api.call("/contact/joincommunity", ann.token)
    assert_error(status, envelope, 400)
    assert await community_ids(api, ann.token) == []


@pytest.mark.gen_test
async def test_joincommunity_acts_as_the_token_user(api):
    ann, bob, eve = await register(api, "Ann"), await register(api, "Bob"), await register(api, "Eve")
    group = await api.ok("/contact/createcommunity", ann.token, name="Hikers")
    invite = await api.ok("/contact/invite", ann.token, dstid=group["id"])
    await api.ok("/contact/joincommunity", eve.token, code=invite["code"], userid=bob.id)
    assert await community_ids(api, eve.token) == [group["id"]]
    assert await community_ids(api, bob.token) == []


@pytest.mark.gen_test
async def test_loadcommunity_lists_only_the_users_groups(api):
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    hikers = await api.ok("/contact/createcommunity", ann.token, name="Hikers")
    cooks = await api.ok("/contact/createcommunity", bob.token, name="Cooks")
    chess = await api.ok("/contact/createcommunity", bob.token, name="Chess")
    await join_group(api, bob, ann, chess["id"])
    assert await community_ids(api, ann.token) == sorted([hikers["id"], chess["id"]])
    assert await community_ids(api, bob.token) == sorted([cooks["id"], chess["id"]])
    _status, envelope = await api.call("/contact/loadcommunity", ann.token)
    assert envelope["total"] == 2 and {r["name"] for r in envelope["rows"]} == {"Hikers", "Chess"}


@pytest.mark.gen_test
async def test_empty_lists_keep_the_list_envelope(api):
    ann = await register(api, "Ann")
    for path in ("/contact/loadfriend", "/contact/loadcommunity"):
        status, envelope = await api.call(path, ann.token)
        assert (status, envelope) == (200, {"code": 0, "rows": [], "total": 0})
