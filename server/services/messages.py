"""Sending, storing and reading messages."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from models import contacts as contact_q
from models import groups as group_q
from models import messages as message_q
from models.messages import (
    CMD_GROUP,
    CMD_HEARTBEAT,
    CMD_SINGLE,
    MEDIA_EDIT,
    MEDIA_REACTION,
    MEDIA_RECALL,
    MessageRow,
    NewMessage,
)
from server import original, storage
from server.bus import Delivery, Notice
from server.emoji import EmojiCatalog
from server.errors import ClientError
from server.services import events
from server.services.attachments import MEDIA_FILE, MEDIA_VIDEO
from server.settings import Settings

if TYPE_CHECKING:
    from server.context import Ctx

log = logging.getLogger(__name__)

CMD_ACK = 12
CMD_ERROR = 13
CMD_READ = 14  # server -> client: a conversation was marked read (on any of the user's devices)
CMD_NOTICE = 15  # server -> client: friends and groups changed (never stored)

MEDIA_TEXT = 1
MEDIA_VOICE = 3
MEDIA_IMAGE = 4
MEDIA_EMOJI = 6
KNOWN_MEDIA = (
    *(MEDIA_TEXT, MEDIA_VOICE, MEDIA_IMAGE, MEDIA_EMOJI, MEDIA_VIDEO, MEDIA_FILE),
    *(MEDIA_EDIT, MEDIA_RECALL, MEDIA_REACTION),
)
# Media that name an upload, and the kind that upload must be.
UPLOAD_KINDS = {MEDIA_VOICE: "voice", MEDIA_IMAGE: "image", MEDIA_VIDEO: "video", MEDIA_FILE: "file"}

CMID_MAX = 64
HISTORY_MAX = 100
# Message.dst_id is an IntegerField: 32 bits on PostgreSQL; SQLite overflows past 2**63.
ID_MAX = 2**31 - 1


@dataclass(slots=True)  # one per message: slots, not frozen (whose __init__ costs more)
class Outgoing:
    """A validated frame from a socket, ready to store."""

    new: NewMessage
    socket_key: str
    checked: bool = False  # the hub knew the sender may send there: no database check


@dataclass(slots=True)
class Stored:
    row: MessageRow
    is_new: bool  # False: a retry of a cmid already stored (acked and published again)
    socket_key: str


def encode(frame: Any) -> bytes:
    return orjson.dumps(frame)


def parse_frame(raw: str | bytes) -> dict[str, Any]:
    """Decode one client frame; ClientError(400) when it is not a JSON object."""
    try:
        frame = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ClientError(400, "frame is not valid JSON") from None
    if not isinstance(frame, dict):
        raise ClientError(400, "frame must be a JSON object")
    return frame


def frame_cmid(frame: dict[str, Any]) -> str | None:
    cmid = frame.get("cmid")
    return cmid if isinstance(cmid, str) else None


def take_cmid(frame: dict[str, Any], settings: Settings) -> str | None:
    """The frame's cmid. A message frame without one (the original client's) gets a server
    cmid with `original_client` on; a client's own may not look like one (400)."""
    cmid = frame_cmid(frame)
    if cmid is not None and cmid.startswith(original.SERVER_CMID_PREFIX):
        raise ClientError(400, f"a cmid may not start with {original.SERVER_CMID_PREFIX} (the server's own)")
    if cmid is None and frame.get("cmid") is None and settings.original_client:
        if frame.get("cmd") in (CMD_SINGLE, CMD_GROUP):
            cmid = frame["cmid"] = original.server_cmid()
    return cmid


def _int_field(frame: dict[str, Any], name: str) -> int:
    value = frame.get(name)
    # bool is an int in Python; true/false are not valid numbers here.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ClientError(400, f"{name} must be an integer")
    return value


def _str_field(frame: dict[str, Any], name: str) -> str:
    value = frame.get(name, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ClientError(400, f"{name} must be a string")
    if "\x00" in value:
        # PostgreSQL text cannot hold NUL: refuse it here, not in the shared batch.
        raise ClientError(400, f"{name} must not contain NUL characters")
    return value


def is_heartbeat(frame: dict[str, Any]) -> bool:
    return frame.get("cmd") == CMD_HEARTBEAT


def heartbeat_answer(frame: dict[str, Any]) -> bytes | None:
    """`{"cmd": 0, "seq": N}` back for a heartbeat carrying an integer `seq` (how a browser,
    which cannot see WebSocket pings, notices a dead connection); None for a plain one.
    400 for a `seq` that is not an integer in 0..2^31-1."""
    seq = frame.get("seq")
    if seq is None:
        return None
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= ID_MAX:
        raise ClientError(400, "seq must be an integer from 0 to 2147483647")
    return encode({"cmd": CMD_HEARTBEAT, "seq": seq})


def check_frame(
    frame: dict[str, Any], sender_id: int, settings: Settings, catalog: EmojiCatalog
) -> NewMessage:
    """Validate a message frame's shape; ClientError names what is wrong."""
    cmd = _int_field(frame, "cmd")
    if cmd not in (CMD_SINGLE, CMD_GROUP):
        raise ClientError(400, f"unknown cmd {cmd}")
    cmid = frame_cmid(frame)
    if not cmid or len(cmid) > CMID_MAX or "\x00" in cmid:
        raise ClientError(400, f"cmid must be a string of 1 to {CMID_MAX} characters, without NUL")
    dst_id = _int_field(frame, "dstid")
    if not 0 < dst_id <= ID_MAX:
        raise ClientError(400, f"dstid must be 1..{ID_MAX}")
    if cmd == CMD_SINGLE and dst_id == sender_id:
        raise ClientError(400, "cannot send a message to yourself")
    media = _int_field(frame, "media")
    if media not in KNOWN_MEDIA:
        raise ClientError(400, f"unknown media {media}")
    ref = events.check_ref(frame, media)
    content = _str_field(frame, "content")
    url = _str_field(frame, "url")
    if media == MEDIA_EDIT:
        if len(content) > settings.max_text:
            raise ClientError(413, f"text longer than {settings.max_text} characters")
    elif media == MEDIA_RECALL:
        content = ""
    elif media == MEDIA_REACTION:
        reaction = catalog.reaction_for(content)
        if reaction is None:
            raise ClientError(400, f"unknown emoji {content[:64]!r}")
        content = reaction
    elif media == MEDIA_TEXT:
        if not content.strip():
            raise ClientError(400, "empty message")
        if len(content) > settings.max_text:
            raise ClientError(413, f"text longer than {settings.max_text} characters")
    elif media == MEDIA_EMOJI:
        if not catalog.accepts(content):
            raise ClientError(400, f"unknown emoji code {content[:64]!r}")
    elif media == MEDIA_IMAGE and (sticker := original.sticker_url(settings.original_client_dir, url)):
        url = sticker  # one of the original client's stickers, served from its asset folder
    else:
        # Voice, image, video and file messages name an upload of ours; store_batch checks
        # it exists and is of that kind, and fills pic, amount and memo from it.
        if storage.key_of_url(url) is None:
            raise ClientError(404, f"no such upload {url[:128]!r}")
        if len(content) > settings.max_text:
            raise ClientError(413, f"caption longer than {settings.max_text} characters")
    return NewMessage(
        user_id=sender_id,
        cmd=cmd,
        dst_id=dst_id,
        media=media,
        content=content,
        pic="",
        url=url if media in UPLOAD_KINDS else "",
        memo="",
        amount=0.0,
        cmid=cmid,
        ref=ref,
    )


def check_may_send(sender_id: int, cmd: int, dst_id: int) -> None:
    if cmd == CMD_SINGLE:
        if not contact_q.are_friends(sender_id, dst_id):
            raise ClientError(403, f"not a friend of user {dst_id}")
    elif contact_q.find_community(dst_id) is None:
        raise ClientError(404, f"no group {dst_id}")
    elif not contact_q.is_member(sender_id, dst_id):
        raise ClientError(403, f"not a member of group {dst_id}")


def delivery_for(stored: Stored) -> Delivery:
    row = stored.row
    payload = encode(row)  # once per fan-out, whatever the number of sockets
    if row["cmd"] == CMD_GROUP:
        return Delivery(row["id"], payload, group_id=row["dstid"], skip_socket=stored.socket_key)
    return Delivery(row["id"], payload, user_ids=(row["userid"], row["dstid"]), skip_socket=stored.socket_key)


def notice_for(user_id: int, kind: str, **fields: Any) -> Notice:
    """A cmd 15 frame for every socket of one user, encoded once."""
    return Notice((user_id,), encode({"cmd": CMD_NOTICE, "type": kind, **fields}))


def ack_frame(row: MessageRow) -> bytes:
    return encode({"cmd": CMD_ACK, "cmid": row["cmid"], "id": row["id"], "createat": row["createat"]})


def error_frame(cmid: str | None, status: int, msg: str) -> bytes:
    return encode({"cmd": CMD_ERROR, "cmid": cmid, "code": status, "msg": msg})


def charge(ctx: Ctx, sender_id: int) -> None:
    """Spend one of the sender's allowance: every frame but a heartbeat costs one, refused
    ones too, so bad frames are no cheaper to flood with than messages. 429 when spent."""
    if not ctx.send_limits.allow(sender_id):
        raise ClientError(429, "sending too fast; slow down")


def do_send(
    ctx: Ctx,
    sender_id: int,
    frame: dict[str, Any],
    socket_key: str,
    done: Callable[[Stored | BaseException], None],
) -> None:
    """Charge, validate and queue a frame for storing; `done(stored or exception)` is called
    once it is committed and published. Synchronous up to the queue, so a sender's messages
    keep their order. The caller waits for `ctx.writer.room()` first (WriterFull otherwise)."""
    charge(ctx, sender_id)
    new = check_frame(frame, sender_id, ctx.settings, ctx.emoji)
    checked = ctx.hub.may_send(sender_id, new["cmd"], new["dst_id"])
    ctx.writer.submit_then(Outgoing(new, socket_key, checked), done)


async def publish_stored(ctx: Ctx, batch: list[Stored]) -> None:
    """Publish every message that is acked, retries included: after a lost connection or
    a crash between commit and publish, the retry is the only chance to deliver it live.
    A socket that already has it drops the copy (its outlet sends each id once, in order).
    One call per stored batch."""
    await ctx.bus.publish_many([delivery_for(stored) for stored in batch])


async def list_history(
    ctx: Ctx,
    user_id: int,
    cmd: int,
    dst_id: int,
    before_id: int | None,
    limit: int,
    around_id: int | None = None,
    after_id: int | None = None,
) -> list[dict[str, Any]]:
    """A conversation's messages, newest first: the latest, those before `before_id`, the
    page just after `after_id`, or the page around `around_id` (404 when that is not a
    message of this conversation the user may read); 403 unless a friend / member."""
    if cmd not in (CMD_SINGLE, CMD_GROUP):
        raise ClientError(400, "cmd must be 10 or 11")
    if not 1 <= limit <= HISTORY_MAX:
        raise ClientError(400, f"limit must be 1..{HISTORY_MAX}")
    if sum(x is not None for x in (before_id, around_id, after_id)) > 1:
        raise ClientError(400, "give at most one of before, after, around")

    def read() -> list[dict[str, Any]]:
        check_may_read(user_id, cmd, dst_id)
        if after_id is not None:
            rows = message_q.list_newer(user_id, cmd, dst_id, after_id, limit)
        elif around_id is not None:
            found = message_q.list_around(user_id, cmd, dst_id, around_id, limit)
            if found is None:
                raise ClientError(404, f"no message {around_id} in this conversation")
            rows = found
        else:
            rows = message_q.list_conversation(user_id, cmd, dst_id, before_id, limit)
        return events.with_reactions(rows)

    rows: list[dict[str, Any]] = await ctx.pools.db(read)
    return rows


async def get_messages(ctx: Ctx, user_id: int, cmd: int, dst_id: int, ids: list[int]) -> list[dict[str, Any]]:
    """These messages of one conversation as they are now (edited, recalled, reacted to),
    oldest first; those the user may not read are left out (a reply's quote, an edit)."""
    if cmd not in (CMD_SINGLE, CMD_GROUP):
        raise ClientError(400, "cmd must be 10 or 11")
    if not 1 <= len(ids) <= HISTORY_MAX:
        raise ClientError(400, f"ids must list 1 to {HISTORY_MAX} message ids")

    def read() -> list[dict[str, Any]]:
        check_may_read(user_id, cmd, dst_id)
        return events.with_reactions(message_q.list_ids(user_id, cmd, dst_id, ids))

    rows: list[dict[str, Any]] = await ctx.pools.db(read)
    return rows


def check_may_read(user_id: int, cmd: int, dst_id: int) -> None:
    if cmd == CMD_SINGLE:
        # 1:1 history stays readable to both after an unfriend or a block (the query returns
        # only their messages with each other); a stranger with none is refused as before.
        if contact_q.are_friends(user_id, dst_id) or message_q.last_in_conversation(user_id, cmd, dst_id):
            return
        raise ClientError(403, f"not a friend of user {dst_id}")
    # A past member still reads the group up to their leave (list_conversation bounds it).
    if group_q.membership(user_id, dst_id) is None:
        if contact_q.find_community(dst_id) is None:
            raise ClientError(404, f"no group {dst_id}")
        raise ClientError(403, f"not a member of group {dst_id}")


async def list_since(ctx: Ctx, user_id: int, since_id: int, limit: int) -> list[MessageRow]:
    # Not shed: replay is how a reconnecting socket misses nothing, and it is paced by
    # the socket's own writes.
    rows: list[MessageRow] = await ctx.pools.db(message_q.list_since, user_id, since_id, limit, shed=False)
    return rows
