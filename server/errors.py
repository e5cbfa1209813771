"""The one error type services raise for a client's mistake."""

from __future__ import annotations


class ClientError(Exception):
    """A request or frame the server refuses: HTTP status (or cmd 13 code) plus a human reason."""

    def __init__(self, status: int, msg: str, retry_after: int | None = None) -> None:
        super().__init__(msg)
        self.status = status
        self.msg = msg
        self.retry_after = retry_after  # seconds, sent as Retry-After with a 429/503

    def __reduce__(self) -> tuple[type[ClientError], tuple[int, str, int | None]]:
        # Raised in media worker processes too, so it must survive pickling.
        return (ClientError, (self.status, self.msg, self.retry_after))
