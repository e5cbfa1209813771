"""POST /attach/upload (streamed to disk) and GET /upload/... (the stored files)."""

from __future__ import annotations

import logging
from typing import Any

import tornado.web

from handlers.base import BaseHandler
from server import storage
from server.errors import ClientError
from server.services import uploads

log = logging.getLogger(__name__)

MULTIPART_SLACK = 64 * 1024  # boundaries and part headers around the file


@tornado.web.stream_request_body
class UploadHandler(BaseHandler):
    receiver: uploads.UploadReceiver | None = None

    async def prepare(self) -> None:
        await super().prepare()  # the token first: no body is read for a stranger
        declared = self.get_query_argument("kind", None)
        limit = uploads.limit_for(self.ctx, declared) + MULTIPART_SLACK
        length = self.request.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise ClientError(413, f"file is larger than {(limit - MULTIPART_SLACK) // (1024 * 1024)} MB")
        # Past this Tornado drops the connection; we answer 413 before it gets there.
        self.request.connection.set_max_body_size(limit + 1)  # type: ignore[union-attr]
        self.receiver = uploads.UploadReceiver(
            self.ctx, self.request.headers.get("Content-Type", ""), declared
        )

    async def data_received(self, chunk: bytes) -> None:
        if self._finished or self.receiver is None:
            return
        try:
            await self.receiver.feed(chunk)
        except ClientError as exc:
            self._refuse(exc)

    def _refuse(self, exc: ClientError) -> None:
        # Answer at once and drop the rest of the body; nothing of it is kept.
        if self.receiver is not None:
            self.receiver.discard()
        log.warning("upload by user %s refused: %d %s", getattr(self, "user_id", "?"), exc.status, exc.msg)
        self.send_error(exc.status, reason_msg=exc.msg)

    async def post(self) -> None:
        if self._finished or self.receiver is None:
            return
        try:
            await self.receiver.finish()
        except ClientError as exc:
            self._refuse(exc)
            return
        self.ok(await uploads.do_upload(self.ctx, self.user_id, self.receiver))

    def on_connection_close(self) -> None:
        if self.receiver is not None:
            self.receiver.discard()
        super().on_connection_close()

    def on_finish(self) -> None:
        if self.receiver is not None:
            self.receiver.discard()


class UploadFileHandler(tornado.web.StaticFileHandler):
    """Stored uploads with their stored type, ETag (304) and Range (206). Names are
    random and never reused, so they may be cached for a year."""

    TYPES = {
        ".jpg": "image/jpeg",
        ".png": "image/png",
        ".gif": "image/gif",
        ".webp": "image/webp",
        ".mp3": "audio/mpeg",
    }

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
        # Only inline-safe types are ever stored; anything else would be a download.
        if self.get_content_type() == "application/octet-stream":
            self.set_header("Content-Disposition", "attachment")
        self.set_header("Content-Security-Policy", "default-src 'none'; sandbox")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.finish({"code": -1, "msg": self._reason})
