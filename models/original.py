"""The original server's MySQL/MariaDB tables (xorm names: user, contact, community), read
in pages by id for `chatd import-original`. Nothing here writes to them."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

import pymysql

# The columns read from each table (a missing one stops the import before anything is written).
COLUMNS = {
    "user": ("id", "mobile", "passwd", "avatar", "sex", "nickname", "salt", "memo", "createat"),
    "community": ("id", "name", "ownerid", "icon", "cate", "memo", "createat"),
    "contact": ("id", "ownerid", "dstobj", "cate", "createat"),
}
CONNECT_TIMEOUT_S = 5
READ_TIMEOUT_S = 300  # one page; a stuck server ends the import instead of hanging it


class SourceError(RuntimeError):
    """The original database cannot be read: a bad URL, no answer, no such table."""


@dataclass(frozen=True)
class Source:
    host: str
    port: int
    user: str
    password: str
    database: str

    def label(self) -> str:
        """The URL without its password (for messages and the summary)."""
        return f"mysql://{self.user}@{self.host}:{self.port}/{self.database}"


class OrigUser(NamedTuple):
    id: int
    mobile: str
    passwd: str
    avatar: str
    sex: str
    nickname: str
    salt: str
    memo: str
    createat: int  # ms since the epoch; 0 when the row has none


class OrigCommunity(NamedTuple):
    id: int
    name: str
    owner_id: int
    icon: str
    cate: int
    memo: str
    createat: int


class OrigContact(NamedTuple):
    id: int
    owner_id: int
    dst_id: int
    cate: int  # 1: friend (ownerid -> dstobj), 2: ownerid is a member of community dstobj
    createat: int


def parse_url(url: str) -> Source:
    """mysql://user:pass@host[:port]/db; SourceError saying what is wrong with it."""
    try:
        parts = urlsplit(url)
        port = parts.port or 3306
    except ValueError as exc:
        raise SourceError(f"bad URL {_hide(url)!r}: {exc}") from None
    if parts.scheme not in ("mysql", "mariadb"):
        raise SourceError(f"bad URL {_hide(url)!r}: give mysql://user:pass@host[:port]/db")
    database = unquote(parts.path.lstrip("/"))
    if not parts.hostname or not database or "/" in database:
        raise SourceError(f"bad URL {_hide(url)!r}: give mysql://user:pass@host[:port]/db")
    return Source(
        host=parts.hostname,
        port=port,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        database=database,
    )


def _hide(url: str) -> str:
    """The URL with its password replaced, for error messages."""
    head, at, tail = url.rpartition("@")
    if not at or ":" not in head.partition("://")[2]:
        return url
    scheme, _, credentials = head.partition("://")
    return f"{scheme}://{credentials.partition(':')[0]}:***@{tail}"


def _ms(value: Any) -> int:
    # xorm stores local time in DATETIME columns; a zero date comes back as None or a string.
    return int(value.timestamp() * 1000) if isinstance(value, datetime.datetime) else 0


def _text(value: Any) -> str:
    return "" if value is None else str(value)


class OriginalDb:
    """One read-only connection to the original database."""

    def __init__(self, source: Source) -> None:
        self.source = source
        try:
            self.conn = pymysql.connect(
                host=source.host,
                port=source.port,
                user=source.user,
                password=source.password,
                database=source.database,
                charset="utf8mb4",
                connect_timeout=CONNECT_TIMEOUT_S,
                read_timeout=READ_TIMEOUT_S,
            )
        except pymysql.MySQLError as exc:
            raise SourceError(f"cannot read {source.label()}: {_reason(exc)}") from None

    def close(self) -> None:
        self.conn.close()

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            with self.conn.cursor() as cur:
                cur.execute(sql, args)
                return list(cur.fetchall())
        except pymysql.MySQLError as exc:
            raise SourceError(f"cannot read {self.source.label()}: {_reason(exc)}") from None

    def check(self) -> dict[str, int]:
        """Rows per table; SourceError when a table or one of its columns is missing."""
        counts = {}
        for table, columns in COLUMNS.items():
            self._rows(f"SELECT {', '.join(columns)} FROM `{table}` LIMIT 0")  # noqa: S608 - fixed names
            counts[table] = int(self._rows(f"SELECT COUNT(*) FROM `{table}`")[0][0])  # noqa: S608
        return counts

    def max_id(self, table: str) -> int:
        assert table in COLUMNS
        return int(self._rows(f"SELECT COALESCE(MAX(id), 0) FROM `{table}`")[0][0])  # noqa: S608

    def _page(self, table: str, after: int, limit: int) -> list[tuple[Any, ...]]:
        columns = ", ".join(COLUMNS[table])
        sql = f"SELECT {columns} FROM `{table}` WHERE id > %s ORDER BY id LIMIT %s"  # noqa: S608 - fixed names
        return self._rows(sql, (after, limit))

    def users(self, after: int, limit: int) -> list[OrigUser]:
        """Up to `limit` users with an id above `after`, by id."""
        return [
            OrigUser(
                int(i), _text(m), _text(p), _text(a), _text(s), _text(n), _text(salt), _text(memo), _ms(c)
            )
            for i, m, p, a, s, n, salt, memo, c in self._page("user", after, limit)
        ]

    def communities(self, after: int, limit: int) -> list[OrigCommunity]:
        return [
            OrigCommunity(int(i), _text(n), int(o or 0), _text(icon), int(cate or 0), _text(memo), _ms(c))
            for i, n, o, icon, cate, memo, c in self._page("community", after, limit)
        ]

    def contacts(self, after: int, limit: int) -> list[OrigContact]:
        return [
            OrigContact(int(i), int(o or 0), int(d or 0), int(cate or 0), _ms(c))
            for i, o, d, cate, c in self._page("contact", after, limit)
        ]


def _reason(exc: pymysql.MySQLError) -> str:
    """The server's or driver's message alone (PyMySQL's args are (code, message))."""
    args = exc.args
    message = str(args[1]) if len(args) > 1 else str(exc)
    return " ".join(message.split()) or type(exc).__name__
