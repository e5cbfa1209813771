"""Admin commands: `chatd adduser`, `chatd passwd`, `chatd backup FILE`, `chatd restore FILE`,
`chatd import-original URL`.

Each parses its options, loads the settings as the server would (config file, environment,
the overrides given), calls plain functions and prints one line; errors are one line
`chatd: ...` on stderr and exit 1."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

import peewee
import redis
from tqdm import tqdm

from models import db, meta, original
from server import backup, buswire
from server.backupdb import label, sqlite_path
from server.bus import TokenRevoked
from server.errors import ClientError
from server.services import accounts, admin, importorig
from server.settings import DEFAULT_CONFIG, Settings, SettingsError, load_settings


def _fail(reason: str) -> NoReturn:
    print(f"chatd: {reason}", file=sys.stderr)
    raise SystemExit(1)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line and exit 1, like every other error here
        _fail(f"{self.prog.removeprefix('chatd ')}: {message} (see {self.prog} --help)")


def _parser(command: str, description: str, upload_dir: bool = False) -> argparse.ArgumentParser:
    parser = _Parser(prog=f"chatd {command}", description=description)
    parser.add_argument("--config", help=f"config file (default {DEFAULT_CONFIG})")
    parser.add_argument("--database", help="database URL (default: the config file's)")
    if upload_dir:
        parser.add_argument("--upload-dir", help="upload folder (default: the config file's)")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    overrides = ("config", "database", "upload_dir", "redis_url")
    argv = [
        f"--{name.replace('_', '-')}={value}" for name in overrides if (value := getattr(args, name, None))
    ]
    try:
        return load_settings(argv)
    except SettingsError as exc:
        _fail(str(exc))


def _read_passwd() -> str:
    if sys.stdin.isatty():
        passwd = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != passwd:
            _fail("the two passwords differ")
        return passwd
    line = sys.stdin.readline()
    if not line:
        _fail("no password on stdin (give it as the first line)")
    return line.rstrip("\r\n")


def _database_error(exc: Exception) -> NoReturn:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    _fail(f"database is not usable: {type(exc).__name__}: {first}")


def _open(settings: Settings) -> peewee.Database:
    """Open and bind the database, migrating it as the server would."""
    try:
        database = db.open_database(settings.database, settings.sqlite_synchronous)
        db.bind(database)
        db.migrate(database)
    except Exception as exc:  # noqa: BLE001 - any driver error (bad path, refused, no permission) is one line
        _database_error(exc)
    return database


def _in_transaction(settings: Settings, work: Callable[[], tuple[int, ...]]) -> tuple[int, ...]:
    """Open the database (migrating it as the server would), run `work` in one transaction."""
    database = _open(settings)
    try:
        with database.connection_context(), database.atomic():
            return work()
    except ClientError as exc:
        _fail(exc.msg)
    except Exception as exc:  # noqa: BLE001 - as in _open
        _database_error(exc)


def adduser(argv: Sequence[str]) -> None:
    parser = _parser(
        "adduser",
        "Add an account, whatever the `registration` option says. The password is the first "
        "line of stdin, or asked for twice when stdin is a terminal.",
    )
    parser.add_argument("--mobile", required=True, help="the login: 5 to 20 digits, optionally a leading +")
    parser.add_argument("--nickname", required=True, help="the name others see (1 to 32 characters)")
    parser.add_argument("--admin", action="store_true", help="make the account a server admin")
    args = parser.parse_args(argv)
    settings = _settings(args)
    mobile = args.mobile.strip()
    passwd = _read_passwd()
    try:
        accounts.check_credentials(mobile, passwd)  # the same rules as registering on the page
        nickname = accounts.check_nickname(args.nickname)
    except ClientError as exc:
        _fail(exc.msg)
    passwd_hash = accounts.hash_passwd(passwd)
    user_id, is_admin = _in_transaction(
        settings, lambda: admin.add_account(mobile, passwd_hash, nickname, args.admin)
    )
    role = ", a server admin" if is_admin else ""
    print(f"chatd: added user {user_id} (mobile {mobile}, nickname {nickname}{role})")


def passwd(argv: Sequence[str]) -> None:
    parser = _parser(
        "passwd",
        "Set an account's password and end every login of it (its devices must log in again). "
        "The password is the first line of stdin, or asked for twice when stdin is a terminal. "
        "With redis_url set, running servers close that account's sockets at once; without, "
        "within token_check_interval (60 s by default).",
    )
    parser.add_argument("--mobile", required=True, help="the account's login")
    parser.add_argument("--redis-url", help="the servers' Redis (default: the config file's), to tell them")
    args = parser.parse_args(argv)
    settings = _settings(args)
    mobile = args.mobile.strip()
    if settings.is_sqlite and not sqlite_path(settings.database).is_file():
        _fail(f"database {sqlite_path(settings.database)} does not exist")
    new = _read_passwd()
    try:
        accounts.check_credentials(mobile, new)  # the same rules as registering on the page
    except ClientError as exc:
        _fail(exc.msg)
    passwd_hash = accounts.hash_passwd(new)
    user_id, ended = _in_transaction(settings, lambda: admin.set_passwd(mobile, passwd_hash))
    told = _tell_servers(settings, TokenRevoked(user_id, reason="password changed"))
    print(f"chatd: set the password of user {user_id} (mobile {mobile}); ended {ended} logins{told}")


def _tell_servers(settings: Settings, event: TokenRevoked) -> str:
    """Publish a revocation on the chat's Redis, as a server would: every running process
    closes those sockets and forgets those tokens at once. A note for the summary line."""
    if not settings.redis_url:
        return ""
    with db.database.connection_context():  # bound and migrated by _in_transaction
        uid = meta.chat_uid()
    prefix = f"chatd:{uid}:".encode()
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)
    try:
        for channel, data in buswire.encode(prefix, event, 0):
            client.publish(channel, data)
    except redis.RedisError as exc:
        return f" (Redis not reached, {exc}: servers notice within token_check_interval)"
    finally:
        client.close()
    return "; running servers told"


def _archive_parser(command: str, description: str) -> argparse.ArgumentParser:
    parser = _parser(command, description, upload_dir=True)
    parser.add_argument("file", metavar="FILE", help="the backup archive (.tar.gz)")
    return parser


def backup_command(argv: Sequence[str]) -> None:
    args = _archive_parser(
        "backup",
        "Write one archive (tar.gz) with a consistent copy of the database (SQLite's online "
        "backup, or pg_dump), every stored upload and a manifest. Safe while the server runs. "
        "FILE must not exist. Run it as the user the server runs as.",
    ).parse_args(argv)
    settings = _settings(args)
    try:
        summary = backup.make_backup(Path(args.file), settings.database, settings.upload_dir)
    except backup.BackupError as exc:
        _fail(str(exc))
    print(f"chatd: backed up {summary.describe()} to {args.file}")


def restore_command(argv: Sequence[str]) -> None:
    args = _archive_parser(
        "restore",
        "Restore a backup made by `chatd backup` into an empty data dir: the database must not "
        "exist or have no tables (PostgreSQL: an existing, empty database) and the upload dir "
        "must be empty or absent; anything else is refused and nothing is changed. A SQLite "
        "backup goes only into SQLite, a PostgreSQL one only into PostgreSQL. Run it as the "
        "user the server runs as, with the server stopped.",
    ).parse_args(argv)
    settings = _settings(args)
    try:
        summary = backup.restore_backup(
            Path(args.file), settings.database, settings.upload_dir, len(db.MIGRATIONS)
        )
    except backup.BackupError as exc:
        _fail(str(exc))
    print(f"chatd: restored {summary.describe()} into {label(settings.database)}")


def import_original(argv: Sequence[str]) -> None:
    parser = _parser(
        "import-original",
        "Copy the original Go server's users (their passwords keep working), friendships, groups "
        "(as open groups) and memberships from its MySQL/MariaDB database into chatd's. Safe to "
        "run again: what was imported before is skipped, and what users changed since stays. "
        "Best run with the chat server stopped.",
    )
    parser.add_argument("url", metavar="URL", help="the original database: mysql://user:pass@host[:port]/db")
    parser.add_argument("--batch", type=int, default=1000, help="rows read and committed at a time (1000)")
    args = parser.parse_args(argv)
    if not 1 <= args.batch <= 100_000:
        _fail("import-original: --batch must be 1 to 100000")
    settings = _settings(args)
    # Everything about the original database is checked before chatd's is opened, so a bad
    # URL, an unreachable server or a missing table changes nothing here.
    try:
        source = original.OriginalDb(original.parse_url(args.url))
        counts = source.check()
    except original.SourceError as exc:
        _fail(str(exc))
    database = _open(settings)
    with tqdm(total=sum(counts.values()), unit=" rows", desc="importing", file=sys.stderr) as bar:
        try:
            summary = importorig.run_import(source, database, args.batch, bar.update)
        except (original.SourceError, peewee.PeeweeException) as exc:
            bar.close()
            reason = " ".join(str(exc).split()) or type(exc).__name__
            _fail(f"import stopped: {reason}; what was imported so far stays: run it again to go on")
        finally:
            source.close()
    print("\n".join(summary.lines()))


# `chatd COMMAND ...`: what server/__main__.py dispatches before reading server options.
COMMANDS: dict[str, Callable[[Sequence[str]], None]] = {
    "adduser": adduser,
    "passwd": passwd,
    "backup": backup_command,
    "restore": restore_command,
    "import-original": import_original,
}
