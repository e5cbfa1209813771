"""Issue 8 point 8: a database made by the previous release (schema 3, tests/data/chatd-v3*.sql)
keeps working after the consent migration, on SQLite and on PostgreSQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from models import contacts, db, meta
from models.contacts import Contact
from models.users import Token, User
from server.settings import Settings
from tests.conftest import Account, Api, assert_next_is_sentinel, connect

DATA = Path(__file__).resolve().parent / "data"
PASSWD = "correct horse"  # everyone's, in the dump
ALICE, BOB, CAROL, DAVE = 1, 2, 3, 4
FAMILY, WORK = 1, 2  # family: made by alice, with bob and carol; work: made by bob, with dave


def load_sqlite(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        conn.executescript((DATA / "chatd-v3.sql").read_text())
    conn.close()
    return f"sqlite:///{path}"


def load_postgres(url: str) -> str:
    import psycopg2

    # pg_dump's psql meta-commands (\restrict) are not SQL.
    script = "\n".join(
        line for line in (DATA / "chatd-v3.pg.sql").read_text().splitlines() if not line.startswith("\\")
    )
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(script)
    finally:
        conn.close()
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def v3_url(request, tmp_path) -> str:
    if request.param == "postgres":
        url = load_postgres(request.getfixturevalue("pg_database"))
    else:
        url = load_sqlite(tmp_path / "chatd-v3.db")
    database = db.open_database(url)
    version = database.execute_sql("SELECT version FROM schema_version").fetchone()[0]
    database.close()
    assert version == 3  # what the previous release left
    return url


@pytest.fixture
def settings(tmp_path, v3_url) -> Settings:
    # make_app opens the database and runs today's db.migrate on it.
    return Settings.for_tests(database=v3_url, upload_dir=tmp_path / "up", ping_interval=0)


def snapshot() -> dict[str, Any]:
    """The migrated tables, as the tests below compare them."""
    members = Contact.select().where(Contact.cate == contacts.MEMBER)
    return {
        "version": db.SchemaVersion.select().first().version,
        "friends": sorted(
            (c.owner_id, c.dst_id) for c in Contact.select().where(Contact.cate == contacts.FRIEND)
        ),
        "members": sorted((c.dst_id, c.owner_id, c.role, c.joinid, c.leftid) for c in members),
        "users": [
            (u.id, u.role, u.disabled, u.findable, u.show_presence, u.send_receipts)
            for u in User.select().order_by(User.id)
        ],
        "tokens": Token.select().count(),
        "groups": [
            (g.id, g.is_open, g.history) for g in contacts.Community.select().order_by(contacts.Community.id)
        ],
    }


@pytest.mark.gen_test(timeout=60)
async def test_previous_release_database_is_migrated_keeping_everything(ctx):
    state = await ctx.pools.db(snapshot)
    assert state["version"] == len(db.MIGRATIONS) == 12
    # Version 5 gave the chat an identity its processes share (their Redis names).
    assert len(ctx.chat_uid) == 16 and ctx.chat_uid == await ctx.pools.db(meta.chat_uid)
    assert state["friends"] == [(ALICE, BOB), (BOB, ALICE), (BOB, CAROL), (CAROL, BOB)]
    owner, member = contacts.ROLE_OWNER, contacts.ROLE_MEMBER
    assert state["members"] == [
        (FAMILY, ALICE, owner, 0, 0),
        (FAMILY, BOB, member, 0, 0),
        (FAMILY, CAROL, member, 0, 0),
        (WORK, BOB, owner, 0, 0),
        (WORK, DAVE, member, 0, 0),
    ]  # current members (leftid 0) who see the whole history (joinid 0); creators own
    # Presence shown and read receipts sent, as before they could be turned off.
    assert state["users"] == [(ALICE, "admin", False, True, True, True)] + [
        (u, "", False, True, True, True) for u in (BOB, CAROL, DAVE)
    ]
    assert state["tokens"] == 4
    assert state["groups"] == [(FAMILY, False, "joined"), (WORK, False, "joined")]


async def login(api: Api, user_id: int) -> Account:
    mobile = f"1380000000{user_id}"
    data = await api.ok("/user/login", mobile=mobile, passwd=PASSWD)
    assert data["id"] == user_id
    return Account(id=user_id, token=data["token"], mobile=mobile, nickname=data["nickname"])


@pytest.mark.gen_test(timeout=60)
async def test_previous_release_users_read_and_send_as_before(api, base_url):
    alice, bob, carol = [await login(api, user_id) for user_id in (ALICE, BOB, CAROL)]
    assert (await api.ok("/user/me", alice.token))["role"] == "admin"
    assert sorted(f["id"] for f in await api.ok("/contact/loadfriend", bob.token)) == [ALICE, CAROL]
    groups = await api.ok("/contact/loadcommunity", bob.token)
    assert sorted(g["id"] for g in groups) == [FAMILY, WORK]
    history = await api.ok("/message/history", carol.token, cmd=11, dstid=FAMILY)
    assert sorted(m["content"] for m in history) == ["I'll bring cake", "family dinner at 7"]
    history = await api.ok("/message/history", bob.token, cmd=10, dstid=ALICE)
    assert sorted(m["content"] for m in history) == ["hi alice", "hi bob"]

    a, b, c = [await connect(base_url, who) for who in (alice, bob, carol)]
    await c.send(cmd=11, dstid=FAMILY, media=1, content="still here")
    assert (await c.next_frame())["cmd"] == 12
    for member in (a, b):
        got = await member.next_message()
        assert (got["content"], got["userid"]) == ("still here", CAROL)
    await a.send(cmd=10, dstid=BOB, media=1, content="and 1:1 too")
    assert (await a.next_frame())["cmd"] == 12
    assert (await b.next_message())["content"] == "and 1:1 too"
    await assert_next_is_sentinel(a, b, c, sender=c, dstid=FAMILY, cmd=11)
    for sock in (a, b, c):
        sock.close()


@pytest.mark.gen_test(timeout=60)
async def test_previous_release_messages_are_found_by_search(api, base_url):
    """The search migration indexes the messages already stored; new ones join them."""
    carol, dave = await login(api, CAROL), await login(api, DAVE)
    hits = await api.ok("/message/search", carol.token, q="dinner")
    assert [(h["message"]["id"], h["snippet"]) for h in hits] == [(3, "family dinner at 7")]
    assert await api.ok("/message/search", dave.token, q="dinner") == []  # not in that group
    assert [h["message"]["content"] for h in await api.ok("/message/search", dave.token, q="ok")] == ["ok"]
    c = await connect(base_url, carol)
    await c.send(cmd=11, dstid=FAMILY, media=1, content="dinner moved to 8")
    assert (await c.next_frame())["cmd"] == 12
    hits = await api.ok("/message/search", carol.token, q="dinner")
    assert sorted(h["message"]["content"] for h in hits) == ["dinner moved to 8", "family dinner at 7"]
    c.close()
