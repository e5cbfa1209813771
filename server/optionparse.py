"""Parsers for option values: each takes the raw text and returns the value or raises
ValueError saying what is wrong (server/settings.py names the option)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from server.paths import DATA_ROOT

N = TypeVar("N", int, float)


def _ranged(kind: Callable[[str], N], what: str, lo: N, hi: N) -> Callable[[str], N]:
    def parse(raw: str) -> N:
        try:
            value = kind(raw)
        except ValueError:
            raise ValueError(f"{raw!r} is not {what}") from None
        if not lo <= value <= hi:
            raise ValueError(f"{value} is outside {lo}..{hi}")
        return value

    return parse


def _int(lo: int, hi: int) -> Callable[[str], int]:
    return _ranged(int, "a whole number", lo, hi)


def _float(lo: float, hi: float) -> Callable[[str], float]:
    return _ranged(float, "a number", lo, hi)


def _bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{raw!r} is not true/false")


def _database(raw: str) -> str:
    if raw.startswith("sqlite:///"):
        path = raw[len("sqlite:///") :]
        if not path:
            raise ValueError("sqlite URL has no file path")
        # sqlite:///rel/path is relative to DATA_ROOT; sqlite:////abs/path is absolute.
        if path != ":memory:" and not path.startswith("/"):
            path = str(DATA_ROOT / path)
        return "sqlite:///" + path
    if raw.startswith(("postgresql://", "postgres://")):
        return raw
    raise ValueError(f"{raw!r} is not sqlite:///PATH or postgresql://...")


def _redis(raw: str) -> str:
    if raw == "" or raw.startswith(("redis://", "rediss://", "unix://")):
        return raw
    raise ValueError(f"{raw!r} is not a redis:// URL")


def _path(raw: str) -> Path:
    if not raw.strip():
        raise ValueError("is empty")
    path = Path(raw).expanduser()
    return path if path.is_absolute() else (DATA_ROOT / path)


def _optional_path(raw: str) -> Path | None:
    return _path(raw) if raw.strip() else None


def _origins(raw: str) -> tuple[str, ...]:
    origins = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    for origin in origins:
        if not re.match(r"^https?://[^/\s]+$", origin):
            raise ValueError(f"{origin!r} is not an origin like https://chat.example.org")
    return origins


def _addresses(raw: str) -> tuple[str, ...]:
    found = tuple(a.strip() for a in raw.split(",") if a.strip())
    for address in found:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise ValueError(f"{address!r} is not an IP address") from None
    return found


def _networks(raw: str) -> tuple[str, ...]:
    found = []
    for item in (a.strip() for a in raw.split(",")):
        if not item:
            continue
        try:
            found.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or network like 10.0.0.0/8") from None
    return tuple(found)


def _host(raw: str) -> str:
    if not raw.strip():
        raise ValueError("is empty (use 0.0.0.0 to listen on every interface)")
    return raw.strip()


def _bitrate(raw: str) -> str:
    if re.match(r"^[1-9][0-9]{1,2}k$", raw):
        return raw
    raise ValueError(f"{raw!r} is not a bitrate like 64k")


def _synchronous(raw: str) -> str:
    if raw.lower() in ("full", "normal"):
        return raw.lower()
    raise ValueError(f"{raw!r} is not full or normal")


def _registration(raw: str) -> str:
    if raw.strip().lower() in ("open", "invite", "closed"):
        return raw.strip().lower()
    raise ValueError(f"{raw!r} is not open, invite or closed")
