"""Replies and events about an earlier message: edit, recall, reaction.

Each is a message in its conversation's stream (stored, acked, replayed and exactly-once by
`cmid` like text) whose `ref` names the message it is about. They are rare and each needs
its target, so the writer stores them one at a time, in their place in the batch; their
effect on the target (new text, blanked content, the reactions table) is made in the same
transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models import events as event_q
from models import groups as group_q
from models import media as media_q
from models import messages as message_q
from models.contacts import ROLE_ADMIN, ROLE_OWNER
from models.db import now_ms
from models.messages import (
    CMD_GROUP,
    CMD_SINGLE,
    EVENT_MEDIA,
    MEDIA_EDIT,
    MEDIA_REACTION,
    MEDIA_RECALL,
    MessageRow,
    NewMessage,
)
from server import storage
from server.errors import ClientError
from server.settings import Settings

MEDIA_SYSTEM = 10
# What can be quoted, reacted to and recalled: messages people sent (media 1-9).
REFERABLE = frozenset(range(1, MEDIA_SYSTEM))
# What can be edited: text, and the caption of a voice clip, photo, video or file.
EDITABLE = frozenset((1, 3, 4, 8, 9))
REF_MAX = 2**63 - 1


@dataclass(frozen=True, slots=True)
class EventRules:
    """What the writer needs from the settings to judge an event."""

    edit_window_ms: int
    recall_window_ms: int
    upload_root: Path

    @classmethod
    def of(cls, settings: Settings) -> EventRules:
        return cls(settings.edit_window * 1000, settings.recall_window * 1000, settings.upload_dir)


def is_referring(new: NewMessage) -> bool:
    return bool(new.get("ref"))


def check_ref(frame: dict[str, Any], media: int) -> int:
    """The frame's `ref` (0 for none); events must name one."""
    ref = frame.get("ref", 0)
    if ref is None:
        ref = 0
    if isinstance(ref, bool) or not isinstance(ref, int) or not 0 <= ref <= REF_MAX:
        raise ClientError(400, "ref must be a message id")
    if media in EVENT_MEDIA and not ref:
        raise ClientError(400, "ref must name the message this is about")
    return ref


def store_referring(
    new: NewMessage,
    rules: EventRules,
    may_send: Callable[[], ClientError | None],
    with_upload: Callable[[NewMessage], NewMessage],
) -> tuple[MessageRow, bool]:
    """Store one reply or event in the caller's transaction: (row, is_new). A retry of a
    stored one answers that one, whatever has changed since (so a retried toggle toggles
    once). ClientError when it may not be stored."""
    sender, cmid = new["user_id"], new["cmid"]
    earlier = message_q.find_by_cmids(sender, [cmid]).get(cmid)
    if earlier is not None:
        return earlier, False
    refusal = may_send()
    if refusal is not None:
        raise refusal
    if new["url"]:
        new = with_upload(new)
    target = _target(new)
    media = new["media"]
    effect: Callable[[int], None] | None = None
    if media == MEDIA_EDIT:
        text = _check_edit(new, target, rules)
        new = {**new, "content": ""}  # the text lives in the target alone (see README)
        effect = lambda event_id: event_q.apply_edit(target["id"], text, event_id)  # noqa: E731
    elif media == MEDIA_RECALL:
        _check_recall(new, target, rules)
        effect = lambda _: _recall(target, sender, rules.upload_root)  # noqa: E731
    elif media == MEDIA_REACTION:
        on = not event_q.has_reaction(target["id"], sender, new["content"])
        new = {**new, "amount": 1.0 if on else 0.0}
        effect = lambda _: event_q.set_reaction(target["id"], sender, new["content"], on)  # noqa: E731
    createat = now_ms()
    ids = message_q.insert_new([new], createat)
    if (sender, cmid) not in ids:  # stored meanwhile by a retry on another connection
        return message_q.find_by_cmids(sender, [cmid])[cmid], False
    event_id = ids[(sender, cmid)]
    if effect is not None:
        effect(event_id)
    return message_q.row_of(new, event_id, createat), True


def _target(new: NewMessage) -> MessageRow:
    """The message `ref` names, if it is one of this conversation the sender may read."""
    ref = new.get("ref", 0)
    target = event_q.find_message(ref)
    if target is None or not _same_conversation(new, target) or not _readable(new, target):
        raise ClientError(404, f"no message {ref} in this conversation")
    if target["media"] not in REFERABLE:
        raise ClientError(400, "that message cannot be replied to or changed")
    if target["recalled"]:
        raise ClientError(409, "that message was recalled")
    return target


def _same_conversation(new: NewMessage, target: MessageRow) -> bool:
    if new["cmd"] != target["cmd"]:
        return False
    if new["cmd"] == CMD_GROUP:
        return target["dstid"] == new["dst_id"]
    return {target["userid"], target["dstid"]} == {new["user_id"], new["dst_id"]}


def _readable(new: NewMessage, target: MessageRow) -> bool:
    if new["cmd"] == CMD_SINGLE:
        return True
    win = group_q.window(new["user_id"], new["dst_id"])
    return win is not None and win.lo <= target["id"] and (not win.hi or target["id"] <= win.hi)


def _check_edit(new: NewMessage, target: MessageRow, rules: EventRules) -> str:
    if target["userid"] != new["user_id"]:
        raise ClientError(403, "you can only edit your own messages")
    if target["media"] not in EDITABLE:
        raise ClientError(400, "only text and captions can be edited")
    text = new["content"]
    if target["media"] == 1 and not text.strip():
        raise ClientError(400, "empty message")
    if now_ms() - target["createat"] > rules.edit_window_ms:
        raise ClientError(403, f"too late to edit: messages can be edited for {_span(rules.edit_window_ms)}")
    return text


def _check_recall(new: NewMessage, target: MessageRow, rules: EventRules) -> None:
    sender = new["user_id"]
    if new["cmd"] == CMD_GROUP and group_q.current_role(sender, new["dst_id"]) in (ROLE_ADMIN, ROLE_OWNER):
        return  # group admins may remove any message, at any time
    if target["userid"] != sender:
        raise ClientError(403, "you can only recall your own messages")
    if now_ms() - target["createat"] > rules.recall_window_ms:
        raise ClientError(
            403, f"too late to recall: messages can be recalled for {_span(rules.recall_window_ms)}"
        )


def _recall(target: MessageRow, by_user_id: int, upload_root: Path) -> None:
    """Blank the message, and delete its upload unless something else still shows it. The
    files go before the commit: should it fail, the recall is retried and the files stay
    gone, which is the safe side for something its sender wanted unseen."""
    event_q.apply_recall(target["id"], by_user_id)
    url = target["url"]
    key = storage.key_of_url(url) if url else None
    if key is None or event_q.upload_in_use(url):
        return
    row = media_q.remove_media(key)
    if row is not None:
        for relative in (row["path"], row["thumb"]):
            if relative:
                storage.remove(upload_root, relative)


def _span(ms: int) -> str:
    seconds = ms // 1000
    if seconds % 3600 == 0 and seconds >= 3600:
        return f"{seconds // 3600} hours" if seconds != 3600 else "1 hour"
    if seconds % 60 == 0 and seconds >= 60:
        return f"{seconds // 60} minutes" if seconds != 60 else "1 minute"
    return f"{seconds} seconds"


def with_reactions(rows: list[MessageRow]) -> list[dict[str, Any]]:
    """History rows with `reactions` ({emoji: [user ids]}) where there are any."""
    found = event_q.reactions_of([r["id"] for r in rows])
    return [{**row, "reactions": found[row["id"]]} if row["id"] in found else dict(row) for row in rows]
