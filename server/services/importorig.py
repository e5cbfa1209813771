"""`chatd import-original`: copy the original server's users, friendships, groups and
memberships into chatd's database, a page at a time, one transaction per page.

Idempotent: every original user, group and contact row handled is remembered in
original_id (models/imports.py) in the same transaction as its rows, so a second run (or a
run after an interrupted one) skips what is done and changes nothing a user changed since.
Only the users it made take part in what it makes: an original user whose mobile a chatd
account already has is skipped, not merged into that account."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import peewee

from models import contacts as contact_q
from models import groups as group_q
from models import imports as import_q
from models import users as user_q
from models.contacts import REQUEST, ROLE_MEMBER
from models.db import now_ms
from models.original import OrigCommunity, OrigContact, OriginalDb, OrigUser
from server.errors import ClientError
from server.services import accounts
from server.textcheck import has_invisible

FRIEND, MEMBER = 1, 2  # the original's contact.cate
GROUP_NAME_MAX = 64
TEXT_MAX = 512
EXAMPLES = 3  # ids shown per reason in the summary, so it stays one screen
_MD5_HEX = re.compile(r"^[0-9a-f]{32}$")


@dataclass
class Tally:
    """What became of one kind of row."""

    made: int = 0
    already: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def skip(self, reason: str, example: str) -> None:
        self.skipped[reason] += 1
        shown = self.examples.setdefault(reason, [])
        if len(shown) < EXAMPLES:
            shown.append(example)


@dataclass
class Summary:
    source: str
    users: Tally = field(default_factory=Tally)
    friendships: Tally = field(default_factory=Tally)
    groups: Tally = field(default_factory=Tally)
    memberships: Tally = field(default_factory=Tally)
    renumbered: Counter[str] = field(default_factory=Counter)  # "user"/"group" -> how many
    renumbered_examples: list[str] = field(default_factory=list)
    nicknames_replaced: int = 0
    group_names_replaced: int = 0
    unusable_passwords: int = 0
    has_admin: bool = True

    def lines(self) -> list[str]:
        """The summary printed at the end (a screen at most)."""
        rows = [
            ("users", self.users, "imported", "already imported"),
            ("friendships", self.friendships, "made", "already there"),
            ("groups", self.groups, "imported (open: joinable by id)", "already imported"),
            ("memberships", self.memberships, "made (owners included)", "already there"),
        ]
        out = [f"chatd: imported from {self.source}"]
        for name, tally, made, already in rows:
            out.append(f"  {name + ':':13}{tally.made} {made}, {tally.already} {already}, "
                       f"{sum(tally.skipped.values())} skipped")  # fmt: skip
        for name, tally, _, _ in rows:
            for reason, n in tally.skipped.most_common():
                out.append(f"    {name} skipped, {n}: {reason} ({', '.join(tally.examples[reason])})")
        if self.renumbered:
            moved = ", ".join(f"{n} {kind}s" for kind, n in sorted(self.renumbered.items()))
            out.append(f"  new ids for {moved} whose original id chatd already used ("
                       f"{', '.join(self.renumbered_examples)}; all in table original_id)")  # fmt: skip
        elif self.users.made or self.groups.made:
            out.append("  every user and group imported kept its original id")
        if self.nicknames_replaced or self.group_names_replaced:
            out.append(f"  named anew (empty, too long or with invisible characters): "
                       f"{self.nicknames_replaced} users, {self.group_names_replaced} groups")  # fmt: skip
        if self.unusable_passwords:
            out.append(f"  {self.unusable_passwords} users have no usable original password: "
                       "set one with chatd passwd")  # fmt: skip
        if not any(t.made for t in (self.users, self.friendships, self.groups, self.memberships)):
            out.append("  nothing new to import")
        if not self.has_admin:
            out.append("  chatd has no server admin yet: add one with chatd adduser --admin")
        return out


def _pair(a: int, b: int) -> int:
    """One int per unordered pair of user ids (ids fit in 32 bits), for the sets seen."""
    low, high = sorted((a, b))
    return low << 32 | high


def _membership(user_id: int, group_id: int) -> int:
    return user_id << 32 | group_id


class Importer:
    """One run. Pairs and memberships seen are kept as ints, so reverse and duplicate
    contact rows count once (about 70 bytes each: 1M friendships take some 70 MB)."""

    def __init__(
        self, source: OriginalDb, database: peewee.Database, batch: int, advance: Callable[[int], None]
    ) -> None:
        self.source, self.database, self.batch, self.advance = source, database, batch, advance
        self.summary = Summary(source.source.label())
        self.seen_friends: set[int] = set()
        self.seen_members: set[int] = set()
        self.next_id: dict[str, int] = {}  # "user"/"group": the next id to give a renumbered row

    def run(self) -> Summary:
        with self.database.connection_context():
            self._pages(self.source.users, self._users)
            self._pages(self.source.communities, self._groups)
            self._pages(self.source.contacts, self._contacts)
            self.summary.has_admin = import_q.has_admin()
        return self.summary

    def _pages(self, read: Callable[[int, int], list], handle: Callable[[list], None]) -> None:
        after = 0
        while page := read(after, self.batch):
            with self.database.atomic():  # one page = one transaction, its ids remembered in it
                handle(page)
                import_q.catch_up_sequences()
            after = page[-1].id
            self.advance(len(page))

    def _free_id(self, kind: str, wanted: int, free: Callable[[int], bool]) -> int:
        """The original id when chatd has no row with it, else the next unused one past
        every id of either side (so a later original id never finds its place taken)."""
        if wanted > 0 and free(wanted):
            return wanted
        if kind not in self.next_id:
            mine = import_q.max_user_id() if kind == "user" else import_q.max_community_id()
            theirs = self.source.max_id("user" if kind == "user" else "community")
            self.next_id[kind] = max(mine, theirs) + 1
        chosen = self.next_id[kind]
        while not free(chosen):
            chosen += 1
        self.next_id[kind] = chosen + 1
        self.summary.renumbered[kind] += 1
        if len(self.summary.renumbered_examples) < EXAMPLES:
            self.summary.renumbered_examples.append(f"{kind} {wanted} -> {chosen}")
        return chosen

    # --- users ---

    def _users(self, page: list[OrigUser]) -> None:
        user_q.lock_accounts()  # as a registration does
        known = import_q.mapped(import_q.USER, (u.id for u in page))
        for user in page:
            if user.id in known:
                self.summary.users.already += 1
            else:
                self._user(user)

    def _user(self, user: OrigUser) -> None:
        tally, mobile = self.summary.users, user.mobile.strip()
        if not accounts.MOBILE.match(mobile):
            tally.skip("mobile is not 5 to 20 digits, as chatd needs", f"original {user.id}")
            return
        holder = import_q.user_with_mobile(mobile)
        if holder is not None:
            tally.skip("mobile already used by another chatd account", f"original {user.id}: chatd {holder}")
            return
        try:
            nickname = accounts.check_nickname(user.nickname)
        except ClientError:
            nickname = f"user{user.id}"  # never the mobile: others do not see it
            self.summary.nicknames_replaced += 1
        digest = user.passwd.strip().lower()
        if not _MD5_HEX.match(digest):
            self.summary.unusable_passwords += 1
        user_id = self._free_id("user", user.id, import_q.user_id_free)
        sex = user.sex if user.sex in accounts.SEXES else "U"
        try:
            with self.database.atomic():  # a savepoint: a clash leaves the page's transaction usable
                import_q.insert_user(
                    user_id, mobile, accounts.legacy_hash(user.salt, digest), nickname,
                    user.avatar[:TEXT_MAX], sex, user.memo[:TEXT_MAX], user.createat or now_ms(),
                )  # fmt: skip
        except peewee.IntegrityError:  # registered meanwhile by a running server
            tally.skip("mobile already used by another chatd account", f"original {user.id}")
            return
        import_q.remember(import_q.USER, user.id, user_id)
        tally.made += 1

    # --- groups ---

    def _groups(self, page: list[OrigCommunity]) -> None:
        known = import_q.mapped(import_q.GROUP, (c.id for c in page))
        owners = import_q.mapped(import_q.USER, (c.owner_id for c in page))
        for group in page:
            if group.id in known:
                self.summary.groups.already += 1
                if group.owner_id in owners:  # its owner's membership, counted as on the first run
                    self.summary.memberships.already += 1
                    self.seen_members.add(_membership(owners[group.owner_id], known[group.id]))
            elif group.owner_id not in owners:
                self.summary.groups.skip("its owner was not imported", f"group {group.id}")
            else:
                self._group(group, owners[group.owner_id])

    def _group(self, group: OrigCommunity, owner_id: int) -> None:
        name = group.name.strip()
        if not 1 <= len(name) <= GROUP_NAME_MAX or has_invisible(name):
            name = f"group {group.id}"
            self.summary.group_names_replaced += 1
        group_id = self._free_id("group", group.id, import_q.community_id_free)
        import_q.insert_open_group(
            group_id, owner_id, name, group.icon[:TEXT_MAX], group.memo[:TEXT_MAX], group.cate,
            group.createat or now_ms(),
        )  # fmt: skip
        import_q.remember(import_q.GROUP, group.id, group_id)
        self.summary.groups.made += 1
        self.summary.memberships.made += 1  # the owner, with or without a contact row
        self.seen_members.add(_membership(owner_id, group_id))

    # --- contacts: friendships and memberships ---

    def _contacts(self, page: list[OrigContact]) -> None:
        done = import_q.mapped(import_q.CONTACT, (c.id for c in page))
        users = import_q.mapped(
            import_q.USER, [c.owner_id for c in page] + [c.dst_id for c in page if c.cate == FRIEND]
        )
        groups = import_q.mapped(import_q.GROUP, (c.dst_id for c in page if c.cate == MEMBER))
        for row in page:
            if row.cate == FRIEND:
                self._friend(row, users.get(row.owner_id), users.get(row.dst_id), row.id in done)
            elif row.cate == MEMBER:
                self._member(row, users.get(row.owner_id), groups.get(row.dst_id), row.id in done)
            else:
                self.summary.friendships.skip(f"contact rows of unknown cate {row.cate}", f"contact {row.id}")

    def _friend(self, row: OrigContact, a: int | None, b: int | None, done: bool) -> None:
        """A friendship for any friend row, one-sided or not: the original's own friend
        lists read one direction only, so one row meant its owner saw the other as a friend."""
        tally = self.summary.friendships
        if a is None or b is None:
            tally.skip("a side was not imported", f"contact {row.id}")
            return
        if a == b:
            tally.skip("a user befriending themselves", f"contact {row.id}")
            return
        key = _pair(a, b)
        if key in self.seen_friends:  # the pair's other or duplicate row: counted once
            import_q.remember(import_q.CONTACT, row.id)
            return
        self.seen_friends.add(key)
        if done or contact_q.are_friends(a, b):
            tally.already += 1
        elif contact_q.is_blocked_either_way(a, b):
            tally.skip("one blocked the other in chatd since", f"contact {row.id}")
            return
        else:
            contact_q.insert_friendship(a, b)
            contact_q.delete_both_ways(a, REQUEST, b)
            tally.made += 1
        import_q.remember(import_q.CONTACT, row.id)

    def _member(self, row: OrigContact, user_id: int | None, group_id: int | None, done: bool) -> None:
        tally = self.summary.memberships
        if user_id is None or group_id is None:
            tally.skip("its user or group was not imported", f"contact {row.id}")
            return
        key = _membership(user_id, group_id)
        if key in self.seen_members:  # the owner's own row, or a duplicate
            import_q.remember(import_q.CONTACT, row.id)
            return
        self.seen_members.add(key)
        # A membership row, current or past, is left as it is: a member who left stays out.
        if done or group_q.membership(user_id, group_id) is not None:
            tally.already += 1
        else:
            contact_q.insert_membership(user_id, group_id, ROLE_MEMBER)
            tally.made += 1
        import_q.remember(import_q.CONTACT, row.id)


def run_import(
    source: OriginalDb, database: peewee.Database, batch: int, advance: Callable[[int], None]
) -> Summary:
    """Import everything `source` holds into `database` (bound and migrated); `advance` is
    told how many original rows each page held. A SourceError or database error stops it
    between pages: what was committed stays, and a new run goes on from there."""
    return Importer(source, database, batch, advance).run()
