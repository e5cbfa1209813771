"""Editing one's own profile (nickname, avatar, memo) and telling those who show it.

The change is committed with a cmd 15 `user_updated` notice for the user's own sockets and
their friends' (the people whose lists and chats show this name and avatar). Group members
who are not friends see the new name and avatar when their page next asks for it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from models import media as media_q
from models import profiles as profile_q
from models.users import PublicUser
from server import storage
from server.bus import Event, Notice
from server.errors import ClientError
from server.originalclient import asset_url_file
from server.services.accounts import check_nickname
from server.services.changes import commit
from server.services.messages import CMD_NOTICE, encode
from server.textcheck import has_invisible

if TYPE_CHECKING:
    from server.context import Ctx

MEMO_MAX = 200  # a line about oneself, not a biography (the column holds 512)


def check_memo(memo: str) -> str:
    """The memo without outer spaces; 400 when too long or holding control, zero-width or
    bidi characters (they would reorder what is shown around it)."""
    memo = memo.strip()
    if len(memo) > MEMO_MAX:
        raise ClientError(400, f"memo must be at most {MEMO_MAX} characters")
    if has_invisible(memo):
        raise ClientError(400, "memo must not contain control or invisible formatting characters")
    return memo


def check_avatar(user_id: int, avatar: str, original_assets: Path | None = None) -> str:
    """'' (no avatar) or the URL of an image this user uploaded here (the picture or its
    thumbnail); 400 otherwise. With `original_assets` (the original client's folder, when
    it is served) also `/asset/...` or `/mnt/...` naming one of its files: the built-in
    avatar the original's register page sends, or an imported user's old upload. Runs in the database pool
    (it reads the upload's row, or stats the file)."""
    avatar = avatar.strip()
    if not avatar:
        return ""
    if original_assets is not None and asset_url_file(original_assets, avatar) is not None:
        return avatar
    key = storage.key_of_url(avatar)
    found = media_q.find_media([key]).get(key) if key else None
    if found is None:
        raise ClientError(400, "avatar must be the URL of an image uploaded here")
    if found["kind"] != "image":
        raise ClientError(400, "avatar must be an image")
    if found["user_id"] != user_id:
        # Someone else's upload: a URL is the capability to forward a photo, not to wear it.
        raise ClientError(400, "avatar must be an image you uploaded")
    if avatar not in (
        storage.url_for(found["path"]),
        storage.url_for(found["thumb"]) if found["thumb"] else "",
    ):
        raise ClientError(400, "avatar must be the URL of an image uploaded here")
    return avatar


def original_assets(ctx: Ctx) -> Path | None:
    """The original client's folder when chatd serves its asset/ and mnt/."""
    return ctx.settings.original_client_dir


def user_updated(user: PublicUser, to: tuple[int, ...]) -> Notice:
    """The cmd 15 frame `{"type": "user_updated", "user"}` for every socket of `to`."""
    return Notice(to, encode({"cmd": CMD_NOTICE, "type": "user_updated", "user": user}))


async def do_update_profile(
    ctx: Ctx, user_id: int, nickname: str | None, avatar: str | None, memo: str | None
) -> PublicUser:
    """Change the fields given (None: keep) and answer the public user. 400 on a bad field,
    with nothing changed. The user's own sockets and their friends' get `user_updated`."""
    fields: dict[str, str] = {}
    if nickname is not None:
        fields["nickname"] = check_nickname(nickname)
    if memo is not None:
        fields["memo"] = check_memo(memo)

    def change() -> tuple[PublicUser, list[Event]]:
        if avatar is not None:
            fields["avatar"] = check_avatar(user_id, avatar, original_assets(ctx))
        user = profile_q.update_profile(user_id, fields)
        if user is None:
            raise ClientError(404, "no such user")
        friends = profile_q.friend_ids(user_id)
        return user, [user_updated(user, (user_id, *friends))]

    return await commit(ctx, change)
