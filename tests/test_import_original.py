"""`chatd import-original` (issue 12 point 3): the original server's MySQL tables, made here on
the real MariaDB at 127.0.0.1:3306, copied into chatd; its users log in with their original
passwords and find their friends and groups."""

from __future__ import annotations

import hashlib
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest
from tornado.httpclient import AsyncHTTPClient

from tests.conftest import Api
from tests.serverproc import ServerProcess, free_port
from tests.test_backup import chatd, one_line_error

pytestmark = [pytest.mark.slow, pytest.mark.mariadb]

# The original's tables as xorm made them from its models (model/user.go, contact.go,
# community.go): no indexes but the primary keys, no unique mobile.
SCHEMA = {
    "user": """CREATE TABLE `user` (
        id BIGINT(20) NOT NULL AUTO_INCREMENT PRIMARY KEY, mobile VARCHAR(20), passwd VARCHAR(40),
        avatar VARCHAR(150), sex VARCHAR(2), nickname VARCHAR(20), salt VARCHAR(10), online INT(10),
        token VARCHAR(40), memo VARCHAR(140), createat DATETIME) DEFAULT CHARSET=utf8mb4""",
    "contact": """CREATE TABLE `contact` (
        id BIGINT(20) NOT NULL AUTO_INCREMENT PRIMARY KEY, ownerid BIGINT(20), dstobj BIGINT(20),
        cate INT(11), memo VARCHAR(120), createat DATETIME) DEFAULT CHARSET=utf8mb4""",
    "community": """CREATE TABLE `community` (
        id BIGINT(20) NOT NULL AUTO_INCREMENT PRIMARY KEY, name VARCHAR(30), ownerid BIGINT(20),
        icon VARCHAR(250), cate INT(11), memo VARCHAR(120), createat DATETIME) DEFAULT CHARSET=utf8mb4""",
}
FRIEND, MEMBER = 1, 2  # contact.cate


class Original:
    """A database of the original server, filled the way its code fills it."""

    def __init__(self, name: str, tables: tuple[str, ...]) -> None:
        self.name = name
        self.url = f"mysql://root@127.0.0.1:3306/{name}"
        self.conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", autocommit=True)
        self.sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        self.conn.select_db(name)
        for table in tables:
            self.sql(SCHEMA[table])

    def sql(self, statement: str, *args: Any) -> list[tuple[Any, ...]]:
        with self.conn.cursor() as cur:
            cur.execute(statement, args)
            return list(cur.fetchall())

    def user(self, user_id: int, mobile: str, passwd: str, nickname: str, salt: str = "000417") -> None:
        # The original's register: md5(plain + salt), lowercase hex, with a 6-digit salt.
        digest = hashlib.md5((passwd + salt).encode()).hexdigest()
        self.sql(
            "INSERT INTO `user` (id, mobile, passwd, avatar, sex, nickname, salt, online, token, memo,"
            " createat) VALUES (%s, %s, %s, '/asset/images/avatar0.png', 'W', %s, %s, 0, %s, '', NOW())",
            user_id, mobile, digest, nickname, salt, uuid.uuid4().hex,
        )  # fmt: skip

    def contact(self, owner_id: int, dst_id: int, cate: int) -> None:
        self.sql(
            "INSERT INTO contact (ownerid, dstobj, cate, memo, createat) VALUES (%s, %s, %s, '', NOW())",
            owner_id, dst_id, cate,
        )  # fmt: skip

    def befriend(self, a: int, b: int) -> None:
        self.contact(a, b, FRIEND)  # the original's AddFriend: one row each way
        self.contact(b, a, FRIEND)

    def community(self, group_id: int, name: str, owner_id: int, owner_row: bool = True) -> None:
        self.sql(
            "INSERT INTO community (id, name, ownerid, icon, cate, memo, createat)"
            " VALUES (%s, %s, %s, '', 1, '', NOW())",
            group_id, name, owner_id,
        )  # fmt: skip
        if owner_row:  # CreateCommunity adds one; a group made by hand may have none
            self.contact(owner_id, group_id, MEMBER)

    def drop(self) -> None:
        self.sql(f"DROP DATABASE IF EXISTS `{self.name}`")
        self.conn.close()


@pytest.fixture
def make_original() -> Iterator[Any]:
    made: list[Original] = []

    def make(tables: tuple[str, ...] = ("user", "contact", "community")) -> Original:
        made.append(Original("chatd_orig_" + uuid.uuid4().hex[:10], tables))
        return made[-1]

    yield make
    for original in made:
        original.drop()


ANN, BOB, CAROL, DUP, ERIN = 1, 2, 3, 4, 6
FAMILY, CLUB = 1, 2
PASSWD = {ANN: "ann's original", BOB: "bob's original", CAROL: "carol's original", ERIN: "erin's original"}
MOBILE = {ANN: "13800000001", BOB: "13800000002", CAROL: "13800000003", ERIN: "13800000006"}
ZED_MOBILE = "13700000001"  # a chatd account made before the import


def fill(original: Original) -> None:
    for uid, nickname in ((ANN, "Ann"), (BOB, "Bob"), (CAROL, "Carol"), (ERIN, "Erin")):
        original.user(uid, MOBILE[uid], PASSWD[uid], nickname, salt=f"{uid:06d}")
    original.user(DUP, ZED_MOBILE, "whatever", "Dup")  # the mobile of chatd's Zed
    original.befriend(ANN, BOB)
    original.contact(CAROL, ANN, FRIEND)  # one-sided: Carol saw Ann as a friend
    original.contact(DUP, BOB, FRIEND)
    original.community(FAMILY, "family", ANN)
    original.contact(BOB, FAMILY, MEMBER)
    original.community(CLUB, "club", CAROL, owner_row=False)
    original.contact(BOB, CLUB, MEMBER)


def run_import(original: Original, database: str, *extra: str):
    return chatd("import-original", "--database", database, *extra, original.url)


def dump(path: Path) -> list[str]:
    """Every row of chatd's SQLite database, as SQL."""
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def stored_passwd(path: Path, user_id: int) -> str:
    conn = sqlite3.connect(path)
    try:
        return conn.execute('SELECT passwd FROM "user" WHERE id = ?', (user_id,)).fetchone()[0]
    finally:
        conn.close()


async def login(api: Api, mobile: str, passwd: str) -> tuple[int, dict[str, Any]]:
    return await api.call("/user/login", mobile=mobile, passwd=passwd)


async def friends_of(api: Api, token: str) -> set[int]:
    return {f["id"] for f in await api.ok("/contact/loadfriend", token)}


async def groups_of(api: Api, token: str) -> dict[str, tuple[int, str, bool]]:
    return {g["name"]: (g["id"], g["role"], g["open"]) for g in await api.ok("/contact/loadcommunity", token)}


@pytest.mark.gen_test(timeout=120)
async def test_original_users_log_in_with_their_passwords_and_find_their_friends_and_groups(
    tmp_path, make_original
):
    db_path = tmp_path / "chatd.db"
    database = f"sqlite:///{db_path}"
    original = make_original()
    fill(original)

    # chatd already has an account (id 1) and a group (id 1): those ids cannot be kept.
    server = ServerProcess(tmp_path, database=database).start()
    try:
        api = Api(AsyncHTTPClient(), server.base_url)
        zed = await api.ok("/user/register", mobile=ZED_MOBILE, passwd="zed's secret", nickname="Zed")
        await api.ok("/contact/createcommunity", zed["token"], name="zeds")
    finally:
        server.stop()

    done = run_import(original, database, "--batch", "2")  # pages of 2: every table takes several
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"chatd: imported from {original.url}"
    assert "  users:       4 imported, 0 already imported, 1 skipped" in lines
    assert "  friendships: 2 made, 0 already there, 1 skipped" in lines  # Dup's side was skipped
    assert "  groups:      2 imported (open: joinable by id), 0 already imported, 0 skipped" in lines
    assert "  memberships: 4 made (owners included), 0 already there, 0 skipped" in lines
    assert (
        "users skipped, 1: mobile already used by another chatd account (original 4: chatd 1)" in done.stdout
    )
    # Ann's id 1 is Zed's and group 1 is Zed's: new ids past both sides' largest; the rest keep theirs.
    assert "new ids for 1 groups, 1 users" in done.stdout
    assert "user 1 -> 7" in done.stdout and "group 1 -> 3" in done.stdout
    assert len(lines) <= 24  # one screen
    assert "importing: 100%" in done.stderr and "14/14" in done.stderr  # 5 + 2 + 7 rows
    ann_id, family_id = 7, 3

    server = ServerProcess(tmp_path, database=database).start()
    try:
        api = Api(AsyncHTTPClient(), server.base_url)
        # Each logs in with the password they had on the original server.
        assert stored_passwd(db_path, ann_id).startswith("md5$")
        status, ann = await login(api, MOBILE[ANN], PASSWD[ANN])
        assert status == 200 and ann["code"] == 0, ann
        ann = ann["data"]
        assert (ann["id"], ann["nickname"]) == (ann_id, "Ann")
        # That first login replaced the MD5 form: it is gone for good.
        assert stored_passwd(db_path, ann_id).startswith("$argon2id$")
        assert "md5" not in stored_passwd(db_path, ann_id)
        assert (await api.ok("/user/me", ann["token"]))["id"] == ann_id  # the new token works

        # A wrong password against an imported row fails and leaves the row as it was.
        bob_before = stored_passwd(db_path, BOB)
        assert bob_before.startswith("md5$000002$")
        status, _ = await login(api, MOBILE[BOB], "not bob's password")
        assert status == 401
        assert stored_passwd(db_path, BOB) == bob_before
        bob = await api.ok("/user/login", mobile=MOBILE[BOB], passwd=PASSWD[BOB])
        carol = await api.ok("/user/login", mobile=MOBILE[CAROL], passwd=PASSWD[CAROL])
        assert (bob["id"], carol["id"]) == (BOB, CAROL)  # original ids kept

        # Friends: both ways, the one-sided row (Carol -> Ann) too; Dup was never imported.
        assert await friends_of(api, ann["token"]) == {BOB, CAROL}
        assert await friends_of(api, bob["token"]) == {ann_id}
        assert await friends_of(api, carol["token"]) == {ann_id}
        # Groups: the owners own them (Carol had no contact row), and both are open.
        assert await groups_of(api, bob["token"]) == {
            "family": (family_id, "member", True),
            "club": (CLUB, "member", True),
        }
        assert await groups_of(api, ann["token"]) == {"family": (family_id, "owner", True)}
        assert await groups_of(api, carol["token"]) == {"club": (CLUB, "owner", True)}
        # The original client joins groups by number: an open group takes anyone.
        await api.ok("/contact/joincommunity", zed["token"], dstid=CLUB)
        assert "club" in await groups_of(api, zed["token"])

        # A new account after the import gets an id no imported user holds.
        newcomer = await api.ok("/user/register", mobile="13900000099", passwd="long enough", nickname="New")
        assert newcomer["id"] == ann_id + 1

        # A password change replaces the imported form (the old password checked against it).
        await api.ok("/user/passwd", carol["token"], oldpasswd=PASSWD[CAROL], newpasswd="carol's new one")
        assert stored_passwd(db_path, CAROL).startswith("$argon2id$")
        assert (await login(api, MOBILE[CAROL], PASSWD[CAROL]))[0] == 401
        assert (await api.ok("/user/login", mobile=MOBILE[CAROL], passwd="carol's new one"))["id"] == CAROL
        # So does `chatd passwd` on an account that never logged in.
        set_erin = chatd("passwd", "--database", database, "--mobile", MOBILE[ERIN], stdin="erin's new one\n")
        assert set_erin.returncode == 0, set_erin.stderr
        assert stored_passwd(db_path, ERIN).startswith("$argon2id$")
        assert (await login(api, MOBILE[ERIN], PASSWD[ERIN]))[0] == 401
        assert (await api.ok("/user/login", mobile=MOBILE[ERIN], passwd="erin's new one"))["id"] == ERIN

        # Running it again imports nothing and changes nothing: not Ann's new hash, not the
        # membership Zed took, not the friendships.
        before = [line for line in dump(db_path) if not line.startswith('INSERT INTO "token"')]
        again = run_import(original, database)
        assert again.returncode == 0, again.stderr
        assert "  users:       0 imported, 4 already imported, 1 skipped" in again.stdout
        assert "  friendships: 0 made, 2 already there, 1 skipped" in again.stdout
        assert (
            "  groups:      0 imported (open: joinable by id), 2 already imported, 0 skipped" in again.stdout
        )
        assert "  memberships: 0 made (owners included), 4 already there, 0 skipped" in again.stdout
        assert "  nothing new to import" in again.stdout
        assert [line for line in dump(db_path) if not line.startswith('INSERT INTO "token"')] == before
    finally:
        server.stop()


def test_bad_input_exits_with_one_line_and_leaves_chatds_database_as_it_was(tmp_path, make_original):
    db_path = tmp_path / "chatd.db"
    database = f"sqlite:///{db_path}"
    made = chatd("adduser", "--database", database, "--mobile", ZED_MOBILE, "--nickname", "Zed",
                 stdin="zed's secret\n")  # fmt: skip
    assert made.returncode == 0, made.stderr
    before = dump(db_path)
    no_community = make_original(("user", "contact"))
    no_community.user(ANN, MOBILE[ANN], PASSWD[ANN], "Ann")
    cases = [
        ("postgres://root@127.0.0.1/x", "bad URL", "give mysql://user:pass@host[:port]/db"),
        ("mysql://root@127.0.0.1/", "bad URL"),
        ("mysql://root:hunter2@127.0.0.1:99999/x", "bad URL", "root:***@"),
        (f"mysql://root@127.0.0.1:{free_port()}/x", "cannot read", "Can't connect"),
        (f"mysql://root@127.0.0.1:3306/chatd_orig_none_{uuid.uuid4().hex[:8]}", "Unknown database"),
        (no_community.url, "community", "doesn't exist"),
    ]
    for url, *fragments in cases:
        done = chatd("import-original", "--database", database, url)
        one_line_error(done, *fragments)
        assert "hunter2" not in done.stderr  # a password in the URL is never shown
        assert dump(db_path) == before
    # Nor is a database made where there was none.
    fresh = tmp_path / "fresh" / "chatd.db"
    one_line_error(
        chatd("import-original", "--database", f"sqlite:///{fresh}", no_community.url), "community"
    )
    assert not fresh.parent.exists()


@pytest.mark.postgres
@pytest.mark.gen_test(timeout=120)
async def test_import_into_postgresql(tmp_path, make_original, pg_database):
    original = make_original()
    fill(original)
    done = run_import(original, pg_database)
    assert done.returncode == 0, done.stderr
    assert "  users:       5 imported, 0 already imported, 0 skipped" in done.stdout  # no Zed here
    assert "every user and group imported kept its original id" in done.stdout
    server = ServerProcess(tmp_path, database=pg_database).start()
    try:
        api = Api(AsyncHTTPClient(), server.base_url)
        ann = await api.ok("/user/login", mobile=MOBILE[ANN], passwd=PASSWD[ANN])
        assert ann["id"] == ANN
        assert await friends_of(api, ann["token"]) == {BOB, CAROL}
        assert await groups_of(api, ann["token"]) == {"family": (FAMILY, "owner", True)}
        # The id sequences moved past the imported ids.
        newcomer = await api.ok("/user/register", mobile="13900000098", passwd="long enough", nickname="New")
        assert newcomer["id"] == ERIN + 1
        group = await api.ok("/contact/createcommunity", newcomer["token"], name="new")
        assert group["id"] == CLUB + 1
    finally:
        server.stop()
    assert "nothing new to import" in run_import(original, pg_database).stdout
