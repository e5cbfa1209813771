"""Seed chatd databases for the benchmark, directly, with chatd's own models: SQLite files
and PostgreSQL databases, the same rows in each.

Registering over HTTP hashes every password (argon2, by design slow), so thousands of
users would take minutes. This writes the same rows the services would, in a few
transactions, with one precomputed password hash for everybody:

- users 1..U (mobile 1390000NNNN) with one login token each;
- friendships (1, 2), (3, 4), ... up to user ``--pairs * 2``: a FRIEND row each way, what
  an accepted friend request leaves (``server/services/friends.py:_make_friends``);
- group 1 ("bench") owned by user 1, members 1..``--group`` (MEMBER rows, the owner's
  with ROLE_OWNER, ``joinid`` 0: members from the start);
- with ``--messages M --from A --to B``: M stored 1:1 messages A -> B (A and B become
  friends), for the replay scenario.

``--db`` may be given several times (a SQLite path, or a ``postgresql://`` URL of an
existing, empty or already seeded database): the rows are built once (one password hash,
one set of tokens, one timestamp) and written into each, so every copy has the same ids
and tokens. The chat's identity row (``models/meta.py``) is left out: each copy made
from a seeded database becomes a chat of its own when chatd starts on it (on Redis its
keys and channels are named after it, so runs never see each other's).

Run it in its own process, before the server starts; it prints JSON
``{"tokens": {user id: token}, "max_id": last message id}`` (tokens only with ``--tokens``).

    python bench/seed.py --db /tmp/x/chat.db --users 10000 --pairs 500 --group 500 --tokens out.json
    python bench/seed.py --db /tmp/x/chat.db --db postgresql://postgres@127.0.0.1/seed --users 2000
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import peewee  # noqa: E402
from argon2 import PasswordHasher  # noqa: E402

from models import db as db_mod  # noqa: E402
from models.contacts import FRIEND, MEMBER, ROLE_MEMBER, ROLE_OWNER, Community, Contact  # noqa: E402
from models.messages import CMD_SINGLE, Message  # noqa: E402
from models.meta import CHAT_UID, ChatMeta  # noqa: E402
from models.users import Token, User, token_digest  # noqa: E402

CHUNK = 500  # rows per INSERT: under SQLite's bound-parameter limit for these tables
Rows = list[tuple[type[db_mod.BaseModel], list[dict[str, object]]]]


def insert_chunked(model: type[db_mod.BaseModel], rows: list[dict[str, object]]) -> None:
    for start in range(0, len(rows), CHUNK):
        model.insert_many(rows[start : start + CHUNK]).execute()


def friendship_rows(a: int, b: int, now: int) -> list[dict[str, object]]:
    return [
        {"owner_id": a, "dst_id": b, "cate": FRIEND, "createat": now},
        {"owner_id": b, "dst_id": a, "cate": FRIEND, "createat": now},
    ]


def base_rows(users: int, pairs: int, group: int, now: int) -> tuple[Rows, dict[int, str]]:
    passwd = PasswordHasher().hash("bench-password-not-used")
    user_rows: list[dict[str, object]] = [
        {"id": i, "mobile": f"139{i:08d}", "passwd": passwd, "nickname": f"bench{i}", "createat": now}
        for i in range(1, users + 1)
    ]
    tokens = {i: secrets.token_urlsafe(32) for i in range(1, users + 1)}
    token_rows: list[dict[str, object]] = [
        {"user": i, "digest": token_digest(t), "createat": now, "usedat": now} for i, t in tokens.items()
    ]
    contacts: list[dict[str, object]] = []
    for k in range(pairs):
        contacts += friendship_rows(2 * k + 1, 2 * k + 2, now)
    communities: list[dict[str, object]] = []
    if group:
        communities.append({"id": 1, "name": "bench", "owner_id": 1, "createat": now})
        contacts += [
            {
                "owner_id": i,
                "dst_id": 1,
                "cate": MEMBER,
                "createat": now,
                "role": ROLE_OWNER if i == 1 else ROLE_MEMBER,
            }
            for i in range(1, group + 1)
        ]
    return [(User, user_rows), (Token, token_rows), (Community, communities), (Contact, contacts)], tokens


def message_rows(count: int, src: int, dst: int, now: int) -> list[dict[str, object]]:
    t = time.monotonic_ns()  # the content format the load generator reads; latency is not taken
    return [
        {
            "user_id": src,
            "cmd": CMD_SINGLE,
            "dst_id": dst,
            "media": 1,
            "content": f"t={t} s={i} replayed",
            "cmid": f"seed-{i}",
            "createat": now,
        }
        for i in range(count)
    ]


def write(database: peewee.Database, rows: Rows, msgs: list[dict[str, object]], src: int, dst: int) -> int:
    """Insert the rows into one database (migrated first); the highest message id after."""
    db_mod.bind(database)
    db_mod.migrate(database)
    with database.connection_context(), database.atomic():
        ChatMeta.delete().where(ChatMeta.key == CHAT_UID).execute()  # each copy: a chat of its own
        for model, chunk in rows:
            insert_chunked(model, chunk)
        if msgs:
            if not Contact.select().where((Contact.owner_id == src) & (Contact.dst_id == dst)).exists():
                insert_chunked(Contact, friendship_rows(src, dst, db_mod.now_ms()))
            insert_chunked(Message, msgs)
        if isinstance(database, peewee.PostgresqlDatabase):
            # Explicit ids leave the serial sequences behind: move them past the rows, so a
            # user registered or a group created during a run gets a free id.
            for table in ("user", "community"):
                database.execute_sql(
                    f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                    f'GREATEST((SELECT MAX(id) FROM "{table}"), 1))'
                )
        top = int(Message.select(Message.id).order_by(Message.id.desc()).scalar() or 0)
    if isinstance(database, peewee.SqliteDatabase):
        database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    database.close()
    return top


def open_target(spec: str) -> peewee.Database:
    if spec.startswith(("postgresql://", "postgres://")):
        database = db_mod.open_database(spec)
        # A seed that is lost with a crash is simply made again: no flush per commit.
        database.connect_params["options"] = "-c synchronous_commit=off"
        return database
    return db_mod.open_database(f"sqlite:///{spec}", synchronous="off")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--db", required=True, action="append", help="SQLite file or postgresql:// URL (repeatable)"
    )
    parser.add_argument("--users", type=int, default=0)
    parser.add_argument("--pairs", type=int, default=0, help="friend pairs (1,2), (3,4), ...")
    parser.add_argument("--group", type=int, default=0, help="members of group 1: users 1..N")
    parser.add_argument("--messages", type=int, default=0)
    parser.add_argument("--from", dest="src", type=int, default=0)
    parser.add_argument("--to", dest="dst", type=int, default=0)
    parser.add_argument("--tokens", type=Path, help="write {user id: token} here as JSON")
    args = parser.parse_args()
    now = db_mod.now_ms()
    rows: Rows = []
    if args.users:
        rows, tokens = base_rows(args.users, args.pairs, args.group, now)
        if args.tokens:
            args.tokens.write_text(json.dumps(tokens))
    msgs = message_rows(args.messages, args.src, args.dst, now) if args.messages else []
    tops = {spec: write(open_target(spec), rows, msgs, args.src, args.dst) for spec in args.db}
    if len(set(tops.values())) > 1:
        print(f"seed: the databases ended with different message ids: {tops}", file=sys.stderr)
        return 1
    out: dict[str, object] = {"max_id": next(iter(tops.values()))} if args.messages else {}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
