"""Stored messages: the single source of truth for acks, history and since=ID replay."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import threading
from collections.abc import Iterator
from typing import NotRequired, TypedDict

import peewee

from models import groups as group_q
from models.db import BaseModel, is_postgres
from models.groups import Window

# Wire numbers, named once.
CMD_HEARTBEAT = 0
CMD_SINGLE = 10
CMD_GROUP = 11
# Events about an earlier message (its `ref`): an edit, a recall, a reaction. They travel and
# replay like messages, but history shows their effect on the target instead of them, and
# they are nobody's unread message.
MEDIA_EDIT = 11
MEDIA_RECALL = 12
MEDIA_REACTION = 13
EVENT_MEDIA = (MEDIA_EDIT, MEDIA_RECALL, MEDIA_REACTION)


class Message(BaseModel):
    id = peewee.BigAutoField()
    user_id = peewee.IntegerField()  # the real sender, from the token
    cmd = peewee.SmallIntegerField()
    dst_id = peewee.IntegerField()
    media = peewee.SmallIntegerField()
    content = peewee.TextField(default="")
    pic = peewee.CharField(max_length=512, default="")
    url = peewee.CharField(max_length=512, default="")
    memo = peewee.TextField(default="")
    amount = peewee.FloatField(default=0)
    cmid = peewee.CharField(max_length=64)
    createat = peewee.BigIntegerField()
    # The message this one refers to: the quoted message of a reply, the target of an event
    # (edit, recall, reaction); 0 for none.
    # (DEFAULT 0 in the table too: the raw insert of insert_new names only what it sets.)
    ref = peewee.BigIntegerField(default=0, constraints=[peewee.SQL("DEFAULT 0")])
    # the id of its latest edit event, 0 if unedited
    editid = peewee.BigIntegerField(default=0, constraints=[peewee.SQL("DEFAULT 0")])
    # who recalled it (its sender or a group admin), 0 if not
    recalled = peewee.IntegerField(default=0, constraints=[peewee.SQL("DEFAULT 0")])

    class Meta:
        indexes = (
            (("user_id", "cmid"), True),  # exactly-once per client message id
            (("cmd", "dst_id", "id"), False),  # group history, inbox replay
            (("cmd", "dst_id", "user_id", "id"), False),  # 1:1 conversation history
            (("user_id", "id"), False),  # own messages for the sender's other devices
        )


class MessageRow(TypedDict):
    id: int
    userid: int
    cmd: int
    dstid: int
    media: int
    content: str
    pic: str
    url: str
    memo: str
    amount: float
    cmid: str
    createat: int
    ref: int
    editid: int
    recalled: int


class NewMessage(TypedDict):
    user_id: int
    cmd: int
    dst_id: int
    media: int
    content: str
    pic: str
    url: str
    memo: str
    amount: float
    cmid: str
    ref: NotRequired[int]  # 0 when absent (most messages)


def message_row(m: Message) -> MessageRow:
    return MessageRow(
        id=m.id,
        userid=m.user_id,
        cmd=m.cmd,
        dstid=m.dst_id,
        media=m.media,
        content=m.content,
        pic=m.pic,
        url=m.url,
        memo=m.memo,
        amount=m.amount,
        cmid=m.cmid,
        createat=m.createat,
        ref=m.ref,
        editid=m.editid,
        recalled=m.recalled,
    )


def lock_for_insert() -> None:
    """On PostgreSQL, serialise message inserts across processes until commit, so ids
    become visible in the order they were given and since=ID replay never skips one.
    (SQLite already has one writer.)"""
    if is_postgres():
        Message._meta.database.execute_sql("SELECT pg_advisory_xact_lock(7311001)")


# The session-level twin of lock_for_insert's key: held from before a message-storing
# transaction until its events are published, across processes (see publish_lock).
_PUBLISH_LOCK_KEY = 7311001
_lock_files = threading.local()  # SQLite: each database thread's open lock file


@contextlib.contextmanager
def publish_lock() -> Iterator[None]:
    """Hold the chat-wide lock from before a message is stored until its events are
    published, so that every process publishes in commit order, which is id order: a
    subscriber then gets each stream in id order, whichever process stored what.

    PostgreSQL: a session advisory lock (released by the server if the process dies).
    SQLite (several processes on one machine): an flock on a file beside the database."""
    database = Message._meta.database
    if is_postgres():
        database.execute_sql("SELECT pg_advisory_lock(%s)", (_PUBLISH_LOCK_KEY,))
        try:
            yield
        finally:
            # A lost connection took the lock with it; nothing to release then.
            with contextlib.suppress(Exception):
                database.execute_sql("SELECT pg_advisory_unlock(%s)", (_PUBLISH_LOCK_KEY,))
        return
    path = getattr(database, "database", ":memory:")
    if not path or path == ":memory:":
        yield
        return
    fd = _lock_fd(path + "-publish.lock")
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _lock_fd(path: str) -> int:
    files: dict[str, int] = getattr(_lock_files, "fds", None) or {}
    _lock_files.fds = files
    if path not in files:
        files[path] = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    return files[path]


def max_id() -> int:
    """The highest stored message id (0 for none)."""
    value = Message.select(peewee.fn.MAX(Message.id)).scalar()
    return int(value or 0)


def list_after(after_id: int, limit: int, upto_id: int | None = None) -> list[MessageRow]:
    """Every conversation's messages with after_id < id (<= upto_id), oldest first: the
    message table read as the chat's log (a bus catching up after an outage or a gap)."""
    where = Message.id > after_id
    if upto_id is not None:
        where &= Message.id <= upto_id
    query = Message.select().where(where).order_by(Message.id).limit(limit)
    return [message_row(m) for m in query]


def insert_message(new: NewMessage, createat: int) -> MessageRow:
    return insert_messages([new], createat)[0]


def insert_messages(news: list[NewMessage], createat: int) -> list[MessageRow]:
    """Insert many messages in one statement; rows come back in the order given."""
    if not news:
        return []
    rows = [{**new, "createat": createat, "ref": new.get("ref", 0)} for new in news]
    # RETURNING order is not promised, so match the ids back by the unique (sender, cmid).
    cursor = Message.insert_many(rows).returning(Message.id, Message.user_id, Message.cmid).execute()
    ids = {(r.user_id, r.cmid): r.id for r in cursor}
    return [row_of(new, ids[(new["user_id"], new["cmid"])], createat) for new in news]


def row_of(new: NewMessage, message_id: int, createat: int) -> MessageRow:
    return MessageRow(
        id=message_id,
        userid=new["user_id"],
        cmd=new["cmd"],
        dstid=new["dst_id"],
        media=new["media"],
        content=new["content"],
        pic=new["pic"],
        url=new["url"],
        memo=new["memo"],
        amount=new["amount"],
        cmid=new["cmid"],
        createat=createat,
        ref=new.get("ref", 0),
        editid=0,
        recalled=0,
    )


# Wire and column order of insert_new's statement; `createat` is the batch's.
_INSERT_COLUMNS = ("user_id", "cmd", "dst_id", "media", "content", "pic", "url", "memo", "amount", "cmid")
_INSERT_EXTRA = ("ref", "createat")  # ref is optional in a NewMessage; createat the batch's
# Statements of power-of-two sizes only (a batch of 300 is 256 + 32 + 8 + 4 rows): a handful
# of statement texts, each compiled once and kept by the driver's statement cache, instead
# of one text per batch size, recompiled whenever the cache has dropped it.
_ROWS_PER_STATEMENT = 256  # 3,072 parameters: far under SQLite's 32,766


def _chunk_sizes(count: int) -> list[int]:
    sizes = [_ROWS_PER_STATEMENT] * (count // _ROWS_PER_STATEMENT)
    rest = count % _ROWS_PER_STATEMENT
    size = _ROWS_PER_STATEMENT // 2
    while rest:
        if rest >= size:
            sizes.append(size)
            rest -= size
        size //= 2
    return sizes


@functools.lru_cache(maxsize=32)
def _insert_sql(param: str, rows: int) -> str:
    columns = ", ".join(f'"{c}"' for c in (*_INSERT_COLUMNS, *_INSERT_EXTRA))
    row = "(" + ", ".join([param] * (len(_INSERT_COLUMNS) + len(_INSERT_EXTRA))) + ")"
    # Only fixed column names and placeholders go into the text; the values are parameters.
    return (
        f'INSERT INTO "message" ({columns}) VALUES {", ".join([row] * rows)} '  # noqa: S608
        'ON CONFLICT ("user_id", "cmid") DO NOTHING RETURNING "id", "user_id", "cmid"'
    )


def insert_new(news: list[NewMessage], createat: int) -> dict[tuple[int, str], int]:
    """Insert the messages whose (sender, cmid) is not stored yet; ids of those inserted, by
    (sender, cmid). A retry of a stored message comes back missing and changes nothing.

    The hot path of every message: one prepared statement per batch, no ORM query building."""
    database = Message._meta.database
    ids: dict[tuple[int, str], int] = {}
    start = 0
    for size in _chunk_sizes(len(news)):
        chunk, start = news[start : start + size], start + size
        params: list[object] = []
        for new in chunk:
            params.extend([new[c] for c in _INSERT_COLUMNS])  # type: ignore[literal-required]
            params.append(new.get("ref", 0))
            params.append(createat)
        cursor = database.execute_sql(_insert_sql(database.param, len(chunk)), params)
        # RETURNING order is not promised: match the ids back by the unique (sender, cmid).
        for message_id, user_id, cmid in cursor.fetchall():
            ids[(user_id, cmid)] = message_id
    return ids


def find_by_cmids(user_id: int, cmids: list[str]) -> dict[str, MessageRow]:
    """Already stored messages of one sender among these client ids."""
    query = Message.select().where((Message.user_id == user_id) & Message.cmid.in_(cmids))
    return {m.cmid: message_row(m) for m in query}


def _visible_to(user_id: int) -> peewee.Expression:
    """1:1 messages to or from the user, and of each group they are or were in, the part
    of its stream between their join and their leave (one clause per bounded window)."""
    # Own group messages come through the windows: a line the user is the actor of can
    # follow their leave (the ownership passing on when an owner leaves).
    where = (Message.cmd == CMD_SINGLE) & ((Message.dst_id == user_id) | (Message.user_id == user_id))
    whole: list[int] = []
    for w in group_q.windows_of(user_id):
        bound = group_q.bounds(Message.id, w)
        if bound is None:
            whole.append(w.group_id)
        else:
            where |= (Message.cmd == CMD_GROUP) & (Message.dst_id == w.group_id) & bound
    if whole:
        where |= (Message.cmd == CMD_GROUP) & Message.dst_id.in_(whole)
    return where


def _group_where(user_id: int, dst_id: int, win: Window | None) -> peewee.Expression:
    """A group's messages the user may read (none if they never were a member)."""
    win = win or group_q.window(user_id, dst_id)
    if win is None:
        return Message.id < 0
    bound = group_q.bounds(Message.id, win)
    where = (Message.cmd == CMD_GROUP) & (Message.dst_id == dst_id)
    return where if bound is None else where & bound


def list_since(user_id: int, since_id: int, limit: int) -> list[MessageRow]:
    """Messages this user should see with id > since_id, oldest first (for replay)."""
    query = (
        Message.select()
        .where((Message.id > since_id) & _visible_to(user_id))
        .order_by(Message.id)
        .limit(limit)
    )
    return [message_row(m) for m in query]


def _conversation_where(user_id: int, cmd: int, dst_id: int, win: Window | None) -> peewee.Expression:
    if cmd == CMD_SINGLE:
        return (Message.cmd == CMD_SINGLE) & (
            ((Message.user_id == user_id) & (Message.dst_id == dst_id))
            | ((Message.user_id == dst_id) & (Message.dst_id == user_id))
        )
    return _group_where(user_id, dst_id, win)


def list_ids(user_id: int, cmd: int, dst_id: int, ids: list[int]) -> list[MessageRow]:
    """Those of these messages of one conversation that the user may read, oldest first."""
    where = _conversation_where(user_id, cmd, dst_id, None) & Message.id.in_(ids)
    return [message_row(m) for m in Message.select().where(where).order_by(Message.id)]


def list_conversation(
    user_id: int, cmd: int, dst_id: int, before_id: int | None, limit: int, win: Window | None = None
) -> list[MessageRow]:
    """One conversation's messages, newest first, optionally older than before_id; of a
    group, only those in the user's window (`win`, looked up when not given)."""
    where = _conversation_where(user_id, cmd, dst_id, win)
    if before_id is not None:
        where &= Message.id < before_id
    where &= Message.media.not_in(EVENT_MEDIA)
    query = Message.select().where(where).order_by(Message.id.desc()).limit(limit)
    return [message_row(m) for m in query]


def last_in_conversation(user_id: int, cmd: int, dst_id: int, win: Window | None = None) -> MessageRow | None:
    rows = list_conversation(user_id, cmd, dst_id, None, 1, win)
    return rows[0] if rows else None


def count_unread(user_id: int, cmd: int, dst_id: int, after_id: int, win: Window | None = None) -> int:
    """Messages from others in a conversation with an id above after_id."""
    if cmd == CMD_SINGLE:
        where = (Message.cmd == CMD_SINGLE) & (Message.user_id == dst_id) & (Message.dst_id == user_id)
    else:
        where = _group_where(user_id, dst_id, win) & (Message.user_id != user_id)
    where &= Message.media.not_in(EVENT_MEDIA)
    return Message.select().where(where & (Message.id > after_id)).count()


def count_all() -> int:
    return Message.select().count()
