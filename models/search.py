"""Full-text search over message text and captions: the index (SQLite FTS5 with the trigram
tokenizer, PostgreSQL pg_trgm) and the ranked, visibility-bounded query."""

from __future__ import annotations

from typing import Any, NamedTuple

import peewee

from models import messages as message_q
from models.db import database as db_proxy
from models.db import is_postgres
from models.messages import Message, MessageRow, message_row

# Text (1) and the captions of voice (3), images (4), video (8) and files (9). Never system
# lines (10) nor the edit/recall/reaction events (11-13): they are not conversation text.
SEARCHABLE_MEDIA = (1, 3, 4, 8, 9)
TRIGRAM = 3  # a term shorter than this cannot use a trigram index
# A query with no term of TRIGRAM characters looks through only this many of the newest
# messages the user may read (a LIKE scan: no index can find "你好" or "ok").
SHORT_SCAN = 5000

# External content: the index keeps only the trigrams; the text is read from message itself.
# The triggers keep it in step with inserts, in-place edits, recalls (content blanked) and
# deletes; "delete" must be given exactly the text that was indexed, hence old.content.
# The media listed are SEARCHABLE_MEDIA (spelled out: these are fixed statements).
_SQLITE_INDEX = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS message_fts USING fts5("
    "content, content='message', content_rowid='id', tokenize='trigram')",
    """CREATE TRIGGER IF NOT EXISTS message_fts_insert AFTER INSERT ON message
    WHEN new.media IN (1, 3, 4, 8, 9) AND new.content != '' BEGIN
      INSERT INTO message_fts(rowid, content) VALUES (new.id, new.content);
    END""",
    """CREATE TRIGGER IF NOT EXISTS message_fts_delete AFTER DELETE ON message
    WHEN old.media IN (1, 3, 4, 8, 9) AND old.content != '' BEGIN
      INSERT INTO message_fts(message_fts, rowid, content) VALUES ('delete', old.id, old.content);
    END""",
    # One trigger for both halves, so the old text is always taken out before the new goes in.
    """CREATE TRIGGER IF NOT EXISTS message_fts_update AFTER UPDATE OF content, media ON message
    WHEN old.content IS NOT new.content OR old.media IS NOT new.media BEGIN
      INSERT INTO message_fts(message_fts, rowid, content) SELECT 'delete', old.id, old.content
        WHERE old.media IN (1, 3, 4, 8, 9) AND old.content != '';
      INSERT INTO message_fts(rowid, content) SELECT new.id, new.content
        WHERE new.media IN (1, 3, 4, 8, 9) AND new.content != '';
    END""",
    "INSERT INTO message_fts(rowid, content) SELECT id, content FROM message"
    " WHERE media IN (1, 3, 4, 8, 9) AND content != ''",
]
# Queries read the live row, so edits and recalls need nothing more. pg_trgm is a trusted
# extension: the database's owner may create it without being a superuser (PostgreSQL 13+).
_POSTGRES_INDEX = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS message_content_trgm ON message USING gin (content gin_trgm_ops)"
    " WHERE media IN (1, 3, 4, 8, 9)",
]


def create_index(db: peewee.Database) -> None:
    """The migration: build the index and put every stored message that belongs in it."""
    if is_postgres(db):
        for sql in _POSTGRES_INDEX:
            db.execute_sql(sql)
        return
    for sql in _SQLITE_INDEX:  # the last one fills it
        db.execute_sql(sql)


class MessageFts(peewee.Model):
    """SQLite's FTS5 table, only to join on (see create_index)."""

    rowid = peewee.IntegerField(primary_key=True)

    class Meta:
        database = db_proxy
        table_name = "message_fts"


class Scope(NamedTuple):
    """One conversation to search in, as history names it."""

    cmd: int
    dst_id: int


def search(
    user_id: int, terms: list[str], scope: Scope | None, before_id: int | None, limit: int
) -> list[MessageRow]:
    """Messages the user may read that contain every term (case-insensitive), best first,
    newest first among equals; `before_id`: the page after that hit. Ranked by bm25 on
    SQLite, by trigram similarity to the whole query on PostgreSQL; a query with no term of
    3 characters scans only the user's SHORT_SCAN newest readable messages."""
    if scope is None:
        readable = message_q.visible_to(user_id)
    else:
        readable = message_q.conversation_where(user_id, scope.cmd, scope.dst_id)
    searchable = where = readable & Message.media.in_(SEARCHABLE_MEDIA)
    long_terms = [t for t in terms if len(t) >= TRIGRAM]
    query = Message.select(Message)
    score: Any = None  # lower is better; None: newest first only
    if is_postgres():
        # ILIKE uses the trigram index for terms of 3+ characters; all terms must be there.
        for term in terms:
            where &= Message.content.contains(term)
        # Lower is better, as with bm25: the similarity of the text to the whole query, negated.
        score = 0 - peewee.fn.similarity(Message.content, " ".join(terms))
    elif long_terms:
        fts = MessageFts.alias("message_fts")  # FTS5's hidden column bears the table's name
        query = query.join(fts, on=(fts.rowid == Message.id))
        match = " AND ".join('"' + t.replace('"', '""') + '"' for t in long_terms)
        where &= peewee.SQL("message_fts MATCH ?", [match])
        for term in terms:
            if len(term) < TRIGRAM:
                where &= Message.content.contains(term)
        score = peewee.SQL("bm25(message_fts)")
    else:
        for term in terms:
            where &= Message.content.contains(term)
    if not long_terms:
        newest = Message.select(Message.id).where(searchable).order_by(Message.id.desc())
        where &= Message.id.in_(newest.limit(SHORT_SCAN))
    if before_id is not None and score is None:
        where &= Message.id < before_id
    elif before_id is not None:
        # The next page starts after that hit as ranked now (same terms, same score).
        mark = query.select(score.alias("score")).where(where & (Message.id == before_id)).scalar()
        if mark is None:
            return []
        where &= (score > mark) | ((score == mark) & (Message.id < before_id))
    order = [Message.id.desc()] if score is None else [score, Message.id.desc()]
    rows = query.where(where).order_by(*order).limit(limit)
    return [message_row(m) for m in rows]
