"""`chatd adduser`: make an account from the shell, whatever `registration` says."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence
from typing import NoReturn

from models import db
from server.errors import ClientError
from server.services import accounts, admin
from server.settings import DEFAULT_CONFIG, SettingsError, load_settings


def _fail(reason: str) -> NoReturn:
    print(f"chatd: {reason}", file=sys.stderr)
    raise SystemExit(1)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line and exit 1, like every other error here
        _fail(f"adduser: {message} (see chatd adduser --help)")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="chatd adduser",
        description="Add an account, whatever the `registration` option says. The password is "
        "the first line of stdin, or asked for twice when stdin is a terminal.",
    )
    parser.add_argument("--mobile", required=True, help="the login: 5 to 20 digits, optionally a leading +")
    parser.add_argument("--nickname", required=True, help="the name others see (1 to 32 characters)")
    parser.add_argument("--admin", action="store_true", help="make the account a server admin")
    parser.add_argument("--config", help=f"config file (default {DEFAULT_CONFIG})")
    parser.add_argument("--database", help="database URL (default: the config file's)")
    return parser


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


def adduser(argv: Sequence[str]) -> None:
    args = _parser().parse_args(argv)
    settings_argv = [f"--{name}={value}" for name in ("config", "database") if (value := getattr(args, name))]
    try:
        settings = load_settings(settings_argv)
    except SettingsError as exc:
        _fail(str(exc))
    mobile = args.mobile.strip()
    passwd = _read_passwd()
    try:
        accounts.check_credentials(mobile, passwd)  # the same rules as registering on the page
        nickname = accounts.check_nickname(args.nickname)
    except ClientError as exc:
        _fail(exc.msg)
    passwd_hash = accounts.hash_passwd(passwd)
    try:
        database = db.open_database(settings.database, settings.sqlite_synchronous)
        db.bind(database)
        db.migrate(database)
        with database.connection_context(), database.atomic():
            user_id, is_admin = admin.add_account(mobile, passwd_hash, nickname, args.admin)
    except ClientError as exc:
        _fail(exc.msg)
    except Exception as exc:  # noqa: BLE001 - any driver error (bad path, refused, no permission) is one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        _fail(f"database is not usable: {type(exc).__name__}: {first}")
    role = ", a server admin" if is_admin else ""
    print(f"chatd: added user {user_id} (mobile {mobile}, nickname {nickname}{role})")
