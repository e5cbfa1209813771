"""The one error type services raise for a client's mistake."""

from __future__ import annotations


class ClientError(Exception):
    """A request or frame the server refuses: HTTP status (or cmd 13 code) plus a human reason."""

    def __init__(self, status: int, msg: str) -> None:
        super().__init__(msg)
        self.status = status
        self.msg = msg

    def __reduce__(self) -> tuple[type[ClientError], tuple[int, str]]:
        # Raised in media worker processes too, so it must survive pickling.
        return (ClientError, (self.status, self.msg))
