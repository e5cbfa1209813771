"""The database half of `chatd backup` and `chatd restore`: a consistent copy out (SQLite's
online backup API, or pg_dump of an exported snapshot) and a load into an empty database.

Plain SQL and the PostgreSQL client tools; chatd's models are not needed to copy tables."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlparse

# Tables every chatd database has had since schema version 1.
_SCHEMA_SQL = "SELECT version FROM schema_version"
_COUNT_SQL = {"users": 'SELECT count(*) FROM "user"', "messages": "SELECT count(*) FROM message"}
# Relations in a PostgreSQL database's own schemas: anything there means it is not empty.
_PG_RELATIONS_SQL = """
    SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
      AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
"""
BUSY_TIMEOUT_S = 10.0  # as the server's busy_timeout: wait out a checkpoint, do not fail


class BackupError(Exception):
    """A backup or restore that cannot go on; the message is one line for the operator."""


def kind_of(url: str) -> str:
    """ "sqlite" or "postgresql"."""
    return "sqlite" if url.startswith("sqlite:") else "postgresql"


def label(url: str) -> str:
    """The database for messages: the SQLite file, or the URL without its password."""
    if kind_of(url) == "sqlite":
        return str(sqlite_path(url))
    parsed = urlparse(url)
    if parsed.password is None:
        return url
    host = parsed.hostname or ""
    netloc = f"{parsed.username}@{host}" + (f":{parsed.port}" if parsed.port else "")
    return parsed._replace(netloc=netloc).geturl()


def sqlite_path(url: str) -> Path:
    return Path(url[len("sqlite:///") :])


def _schema_and_counts(cursor: Any, url: str) -> tuple[int, dict[str, int]]:
    try:
        cursor.execute(_SCHEMA_SQL)
        (schema,) = cursor.fetchone()
        counts = {}
        for name, sql in _COUNT_SQL.items():
            cursor.execute(sql)
            counts[name] = int(cursor.fetchone()[0])
    except Exception:  # noqa: BLE001 - either driver's "no such table", or an empty schema_version
        raise BackupError(f"database {label(url)} is not a chatd database") from None
    return int(schema), counts


# --- SQLite -------------------------------------------------------------------------------


def _open_sqlite(path: Path, mode: str) -> sqlite3.Connection:
    # A URI with mode=rw never creates a missing file, as a plain connect would.
    return sqlite3.connect(f"file:{quote(str(path))}?mode={mode}", uri=True, timeout=BUSY_TIMEOUT_S)


def snapshot_sqlite(url: str, dest: Path) -> tuple[int, dict[str, int]]:
    """Copy the database to `dest` (one self-contained file); (schema version, counts)."""
    path = sqlite_path(url)
    if not path.is_file():
        raise BackupError(f"database {path} does not exist")
    try:
        with closing(_open_sqlite(path, "rw")) as source, closing(sqlite3.connect(dest)) as copy:
            # All pages in one step: one consistent read of the database, while the server's
            # writers go on (WAL). https://www.sqlite.org/backup.html
            source.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")  # no -wal file beside the copy
            return _schema_and_counts(copy.cursor(), url)
    except sqlite3.Error as exc:
        raise BackupError(f"database {path} could not be read: {exc}") from None


def _sqlite_tables(path: Path) -> int:
    try:
        with closing(_open_sqlite(path, "ro")) as conn:
            return int(conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0])
    except sqlite3.Error as exc:
        raise BackupError(f"database {path} exists and is not an empty SQLite database ({exc})") from None


def load_sqlite(dump: Path, url: str) -> None:
    """Check the copy from a backup and move it into place (a rename: all or nothing)."""
    try:
        with closing(sqlite3.connect(dump)) as conn:
            (verdict,) = conn.execute("PRAGMA integrity_check").fetchone()
    except sqlite3.Error as exc:
        raise BackupError(f"the database in the backup is damaged: {exc}") from None
    if verdict != "ok":
        raise BackupError(f"the database in the backup is damaged: {verdict}")
    path = sqlite_path(url)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # mkstemp's 0600: the database is chatd's alone.
        fd, part_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise BackupError(f"cannot write to {path.parent}: {exc.strerror or exc}") from None
    part = Path(part_name)
    try:
        with os.fdopen(fd, "wb") as out, open(dump, "rb") as source:
            shutil.copyfileobj(source, out)
            out.flush()
            os.fsync(out.fileno())
        for stale in ("-wal", "-shm"):  # of an empty database that was there
            Path(f"{path}{stale}").unlink(missing_ok=True)
        os.replace(part, path)
    except OSError as exc:
        raise BackupError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        part.unlink(missing_ok=True)


# --- PostgreSQL ---------------------------------------------------------------------------


def _pg_params(url: str) -> dict[str, str]:
    """libpq environment variables for the URL. The password goes in the environment, not
    on a command line that every user of the machine can read in /proc."""
    parsed = urlparse(url)
    params = {
        "PGHOST": parsed.hostname or "",
        "PGPORT": str(parsed.port or 5432),
        "PGUSER": unquote(parsed.username or ""),
        "PGPASSWORD": unquote(parsed.password or ""),
        "PGDATABASE": unquote(parsed.path.lstrip("/")),
    }
    return {name: value for name, value in params.items() if value}


def _pg_connect(url: str) -> Any:
    try:
        import psycopg2
    except ImportError:
        raise BackupError("PostgreSQL needs psycopg2: pip install 'chatd[postgres]'") from None
    env = _pg_params(url)
    try:
        return psycopg2.connect(
            host=env.get("PGHOST"), port=env["PGPORT"], user=env.get("PGUSER"),
            password=env.get("PGPASSWORD"), dbname=env.get("PGDATABASE"),
        )  # fmt: skip
    except psycopg2.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BackupError(f"database {label(url)} is not usable: {first}") from None


def _pg_tool(name: str) -> str:
    tool = shutil.which(name)
    if tool is None:
        raise BackupError(f"{name} is not installed (Debian: apt-get install postgresql-client)")
    return tool


def _run_pg_tool(args: list[str], url: str) -> None:
    env = {**os.environ, **_pg_params(url)}
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        reason = next((line for line in lines if "error" in line.lower()), lines[0] if lines else "")
        raise BackupError(f"{Path(args[0]).name} failed: {reason.strip() or f'exit {done.returncode}'}")


def snapshot_postgres(url: str, dest: Path) -> tuple[int, dict[str, int]]:
    """pg_dump the database to `dest`; (schema version, counts), read in the same snapshot."""
    tool = _pg_tool("pg_dump")
    with closing(_pg_connect(url)) as conn:
        conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
        with conn.cursor() as cursor:
            cursor.execute("SELECT pg_export_snapshot()")
            (snapshot,) = cursor.fetchone()
            schema, counts = _schema_and_counts(cursor, url)
            # pg_dump reads the snapshot this open transaction exported, so the counts in the
            # manifest are exactly what the dump holds, whatever the server commits meanwhile.
            _run_pg_tool([tool, "--format=custom", f"--file={dest}", f"--snapshot={snapshot}",
                          "--no-password"], url)  # fmt: skip
    return schema, counts


def load_postgres(dump: Path, url: str) -> None:
    """pg_restore into the (empty) database in one transaction: a failure leaves it empty."""
    tool = _pg_tool("pg_restore")
    database = _pg_params(url).get("PGDATABASE", "")
    # Owners and grants are the old server's roles: the configured user owns what it restores.
    _run_pg_tool([tool, "--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error",
                  "--no-password", f"--dbname={database}", str(dump)], url)  # fmt: skip


# --- both ---------------------------------------------------------------------------------


def check_empty_database(url: str) -> None:
    """BackupError unless the database is absent (SQLite) or has no tables."""
    if kind_of(url) == "sqlite":
        path = sqlite_path(url)
        if path.exists() and _sqlite_tables(path):
            raise BackupError(f"database {path} is not empty; restore goes only into an empty data dir")
        return
    with closing(_pg_connect(url)) as conn, conn.cursor() as cursor:
        cursor.execute(_PG_RELATIONS_SQL)
        (relations,) = cursor.fetchone()
    if relations:
        raise BackupError(
            f"database {label(url)} is not empty ({relations} tables and sequences); restore goes only "
            "into an empty database"
        )
