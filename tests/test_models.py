"""Models and queries on real SQLite files and the real PostgreSQL server."""

from __future__ import annotations

import uuid

import peewee
import pytest

from models import contacts as contact_q
from models import db
from models import messages as message_q
from models import users as user_q
from models.messages import CMD_GROUP, CMD_SINGLE, NewMessage

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _pg_available() -> bool:
    try:
        database = db.open_database(PG_URL)
        database.connect()
        database.close()
        return True
    except peewee.OperationalError:
        return False


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request, tmp_path):
    if request.param == "sqlite":
        database = db.open_database(f"sqlite:///{tmp_path}/models.db")
        db.bind(database)
        db.migrate(database)
        database.connect(reuse_if_open=True)
        yield database
        database.close()
        return
    if not _pg_available():
        pytest.fail("PostgreSQL is not running on 127.0.0.1:5432 (make test starts it)")
    # A schema of its own per test keeps runs independent on the shared database.
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = db.open_database(PG_URL)
    admin.execute_sql(f"CREATE SCHEMA {schema}")
    admin.close()
    database = peewee.PostgresqlDatabase(
        "test", host="127.0.0.1", user="postgres", options=f"-c search_path={schema}"
    )
    db.bind(database)
    db.migrate(database)
    database.connect(reuse_if_open=True)
    yield database
    database.close()
    admin = db.open_database(PG_URL)
    admin.execute_sql(f"DROP SCHEMA {schema} CASCADE")
    admin.close()


def new_message(sender: int, cmd: int, dst: int, cmid: str, content: str = "hi") -> NewMessage:
    return NewMessage(
        user_id=sender, cmd=cmd, dst_id=dst, media=1, content=content, pic="", url="", memo="",
        amount=0.0, cmid=cmid,
    )  # fmt: skip


def make_user(mobile: str, nickname: str = "U") -> int:
    return user_q.insert_user(mobile, "$argon2id$placeholder", nickname, "", "U").id


def test_sqlite_runs_in_wal_mode(database):
    if not isinstance(database, peewee.SqliteDatabase):
        pytest.skip("SQLite only")
    assert database.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert database.execute_sql("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_migrate_is_idempotent_and_keeps_data(database):
    make_user("100001")
    assert db.migrate(database) == len(db.MIGRATIONS)
    assert user_q.find_by_mobile("100001") is not None


def test_mobile_is_unique(database):
    make_user("100001")
    with pytest.raises(peewee.IntegrityError), database.atomic():
        make_user("100001")


def test_tokens_are_stored_hashed_and_several_per_user(database):
    uid = make_user("100001")
    first, second = user_q.issue_token(uid), user_q.issue_token(uid)
    assert first != second and len(first) >= 43  # 256 random bits, url-safe base64
    digests = {t.digest for t in user_q.Token.select()}
    assert first not in digests and user_q.token_digest(first) in digests
    assert user_q.user_for_token(first, 10**9) == uid
    assert user_q.revoke_token(first)
    assert user_q.user_for_token(first, 10**9) is None
    assert user_q.user_for_token(second, 10**9) == uid


def test_idle_token_expires(database):
    uid = make_user("100001")
    token = user_q.issue_token(uid)
    user_q.Token.update(usedat=db.now_ms() - 5000).execute()
    assert user_q.user_for_token(token, max_idle_ms=1000) is None
    assert user_q.Token.select().count() == 0


def test_friendship_goes_both_ways_once(database):
    ann, bob, eve = make_user("1"), make_user("2"), make_user("3")
    contact_q.insert_friendship(ann, bob)
    contact_q.insert_friendship(bob, ann)  # again, from the other side: no duplicate rows
    assert contact_q.are_friends(ann, bob) and contact_q.are_friends(bob, ann)
    assert not contact_q.are_friends(ann, eve)
    assert [f["id"] for f in contact_q.list_friends(ann)] == [bob]
    assert contact_q.Contact.select().count() == 2


def test_community_membership(database):
    ann, bob = make_user("1"), make_user("2")
    club = contact_q.insert_community(ann, "Club", "", "", 0)
    assert contact_q.is_member(ann, club.id) and not contact_q.is_member(bob, club.id)
    assert contact_q.insert_membership(bob, club.id) is True
    assert contact_q.insert_membership(bob, club.id) is False
    assert contact_q.community_ids_of(bob) == {club.id}
    assert [c["name"] for c in contact_q.list_communities(bob)] == ["Club"]


def test_sender_and_cmid_are_unique(database):
    ann, bob = make_user("1"), make_user("2")
    message_q.insert_message(new_message(ann, CMD_SINGLE, bob, "c1"), db.now_ms())
    with pytest.raises(peewee.IntegrityError), database.atomic():
        message_q.insert_message(new_message(ann, CMD_SINGLE, bob, "c1"), db.now_ms())
    # The same cmid from another sender is a different message.
    message_q.insert_message(new_message(bob, CMD_SINGLE, ann, "c1"), db.now_ms())
    assert message_q.find_by_cmids(ann, ["c1", "c2"])["c1"]["userid"] == ann


def test_since_lists_what_the_user_should_see_in_order(database):
    ann, bob, eve = make_user("1"), make_user("2"), make_user("3")
    club = contact_q.insert_community(ann, "Club", "", "", 0).id
    other = contact_q.insert_community(eve, "Other", "", "", 0).id
    contact_q.insert_membership(bob, club)
    ids = {}
    for cmid, sender, cmd, dst in [
        ("to-bob", ann, CMD_SINGLE, bob),
        ("from-bob", bob, CMD_SINGLE, ann),  # bob's own, for his other devices
        ("club", ann, CMD_GROUP, club),
        ("not-bobs-group", eve, CMD_GROUP, other),
        ("not-bobs-chat", ann, CMD_SINGLE, eve),
    ]:
        ids[cmid] = message_q.insert_message(new_message(sender, cmd, dst, cmid), db.now_ms())["id"]
    seen = message_q.list_since(bob, 0, 100)
    assert [m["cmid"] for m in seen] == ["to-bob", "from-bob", "club"]
    assert [m["cmid"] for m in message_q.list_since(bob, ids["to-bob"], 100)] == ["from-bob", "club"]
    assert [m["cmid"] for m in message_q.list_since(bob, 0, 2)] == ["to-bob", "from-bob"]


def test_conversation_history_pages_newest_first(database):
    ann, bob, eve = make_user("1"), make_user("2"), make_user("3")
    for i in range(7):
        sender, dst = (ann, bob) if i % 2 == 0 else (bob, ann)
        message_q.insert_message(new_message(sender, CMD_SINGLE, dst, f"m{i}", f"m{i}"), db.now_ms())
    message_q.insert_message(new_message(ann, CMD_SINGLE, eve, "x", "x"), db.now_ms())
    first = message_q.list_conversation(ann, CMD_SINGLE, bob, None, 3)
    assert [m["content"] for m in first] == ["m6", "m5", "m4"]
    rest = message_q.list_conversation(bob, CMD_SINGLE, ann, first[-1]["id"], 10)
    assert [m["content"] for m in rest] == ["m3", "m2", "m1", "m0"]
