"""Issue 7, points 5, 6, 11, 13 (accounts/contacts), 15 and 17: the hashing queue, login and
registration limits, sockets closed on logout/password change/expiry, input that the store
cannot take, tokens kept out of the log, and pages no site may frame."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import orjson
import pytest
import tornado.httpserver
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from models.users import Token, token_digest
from server.settings import Settings
from tests.conftest import Api, befriend, both_buses, connect, fresh_pg_database, register
from tests.serverproc import ServerProcess

CLOSE_TOKEN_REVOKED = 4001


@pytest.fixture
def http_server(request, io_loop, _unused_port, app):
    """pytest-tornado's server, but trusting X-Real-IP as `python -m server` does."""
    server = tornado.httpserver.HTTPServer(app, xheaders=True)
    server.add_socket(_unused_port[0])
    yield server
    server.stop()
    io_loop.run_sync(server.close_all_connections, timeout=10)


def from_ip(ip: str) -> dict[str, str]:
    return {"X-Real-IP": ip}


async def ok_from(api: Api, ip: str, path: str, **body: Any) -> Any:
    status, envelope = await api.call(path, headers=from_ip(ip), **body)
    assert status == 200 and envelope["code"] == 0, (path, status, envelope)
    return envelope["data"]


_fresh = iter(range(15_500_000_000, 15_599_999_999))


def unknown_mobile() -> str:
    return str(next(_fresh))


async def friends(api: Api, a: Any, b: Any) -> None:
    await befriend(api, a, b)


# --- point 5: a bounded hashing queue --------------------------------------------------


class TestHashingQueue:
    @pytest.fixture
    def settings_overrides(self):
        return {"hash_queue": 2, "hash_threads": 1, "login_address_attempts": 10_000}

    @pytest.mark.gen_test(timeout=60)
    async def test_a_login_flood_gets_503_and_a_real_user_still_logs_in(self, api):
        ann = await register(api, "Ann")
        answers = await asyncio.gather(
            *[
                api.call(
                    "/user/login", headers=from_ip(f"10.5.0.{i}"), mobile=unknown_mobile(), passwd="guess it"
                )
                for i in range(40)
            ]
        )
        statuses = [status for status, _ in answers]
        assert set(statuses) == {401, 503}, statuses
        busy = next(envelope for status, envelope in answers if status == 503)
        assert busy["code"] == -1 and "busy" in busy["msg"]
        data = await api.ok("/user/login", mobile=ann.mobile, passwd="correct horse")
        assert data["id"] == ann.id

    @pytest.mark.gen_test(timeout=60)
    async def test_a_503_carries_retry_after_and_registrations_are_bounded_too(self, http_client, base_url):
        async def register_one(i: int) -> Any:
            body = {"mobile": unknown_mobile(), "passwd": "correct horse", "nickname": f"n{i}"}
            return await http_client.fetch(
                HTTPRequest(
                    base_url + "/user/register",
                    method="POST",
                    headers={"Content-Type": "application/json", **from_ip(f"10.6.0.{i}")},
                    body=orjson.dumps(body),
                ),
                raise_error=False,
            )

        responses = await asyncio.gather(*[register_one(i) for i in range(30)])
        codes = [r.code for r in responses]
        assert set(codes) == {200, 503}, codes
        busy = next(r for r in responses if r.code == 503)
        assert int(busy.headers["Retry-After"]) >= 1


# --- point 6: login limits by address, account+address and account ------------------


@both_buses  # on Redis the windows are the chat's (server/sharedlimits.py)
class TestLoginLimits:
    @pytest.fixture
    def settings_overrides(self):
        return {
            "login_attempts": 3,
            "login_address_attempts": 5,
            "login_account_attempts": 8,
            "register_per_address": 4,
        }

    @pytest.mark.gen_test(timeout=30)
    async def test_one_address_trying_many_mobiles_gets_429(self, api):
        statuses = []
        for _ in range(7):
            status, _ = await api.call(
                "/user/login", headers=from_ip("10.1.1.1"), mobile=unknown_mobile(), passwd="guess it"
            )
            statuses.append(status)
        assert statuses == [401] * 5 + [429] * 2
        # Another address is not affected.
        status, _ = await api.call(
            "/user/login", headers=from_ip("10.1.1.2"), mobile=unknown_mobile(), passwd="guess it"
        )
        assert status == 401

    @pytest.mark.gen_test(timeout=30)
    async def test_a_stranger_guessing_cannot_lock_the_owner_out(self, api):
        ann = await register(api, "Ann")
        for expected in (401, 401, 401, 429):
            status, _ = await api.call(
                "/user/login", headers=from_ip("10.2.2.2"), mobile=ann.mobile, passwd="wrong guess"
            )
            assert status == expected
        # Ann, from her own address, logs in at once.
        data = await ok_from(api, "10.2.2.3", "/user/login", mobile=ann.mobile, passwd="correct horse")
        assert data["id"] == ann.id

    @pytest.mark.gen_test(timeout=30)
    async def test_guesses_from_many_addresses_reach_the_account_wide_limit(self, api):
        ann = await register(api, "Ann")
        for i in range(8):  # 2 per address: under the per-address limits
            status, _ = await api.call(
                "/user/login", headers=from_ip(f"10.3.{i // 2}.1"), mobile=ann.mobile, passwd="wrong guess"
            )
            assert status == 401
        status, envelope = await api.call(
            "/user/login", headers=from_ip("10.3.99.1"), mobile=ann.mobile, passwd="correct horse"
        )
        assert status == 429 and envelope["code"] == -1

    @pytest.mark.gen_test(timeout=30)
    async def test_registrations_are_limited_per_address(self, api):
        for i in range(4):
            await ok_from(
                api,
                "10.4.4.4",
                "/user/register",
                mobile=unknown_mobile(),
                passwd="pw pw pw",
                nickname=f"x{i}",
            )
        status, envelope = await api.call(
            "/user/register",
            headers=from_ip("10.4.4.4"),
            mobile=unknown_mobile(),
            passwd="pw pw pw",
            nickname="one more",
        )
        assert status == 429 and "registrations" in envelope["msg"]
        await ok_from(
            api, "10.4.4.5", "/user/register", mobile=unknown_mobile(), passwd="pw pw pw", nickname="other"
        )


class TestForgedAddressHeaders:
    @pytest.fixture
    def settings_overrides(self):
        return {"login_address_attempts": 3, "trusted_proxies": ()}

    @pytest.mark.gen_test(timeout=30)
    async def test_x_real_ip_from_an_untrusted_peer_does_not_dodge_the_address_limit(self, api):
        statuses = []
        for i in range(4):
            status, _ = await api.call(
                "/user/login", headers=from_ip(f"10.9.9.{i}"), mobile=unknown_mobile(), passwd="guess it"
            )
            statuses.append(status)
        assert statuses == [401, 401, 401, 429]


# --- point 11: revoked and expired tokens close their sockets ------------------------


async def second_device(api: Api, account: Any) -> Any:
    data = await api.ok("/user/login", mobile=account.mobile, passwd="correct horse")
    return type(account)(id=account.id, token=data["token"], mobile=account.mobile, nickname=account.nickname)


async def frames_until_closed(client: Any) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    while True:
        raw = await asyncio.wait_for(client.conn.read_message(), 5)
        if raw is None:
            return frames
        frames.append(orjson.loads(raw))


class TestSocketsFollowTheirToken:
    @pytest.fixture
    def settings_overrides(self):
        return {"token_check_interval": 0.05}

    @pytest.mark.gen_test(timeout=30)
    async def test_logout_closes_that_tokens_socket_and_later_sends_are_not_acked(self, api, base_url):
        ann, bob = await register(api, "Ann"), await register(api, "Bob")
        await friends(api, ann, bob)
        ann_phone = await second_device(api, ann)
        laptop, phone = await connect(base_url, ann), await connect(base_url, ann_phone)
        await api.ok("/user/logout", ann.token)
        try:
            await laptop.send(cmd=10, dstid=bob.id, media=1, content="after logout")
        except Exception:  # noqa: BLE001 - the close may already have arrived
            pass
        frames = await frames_until_closed(laptop)
        assert laptop.conn.close_code == CLOSE_TOKEN_REVOKED
        assert not [f for f in frames if f.get("cmd") == 12], frames
        # The other device's socket still sends and is acked.
        cmid = await phone.send(cmd=10, dstid=bob.id, media=1, content="still here")
        assert (await phone.next_frame())["cmid"] == cmid
        # Nothing from the logged-out socket was stored: bob's history has only the phone's.
        rows = await api.ok("/message/history", bob.token, cmd=10, dstid=ann.id)
        assert [r["content"] for r in rows] == ["still here"]

    @pytest.mark.gen_test(timeout=30)
    async def test_password_change_logs_out_every_other_device(self, api, base_url):
        ann, bob = await register(api, "Ann"), await register(api, "Bob")
        await friends(api, ann, bob)
        ann_phone = await second_device(api, ann)
        laptop, phone = await connect(base_url, ann), await connect(base_url, ann_phone)
        await api.ok("/user/passwd", ann.token, oldpasswd="correct horse", newpasswd="battery staple")
        assert await phone.closed() == CLOSE_TOKEN_REVOKED
        status, _ = await api.call("/contact/loadfriend", ann_phone.token)
        assert status == 401
        # The device that changed it keeps working, socket and token.
        cmid = await laptop.send(cmd=10, dstid=bob.id, media=1, content="new password")
        assert (await laptop.next_frame())["cmid"] == cmid
        await api.ok("/contact/loadfriend", ann.token)
        status, _ = await api.call("/user/login", mobile=ann.mobile, passwd="correct horse")
        assert status == 401
        await api.ok("/user/login", mobile=ann.mobile, passwd="battery staple")

    @pytest.mark.gen_test(timeout=30)
    async def test_password_change_needs_the_current_password(self, api):
        ann = await register(api, "Ann")
        status, envelope = await api.call(
            "/user/passwd", ann.token, oldpasswd="not it at all", newpasswd="x" * 10
        )
        assert status == 403 and envelope["code"] == -1
        await api.ok("/user/login", mobile=ann.mobile, passwd="correct horse")

    @pytest.mark.gen_test(timeout=30)
    async def test_a_socket_closes_when_its_token_expires(self, api, base_url, ctx):
        ann = await register(api, "Ann")
        client = await connect(base_url, ann)

        def age_token() -> int:
            return Token.update(usedat=0).where(Token.digest == token_digest(ann.token)).execute()

        assert await ctx.pools.db(age_token) == 1
        assert await client.closed() == CLOSE_TOKEN_REVOKED
        with pytest.raises(HTTPClientError) as err:
            await websocket_connect(base_url.replace("http", "ws", 1) + f"/chat?token={ann.token}")
        assert err.value.code == 401


# --- point 17: no framing ---------------------------------------------------------------


@pytest.mark.gen_test
async def test_pages_errors_and_api_answers_forbid_framing(http_client, base_url):
    for path in ("/chat.html", "/login.html", "/nope.html"):
        response = await http_client.fetch(base_url + path, raise_error=False)
        assert response.headers["X-Frame-Options"] == "DENY", path
    page = await http_client.fetch(base_url + "/login.html")
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    api_answer = await http_client.fetch(
        base_url + "/user/login", method="POST", body=b"{}", raise_error=False,
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    assert api_answer.headers["X-Frame-Options"] == "DENY"


# --- point 13 (accounts, contacts): what SQLite and PostgreSQL must both refuse ---------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/chatd.db"
        return
    with fresh_pg_database() as url:
        yield url


class TestInputTheStoreCannotTake:
    @pytest.fixture
    def settings(self, tmp_path, store_url):
        return Settings.for_tests(database=store_url, upload_dir=tmp_path / "up", ping_interval=0)

    BAD_NICKNAMES = [
        "nul\x00name",
        "bell\x07",
        "zero\u200bwidth",
        "\u200d",
        "evil\u202egnp.exe",
        "\u2066isolate",
        "   \t ",
        "line\u2028break",
    ]

    @pytest.mark.gen_test(timeout=60)
    async def test_bad_registrations_get_400_and_store_nothing(self, api, ctx):
        cases = [{"nickname": n} for n in self.BAD_NICKNAMES]
        cases += [{"mobile": "1390000\x000001"}, {"passwd": "pass\x00word"}, {"avatar": "http://x/\x00"}]
        for case in cases:
            body = {"mobile": unknown_mobile(), "passwd": "correct horse", "nickname": "Fine", **case}
            status, envelope = await api.call("/user/register", **body)
            assert status == 400 and envelope["code"] == -1, (case, status, envelope)
        from models.users import User

        assert await ctx.pools.db(lambda: User.select().count()) == 0

    @pytest.mark.gen_test(timeout=60)
    async def test_bad_group_fields_and_huge_numbers_get_400_and_store_nothing(self, api, ctx):
        ann = await register(api, "Ann")
        bad: list[dict[str, Any]] = [{"name": n} for n in ("grp\x00", "\u202eevil", "a\u200bb", " \u3000 ")]
        bad += [
            {"name": "ok", "cate": 2**40},
            {"name": "ok", "cate": -(2**40)},
            {"name": "ok", "memo": "m\x00"},
        ]
        for case in bad:
            status, envelope = await api.call("/contact/createcommunity", ann.token, **case)
            assert status == 400 and envelope["code"] == -1, (case, status, envelope)
        assert await api.ok("/contact/loadcommunity", ann.token) == []
        for path, body in (
            ("/contact/joincommunity", {"dstid": 2**40}),
            ("/contact/addfriend", {"dstid": 2**40}),
            ("/contact/addfriend", {"mobile": "1\x00"}),
            ("/user/find", {"id": 2**31}),
            ("/user/find", {"mobile": "\x00"}),
        ):
            status, envelope = await api.call(path, ann.token, **body)
            assert status == 400 and envelope["code"] == -1, (path, body, status, envelope)
        assert await api.ok("/contact/loadfriend", ann.token) == []
        # The edges still work: a real name with inner spaces and the largest 32-bit cate.
        group = await api.ok("/contact/createcommunity", ann.token, name="Ann's  group", cate=2**31 - 1)
        assert group["cate"] == 2**31 - 1


# --- point 15: no token in any log line -----------------------------------------------


def raw_request(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(data)
        chunks = []
        while True:
            try:
                chunk = conn.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


@pytest.mark.slow
@pytest.mark.gen_test(timeout=60)
async def test_the_server_log_carries_no_token(tmp_path):
    server = ServerProcess(tmp_path).start()
    try:
        api = Api(AsyncHTTPClient(), server.base_url)
        ann = await register(api, "Ann")
        token, xsrf = ann.token, "2|deadbeef|" + "c0ffee" * 8 + "|1700000000"
        # Tornado's "Malformed HTTP message" quotes a bad header line in full.
        for header in (
            f"Authorization: Bearer {token}\x01",
            f"Cookie: chatd_token={token}; _xsrf={xsrf}\x01",
        ):
            answer = raw_request(
                server.port, f"GET /chat?token={token} HTTP/1.1\r\nHost: x\r\n{header}\r\n\r\n".encode()
            )
            assert answer.startswith(b"HTTP/1.1 400")
        # A 403 for a cookie-authenticated POST whose _xsrf does not match names the URI.
        status, _ = await api.call(
            f"/user/find?_xsrf={xsrf}",
            headers={"Cookie": f"chatd_token={token}; _xsrf=2|00|11|22"},
            id=ann.id,
        )
        assert status == 403
        # A server error on the socket logs the request, URI and all.
        url = server.base_url.replace("http", "ws", 1) + f"/chat?token={token}&since=%C2%B2"
        with pytest.raises(HTTPClientError):
            await websocket_connect(url)
        url = server.base_url.replace("http", "ws", 1) + f"/chat?token={token}&id=999999"
        with pytest.raises(HTTPClientError):
            await websocket_connect(url)
    finally:
        server.stop()
    log = server.log_path.read_text()
    assert "Malformed HTTP message" in log and "XSRF" in log
    assert token not in log
    assert "c0ffee" not in log
