"""BaseHandler: token auth, request arguments, the JSON envelope and error rendering."""

from __future__ import annotations

import logging
from functools import cached_property
from typing import Any

import orjson
import tornado.web

from server import logredact, original
from server.context import Ctx
from server.errors import ClientError
from server.services import accounts
from server.textcheck import has_control

log = logging.getLogger(__name__)

TOKEN_COOKIE = "chatd_token"  # noqa: S105 - a cookie name, not a secret
# Ids and small numbers are 32-bit INTEGER columns on PostgreSQL: a larger value is a 500
# there (and fine on SQLite), so refuse it up front on both.
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def redact_tokens(text: str) -> str:
    """Logs must not carry tokens (the WebSocket URL has one in its query). The root log
    filter (server/logredact.py) does this for every line; the access log and the socket's
    request summary also do it themselves, so they stay clean wherever logging is set up."""
    return logredact.redact(text)


def token_from(handler: tornado.web.RequestHandler, body_args: dict[str, Any]) -> tuple[str, str]:
    """(token, source): Authorization header, then a token parameter, then the cookie."""
    header = handler.request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip(), "header"
    param = body_args.get("token") or handler.get_query_argument("token", "")
    if param:
        return str(param), "param"
    cookie = handler.get_cookie(TOKEN_COOKIE, "")
    return (cookie, "cookie") if cookie else ("", "")


class BaseHandler(tornado.web.RequestHandler):
    """JSON API handler. Subclasses set `public = True` to skip the token check."""

    public = False
    claims_userid = True  # `userid` names the caller in the original's calls (not here: False)
    user_id: int
    token: str

    @property
    def ctx(self) -> Ctx:
        ctx: Ctx = self.application.settings["ctx"]
        return ctx

    @cached_property
    def args(self) -> dict[str, Any]:
        """Body arguments from JSON or a form, plus query arguments."""
        merged: dict[str, Any] = {k: self.get_query_argument(k) for k in self.request.query_arguments}
        content_type = self.request.headers.get("Content-Type", "")
        if content_type.startswith("application/json") and self.request.body:
            try:
                body = orjson.loads(self.request.body)
            except orjson.JSONDecodeError:
                raise ClientError(400, "body is not valid JSON") from None
            if not isinstance(body, dict):
                raise ClientError(400, "body must be a JSON object")
            merged.update(body)
        else:
            for key in self.request.body_arguments:
                merged[key] = self.get_body_argument(key)
        return merged

    def check_xsrf_cookie(self) -> None:
        # The cookie alone must not authorise a cross-site POST; a header or parameter
        # token cannot be forged by another site, so only cookie-authenticated requests
        # need the _xsrf check.
        if not self.public and token_from(self, self._args_or_empty())[1] == "cookie":
            if self.from_original_client:
                original.check_same_origin(self.request)
            else:
                super().check_xsrf_cookie()

    @cached_property
    def from_original_client(self) -> bool:
        """A request from the original Go IM's pages (with `original_client` on): no _xsrf
        token and no Authorization header. It is checked by its origin instead of _xsrf,
        and its errors answer HTTP 200 with code -1, the only answers those pages read."""
        # Its calls are POSTs; a GET (a page, a file, a missing path) keeps its real status.
        request = self.request
        return (
            self.ctx.settings.original_client
            and request.method == "POST"
            and original.is_plain_request(request)
        )

    def _args_or_empty(self) -> dict[str, Any]:
        try:
            return self.args
        except ClientError:
            return {}

    async def prepare(self) -> None:
        if self.public:
            return
        token, _ = token_from(self, self.args)
        self.user_id = await accounts.access_token(self.ctx, token)
        self.token = token
        if self.from_original_client:
            original.check_claimed_user(self.args, self.user_id, self.claims_userid)

    @property
    def client_address(self) -> str:
        """The address rate limits count against. `python -m server` trusts X-Real-IP and
        X-Forwarded-For (xheaders), which any client can send: they name the client only
        when the connection comes from a trusted proxy; otherwise the TCP peer counts, so a
        forged header cannot dodge the per-address limits."""
        address = getattr(getattr(self.request.connection, "context", None), "address", None)
        peer = address[0] if isinstance(address, tuple) and address else None
        if peer is None or peer in self.ctx.settings.trusted_proxies:
            return self.request.remote_ip or ""
        return str(peer)

    def str_arg(self, name: str, default: str | None = None, max_len: int = 4000) -> str:
        value = self.args.get(name)
        if value is None:  # absent or JSON null: the default, if there is one
            value = default
        if value is None:
            raise ClientError(400, f"missing {name}")
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise ClientError(400, f"{name} must be a string")
        text = str(value)
        if len(text) > max_len:
            raise ClientError(400, f"{name} too long")
        if has_control(text):  # NUL is a 500 on PostgreSQL; no field needs the others
            raise ClientError(400, f"{name} must not contain control characters")
        return text

    def int_arg(
        self,
        name: str,
        default: int | None = None,
        required: bool = True,
        lo: int = -(2**63),
        hi: int = 2**63 - 1,
    ) -> int | None:
        """An integer argument within lo..hi (default: 64-bit); 400 otherwise."""
        value = self.args.get(name)
        if value is None or value == "":
            if default is None and required:
                raise ClientError(400, f"missing {name}")
            return default
        # bool is an int in Python and int(1.7) would silently be 1: neither is an integer here.
        if isinstance(value, (bool, float)):
            raise ClientError(400, f"{name} must be an integer")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ClientError(400, f"{name} must be an integer") from None
        # Past the column's width the database driver raises (a 500); no id or count is that large.
        if not lo <= number <= hi:
            raise ClientError(400, f"{name} out of range")
        return number

    def bool_arg(self, name: str) -> bool | None:
        """true/false (JSON), 1/0, or their text (a form); None when absent or empty."""
        value = self.args.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool) or value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.lower() in ("true", "1", "false", "0"):
            return value.lower() in ("true", "1")
        raise ClientError(400, f"{name} must be true or false")

    def id_arg(self, name: str, required: bool = True) -> int | None:
        """A row id (a 32-bit column on PostgreSQL)."""
        return self.int_arg(name, required=required, lo=INT32_MIN, hi=INT32_MAX)

    def set_default_headers(self) -> None:
        # API answers are never meant to be framed (clickjacking; issue 7 point 17).
        self.set_header("X-Frame-Options", "DENY")

    def ok(self, data: Any = None) -> None:
        self._write_json({"code": 0, "msg": "", "data": data if data is not None else {}})

    def ok_rows(self, rows: list[Any]) -> None:
        self._write_json({"code": 0, "rows": rows, "total": len(rows)})

    def _write_json(self, envelope: dict[str, Any]) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(orjson.dumps(envelope))

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, ClientError):
            if e.status >= 500:
                log.error("%s %s: %s", self.request.method, self.request.path, e.msg)
            else:
                log.warning("%s %s -> %d %s", self.request.method, self.request.path, e.status, e.msg)
            if not self._finished:
                self.send_error(e.status, reason_msg=e.msg, retry_after=e.retry_after)
            return
        super()._handle_request_exception(e)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        msg = kwargs.get("reason_msg")
        if msg is None:
            exc_info = kwargs.get("exc_info")
            exc = exc_info[1] if exc_info else None
            if isinstance(exc, tornado.web.HTTPError) and exc.log_message and status_code < 500:
                msg = exc.log_message % exc.args if exc.args else exc.log_message
            elif status_code >= 500 and self.settings.get("debug") and exc is not None:
                msg = f"{type(exc).__name__}: {exc}"
            else:
                msg = self._reason
        if kwargs.get("retry_after"):
            self.set_header("Retry-After", str(kwargs["retry_after"]))
        if self.from_original_client:
            self.set_status(200)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(orjson.dumps({"code": -1, "msg": msg}))
