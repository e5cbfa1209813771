"""The original Go IM client's ways, accepted with `original_client` on (issue 12).

Its pages post forms with the cookie alone (no _xsrf token) and name the caller in a
`userid` (or `ownerid`) field, which the original server believed; they read only HTTP 200
answers. Here a request is its pages' when it carries neither an _xsrf token nor an
Authorization header; such a request must come from this site's own pages, and a `userid`
it sends must be the signed-in user's own."""

from __future__ import annotations

import functools
import re
import unicodedata
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

from tornado import httputil

from server.errors import ClientError

XSRF_HEADERS = ("X-Xsrftoken", "X-Csrftoken")
CLAIMED = ("userid", "ownerid")  # fields the original's pages fill with their own user id


def is_plain_request(request: httputil.HTTPServerRequest) -> bool:
    headers = request.headers
    if any(headers.get(name) for name in (*XSRF_HEADERS, "Authorization")):
        return False
    return not (request.query_arguments.get("_xsrf") or request.body_arguments.get("_xsrf"))


def check_same_origin(request: httputil.HTTPServerRequest) -> None:
    """A POST authorised by the cookie alone must say it comes from this site: the browser's
    Sec-Fetch-Site, or else its Origin. A request that says neither is refused too (every
    browser since 2020 sends one of them on a POST), and other origins are, even those in
    allowed_origins: those may open sockets, never use a cookie without _xsrf."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        if site != "same-origin":
            raise ClientError(403, f"a request without _xsrf must come from this site (not {site[:20]})")
        return
    origin = request.headers.get("Origin")
    host = request.headers.get("Host", "").lower()
    if not origin or urllib.parse.urlsplit(origin).netloc.lower() != host:
        raise ClientError(403, "a request without _xsrf must come from this site's pages")


def check_claimed_user(args: dict[str, Any], user_id: int, claims_userid: bool) -> None:
    """The original server took the caller from these fields; here the cookie says who
    calls, and a field naming someone else is refused rather than silently ignored."""
    for name in CLAIMED if claims_userid else CLAIMED[1:]:
        claimed = args.get(name)
        if claimed not in (None, "") and str(claimed).strip() != str(user_id):
            raise ClientError(403, f"{name} is not the signed-in user")


# -- its frames ---------------------------------------------------------------------------
SERVER_CMID_PREFIX = "~"  # a client's cmid may not start so (refused): these are the server's
# What its page renders: cmd 10/11 frames of these media (text, voice, image, emoji, video).
ORIGINAL_MEDIA = frozenset({1, 3, 4, 6, 8})
STICKER_PREFIX = "/asset/plugins/doutu/"  # its sticker panel's GIFs, sent as media 4 URLs
STICKER_SUFFIXES = frozenset({".gif", ".png", ".jpg", ".jpeg", ".webp"})


def server_cmid() -> str:
    """A cmid for a frame that came without one. Unique, so no retry of it can be told."""
    return SERVER_CMID_PREFIX + uuid.uuid4().hex


def shown_to_original(message: dict[str, Any], user_id: int) -> bool:
    """Whether the original's page should get this message: one of the media it renders,
    and not the user's own (its page shows what it sends by itself, and the original server
    never sent a sender their own message back)."""
    return message.get("userid") != user_id and message.get("media") in ORIGINAL_MEDIA


@functools.cache
def sticker_files(folder: Path) -> frozenset[str]:
    """The sticker images under the original's asset/plugins/doutu/, as relative paths
    (read once: the set is fixed while the server runs)."""
    root = folder / "asset" / "plugins" / "doutu"
    if not root.is_dir():
        return frozenset()
    return frozenset(
        unicodedata.normalize("NFC", path.relative_to(root).as_posix())
        for path in root.rglob("*")
        if path.suffix.lower() in STICKER_SUFFIXES and path.is_file()
    )


def sticker_url(folder: Path | None, url: str) -> str | None:
    """The canonical URL of one of the original's stickers that `url` names (plain or
    percent-encoded), or None. Only names of files that are there match: no traversal."""
    if folder is None or not url.startswith(STICKER_PREFIX):
        return None
    # Its page builds them as ".../doutu/" + "/" + "mkgif/NAME.gif": the same file.
    rest = re.sub("/{2,}", "/", urllib.parse.unquote(url[len(STICKER_PREFIX) :])).lstrip("/")
    rest = unicodedata.normalize("NFC", rest)
    return STICKER_PREFIX + rest if rest in sticker_files(folder) else None
