"""One logging filter that keeps login tokens and XSRF values out of every log line.

Tokens reach log text through request URIs (the WebSocket URL carries `token=`), headers
(`Authorization: Bearer`, the `chatd_token` cookie) echoed by Tornado's own warnings such as
"Malformed HTTP message", and request reprs in "Uncaught exception". The filter sits on the
root handlers, so it sees records from every logger, whoever wrote the line."""

from __future__ import annotations

import logging
import re

_SECRETS = re.compile(
    r"(?P<key>(?:token|_xsrf)(?:=|%3D)|bearer\s+)(?P<value>[^\s&;,'\"\\]+)",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """Replace the values of token=, chatd_token=, _xsrf= and Bearer with ***."""
    return _SECRETS.sub(r"\g<key>***", text)


class RedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string is the handler's to report
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            # Format the traceback now so that its text can be redacted too (a handler
            # caches exc_text and would otherwise format it unredacted).
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def install(root: logging.Logger | None = None) -> None:
    """Add the filter to every handler of the root logger (call after basicConfig)."""
    root = root or logging.getLogger()
    for handler in root.handlers:
        if not any(isinstance(f, RedactFilter) for f in handler.filters):
            handler.addFilter(RedactFilter())
