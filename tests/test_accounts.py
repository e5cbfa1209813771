"""Accounts and auth (PROTOCOL.md "HTTP API", "Authentication"), each rule with its wrong case."""

from __future__ import annotations

import asyncio
import hashlib
import types
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest
from argon2 import PasswordHasher
from tornado.httpclient import HTTPRequest

import server.ratelimit
from models.users import Token, User
from tests.conftest import befriend, both_buses, register

PUBLIC_FIELDS = {"id", "nickname", "avatar", "sex", "memo"}
USER_FIELDS = {"id", "mobile", "nickname", "avatar", "sex", "memo", "createat"}
PROTECTED = [
    "/user/logout",
    "/user/find",
    "/contact/addfriend",
    "/contact/loadfriend",
    "/contact/createcommunity",
    "/contact/joincommunity",
    "/contact/loadcommunity",
    "/message/history",
]


def assert_error(status: int, envelope: dict[str, Any], expected: int) -> None:
    assert status == expected, (status, envelope)
    assert set(envelope) == {"code", "msg"}, envelope
    assert envelope["code"] == -1 and isinstance(envelope["msg"], str) and envelope["msg"], envelope


async def users_with_mobile(ctx, mobile: str) -> list[dict[str, Any]]:
    return await ctx.pools.db(lambda: list(User.select().where(User.mobile == mobile).dicts()))


async def form_post(
    http_client, base_url: str, path: str, headers: dict[str, str], **fields: Any
) -> tuple[int, dict[str, Any]]:
    """A form POST the way a browser page would send it (no Authorization header)."""
    response = await http_client.fetch(
        HTTPRequest(
            base_url + path,
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
            body=urlencode(fields),
        ),
        raise_error=False,
    )
    return response.code, orjson.loads(response.body) if response.body else {}


async def friend_ids(api, token: str) -> list[int]:
    return [row["id"] for row in await api.ok("/contact/loadfriend", token)]


# --- register ---------------------------------------------------------------------------


@both_buses
@pytest.mark.gen_test
async def test_register_returns_user_and_token_never_the_password(api):
    status, envelope = await api.call(
        "/user/register", mobile="13800000001", passwd="s3cret-pass", nickname="Ann", sex="W"
    )
    assert status == 200 and envelope["code"] == 0 and envelope["msg"] == ""
    data = envelope["data"]
    assert set(data) == USER_FIELDS | {"token"}
    assert data["mobile"] == "13800000001" and data["nickname"] == "Ann" and data["sex"] == "W"
    assert isinstance(data["createat"], int) and data["createat"] > 1_600_000_000_000  # milliseconds
    assert len(data["token"]) >= 32
    raw = orjson.dumps(envelope).decode()
    assert "s3cret-pass" not in raw and "argon2" not in raw and "passwd" not in raw
    # The token works at once.
    assert await api.ok("/contact/loadfriend", data["token"]) == []


@both_buses
@pytest.mark.gen_test
async def test_register_sets_an_httponly_strict_token_cookie(http_client, base_url):
    response = await http_client.fetch(
        HTTPRequest(
            base_url + "/user/register",
            method="POST",
            headers={"Content-Type": "application/json"},
            body=orjson.dumps({"mobile": "13800000002", "passwd": "s3cret-pass", "nickname": "Ann"}),
        )
    )
    token = orjson.loads(response.body)["data"]["token"]
    cookie = next(c for c in response.headers.get_list("Set-Cookie") if c.startswith("chatd_token="))
    assert cookie.startswith(f"chatd_token={token};")
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()


@both_buses
@pytest.mark.gen_test
async def test_stored_password_is_an_argon2id_hash(api, ctx):
    await api.ok("/user/register", mobile="13800000003", passwd="s3cret-pass", nickname="Ann")
    [row] = await users_with_mobile(ctx, "13800000003")
    assert row["passwd"].startswith("$argon2id$")
    assert "s3cret-pass" not in row["passwd"]
    assert PasswordHasher().verify(row["passwd"], "s3cret-pass")


@both_buses
@pytest.mark.gen_test
async def test_duplicate_mobile_is_409_and_keeps_the_first_account(api, ctx):
    await api.ok("/user/register", mobile="13800000004", passwd="first-pass", nickname="Ann")
    status, envelope = await api.call(
        "/user/register", mobile="13800000004", passwd="second-pass", nickname="Eve"
    )
    assert_error(status, envelope, 409)
    rows = await users_with_mobile(ctx, "13800000004")
    assert [r["nickname"] for r in rows] == ["Ann"]
    await api.ok("/user/login", mobile="13800000004", passwd="first-pass")
    status, envelope = await api.call("/user/login", mobile="13800000004", passwd="second-pass")
    assert_error(status, envelope, 401)


@pytest.mark.parametrize(
    "fields",
    [
        {"mobile": "12ab5678", "passwd": "s3cret-pass", "nickname": "Ann"},
        {"mobile": "1234", "passwd": "s3cret-pass", "nickname": "Ann"},  # too short
        {"mobile": "", "passwd": "s3cret-pass", "nickname": "Ann"},
        {"passwd": "s3cret-pass", "nickname": "Ann"},  # no mobile
        {"mobile": "13800000005", "passwd": "12345", "nickname": "Ann"},  # 5 characters
        {"mobile": "13800000005", "passwd": "x" * 129, "nickname": "Ann"},
        {"mobile": "13800000005", "nickname": "Ann"},  # no password
        {"mobile": "13800000005", "passwd": "s3cret-pass", "nickname": ""},
        {"mobile": "13800000005", "passwd": "s3cret-pass", "nickname": "   "},
        {"mobile": "13800000005", "passwd": "s3cret-pass", "nickname": "n" * 33},
        {"mobile": "13800000005", "passwd": "s3cret-pass", "nickname": "Ann", "sex": "X"},
        {"mobile": "13800000005", "passwd": "s3cret-pass", "nickname": "Ann", "sex": "MM"},
    ],
)
@both_buses
@pytest.mark.gen_test
async def test_bad_registration_is_400_and_stores_nothing(api, ctx, fields):
    status, envelope = await api.call("/user/register", **fields)
    assert_error(status, envelope, 400)
    assert await ctx.pools.db(lambda: User.select().count()) == 0
    assert await ctx.pools.db(lambda: Token.select().count()) == 0


@both_buses
@pytest.mark.gen_test
async def test_edge_values_are_accepted(api):
    # The wrong cases above sit just past these limits.
    data = await api.ok("/user/register", mobile="+12345", passwd="123456", nickname="n" * 32, sex="M")
    assert data["mobile"] == "+12345" and data["sex"] == "M"
    data = await api.ok("/user/register", mobile="13800000006", passwd="x" * 128, nickname=" Bo ")
    assert data["nickname"] == "Bo" and data["sex"] == "U"


# --- login, logout, tokens ----------------------------------------------------------------


@both_buses
@pytest.mark.gen_test
async def test_wrong_password_and_unknown_mobile_get_the_same_401(api):
    ann = await register(api, "Ann")
    status, wrong = await api.call("/user/login", mobile=ann.mobile, passwd="not the password")
    assert_error(status, wrong, 401)
    status, unknown = await api.call("/user/login", mobile="13899999999", passwd="correct horse")
    assert_error(status, unknown, 401)
    assert wrong["msg"] == unknown["msg"]


@both_buses
@pytest.mark.gen_test
async def test_login_issues_a_new_token_and_the_old_one_still_works(api):
    ann = await register(api, "Ann")
    data = await api.ok("/user/login", mobile=ann.mobile, passwd="correct horse")
    assert set(data) == USER_FIELDS | {"token"}
    assert data["id"] == ann.id and data["token"] != ann.token
    # Two devices: both tokens act as Ann.
    bob = await register(api, "Bob")
    await befriend(api, ann, bob)
    assert await friend_ids(api, ann.token) == [bob.id]
    assert await friend_ids(api, data["token"]) == [bob.id]


@both_buses
@pytest.mark.gen_test
async def test_logout_ends_only_that_token(api):
    ann = await register(api, "Ann")
    phone = (await api.ok("/user/login", mobile=ann.mobile, passwd="correct horse"))["token"]
    await api.ok("/user/logout", ann.token)
    status, envelope = await api.call("/contact/loadfriend", ann.token)
    assert_error(status, envelope, 401)
    assert await api.ok("/contact/loadfriend", phone) == []
    # Logging out twice is not possible: the token is gone.
    status, envelope = await api.call("/user/logout", ann.token)
    assert_error(status, envelope, 401)


@both_buses
@pytest.mark.gen_test
async def test_tokens_are_stored_only_as_sha256_digests(api, ctx):
    ann = await register(api, "Ann")
    second = (await api.ok("/user/login", mobile=ann.mobile, passwd="correct horse"))["token"]
    rows = await ctx.pools.db(lambda: list(Token.select().dicts()))
    digests = sorted(r["digest"] for r in rows)
    assert digests == sorted(hashlib.sha256(t.encode()).hexdigest() for t in (ann.token, second))
    stored = repr(rows)
    assert ann.token not in stored and second not in stored


@both_buses
@pytest.mark.gen_test
async def test_token_from_header_query_body_and_cookie_with_xsrf(api, http_client, base_url):
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    await befriend(api, ann, bob)

    status, envelope = await api.call("/contact/loadfriend", headers={"Authorization": f"Bearer {ann.token}"})
    assert status == 200 and [r["id"] for r in envelope["rows"]] == [bob.id]
    status, envelope = await api.call(f"/contact/loadfriend?token={ann.token}")
    assert status == 200 and [r["id"] for r in envelope["rows"]] == [bob.id]
    response = await http_client.fetch(
        HTTPRequest(
            base_url + "/contact/loadfriend",
            method="POST",
            headers={"Content-Type": "application/json"},
            body=orjson.dumps({"token": ann.token}),
        )
    )
    assert [r["id"] for r in orjson.loads(response.body)["rows"]] == [bob.id]
    status, envelope = await form_post(http_client, base_url, "/contact/loadfriend", {}, token=ann.token)
    assert status == 200 and [r["id"] for r in envelope["rows"]] == [bob.id]
    status, envelope = await form_post(
        http_client,
        base_url,
        "/contact/loadfriend",
        {"Cookie": f"chatd_token={ann.token}; _xsrf=c0ffee"},
        _xsrf="c0ffee",
    )
    assert status == 200 and [r["id"] for r in envelope["rows"]] == [bob.id]

    # Each source with a wrong token is refused, never silently anonymous.
    for path, headers in [
        ("/contact/loadfriend", {"Authorization": "Bearer not-a-token"}),
        ("/contact/loadfriend?token=not-a-token", {}),
    ]:
        status, envelope = await api.call(path, headers=headers)
        assert_error(status, envelope, 401)
    status, envelope = await form_post(
        http_client,
        base_url,
        "/contact/loadfriend",
        {"Cookie": "chatd_token=not-a-token; _xsrf=c0ffee"},
        _xsrf="c0ffee",
    )
    assert_error(status, envelope, 401)


@both_buses
@pytest.mark.gen_test
async def test_cookie_only_post_needs_matching_xsrf(api, http_client, base_url):
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    cookie = f"chatd_token={ann.token}"

    # No _xsrf at all: refused, and no friendship appears.
    status, envelope = await api.call("/contact/addfriend", headers={"Cookie": cookie}, dstid=bob.id)
    assert_error(status, envelope, 403)
    status, envelope = await form_post(
        http_client, base_url, "/contact/addfriend", {"Cookie": cookie}, dstid=bob.id
    )
    assert_error(status, envelope, 403)
    # An _xsrf argument that does not match the cookie: refused too.
    status, envelope = await form_post(
        http_client,
        base_url,
        "/contact/addfriend",
        {"Cookie": f"{cookie}; _xsrf=c0ffee"},
        dstid=bob.id,
        _xsrf="decade",
    )
    assert_error(status, envelope, 403)
    # A cookie-only logout without _xsrf does not end the session either.
    status, envelope = await api.call("/user/logout", headers={"Cookie": cookie})
    assert_error(status, envelope, 403)
    assert await friend_ids(api, ann.token) == []
    assert await friend_ids(api, bob.token) == []

    # Matching cookie and argument: the same request goes through.
    status, envelope = await form_post(
        http_client,
        base_url,
        "/contact/addfriend",
        {"Cookie": f"{cookie}; _xsrf=c0ffee"},
        dstid=bob.id,
        _xsrf="c0ffee",
    )
    assert status == 200 and envelope["code"] == 0, envelope
    assert envelope["data"]["status"] == "requested"
    requests = await api.ok("/contact/requests", bob.token)
    assert [(r["direction"], r["user"]["id"]) for r in requests] == [("in", ann.id)]


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
        {"Origin": "http://evil.example"},  # an older browser without Sec-Fetch-Site
    ],
)
@both_buses
@pytest.mark.gen_test
async def test_cross_site_post_is_refused(api, http_client, base_url, headers):
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    # Even with the cookie and a matching _xsrf pair, a cross-site POST changes nothing.
    status, envelope = await form_post(
        http_client,
        base_url,
        "/contact/addfriend",
        {"Cookie": f"chatd_token={ann.token}; _xsrf=c0ffee", **headers},
        dstid=bob.id,
        _xsrf="c0ffee",
    )
    assert_error(status, envelope, 403)
    status, envelope = await api.call("/contact/addfriend", ann.token, headers=headers, dstid=bob.id)
    assert_error(status, envelope, 403)
    status, envelope = await api.call(
        "/user/register", headers=headers, mobile="13800000007", passwd="s3cret-pass", nickname="Eve"
    )
    assert_error(status, envelope, 403)
    assert await friend_ids(api, ann.token) == []
    # The same call from the page's own origin passes.
    status, envelope = await api.call(
        "/contact/addfriend",
        ann.token,
        headers={"Origin": base_url, "Sec-Fetch-Site": "same-origin"},
        dstid=bob.id,
    )
    assert status == 200, envelope


# --- find ------------------------------------------------------------------------------------


@both_buses
@pytest.mark.gen_test
async def test_find_user_by_id_or_mobile_returns_only_public_fields(api):
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    by_id = await api.ok("/user/find", ann.token, id=bob.id)
    by_mobile = await api.ok("/user/find", ann.token, mobile=bob.mobile)
    assert by_id == by_mobile
    assert set(by_id) == PUBLIC_FIELDS
    assert by_id["id"] == bob.id and by_id["nickname"] == "Bob"
    assert bob.mobile not in orjson.dumps(by_id).decode()


@both_buses
@pytest.mark.gen_test
async def test_find_unknown_user_is_404_and_no_criteria_is_400(api):
    ann = await register(api, "Ann")
    status, envelope = await api.call("/user/find", ann.token, id=ann.id + 1000)
    assert_error(status, envelope, 404)
    status, envelope = await api.call("/user/find", ann.token, mobile="13899999999")
    assert_error(status, envelope, 404)
    status, envelope = await api.call("/user/find", ann.token)
    assert_error(status, envelope, 400)
    status, envelope = await api.call("/user/find", ann.token, id="abc")
    assert_error(status, envelope, 400)


# --- login rate limit --------------------------------------------------------------------------


class TestLoginRateLimit:
    @pytest.fixture
    def settings_overrides(self):
        return {"login_attempts": 3}

    @pytest.mark.gen_test
    async def test_failed_logins_reach_429_until_the_window_passes(self, api, monkeypatch):
        ann, bob = await register(api, "Ann"), await register(api, "Bob")
        for _ in range(3):
            status, envelope = await api.call("/user/login", mobile=ann.mobile, passwd="wrong guess")
            assert_error(status, envelope, 401)
        status, envelope = await api.call("/user/login", mobile=ann.mobile, passwd="wrong guess")
        assert_error(status, envelope, 429)
        # The right password is refused too while the mobile is locked.
        status, envelope = await api.call("/user/login", mobile=ann.mobile, passwd="correct horse")
        assert_error(status, envelope, 429)
        # Only that mobile is locked.
        await api.ok("/user/login", mobile=bob.mobile, passwd="correct horse")
        # Ten minutes later (the window) the right password works again.
        real = server.ratelimit.time.monotonic
        monkeypatch.setattr(server.ratelimit, "time", types.SimpleNamespace(monotonic=lambda: real() + 601))
        data = await api.ok("/user/login", mobile=ann.mobile, passwd="correct horse")
        assert data["id"] == ann.id

    @pytest.mark.gen_test(timeout=30)
    async def test_parallel_guesses_cannot_overrun_the_limit(self, api):
        ann = await register(api, "Ann")
        answers = await asyncio.gather(
            *[api.call("/user/login", mobile=ann.mobile, passwd=f"guess {i}") for i in range(12)]
        )
        statuses = sorted(status for status, _envelope in answers)
        assert statuses == [401] * 3 + [429] * 9

    @pytest.mark.gen_test
    async def test_a_successful_login_resets_the_count(self, api):
        ann = await register(api, "Ann")
        for _ in range(2):
            status, _envelope = await api.call("/user/login", mobile=ann.mobile, passwd="wrong guess")
            assert status == 401
        await api.ok("/user/login", mobile=ann.mobile, passwd="correct horse")
        for _ in range(2):
            status, _envelope = await api.call("/user/login", mobile=ann.mobile, passwd="wrong guess")
            assert status == 401
        await api.ok("/user/login", mobile=ann.mobile, passwd="correct horse")


# --- errors and missing tokens ------------------------------------------------------------------


@pytest.mark.parametrize("path", PROTECTED)
@both_buses
@pytest.mark.gen_test
async def test_protected_endpoint_without_or_with_bad_token_is_401(api, path):
    status, envelope = await api.call(path, dstid=1, id=1, name="x", cmd=10)
    assert_error(status, envelope, 401)
    status, envelope = await api.call(path, "not-a-token", dstid=1, id=1, name="x", cmd=10)
    assert_error(status, envelope, 401)


@both_buses
@pytest.mark.gen_test
async def test_other_errors_use_the_envelope(api, http_client, base_url):
    ann = await register(api, "Ann")
    status, envelope = await api.call("/no/such/endpoint", ann.token)
    assert_error(status, envelope, 404)
    response = await http_client.fetch(
        HTTPRequest(
            base_url + "/contact/loadfriend",
            method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {ann.token}"},
            body=b"{not json",
        ),
        raise_error=False,
    )
    assert_error(response.code, orjson.loads(response.body), 400)
    response = await http_client.fetch(base_url + "/user/login", raise_error=False)  # GET
    assert_error(response.code, orjson.loads(response.body), 405)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/user/find", {"id": str(10**30)}),
        ("/user/find", {"id": 1.7}),
        ("/user/find", {"id": True}),
        ("/contact/addfriend", {"dstid": str(10**30)}),
        ("/contact/addfriend", {"dstid": 1.5}),
        ("/contact/joincommunity", {"dstid": str(-(10**30))}),
        ("/contact/createcommunity", {"name": "Hikers", "cate": str(10**30)}),
        ("/message/history", {"cmd": 10, "dstid": str(10**30)}),
        ("/message/history", {"cmd": 10, "dstid": 1, "before": str(10**30)}),
    ],
)
@both_buses
@pytest.mark.gen_test
async def test_numbers_that_are_not_64_bit_integers_are_400_not_500(api, path, body):
    ann = await register(api, "Ann")
    status, envelope = await api.call(path, ann.token, **body)
    assert_error(status, envelope, 400)
    assert await api.ok("/contact/loadcommunity", ann.token) == []


@both_buses
@pytest.mark.gen_test
async def test_json_null_for_an_optional_field_means_its_default(api):
    data = await api.ok(
        "/user/register", mobile="13800000077", passwd="s3cret-pass", nickname="Nul", sex=None, avatar=None
    )
    assert data["sex"] == "U" and data["avatar"] == ""
