"""Seed a chatd SQLite database for the benchmark, directly, with chatd's own models.

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

Run it in its own process, before the server starts; it prints JSON
``{"tokens": {user id: token}, "max_id": last message id}`` (tokens only with ``--tokens``).

    python bench/seed.py --db /tmp/x/chat.db --users 10000 --pairs 500 --group 500 --tokens out.json
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

from argon2 import PasswordHasher  # noqa: E402

from models import db as db_mod  # noqa: E402
from models.contacts import FRIEND, MEMBER, ROLE_MEMBER, ROLE_OWNER, Community, Contact  # noqa: E402
from models.messages import CMD_SINGLE, Message  # noqa: E402
from models.users import Token, User, token_digest  # noqa: E402

CHUNK = 500  # rows per INSERT: under SQLite's bound-parameter limit for these tables


def insert_chunked(model: type[db_mod.BaseModel], rows: list[dict[str, object]]) -> None:
    for start in range(0, len(rows), CHUNK):
        model.insert_many(rows[start : start + CHUNK]).execute()


def friendship_rows(a: int, b: int, now: int) -> list[dict[str, object]]:
    return [
        {"owner_id": a, "dst_id": b, "cate": FRIEND, "createat": now},
        {"owner_id": b, "dst_id": a, "cate": FRIEND, "createat": now},
    ]


def seed_base(users: int, pairs: int, group: int) -> dict[int, str]:
    now = db_mod.now_ms()
    passwd = PasswordHasher().hash("bench-password-not-used")
    insert_chunked(
        User,
        [
            {"id": i, "mobile": f"139{i:08d}", "passwd": passwd, "nickname": f"bench{i}", "createat": now}
            for i in range(1, users + 1)
        ],
    )
    tokens = {i: secrets.token_urlsafe(32) for i in range(1, users + 1)}
    insert_chunked(
        Token,
        [{"user": i, "digest": token_digest(t), "createat": now, "usedat": now} for i, t in tokens.items()],
    )
    contacts: list[dict[str, object]] = []
    for k in range(pairs):
        contacts += friendship_rows(2 * k + 1, 2 * k + 2, now)
    if group:
        Community.create(id=1, name="bench", owner_id=1, createat=now)
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
    insert_chunked(Contact, contacts)
    return tokens


def seed_messages(count: int, src: int, dst: int) -> int:
    now = db_mod.now_ms()
    if not Contact.select().where((Contact.owner_id == src) & (Contact.dst_id == dst)).exists():
        insert_chunked(Contact, friendship_rows(src, dst, now))
    t = time.monotonic_ns()  # the content format the load generator reads; latency is not taken
    insert_chunked(
        Message,
        [
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
        ],
    )
    return int(Message.select(Message.id).order_by(Message.id.desc()).scalar() or 0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, type=Path, help="SQLite file (created, or added to)")
    parser.add_argument("--users", type=int, default=0)
    parser.add_argument("--pairs", type=int, default=0, help="friend pairs (1,2), (3,4), ...")
    parser.add_argument("--group", type=int, default=0, help="members of group 1: users 1..N")
    parser.add_argument("--messages", type=int, default=0)
    parser.add_argument("--from", dest="src", type=int, default=0)
    parser.add_argument("--to", dest="dst", type=int, default=0)
    parser.add_argument("--tokens", type=Path, help="write {user id: token} here as JSON")
    args = parser.parse_args()
    database = db_mod.open_database(f"sqlite:///{args.db}", synchronous="off")
    db_mod.bind(database)
    db_mod.migrate(database)
    out: dict[str, object] = {}
    with database.connection_context(), database.atomic():
        if args.users:
            tokens = seed_base(args.users, args.pairs, args.group)
            if args.tokens:
                args.tokens.write_text(json.dumps(tokens))
        if args.messages:
            out["max_id"] = seed_messages(args.messages, args.src, args.dst)
    database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    database.close()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
