"""POST /attach/upload (streamed to disk) and GET /upload/... (the stored files)."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Awaitable
from typing import Any

import tornado.web
from tornado.ioloop import IOLoop
from tornado.iostream import StreamClosedError

from handlers.base import BaseHandler
from server import storage
from server.errors import ClientError
from server.httpserver import MULTIPART_SLACK
from server.services import attachments, uploads

log = logging.getLogger(__name__)

# An absolute path in an error text (Pillow names the file it could not read): never shown.
_ABSOLUTE_PATH = re.compile(r"""(?<![\w.:/])/(?:[^\s'"/]+/)+[^\s'",)]*""")


def public_message(msg: str) -> str:
    """A refusal's text without any server path in it."""
    return _ABSOLUTE_PATH.sub("the file", msg)


@tornado.web.stream_request_body
class UploadHandler(BaseHandler):
    receiver: uploads.UploadReceiver | None = None
    _slot: uploads.UploadSlot | None = None  # the upload slot this request holds
    _stall_timer: object | None = None
    _last_bytes = 0.0
    _processing = False
    _counted = False

    async def prepare(self) -> None:
        await super().prepare()  # the token first: no body is read for a stranger
        declared = self.get_query_argument("kind", None)
        limit = uploads.limit_for(self.ctx, declared) + MULTIPART_SLACK
        length = self.request.headers.get("Content-Length")
        if length is not None and length.isascii() and length.isdigit() and int(length) > limit:
            raise ClientError(413, f"file is larger than {(limit - MULTIPART_SLACK) // (1024 * 1024)} MB")
        self._slot = await self._slots.take(self.user_id)  # 429 before any body byte is read
        # Past this Tornado drops the connection; we answer 413 before it gets there.
        self.request.connection.set_max_body_size(limit + 1)  # type: ignore[union-attr]
        self.receiver = uploads.UploadReceiver(
            self.ctx,
            self.request.headers.get("Content-Type", ""),
            declared,
            self.get_query_argument("name", ""),
        )
        self._last_bytes = IOLoop.current().time()
        self._watch_stall()

    @property
    def _slots(self) -> uploads.UploadSlots:
        slots: uploads.UploadSlots = self.application.settings["upload_slots"]
        return slots

    def _watch_stall(self) -> None:
        # A client that declares a large body, sends part and goes quiet would hold its
        # connection, slot and temp file until the whole-upload timeout; cut it sooner.
        loop = IOLoop.current()
        limit = self.ctx.settings.upload_stall_timeout
        quiet = loop.time() - self._last_bytes
        if quiet < limit:
            self._stall_timer = loop.call_later(limit - quiet, self._watch_stall)
            return
        self._stall_timer = None
        log.warning("upload by user %s stalled: nothing for %.0f s", self.user_id, limit)
        self._release()
        if not self._finished:
            self.send_error(408, reason_msg=f"the upload sent nothing for {limit:.0f} s")

    async def data_received(self, chunk: bytes) -> None:
        if self._finished or self.receiver is None:
            return
        self._last_bytes = IOLoop.current().time()
        try:
            await self.receiver.feed(chunk)
        except ClientError as exc:
            await self._refuse(exc)
        self._last_bytes = IOLoop.current().time()  # time the server spent is not the client's

    async def _refuse(self, exc: ClientError) -> None:
        # Answer at once and drop the rest of the body; nothing of it is kept.
        if self.receiver is not None:
            await self.receiver.close()
        freed = self._release()
        if freed is not None:
            await freed
        if self._finished:
            return
        msg = public_message(exc.msg)
        log.warning("upload by user %s refused: %d %s", getattr(self, "user_id", "?"), exc.status, msg)
        self.send_error(exc.status, reason_msg=msg)

    async def post(self) -> None:
        self._stop_watching()
        if self._finished or self.receiver is None:
            return
        try:
            await self.receiver.finish()
            self._processing = True  # do_upload owns the temp file and the slot from here
            answer = await uploads.do_upload(self.ctx, self.user_id, self.receiver)
        except ClientError as exc:
            await self._refuse(exc)
            return
        freed = self._release()
        if freed is not None:
            await freed
        # The original's pages put `data` itself into the frame's url (or an avatar).
        original = self.ctx.settings.original_client and (
            self.from_original_client or self.receiver.field("filetype")
        )
        self.ok(answer["url"] if original else answer)

    def _stop_watching(self) -> None:
        if self._stall_timer is not None:
            IOLoop.current().remove_timeout(self._stall_timer)
            self._stall_timer = None

    def _release(self) -> Awaitable[None] | None:
        """Give back the slot, stop the stall watch and drop the temp file (idempotent).
        Returns the slot's release in Redis when it is counted there (see give_back)."""
        self._stop_watching()
        if self.receiver is not None:
            self.receiver.discard()
        slot, self._slot = self._slot, None
        return self._slots.give_back(slot) if slot is not None else None

    def on_connection_close(self) -> None:
        # A client gone while its upload is processed keeps its slot until the work ends,
        # so vanishing clients cannot queue more work than the caps allow.
        if not self._processing:
            self._release()
            self._count("abandoned")
        super().on_connection_close()

    def on_finish(self) -> None:
        self._release()
        status = self.get_status()
        self._count("stored" if status < 400 else "refused" if status < 500 else "failed")

    def _count(self, outcome: str) -> None:
        if not self._counted:  # once: a request can both finish and lose its connection
            self._counted = True
            kind = self.receiver.kind if self.receiver is not None else None
            self.ctx.metrics.upload(kind or "unknown", outcome)


class UploadFileHandler(tornado.web.StaticFileHandler):
    """Stored uploads with their stored type, ETag (304) and Range (206). Names are
    random and never reused, so they may be cached for a year."""

    TYPES = {
        ".jpg": "image/jpeg",
        ".png": "image/png",
        ".gif": "image/gif",
        ".webp": "image/webp",
        ".mp3": "audio/mpeg",
        ".mp4": "video/mp4",
        ".webm": "video/webm",
    }

    CHUNK = 256 * 1024
    _checked: str | None = None
    _body_range: tuple[int | None, int | None] | None = None
    _download_name: str | None = None  # a file (kind file): served only as this download

    async def get(self, path: str, include_body: bool = True) -> None:
        # StaticFileHandler resolves, stats and reads the file on the IOLoop; a slow or busy
        # disk would stall every socket. Here the path check and stat run in the media pool
        # first, Tornado then does headers, ETag/304 and Range/206 from the cached stat, and
        # the body is read in the pool chunk by chunk as the client takes it.
        pools = self.application.settings["ctx"].pools
        self._checked = await pools.media(self._check_path, path)
        if self._checked is not None and self._checked.endswith(attachments.FILE_SUFFIX):
            self._download_name = await attachments.download_name(self.application.settings["ctx"], path)
        await super().get(path, include_body)
        if self._body_range is not None and self.absolute_path is not None:
            await self._send_body(pools, self.absolute_path, *self._body_range)

    def _check_path(self, path: str) -> str | None:
        """In the media pool: what StaticFileHandler.get would do first (404 if missing)."""
        self.path = self.parse_url_path(path)
        absolute = self.get_absolute_path(self.root, self.path)
        return super().validate_absolute_path(self.root, absolute)

    def validate_absolute_path(self, root: str, absolute_path: str) -> str | None:
        return self._checked  # done in the pool by _check_path, with its stat cached

    def get_content(  # type: ignore[override]
        self, abspath: str, start: int | None = None, end: int | None = None
    ) -> list[bytes]:
        self._body_range = (start, end)  # read by _send_body, off the IOLoop
        return []

    async def _send_body(self, pools: Any, path: str, start: int | None, end: int | None) -> None:
        size = self.get_content_size()
        offset = start or 0
        stop = size if end is None else end
        fd = await pools.media(os.open, path, os.O_RDONLY)
        try:
            while offset < stop:
                chunk = await pools.media(os.pread, fd, min(self.CHUNK, stop - offset), offset)
                if not chunk:
                    break
                offset += len(chunk)
                self.write(chunk)
                await self.flush()
        except StreamClosedError:
            return
        finally:
            await pools.media(os.close, fd)

    def parse_url_path(self, url_path: str) -> str:
        # Only names of the shape storage makes; never temp files, never anything else.
        if storage.key_of_url(storage.url_for(url_path)) is None:
            raise tornado.web.HTTPError(404)
        return super().parse_url_path(url_path)

    def compute_etag(self) -> str | None:
        # A stored file never changes and its name is a random key, so the name is the
        # ETag; Tornado's default would read and hash the whole file and keep the hash
        # in memory for every file ever served.
        assert self.absolute_path is not None
        return '"' + self.absolute_path.rsplit("/", 1)[-1] + '"'

    def get_content_type(self) -> str:
        assert self.absolute_path is not None
        for suffix, mime in self.TYPES.items():
            if self.absolute_path.endswith(suffix):
                return mime
        return "application/octet-stream"

    def set_extra_headers(self, path: str) -> None:
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Cache-Control", "public, max-age=31536000, immutable")
        # Images, voice and video are stored re-encoded or remuxed and shown inline; a file
        # (HTML, SVG, a script, anything) is octet-stream and only ever a download.
        if self._download_name is not None:
            self.set_header("Content-Disposition", attachments.content_disposition(self._download_name))
        elif self.get_content_type() == "application/octet-stream":
            self.set_header("Content-Disposition", "attachment")
        self.set_header("Content-Security-Policy", "default-src 'none'; sandbox")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.finish({"code": -1, "msg": self._reason})
