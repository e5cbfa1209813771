"""One typed, frozen Settings object: config file < CHATD_* environment < command line.

Nothing else in chatd reads config files or os.environ.
"""

from __future__ import annotations

import argparse
import configparser
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from server.optionparse import (
    _addresses,
    _bitrate,
    _bool,
    _database,
    _float,
    _host,
    _int,
    _networks,
    _optional_path,
    _origins,
    _path,
    _redis,
    _registration,
    _synchronous,
)
from server.paths import DATA_ROOT, DEFAULT_CONFIG, ROOT, SECTION

__all__ = ["DATA_ROOT", "DEFAULT_CONFIG", "ROOT", "SECTION", "Settings", "SettingsError", "load_settings"]


class SettingsError(ValueError):
    """A bad option value; the message names the option and is shown as one line."""


def _opt(default: Any, parse: Callable[[str], Any], help: str) -> Any:
    return field(default=default, metadata={"parse": parse, "help": help})


@dataclass(frozen=True)
class Settings:
    """Every option chatd has. Names match chatd.ini keys and --long-options (with dashes)."""

    host: str = _opt("127.0.0.1", _host, "address to listen on (0.0.0.0 for every interface)")
    port: int = _opt(8088, _int(1, 65535), "TCP port")
    database: str = _opt(
        "sqlite:///" + str(DATA_ROOT / "chatd.db"), _database, "sqlite:///PATH or postgresql://user@host/db"
    )
    upload_dir: Path = _opt(DATA_ROOT / "upload", _path, "where uploads are stored")
    redis_url: str = _opt("", _redis, "redis://host:port/db switches the bus to Redis pub/sub")
    processes: int = _opt(1, _int(1, 64), "worker processes on this port (more than 1 needs redis_url)")
    machine_id: str = _opt(
        "", str, "what tells this machine from others on the same Redis (default: /etc/machine-id)"
    )
    debug: bool = _opt(False, _bool, "development mode: tracebacks in errors, template reload")
    allowed_origins: tuple[str, ...] = _opt(
        (), _origins, "extra origins allowed to open the WebSocket, comma separated"
    )
    cookie_secure: bool = _opt(False, _bool, "mark the token cookie Secure (set behind HTTPS)")
    sqlite_synchronous: str = _opt(
        "full", _synchronous, "full: an ack survives power loss; normal: only a process crash"
    )
    db_threads: int = _opt(4, _int(1, 64), "database threads on PostgreSQL (SQLite always uses one writer)")
    hash_threads: int = _opt(2, _int(1, 64), "threads for password hashing")
    write_batch: int = _opt(500, _int(1, 10000), "most messages committed in one transaction")
    outbox_bytes: int = _opt(
        2 * 1024 * 1024,
        _int(4096, 1 << 30),
        "bytes a socket's reader may leave untaken before it is closed with 1013",
    )
    replay_page: int = _opt(500, _int(10, 10000), "messages read per query when replaying since=ID")
    max_text: int = _opt(4000, _int(1, 100_000), "longest text message, in characters")
    edit_window: int = _opt(
        48 * 3600, _int(0, 10 * 365 * 86400), "seconds after sending that its sender may edit a message"
    )
    recall_window: int = _opt(
        120, _int(0, 10 * 365 * 86400), "seconds after sending that its sender may recall a message"
    )
    max_frame_bytes: int = _opt(65536, _int(1024, 16 * 1024 * 1024), "largest WebSocket frame accepted")
    send_rate: float = _opt(
        20.0,
        _float(0.1, 100000),
        "messages a user may send per second, sustained (with redis_url: in all processes together)",
    )
    send_burst: int = _opt(
        100, _int(1, 1_000_000), "messages a user may send at once before the rate applies"
    )
    login_attempts: int = _opt(
        10, _int(1, 10000), "failed logins for one account from one address per 10 minutes before 429"
    )
    ping_interval: float = _opt(25.0, _float(0, 3600), "seconds between WebSocket pings (0: off)")
    token_days: int = _opt(90, _int(1, 3650), "days a login token stays valid without use")
    image_max_bytes: int = _opt(20 * 1024 * 1024, _int(1024, 1 << 30), "largest image upload, in bytes")
    image_max_pixels: int = _opt(
        40_000_000, _int(10_000, 500_000_000), "most pixels an image may decode to (decompression bombs)"
    )
    voice_max_bytes: int = _opt(10 * 1024 * 1024, _int(1024, 1 << 30), "largest voice upload, in bytes")
    voice_max_seconds: float = _opt(120.0, _float(1, 3600), "longest voice clip, in seconds")
    voice_bitrate: str = _opt("64k", _bitrate, "MP3 bitrate voice clips are stored at (mono)")
    video_max_bytes: int = _opt(
        100 * 1024 * 1024, _int(1024, 1 << 34), "largest video upload (MP4, WebM), in bytes"
    )
    file_max_bytes: int = _opt(
        50 * 1024 * 1024, _int(1024, 1 << 34), "largest file attachment (any other file), in bytes"
    )
    media_threads: int = _opt(2, _int(1, 64), "threads for image and voice work (apart from the database's)")
    ffmpeg_timeout: float = _opt(
        20.0,
        _float(1, 3600),
        "seconds one ffmpeg run on a voice clip or video may take (the whole job: media_job_timeout)",
    )
    # accounts: hashing queue, login and registration limits, open sockets' tokens
    hash_queue: int = _opt(16, _int(1, 10000), "password hashes queued or running before logins get 503")
    login_address_attempts: int = _opt(
        30, _int(1, 100_000), "failed logins from one address (any accounts) per 10 minutes before 429"
    )
    login_account_attempts: int = _opt(
        200, _int(1, 1_000_000), "failed logins for one account (any addresses) per 10 minutes before 429"
    )
    register_per_address: int = _opt(
        10, _int(1, 100_000), "registrations from one address per hour before 429"
    )
    token_check_interval: float = _opt(
        60.0, _float(0.01, 86400), "seconds between checks that open sockets' tokens are still valid"
    )
    trusted_proxies: tuple[str, ...] = _opt(
        ("127.0.0.1", "::1"),
        _addresses,
        "proxies whose X-Real-IP/X-Forwarded-For name the client for rate limits, comma separated",
    )
    # /metrics reveals activity (sockets, message and error rates): loopback only unless told
    metrics_allow: tuple[str, ...] = _opt(
        ("127.0.0.1/32", "::1/128"),
        _networks,
        "addresses or networks that may read /metrics and /healthz's reasons, comma separated "
        "(the client as trusted_proxies name it; empty: nobody)",
    )
    # media jobs: frames, deadlines, fair queue, worker recycling, shutdown
    image_max_frames: int = _opt(1000, _int(1, 1_000_000), "most frames an animated image may have")
    media_job_timeout: float = _opt(
        30.0, _float(0.1, 3600), "seconds a media job may run before its worker and ffmpeg are killed"
    )
    media_queue: int = _opt(100, _int(1, 100_000), "media jobs waiting for a worker before uploads get 503")
    media_queue_per_user: int = _opt(8, _int(1, 10_000), "media jobs one user may have waiting before 429")
    media_worker_jobs: int = _opt(200, _int(1, 1_000_000), "jobs a media worker runs before it is replaced")
    media_worker_rss_mb: int = _opt(
        256, _int(16, 1_000_000), "a media worker using more memory than this (MB) after a job is replaced"
    )
    media_workers_per_user: int = _opt(
        0,
        _int(0, 64),
        "media workers one user's jobs may hold at once (0: all but one, so others find one free)",
    )
    media_stop_grace: float = _opt(
        2.0, _float(0, 10), "seconds running media jobs get on shutdown before their workers are killed"
    )
    # message path: socket cap and push-back
    sockets_per_user: int = _opt(
        20, _int(1, 10_000), "open WebSockets per user; past it the oldest is closed with 4008"
    )
    socket_pending_max: int = _opt(
        200, _int(1, 100_000), "frames per socket awaiting their ack before it stops being read"
    )
    write_queue_max: int = _opt(
        10_000, _int(1, 1_000_000), "messages waiting for the writer before every socket waits"
    )
    db_queue_max: int = _opt(
        500, _int(1, 1_000_000), "database jobs waiting or running before HTTP requests get 503"
    )
    # http: request sizes, timeouts and upload caps (no client may hold memory or disk)
    max_body_bytes: int = _opt(
        64 * 1024, _int(1024, 16 * 1024 * 1024), "largest request body on every route but uploads, in bytes"
    )
    idle_timeout: float = _opt(
        30.0, _float(1, 3600), "seconds a connection may wait for a request's headers before it is closed"
    )
    body_timeout: float = _opt(30.0, _float(1, 3600), "seconds a request body (not an upload) may take")
    upload_timeout: float = _opt(600.0, _float(1, 86400), "seconds a whole upload body may take")
    upload_stall_timeout: float = _opt(
        30.0, _float(0.1, 3600), "seconds an upload may send nothing before it is dropped"
    )
    uploads_per_user: int = _opt(
        4,
        _int(1, 1000),
        "uploads one user may have in progress at once (429 past it; with redis_url: in all processes)",
    )
    uploads_total: int = _opt(
        32,
        _int(1, 100_000),
        "uploads in progress at once in all (429 past it; per process, even with redis_url)",
    )
    # consent: who may add whom, who may register
    open_contacts: bool = _opt(
        False,
        _bool,
        "add friends directly, both ways, without a request (the original's way; closed servers)",
    )
    registration: str = _opt(
        "invite",
        _registration,
        "open: anyone; invite: a sign-up link (the first account needs none); closed: chatd adduser only",
    )
    find_rate: int = _opt(10, _int(1, 10_000), "lookups by mobile one user may make per minute")
    # links: previews fetched by the server from the sites messages link to (off by default:
    # it makes the server contact any site a user names, and tells that site who linked it)
    link_previews: bool = _opt(
        False, _bool, "fetch a title, description and image for links in messages (POST /link/preview)"
    )
    link_preview_allow: tuple[str, ...] = _opt(
        (),
        _networks,
        "networks a preview may fetch from although private (e.g. an intranet), comma separated; "
        "empty: public addresses only",
    )
    link_preview_timeout: float = _opt(
        6.0, _float(0.1, 60), "seconds a preview's page (or image) may take, redirects included"
    )
    link_preview_rate: int = _opt(
        30, _int(1, 10_000), "previews one user may have fetched per minute (cached ones are free)"
    )
    search_rate: int = _opt(30, _int(1, 10_000), "message searches one user may make per minute")
    # the original Go IM's own client (issue 12): its pages, its frames, its database
    original_client: bool = _opt(
        False,
        _bool,
        "accept the original Go IM client: POSTs without _xsrf from this origin, frames "
        "without cmid, errors as HTTP 200 (implies open_contacts and open registration unless set)",
    )
    original_client_dir: Path | None = _opt(
        None, _optional_path, "a copy of the original project (its view/, asset/) to serve at its own paths"
    )

    @classmethod
    def for_tests(cls, **overrides: Any) -> Settings:
        """Defaults suited to tests: the caller's database and upload dir, no config file,
        open registration (tests of the other modes say so)."""
        values = {"registration": "open", **overrides}
        return cls(**implied(values))

    @property
    def is_sqlite(self) -> bool:
        return self.database.startswith("sqlite:")

    def describe(self) -> str:
        bus = f"redis {self.redis_url}" if self.redis_url else "in-process bus"
        return f"http://{self.host}:{self.port} database={_safe_url(self.database)} {bus}"


def _safe_url(url: str) -> str:
    # Never log a password embedded in a database URL.
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}@{host}"
    return url


UNSET = object()
# Options whose default follows original_client: the original client has no friend requests
# and no invite links, so with it on friends are added directly and anyone may register.
IMPLIED = {"open_contacts": True, "registration": "open"}


def implied(values: dict[str, Any]) -> dict[str, Any]:
    """`values` with the defaults original_client implies for what was not set."""
    values = {name: value for name, value in values.items() if value is not UNSET}
    if values.get("original_client"):
        return {**IMPLIED, **values}
    return values


def option_names() -> list[str]:
    return [f.name for f in fields(Settings)]


def _parse_one(name: str, raw: str, source: str) -> Any:
    if name in IMPLIED and not raw.strip():
        return UNSET  # empty: the default, which original_client may change
    spec = {f.name: f for f in fields(Settings)}[name]
    try:
        return spec.metadata["parse"](raw)
    except ValueError as exc:
        raise SettingsError(f"bad value for option {name} (from {source}): {exc}") from None


def _read_file(path: Path, required: bool) -> dict[str, str]:
    if not path.exists():
        if required:
            raise SettingsError(f"bad value for option config: {path} does not exist")
        return {}
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error as exc:
        raise SettingsError(f"bad config file {path}: {exc}".replace("\n", " ")) from None
    for section in parser.sections():
        if section != SECTION:
            # A misspelt section would otherwise leave every option silently at its default.
            raise SettingsError(f"unknown section [{section}] in {path} (options go under [{SECTION}])")
    if not parser.has_section(SECTION):
        return {}
    known = set(option_names())
    values = dict(parser.items(SECTION))
    for key in values:
        if key not in known:
            raise SettingsError(f"unknown option {key} in {path}")
    return values


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chatd",
        description="chatd web chat server",
        epilog="admin commands (each with --help): chatd adduser, chatd passwd, chatd backup FILE, "
        "chatd restore FILE",
    )
    parser.add_argument("--config", help=f"config file (default {DEFAULT_CONFIG})")
    for f in fields(Settings):
        parser.add_argument("--" + f.name.replace("_", "-"), dest=f.name, help=f.metadata["help"])
    return parser


def load_settings(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Merge file < environment < command line. Raises SettingsError naming the bad option."""
    environ = os.environ if environ is None else environ
    args = build_parser().parse_args(argv)
    config_raw = args.config or environ.get("CHATD_CONFIG")
    config_path = Path(config_raw) if config_raw else DEFAULT_CONFIG
    values: dict[str, Any] = {}
    for name, raw in _read_file(config_path, required=bool(config_raw)).items():
        values[name] = _parse_one(name, raw, str(config_path))
    for name in option_names():
        env_name = "CHATD_" + name.upper()
        if env_name in environ:
            values[name] = _parse_one(name, environ[env_name], env_name)
    for name in option_names():
        raw = getattr(args, name)
        if raw is not None:
            values[name] = _parse_one(name, raw, "--" + name.replace("_", "-"))
    settings = Settings(**implied(values))
    if settings.processes > 1 and not settings.redis_url:
        raise SettingsError("bad value for option processes: more than 1 needs redis_url")
    return settings
