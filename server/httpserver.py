"""The HTTPServer chatd serves with, built the same way in production and in tests: small
request bodies, header/body/idle timeouts, and a 413 before any body byte is read.

Tornado's defaults (64 MiB bodies buffered in memory, an hour to send them, an hour of
idle keep-alive) let a few slow clients with no token hold hundreds of MB."""

from __future__ import annotations

import logging
from asyncio import Future
from collections.abc import Awaitable

import orjson
import tornado.web
from tornado import httputil, iostream
from tornado.http1connection import HTTP1Connection
from tornado.httpserver import HTTPServer

from server.settings import Settings

log = logging.getLogger(__name__)

# Routes that stream their body to disk (their handler checks the exact limit per kind).
STREAMING_PATHS = frozenset({"/attach/upload"})
MULTIPART_SLACK = 64 * 1024  # boundaries and part headers around an uploaded file


def upload_body_limit(settings: Settings) -> int:
    """The largest body an upload request may declare (any kind, with multipart framing)."""
    largest = max(settings.image_max_bytes, settings.voice_max_bytes, settings.video_max_bytes,
                  settings.file_max_bytes)  # fmt: skip
    return largest + MULTIPART_SLACK


def make_http_server(app: tornado.web.Application, settings: Settings) -> HTTPServer:
    """An HTTPServer for `app` (not yet listening) with chatd's limits and timeouts."""
    return HTTPServer(
        _BodyLimits(app, settings),
        xheaders=True,
        max_body_size=settings.max_body_bytes,
        # Tornado uses this as the header timeout too: a connection that does not finish its
        # request headers (half-open, idle keep-alive, slowloris) is closed after it.
        idle_connection_timeout=settings.idle_timeout,
        body_timeout=settings.body_timeout,
    )


class _BodyLimits(httputil.HTTPServerConnectionDelegate):
    def __init__(self, app: tornado.web.Application, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        inner = self.app.start_request(server_conn, request_conn)
        return _LimitedRequest(inner, request_conn, self.settings)

    def on_close(self, server_conn: object) -> None:
        self.app.on_close(server_conn)


class _LimitedRequest(httputil.HTTPMessageDelegate):
    """Refuses a declared body over max_body_bytes with 413 before reading any of it
    (Tornado itself would answer a bare 400); streaming routes get the upload limits."""

    def __init__(
        self, inner: httputil.HTTPMessageDelegate, conn: httputil.HTTPConnection, settings: Settings
    ) -> None:
        self.inner = inner
        self.conn = conn
        self.settings = settings
        self.refused = False

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> Awaitable[None] | None:
        assert isinstance(start_line, httputil.RequestStartLine)
        declared_raw = headers.get("Content-Length", "").strip()
        declared = int(declared_raw) if declared_raw.isascii() and declared_raw.isdigit() else 0
        path = start_line.path.split("?", 1)[0]
        if path in STREAMING_PATHS and isinstance(self.conn, HTTP1Connection):
            # The upload handler answers an oversized one itself (after the token, with the
            # limit for its kind) and reads nothing of it; Tornado must not answer first.
            self.conn.set_max_body_size(max(declared, upload_body_limit(self.settings)))
            self.conn.set_body_timeout(self.settings.upload_timeout)
        elif declared > self.settings.max_body_bytes and isinstance(self.conn, HTTP1Connection):
            self._refuse(start_line, self.settings.max_body_bytes)
            return None
        return self.inner.headers_received(start_line, headers)

    def _refuse(self, start_line: httputil.RequestStartLine, limit: int) -> None:
        self.refused = True
        assert isinstance(self.conn, HTTP1Connection)
        # Detached, Tornado reads nothing more from this connection; we answer and close.
        stream = self.conn.detach()
        log.warning("%s %s refused: body larger than %d bytes", start_line.method, start_line.path, limit)
        body = orjson.dumps({"code": -1, "msg": f"request body is larger than {limit} bytes"})
        head = (
            "HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()

        def close(written: Future[None]) -> None:
            if not written.cancelled():
                written.exception()  # a client already gone is no error of ours
            stream.close()

        try:
            stream.write(head + body).add_done_callback(close)
        except iostream.StreamClosedError:
            pass

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        return self.inner.data_received(chunk)

    def finish(self) -> None:
        if not self.refused:
            self.inner.finish()

    def on_connection_close(self) -> None:
        if not self.refused:
            self.inner.on_connection_close()
