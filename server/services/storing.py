"""Storing a batch of messages in the writer's transaction: plain messages in runs through one
INSERT each, replies and events about a message one at a time in their place, uploads'
fields filled from the stored upload. Runs in the database pool."""

from __future__ import annotations

import logging

import peewee

from models import media as media_q
from models import messages as message_q
from models.db import now_ms
from models.media import MediaRow
from models.messages import MessageRow, NewMessage
from server import original, storage
from server.errors import ClientError
from server.services import attachments, events
from server.services.events import EventRules
from server.services.messages import UPLOAD_KINDS, Outgoing, Stored, check_may_send, encode

log = logging.getLogger(__name__)


def store_batch(batch: list[Outgoing], rules: EventRules | None = None) -> list[Stored | BaseException]:
    """Store a batch in the caller's transaction (the writer's). Runs in the database pool.

    Plain messages go in runs through one INSERT each; a reply or an event (rare, and it
    needs its target) is stored alone in its place between them, so each sender's
    messages keep their order."""
    message_q.lock_for_insert()
    uploads = _uploads_named(batch)
    verdicts: dict[tuple[int, int, int], ClientError | None] = {}  # one check per route per batch
    results: list[Stored | BaseException] = []
    run: list[Outgoing] = []
    for out in batch:
        if not events.is_referring(out.new):
            run.append(out)
            continue
        results.extend(_store_plain(run, uploads, verdicts))
        run = []
        results.append(_store_referring(out, uploads, verdicts, rules))
    results.extend(_store_plain(run, uploads, verdicts))
    return results


def _store_referring(
    out: Outgoing,
    uploads: dict[str, MediaRow],
    verdicts: dict[tuple[int, int, int], ClientError | None],
    rules: EventRules | None,
) -> Stored | BaseException:
    if rules is None:
        return ClientError(400, "this kind of message cannot be stored here")
    new = out.new

    def may_send() -> ClientError | None:
        return None if out.checked else _verdict(verdicts, (new["user_id"], new["cmd"], new["dst_id"]))

    try:
        row, is_new = events.store_referring(new, rules, may_send, lambda n: with_upload(n, uploads))
    except ClientError as exc:
        return exc
    return Stored(row, is_new, out.socket_key)


def _store_plain(
    batch: list[Outgoing],
    uploads: dict[str, MediaRow],
    verdicts: dict[tuple[int, int, int], ClientError | None],
) -> list[Stored | BaseException]:
    """Per item: a sender who may not write there gets a ClientError (unless the hub already
    knew they may: `checked`); everything else goes into one INSERT that skips (sender,
    cmid) pairs already stored, and only those retries are read back."""
    if not batch:
        return []
    keys = [(out.new["user_id"], out.new["cmid"]) for out in batch]
    refusals: list[ClientError | None] = []
    to_insert: dict[tuple[int, str], NewMessage] = {}
    for out, key in zip(batch, keys, strict=True):
        new = out.new
        refusal = None
        if key not in to_insert:  # a second copy in this batch is answered from the first
            if not out.checked:
                refusal = _verdict(verdicts, (new["user_id"], new["cmd"], new["dst_id"]))
            if refusal is None and new["url"]:
                try:
                    new = with_upload(new, uploads)
                except ClientError as exc:
                    refusal = exc
            if refusal is None:
                to_insert[key] = new
        refusals.append(refusal)
    createat = now_ms()
    ids = message_q.insert_new(list(to_insert.values()), createat)
    # Retries of stored messages (also of one its sender may no longer send: acked again).
    earlier = _stored_among([key for key in keys if key not in ids])
    stored: list[Stored | BaseException] = []
    first_seen: set[tuple[int, str]] = set()
    for out, key, refusal in zip(batch, keys, refusals, strict=True):
        if key in earlier:
            stored.append(Stored(earlier[key], False, out.socket_key))
        elif refusal is not None:
            stored.append(refusal)
        else:  # inserted now; a second copy in the same batch is a retry
            row = message_q.row_of(to_insert[key], ids[key], createat)
            stored.append(Stored(row, key not in first_seen, out.socket_key))
            first_seen.add(key)
    return stored


def _verdict(
    verdicts: dict[tuple[int, int, int], ClientError | None], route: tuple[int, int, int]
) -> ClientError | None:
    if route not in verdicts:
        try:
            check_may_send(*route)
            verdicts[route] = None
        except ClientError as exc:
            verdicts[route] = exc
    return verdicts[route]


def _stored_among(keys: list[tuple[int, str]]) -> dict[tuple[int, str], MessageRow]:
    found: dict[tuple[int, str], MessageRow] = {}
    for sender_id in {sender for sender, _ in keys}:
        cmids = [cmid for sender, cmid in keys if sender == sender_id]
        for cmid, row in message_q.find_by_cmids(sender_id, cmids).items():
            found[(sender_id, cmid)] = row
    return found


def store_batch_apart(batch: list[Outgoing], rules: EventRules | None = None) -> list[Stored | BaseException]:
    """store_batch, and if the batch fails as a whole (a value the database refuses that
    check_frame let through), store its items one at a time, each in its own savepoint,
    so only the culprit fails and everyone else's messages are stored. Runs in the
    database pool, inside the writer's transaction."""
    database = message_q.Message._meta.database
    try:
        with database.atomic():  # a savepoint: on PostgreSQL a failed statement spoils the rest
            return store_batch(batch, rules)
    except (peewee.OperationalError, peewee.InterfaceError):
        raise  # the connection or the database itself: Pools.db reconnects or fails the batch
    except Exception:
        if len(batch) == 1:
            raise
        log.exception("a batch of %d messages failed; storing them one at a time", len(batch))
    results: list[Stored | BaseException] = []
    for out in batch:
        try:
            with database.atomic():
                results.extend(store_batch([out], rules))
        except (peewee.OperationalError, peewee.InterfaceError):
            raise
        except Exception as exc:
            log.exception("user %d message refused by the database", out.new["user_id"])
            results.append(exc)
    return results


def _uploads_named(batch: list[Outgoing]) -> dict[str, MediaRow]:
    keys = [k for k in (storage.key_of_url(out.new["url"]) for out in batch if out.new["url"]) if k]
    return media_q.find_media(keys) if keys else {}


def with_upload(new: NewMessage, uploads: dict[str, MediaRow]) -> NewMessage:
    """The message with pic, amount and memo taken from its upload, whatever the client sent."""
    if new["url"].startswith(original.STICKER_PREFIX):
        return new  # one of the original client's stickers (check_frame found the file)
    row = uploads.get(storage.key_of_url(new["url"]) or "")
    if row is None:
        raise ClientError(404, f"no such upload {new['url'][:128]!r}")
    wanted = UPLOAD_KINDS[new["media"]]
    if row["kind"] != wanted:
        raise ClientError(400, f"{new['url']} is not {attachments.WHAT[wanted]}")
    if wanted in ("video", "file"):
        pic, amount, memo_text = attachments.message_fields(new["media"], row)
        return {**new, "pic": pic, "amount": amount, "memo": memo_text}
    if wanted == "image":
        memo = {"mime": row["mime"], "width": row["width"], "height": row["height"], "size": row["size"]}
        return {**new, "pic": storage.url_for(row["thumb"]), "amount": 0.0, "memo": encode(memo).decode()}
    memo = {"mime": row["mime"], "waveform": row["waveform"], "size": row["size"]}
    return {**new, "pic": "", "amount": row["seconds"], "memo": encode(memo).decode()}
