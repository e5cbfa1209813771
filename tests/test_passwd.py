"""`chatd passwd` (issue 10, operations): a new password from the shell ends every login."""

from __future__ import annotations

from pathlib import Path

import pytest
from tornado.httpclient import AsyncHTTPClient

from tests.conftest import Api, connect, register
from tests.serverproc import ServerProcess
from tests.test_backup import chatd, one_line_error

pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_database"))
    return f"sqlite:///{tmp_path}/chatd.db"


@pytest.mark.gen_test(timeout=60)
async def test_passwd_sets_the_password_and_ends_every_login_of_the_account(tmp_path, database):
    # A short token check, so the running server's sockets notice at once.
    server = ServerProcess(tmp_path, None, "--token-check-interval", "0.2", database=database).start()
    try:
        api = Api(AsyncHTTPClient(), server.base_url)
        ann, bob = await register(api, "Ann"), await register(api, "Bob")
        phone = await api.ok("/user/login", mobile=ann.mobile, passwd="correct horse")
        a, b = await connect(server.base_url, ann), await connect(server.base_url, bob)

        done = chatd("passwd", "--database", database, "--mobile", ann.mobile, stdin="a new secret\n")
        assert done.returncode == 0, done.stderr
        assert (
            done.stdout == f"chatd: set the password of user {ann.id} (mobile {ann.mobile}); ended 2 logins\n"
        )

        # The running server closes Ann's socket as for a password change (4001: log in
        # again); Bob is untouched.
        assert await a.closed(10) == 4001
        for token in (ann.token, phone["token"]):
            status, _ = await api.call("/user/me", token)
            assert status == 401
        assert (await api.ok("/user/me", bob.token))["id"] == bob.id
        status, _ = await api.call("/user/login", mobile=ann.mobile, passwd="correct horse")
        assert status == 401
        assert (await api.ok("/user/login", mobile=ann.mobile, passwd="a new secret"))["id"] == ann.id
        b.close()
    finally:
        server.stop()

    # The same rules as registering; unknown accounts and databases are named.
    failures = [
        (("--mobile", ann.mobile), "short\n", "password must be 6 to 128 characters"),
        (("--mobile", "13000000009"), "long enough\n", "no account has mobile 13000000009"),
        (("--mobile", "12"), "long enough\n", "mobile must be 5 to 20 digits"),
        ((), "long enough\n", "the following arguments are required: --mobile"),
        (("--mobile", ann.mobile), "", "no password on stdin"),
    ]
    for args, stdin, reason in failures:
        one_line_error(chatd("passwd", "--database", database, *args, stdin=stdin), reason)
    missing = tmp_path / "nowhere" / "chatd.db"
    one_line_error(chatd("passwd", "--database", f"sqlite:///{missing}", "--mobile", ann.mobile,
                         stdin="long enough\n"), f"database {missing} does not exist")  # fmt: skip
    assert not missing.parent.exists()  # a mistyped path is not made into an empty database


def test_passwd_help_says_when_a_running_server_notices():
    done = chatd("passwd", "--help")
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    for words in ("--mobile", "--config", "--database", "must log in again", "token_check_interval"):
        assert words in text


@pytest.mark.redis
@pytest.mark.gen_test(timeout=60)
async def test_with_redis_passwd_closes_the_running_servers_sockets_at_once(tmp_path):
    # The token check is an hour away: only the published revocation can close the socket.
    redis_url = "redis://127.0.0.1:6379/0"
    database = f"sqlite:///{tmp_path}/chatd.db"
    server = ServerProcess(tmp_path, None, "--redis-url", redis_url, "--token-check-interval", "3600").start()
    try:
        api = Api(AsyncHTTPClient(), server.base_url)
        ann = await register(api, "Ann")
        a = await connect(server.base_url, ann)
        assert (await api.ok("/user/me", ann.token))["id"] == ann.id  # its token cached now
        args = ("passwd", "--database", database, "--redis-url", redis_url, "--mobile", ann.mobile)
        done = chatd(*args, stdin="a new secret\n")
        assert done.returncode == 0 and done.stdout.rstrip().endswith("running servers told"), done
        assert await a.closed(10) == 4001
        assert (await api.call("/user/me", ann.token))[0] == 401
    finally:
        server.stop()
