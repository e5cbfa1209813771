"""Who may register, sign-up links, server admins, `chatd adduser`, QR codes (issue 8, point 7)."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from models import users as user_q
from models.invites import Invite
from tests.conftest import Account, Api, connect, register
from tests.serverproc import ROOT, ServerProcess

INVITE = {"registration": "invite"}
CLOSED = {"registration": "closed"}
PASSWD = "correct horse"
_mobiles = itertools.count(13_700_000_000)


async def try_register(api: Api, invite: str = "", nickname: str = "Newcomer") -> tuple[int, dict[str, Any]]:
    body = {"invite": invite} if invite else {}
    mobile = str(next(_mobiles))
    return await api.call("/user/register", mobile=mobile, passwd=PASSWD, nickname=nickname, **body)


async def join(api: Api, invite: str, nickname: str) -> Account:
    status, envelope = await try_register(api, invite, nickname)
    assert status == 200, envelope
    data = envelope["data"]
    return Account(id=data["id"], token=data["token"], mobile=data["mobile"], nickname=nickname)


async def role(api: Api, token: str) -> str:
    return str((await api.ok("/user/me", token))["role"])


# --- registration modes -----------------------------------------------------------------------


@pytest.mark.parametrize("settings_overrides", [INVITE])
@pytest.mark.gen_test
async def test_invite_mode_first_account_is_free_and_admin_then_a_link_is_needed(api):
    founder = await register(api, "Founder")
    assert await role(api, founder.token) == "admin"
    for invite in ("", "0" * 32, "not a code"):
        status, envelope = await try_register(api, invite)
        assert (status, envelope["msg"]) == (403, "registration needs an invite link")
    users = await api.ok("/admin/users", founder.token)
    assert [u["nickname"] for u in users] == ["Founder"]  # the refused attempts made nothing

    link = await api.ok("/user/signupinvite", founder.token)
    assert link["url"] == f"/register.html?invite={link['code']}" and len(link["code"]) == 32
    assert (link["maxuses"], link["uses"]) == (1, 0) and link["expireat"] > 0
    newcomer = await join(api, link["code"], "Newcomer")
    assert await role(api, newcomer.token) == ""  # only the first account is an admin
    status, envelope = await try_register(api, link["code"])  # a one-use link made one account
    assert (status, envelope["msg"]) == (403, "registration needs an invite link: this one is used up")


@pytest.mark.parametrize("settings_overrides", [INVITE])
@pytest.mark.gen_test
async def test_invite_mode_any_user_may_make_a_link_and_each_use_counts(api):
    founder = await register(api, "Founder")
    second = await join(api, (await api.ok("/user/signupinvite", founder.token))["code"], "Second")
    link = await api.ok("/user/signupinvite", second.token, uses=2, expires=3600)
    answers = [await try_register(api, link["code"]) for _ in range(3)]
    assert [status for status, _ in answers] == [200, 200, 403]
    for bad in ({"uses": -1}, {"uses": "many"}, {"expires": 10**9}):
        status, _ = await api.call("/user/signupinvite", second.token, **bad)
        assert status == 400


@pytest.mark.parametrize("settings_overrides", [INVITE])
@pytest.mark.gen_test
async def test_a_disabled_users_links_stop_working(api):
    founder = await register(api, "Founder")
    second = await join(api, (await api.ok("/user/signupinvite", founder.token))["code"], "Second")
    link = await api.ok("/user/signupinvite", second.token, uses=0)
    await api.ok("/admin/disable", founder.token, userid=second.id, disabled=True)
    status, envelope = await try_register(api, link["code"])
    assert (status, envelope["msg"]) == (403, "registration needs an invite link: this one was revoked")


@pytest.mark.parametrize("settings_overrides", [INVITE])
@pytest.mark.gen_test
async def test_an_expired_link_is_refused(api, ctx):
    founder = await register(api, "Founder")
    link = await api.ok("/user/signupinvite", founder.token, expires=60)
    # A minute later (moved in the database rather than waited for):
    moved = Invite.update(expireat=link["expireat"] - 60_001).where(Invite.code == link["code"])
    await ctx.pools.db(moved.execute)
    status, envelope = await try_register(api, link["code"])
    assert (status, envelope["msg"]) == (403, "registration needs an invite link: this one has expired")
    link = await api.ok("/user/signupinvite", founder.token, expires=0)  # never expires
    assert link["expireat"] == 0
    await join(api, link["code"], "Late")


@pytest.mark.parametrize("settings_overrides", [CLOSED])
@pytest.mark.gen_test
async def test_closed_mode_refuses_even_the_first_account_and_makes_no_links(api, ctx):
    status, envelope = await try_register(api)
    assert (status, envelope["msg"]) == (403, "registration is closed; ask the server admin")

    def add_admin() -> str:  # what `chatd adduser --admin` leaves in the database
        user = user_q.insert_user("13799999999", "x", "Root", "", "U")
        user_q.make_first_admin(user.id)
        return user_q.issue_token(user.id)

    root_token = await ctx.pools.db(add_admin)
    assert await role(api, root_token) == "admin"
    status, envelope = await api.call("/user/signupinvite", root_token)
    assert (status, envelope["msg"]) == (403, "registration is closed; ask the server admin")
    assert await ctx.pools.db(lambda: Invite.select().count()) == 0


@pytest.mark.gen_test
async def test_open_mode_lets_anyone_register_and_the_first_is_admin(api):
    first, second = await register(api, "First"), await register(api, "Second")
    assert (await role(api, first.token), await role(api, second.token)) == ("admin", "")
    assert (await api.ok("/user/signupinvite", second.token))["code"]


# --- admins -----------------------------------------------------------------------------------


@pytest.mark.gen_test
async def test_admin_lists_users_and_others_may_not(api):
    admin, bob = await register(api, "Admin"), await register(api, "Bob")
    rows = await api.ok("/admin/users", admin.token)
    assert rows == [
        {"id": admin.id, "mobile": admin.mobile, "nickname": "Admin", "role": "admin", "disabled": False,
         "createat": rows[0]["createat"]},
        {"id": bob.id, "mobile": bob.mobile, "nickname": "Bob", "role": "", "disabled": False,
         "createat": rows[1]["createat"]},
    ]  # fmt: skip
    for path, body in (("/admin/users", {}), ("/admin/disable", {"userid": admin.id, "disabled": True})):
        status, envelope = await api.call(path, bob.token, **body)
        assert (status, envelope["msg"]) == (403, "only a server admin may do this")
    assert await role(api, admin.token) == "admin"  # bob's attempt changed nothing


@pytest.mark.gen_test
async def test_disabling_closes_every_socket_and_refuses_login_until_enabled(api, base_url, ctx):
    admin, bob = await register(api, "Admin"), await register(api, "Bob")
    phone, laptop = await connect(base_url, bob), await connect(base_url, bob)
    assert len(ctx.hub.nodes[bob.id].sockets) == 2
    await api.ok("/admin/disable", admin.token, userid=bob.id, disabled=True)
    # Closed before the answer came back, not at some later check.
    node = ctx.hub.nodes.get(bob.id)
    assert node is None or all(outlet.closed for outlet in node.sockets.values())
    assert (await phone.closed(), await laptop.closed()) == (4001, 4001)
    assert phone.conn.close_reason == "account disabled"
    status, _ = await api.call("/user/me", bob.token)
    assert status == 401  # the session is gone
    status, envelope = await api.call("/user/login", mobile=bob.mobile, passwd=PASSWD)
    assert (status, envelope["msg"]) == (403, "this account is disabled")
    status, envelope = await api.call("/user/login", mobile=bob.mobile, passwd="wrong password")
    assert status == 401  # the wrong password does not learn that the account is disabled
    assert [u["disabled"] for u in await api.ok("/admin/users", admin.token)] == [False, True]

    await api.ok("/admin/disable", admin.token, userid=bob.id, disabled=False)
    token = (await api.ok("/user/login", mobile=bob.mobile, passwd=PASSWD))["token"]
    assert (await api.ok("/user/me", token))["id"] == bob.id


@pytest.mark.gen_test
async def test_disable_refuses_oneself_unknown_users_and_bad_values(api):
    admin = await register(api, "Admin")
    cases = [
        ({"userid": admin.id, "disabled": True}, 400),
        ({"userid": 999_999, "disabled": True}, 404),
        ({"userid": admin.id}, 400),
        ({"userid": admin.id, "disabled": "maybe"}, 400),
    ]
    for body, expected in cases:
        status, _ = await api.call("/admin/disable", admin.token, **body)
        assert status == expected, body
    assert (await api.ok("/user/me", admin.token))["id"] == admin.id


# --- QR codes ---------------------------------------------------------------------------------


async def get_qr(base_url: str, text: str, token: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = HTTPRequest(f"{base_url}/qr.svg?text={quote(text, safe='')}", headers=headers)
    return await AsyncHTTPClient().fetch(request, raise_error=False)


@pytest.mark.gen_test
async def test_qr_code_of_this_servers_own_links(api, base_url):
    alice = await register(api, "Alice")
    links = [
        f"{base_url}/invite/{'ab' * 16}",
        f"{base_url}/chat.html?add={alice.id}",
        f"{base_url}/register.html?invite={'cd' * 16}",
        f"/invite/{'ab' * 16}",
    ]
    images = []
    for text in links:
        response = await get_qr(base_url, text, alice.token)
        assert response.code == 200, (text, response.body)
        assert response.headers["Content-Type"] == "image/svg+xml"
        assert response.headers["Cache-Control"] == "private, max-age=3600"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.body.startswith(b"<svg ") and b"viewBox" in response.body
        images.append(response.body)
    assert len(set(images)) == len(images)  # each text its own code
    # The page's <img> carries only the HttpOnly cookie.
    request = HTTPRequest(
        f"{base_url}/qr.svg?text=%2Finvite%2Fab", headers={"Cookie": f"chatd_token={alice.token}"}
    )
    assert (await AsyncHTTPClient().fetch(request, raise_error=False)).code == 200


@pytest.mark.gen_test
async def test_qr_refuses_other_texts_and_strangers(api, base_url):
    alice = await register(api, "Alice")
    refused = [
        "https://evil.example/invite/abc",
        "http://127.0.0.1:1/invite/abc",  # another port: another server
        "/contact/addfriend",
        "send money to 12345",
        "/invite/" + "a" * 600,
        "/invite/abc def",
        "javascript:alert(1)//invite/",
        "",
    ]
    for text in refused:
        response = await get_qr(base_url, text, alice.token)
        assert response.code == 400, text
    response = await get_qr(base_url, "/invite/abc", None)
    assert response.code == 401


# --- chatd adduser and the first-run message (real processes) ---------------------------------


def adduser(database: str, *args: str, passwd: str = PASSWD + "\n") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server", "adduser", "--database", database, *args],
        cwd=ROOT, input=passwd, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def closed_db(request, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_database"))
    return f"sqlite:///{tmp_path}/chatd.db"


@pytest.mark.slow
@pytest.mark.gen_test(timeout=60)
async def test_adduser_makes_accounts_a_closed_server_accepts(tmp_path, closed_db):
    done = adduser(closed_db, "--mobile", "13600000001", "--nickname", "Root", "--admin")
    assert done.returncode == 0, done.stderr
    assert "added user 1" in done.stdout and "server admin" in done.stdout
    done = adduser(closed_db, "--mobile", "13600000002", "--nickname", "Bea")
    assert done.returncode == 0, done.stderr
    # Errors: one line, exit code 1, nothing made.
    pw = PASSWD + "\n"
    failures = [
        (("--mobile", "13600000002", "--nickname", "Again"), pw, "mobile 13600000002 is already registered"),
        (("--mobile", "123", "--nickname", "Short"), pw, "mobile must be 5 to 20 digits"),
        (("--mobile", "13600000003", "--nickname", "Pw"), "short\n", "password must be 6 to 128 characters"),
        (("--mobile", "13600000003", "--nickname", " "), pw, "nickname must be 1 to 32 characters"),
        (("--mobile", "13600000003"), pw, "the following arguments are required: --nickname"),
    ]
    for args, passwd, reason in failures:
        done = adduser(closed_db, *args, passwd=passwd)
        assert done.returncode == 1, (args, done.stderr)
        assert done.stderr.startswith("chatd: ") and reason in done.stderr, done.stderr
        assert done.stderr.count("\n") == 1, done.stderr

    server = ServerProcess(tmp_path, None, "--registration", "closed", database=closed_db).start()
    try:
        api = Api(AsyncHTTPClient(), server.base_url)
        root = await api.ok("/user/login", mobile="13600000001", passwd=PASSWD)
        bea = await api.ok("/user/login", mobile="13600000002", passwd=PASSWD)
        assert (await role(api, root["token"]), await role(api, bea["token"])) == ("admin", "")
        status, envelope = await try_register(api)
        assert (status, envelope["msg"]) == (403, "registration is closed; ask the server admin")
        # On a closed server nobody makes sign-up links, not even an admin: only adduser.
        for token in (bea["token"], root["token"]):
            status, envelope = await api.call("/user/signupinvite", token)
            assert (status, envelope["msg"]) == (403, "registration is closed; ask the server admin")
        assert "this server has no accounts yet" not in server.log_path.read_text()
    finally:
        server.stop()


@pytest.mark.slow
def test_adduser_help():
    done = subprocess.run(
        [sys.executable, "-m", "server", "adduser", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    for option in ("--mobile", "--nickname", "--admin", "--config", "--database"):
        assert option in done.stdout


@pytest.mark.slow
def test_first_run_message_on_an_empty_database(tmp_path):
    server = ServerProcess(tmp_path, None, "--registration", "invite").start()
    try:
        text = server.log_path.read_text()
    finally:
        server.stop()
    assert "this server has no accounts yet" in text
    assert f":{server.port}/register.html" in text
    assert "first account becomes the server admin" in text
    assert "registration = invite" in text
    for mode in ("open (", "invite (", "closed ("):
        assert mode in text
