"""Link previews: the title, description and image of a page a message links to, fetched by
the server (only with the option link_previews), so the reader's browser never contacts
that site. The fetch goes through server/linkfetch.py's guard (public addresses only); the
image is decoded and thumbnailed in a media worker and served from /upload/ like any
thumbnail. Answers are cached in the database by URL, misses too, for every process."""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import math
from typing import TYPE_CHECKING, TypedDict
from urllib.parse import urlsplit, urlunsplit

from models import linkpreviews as preview_q
from models.db import now_ms
from models.linkpreviews import PreviewRow
from server import linkfetch, media, pagemeta, storage
from server.errors import ClientError
from server.ratelimit import TokenBuckets
from server.settings import Settings
from server.sharedlimits import LeasedBuckets, RedisLink

if TYPE_CHECKING:
    from server.context import Ctx

log = logging.getLogger(__name__)

MAX_URL = linkfetch.MAX_URL
PAGE_MAX = 512 * 1024  # bytes of HTML read; the tags a preview needs are in <head>
IMAGE_MAX = 2 * 1024 * 1024  # bytes of image read; a larger one gets no image
HIT_TTL_MS = 24 * 3600 * 1000
MISS_TTL_MS = 3600 * 1000  # a site that was down or had no title is asked again sooner
HTML_TYPES = ("text/html", "application/xhtml+xml")
OFF = "link previews are off on this server"
NO_PREVIEW = "no preview"


class Preview(TypedDict):
    url: str
    title: str
    description: str
    site: str
    image: str  # /upload/... of the thumbnail, or ""


class LinkPreviews:
    """This process's fetches under way (one per URL, shared by everyone asking for it)
    and the per-user allowance of fetches (with Redis: the chat's)."""

    def __init__(self, settings: Settings, link: RedisLink, shared: bool) -> None:
        rate = settings.link_preview_rate
        self.limits: TokenBuckets = (
            LeasedBuckets(rate / 60.0, rate, link, "preview", 1)
            if shared
            else TokenBuckets(rate / 60.0, rate)
        )
        self.allow = tuple(ipaddress.ip_network(n) for n in settings.link_preview_allow)
        self.running: dict[str, asyncio.Future[PreviewRow]] = {}


def check_url(url: str) -> str:
    """The URL as cached and fetched: http(s) with a host, without its #fragment. 400 otherwise."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ClientError(400, "url must be an http or https URL")
    try:
        linkfetch.check_url(url)
    except linkfetch.Refused as exc:
        raise ClientError(400, f"url is not usable: {exc}") from None
    return urlunsplit((parts.scheme.lower(), parts.netloc, parts.path or "/", parts.query, ""))


async def get_preview(ctx: Ctx, user_id: int, raw_url: str) -> Preview:
    """The preview of `raw_url`: from the cache, or fetched now (counted against the user's
    link_preview_rate, 429 past it). 403 when previews are off, 404 when there is none."""
    if not ctx.settings.link_previews:
        raise ClientError(403, OFF)
    url = check_url(raw_url)
    row: PreviewRow | None = await ctx.pools.db(preview_q.find_preview, url, now_ms())
    if row is None:
        previews = ctx.link_previews
        running = previews.running.get(url)
        if running is None:
            await _charge(ctx, user_id)
            running = previews.running.get(url)  # another request may have started it meanwhile
        if running is None:
            running = asyncio.ensure_future(_fetch_and_store(ctx, user_id, url))
            previews.running[url] = running
            running.add_done_callback(lambda _: previews.running.pop(url, None))
        row = await asyncio.shield(running)  # one caller going away does not stop the others'
    assert row is not None
    if not row["found"]:
        raise ClientError(404, NO_PREVIEW)
    return Preview(
        url=row["url"],
        title=row["title"],
        description=row["description"],
        site=row["site"],
        image=row["image"],
    )


async def _charge(ctx: Ctx, user_id: int) -> None:
    limits = ctx.link_previews.limits
    while not limits.ready(user_id):  # with Redis: the chat's count, fetched first
        await limits.refill(user_id)
    if not limits.allow(user_id):
        wait = max(1, math.ceil(limits.wait_s(user_id)))
        raise ClientError(429, "too many link previews; try again later", retry_after=wait)


async def _fetch_and_store(ctx: Ctx, user_id: int, url: str) -> PreviewRow:
    settings = ctx.settings
    now = now_ms()
    row = PreviewRow(
        url=url,
        found=False,
        title="",
        description="",
        site="",
        image="",
        fetchedat=now,
        expireat=now + MISS_TTL_MS,
    )
    try:
        page = await linkfetch.fetch(
            url,
            allow=ctx.link_previews.allow,
            cap=PAGE_MAX,
            accept=HTML_TYPES,
            timeout=settings.link_preview_timeout,
        )
    except (linkfetch.Refused, TimeoutError) as exc:
        log.info(
            "no preview from %s: %s", urlsplit(url).hostname, exc or "timed out"
        )  # not the URL: it may hold a secret
        page = None
    if page is not None and page.status == 200 and page.mime in HTML_TYPES:
        # html.parser is pure Python: off the IOLoop, in the media threads.
        meta = await ctx.pools.media(pagemeta.parse_page, page.body, page.charset, page.url)
        if meta.title or meta.description:
            row["found"], row["title"], row["description"] = True, meta.title, meta.description
            row["site"] = meta.site
            row["expireat"] = now + HIT_TTL_MS
            if meta.image:
                row["image"] = await _store_image(ctx, user_id, url, meta.image)
    try:
        # Not shed: the fetch is done; its answer is worth keeping.
        gone = await ctx.pools.db(preview_q.store_preview, row, shed=False)
        for image in gone:
            relative = image.removeprefix(storage.URL_PREFIX)
            await ctx.pools.media(storage.remove, settings.upload_dir, relative)
    except Exception:
        log.exception("could not cache a preview from %s", urlsplit(url).hostname)
    return row


def image_key(ctx: Ctx, url: str) -> str:
    """The file name of a page's preview image: the same for the same page, so fetching it
    again replaces the file; keyed with the chat's identity so nobody outside can tell
    from a page's URL where its image is."""
    return hashlib.sha256(f"{ctx.chat_uid}:{url}".encode("utf-8", "surrogatepass")).hexdigest()[:32]


async def _store_image(ctx: Ctx, user_id: int, page_url: str, image_url: str) -> str:
    """The page's image fetched through the same guard, thumbnailed in a media worker and
    stored under /upload/; "" when there is none to show (too big, not an image, refused)."""
    settings = ctx.settings
    try:
        image = await linkfetch.fetch(
            image_url,
            allow=ctx.link_previews.allow,
            cap=IMAGE_MAX,
            accept=("image/",),
            timeout=settings.link_preview_timeout,
        )
    except (linkfetch.Refused, TimeoutError) as exc:
        log.info("no preview image from %s: %s", urlsplit(image_url).hostname, exc or "timed out")
        return ""
    if image.status != 200 or image.cut or not image.body:
        return ""
    try:
        thumb = await ctx.pools.media_process(
            media.preview_thumbnail, image.body, settings.image_max_pixels, owner=("link-preview", user_id)
        )
    except ClientError as exc:
        log.info("no preview image from %s: %s", urlsplit(image_url).hostname, exc.msg)
        return ""
    relative = storage.relative_path(image_key(ctx, page_url), ".thumb.webp")
    await ctx.pools.media(storage.write_atomically, settings.upload_dir, relative, thumb)
    return storage.url_for(relative)
