"""The database: one proxy bound at start-up to SQLite (WAL) or PostgreSQL, plus schema set-up."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import peewee

log = logging.getLogger(__name__)

database = peewee.DatabaseProxy()


class BaseModel(peewee.Model):
    id = peewee.AutoField()  # declared so type checkers see it; peewee would add it anyway

    class Meta:
        database = database
        legacy_table_names = False


class DatabaseError(RuntimeError):
    """The database URL names something chatd cannot open or use."""


def now_ms() -> int:
    """Timestamps on the wire and in tables are integer milliseconds since the epoch."""
    return int(time.time() * 1000)


def open_database(url: str, synchronous: str = "full") -> peewee.Database:
    """Make a peewee Database from a sqlite:/// or postgresql:// URL (not yet connected)."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # WAL lets readers run beside the single writer; busy_timeout waits out a
        # concurrent writer (a second process, a backup) instead of failing at once.
        # synchronous=full makes each commit durable on power loss; batching keeps
        # that to one flush per batch of messages.
        return peewee.SqliteDatabase(
            path,
            check_same_thread=False,
            returning_clause=True,  # SQLite >= 3.35: ids of a batch insert in one statement
            pragmas={
                "journal_mode": "wal",
                "synchronous": synchronous,
                "foreign_keys": 1,
                "cache_size": -16000,
                "busy_timeout": 10000,
            },
        )
    if url.startswith(("postgresql://", "postgres://")):
        parsed = urlparse(url)
        kwargs: dict[str, Any] = {
            "host": parsed.hostname or None,
            "port": parsed.port or 5432,
            "user": unquote(parsed.username) if parsed.username else None,
            "password": unquote(parsed.password) if parsed.password else None,
        }
        return peewee.PostgresqlDatabase(parsed.path.lstrip("/"), **kwargs)
    raise DatabaseError(f"unsupported database URL {url!r}")


def probe(url: str, timeout_s: int = 2) -> str:
    """ "ok", or why the database at `url` does not answer a trivial query (on a connection
    of its own, so a busy pool does not make a healthy database look down)."""
    database = open_database(url)
    if isinstance(database, peewee.PostgresqlDatabase):
        database.connect_params["connect_timeout"] = timeout_s
    try:
        database.connect()
        database.execute_sql("SELECT 1")
        return "ok"
    except peewee.PeeweeException as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    finally:
        database.close()


def bind(db: peewee.Database) -> None:
    database.initialize(db)


def is_postgres(db: peewee.Database | None = None) -> bool:
    target = db if db is not None else database.obj
    return isinstance(target, peewee.PostgresqlDatabase)


class SchemaVersion(BaseModel):
    version = peewee.IntegerField()


def _core_models() -> list[type[BaseModel]]:
    from models import contacts, messages, users

    return [users.User, users.Token, contacts.Community, contacts.Contact, messages.Message]


def _media_models() -> list[type[BaseModel]]:
    from models import media

    return [media.Media]


def _read_models() -> list[type[BaseModel]]:
    from models import reads

    return [reads.ReadMark]


def _consent(db: peewee.Database) -> None:
    """Version 4: friend requests, blocks, roles, invites, history bounds, admins. What
    existed stays as it was: friendships stay accepted, members stay members, each group's
    creator becomes its owner, and the first account becomes the server admin."""
    from playhouse.migrate import SchemaMigrator
    from playhouse.migrate import migrate as run

    from models import contacts, invites, users

    migrator = SchemaMigrator.from_database(db)

    def default(sql: str) -> list[peewee.Node]:
        return [peewee.SQL(f"DEFAULT {sql}")]

    # Each column is added NOT NULL with a DEFAULT in one ALTER TABLE. (playhouse's plain
    # add_column adds it nullable and then rebuilds the table on SQLite to make it NOT NULL;
    # rebuilding "user" drops it, and with foreign keys on that cascades: every token deleted.)
    columns = [
        ("user", "role", peewee.CharField(max_length=16, constraints=default("''"))),
        ("user", "disabled", peewee.BooleanField(constraints=default("FALSE"))),
        ("user", "findable", peewee.BooleanField(constraints=default("TRUE"))),
        ("community", "is_open", peewee.BooleanField(constraints=default("FALSE"))),
        (
            "community",
            "history",
            peewee.CharField(max_length=8, constraints=default(f"'{contacts.HISTORY_JOINED}'")),
        ),
        ("contact", "role", peewee.SmallIntegerField(constraints=default(str(contacts.ROLE_MEMBER)))),
        ("contact", "joinid", peewee.BigIntegerField(constraints=default("0"))),
        ("contact", "leftid", peewee.BigIntegerField(constraints=default("0"))),
    ]
    # A new database got these columns already (step 1 creates tables from today's models).
    have = {table: {c.name for c in db.get_columns(table)} for table in ("user", "community", "contact")}
    run(
        *(
            migrator.add_column(t, name, field, allow_not_null=True)
            for t, name, field in columns
            if name not in have[t]
        )
    )
    db.create_tables([invites.Invite], safe=True)
    Contact, Community = contacts.Contact, contacts.Community
    owners = Community.select(Community.id).where(
        (Community.id == Contact.dst_id) & (Community.owner_id == Contact.owner_id)
    )
    Contact.update(role=contacts.ROLE_OWNER).where(
        (Contact.cate == contacts.MEMBER) & peewee.fn.EXISTS(owners)
    ).execute()
    first = users.User.select(peewee.fn.MIN(users.User.id)).scalar()
    if first is not None:
        users.User.update(role="admin").where(users.User.id == first).execute()


def _chat_identity(db: peewee.Database) -> None:
    """Version 5: the chat's identity (models/meta.py), shared by every process on it."""
    from models import meta

    db.create_tables([meta.ChatMeta], safe=True)
    with meta.ChatMeta.bind_ctx(db):
        meta.chat_uid()


def _message_events(db: peewee.Database) -> None:
    """Version 6: replies and events about a message (edit, recall, reaction): the message
    table's `ref`, `editid` and `recalled` columns, the reactions table, and an index on
    uploads named by messages (a recall deletes an upload nothing else shows)."""
    from playhouse.migrate import SchemaMigrator
    from playhouse.migrate import migrate as run

    from models import events

    migrator = SchemaMigrator.from_database(db)
    have = {c.name for c in db.get_columns("message")}
    zero: list[peewee.Node] = [peewee.SQL("DEFAULT 0")]
    columns = [
        ("ref", peewee.BigIntegerField(constraints=zero)),
        ("editid", peewee.BigIntegerField(constraints=zero)),
        ("recalled", peewee.IntegerField(constraints=zero)),
    ]
    run(*(migrator.add_column("message", n, f, allow_not_null=True) for n, f in columns if n not in have))
    db.create_tables([events.Reaction], safe=True)
    db.execute_sql("CREATE INDEX IF NOT EXISTS message_url ON message (url) WHERE url <> ''")


def _link_previews(db: peewee.Database) -> None:
    """Version 7: link previews: the cache of fetched previews (models/linkpreviews.py)."""
    from models import linkpreviews

    db.create_tables([linkpreviews.LinkPreview], safe=True)


def _media_files(db: peewee.Database) -> None:
    """Version 8: videos and files keep the name they were uploaded with (media.name)."""
    from playhouse.migrate import SchemaMigrator
    from playhouse.migrate import migrate as run

    if "name" in {c.name for c in db.get_columns("media")}:
        return  # a new database made the table from today's model
    field = peewee.CharField(max_length=255, constraints=[peewee.SQL("DEFAULT ''")])
    run(SchemaMigrator.from_database(db).add_column("media", "name", field, allow_not_null=True))


def _live_settings(db: peewee.Database) -> None:
    """Version 9: typing, presence and read receipts: each user may hide their presence and stop
    sending read receipts (both on, as before, for everyone who existed)."""
    from playhouse.migrate import SchemaMigrator
    from playhouse.migrate import migrate as run

    migrator = SchemaMigrator.from_database(db)
    have = {c.name for c in db.get_columns("user")}
    # NOT NULL with a DEFAULT in one ALTER TABLE, as in _consent (no table rebuild on SQLite).
    run(
        *(
            migrator.add_column(
                "user",
                name,
                peewee.BooleanField(constraints=[peewee.SQL("DEFAULT TRUE")]),
                allow_not_null=True,
            )
            for name in ("show_presence", "send_receipts")
            if name not in have
        )
    )


def _delivery_cursors(db: peewee.Database) -> None:
    """Version 11: where each user's original-client page stands (models/cursors.py)."""
    from models import cursors

    db.create_tables([cursors.DeliveryCursor], safe=True)


def _search_index(db: peewee.Database) -> None:
    """Version 10: full-text search: the trigram index over message text and captions, filled with the
    messages already stored (models/search.py)."""
    from models import search

    search.create_index(db)


def _original_ids(db: peewee.Database) -> None:
    """Version 12: `chatd import-original`'s table of original ids and the chatd ids they
    became (models/imports.py), so running it again imports nothing twice."""
    from models import imports

    db.create_tables([imports.OriginalId], safe=True)


# Each entry brings the schema from version i to i+1. Append, never edit.
MIGRATIONS: list[Callable[[peewee.Database], None]] = [
    lambda db: db.create_tables(_core_models(), safe=True),
    lambda db: db.create_tables(_media_models(), safe=True),
    lambda db: db.create_tables(_read_models(), safe=True),
    _consent,
    _chat_identity,
    _message_events,
    _link_previews,
    _media_files,
    _live_settings,
    _search_index,
    _delivery_cursors,
    _original_ids,
]


def migrate(db: peewee.Database) -> int:
    """Create or upgrade the schema to the newest version; returns that version."""
    with db.connection_context():
        with db.atomic():
            db.create_tables([SchemaVersion], safe=True)
            row = SchemaVersion.select().first()
            current = row.version if row else 0
            if current > len(MIGRATIONS):
                raise DatabaseError(
                    f"database schema version {current} is newer than this chatd ({len(MIGRATIONS)})"
                )
            for step in range(current, len(MIGRATIONS)):
                log.info("migrating schema to version %d", step + 1)
                MIGRATIONS[step](db)
            if row is None:
                SchemaVersion.create(version=len(MIGRATIONS))
            elif current != len(MIGRATIONS):
                SchemaVersion.update(version=len(MIGRATIONS)).execute()
    return len(MIGRATIONS)
