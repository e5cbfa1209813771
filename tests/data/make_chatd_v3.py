"""Makes the database of tests/data/chatd-v3*.sql with the previous release's own code.

Run it from a checkout of that release (commit 2cfc1aa, schema version 3), e.g.
    git worktree add /tmp/prev 2cfc1aa
    cd /tmp/prev && /path/to/venv/bin/python /path/to/tests/data/make_chatd_v3.py sqlite:////tmp/v3.db
then dump it (see tests/data/README.md). Everyone's password is "correct horse".
"""

import os
import sys

sys.path.insert(0, os.getcwd())  # the release checkout, not wherever this file is

from argon2 import PasswordHasher

from models import contacts, db, messages, reads, users

PASSWD = "correct horse"


def main(url: str) -> None:
    database = db.open_database(url)
    db.bind(database)
    assert db.migrate(database) == 3, "run this with the previous release's code (schema 3)"
    passwd_hash = PasswordHasher().hash(PASSWD)
    t = 1_780_000_000_000  # fixed times keep the dump stable
    with database.atomic():
        people = {}
        for n, (mobile, nick) in enumerate(
            [
                ("13800000001", "alice"),
                ("13800000002", "bob"),
                ("13800000003", "carol"),
                ("13800000004", "dave"),
            ]
        ):
            people[nick] = users.User.create(
                mobile=mobile, passwd=passwd_hash, nickname=nick, createat=t + n
            ).id
            users.issue_token(people[nick])
        a, b, c, d = (people[k] for k in ("alice", "bob", "carol", "dave"))
        contacts.insert_friendship(a, b)
        contacts.insert_friendship(b, c)
        family = contacts.insert_community(a, "family", "", "", 0).id
        contacts.insert_membership(b, family)
        contacts.insert_membership(c, family)
        work = contacts.insert_community(b, "work", "", "", 0).id
        contacts.insert_membership(d, work)
        said = [
            (a, messages.CMD_SINGLE, b, "hi bob"),
            (b, messages.CMD_SINGLE, a, "hi alice"),
            (a, messages.CMD_GROUP, family, "family dinner at 7"),
            (c, messages.CMD_GROUP, family, "I'll bring cake"),
            (b, messages.CMD_GROUP, work, "standup moved"),
            (d, messages.CMD_GROUP, work, "ok"),
        ]
        for i, (sender, cmd, dst, text) in enumerate(said):
            new = messages.NewMessage(
                user_id=sender, cmd=cmd, dst_id=dst, media=1, content=text,
                pic="", url="", memo="", amount=0, cmid=f"v3-{i}",
            )  # fmt: skip
            messages.insert_message(new, t + 1000 + i)
        reads.mark_read(b, messages.CMD_SINGLE, a, 1)


if __name__ == "__main__":
    main(sys.argv[1])
