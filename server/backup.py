"""`chatd backup` and `chatd restore`: one tar.gz holding a consistent copy of the database,
every stored upload and a manifest, and its way back into an empty data dir.

Archive layout, in this order (restore reads it in one pass):
    manifest.json            format, chatd and schema versions, database kind, time, counts
    database/chatd.db        SQLite: a copy made with the online backup API
    database/chatd.pgdump    PostgreSQL: pg_dump --format=custom
    upload/ab/cd/<key>.ext   every stored upload (never .tmp/ or half-written files)
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server import __version__, storage
from server.backupdb import (
    BackupError,
    check_empty_database,
    kind_of,
    load_postgres,
    load_sqlite,
    snapshot_postgres,
    snapshot_sqlite,
)

FORMAT, FORMAT_VERSION = "chatd-backup", 1
MANIFEST = "manifest.json"
DATABASE_MEMBER = {"sqlite": "database/chatd.db", "postgresql": "database/chatd.pgdump"}
UPLOAD_PREFIX = "upload/"
MANIFEST_MAX = 64 * 1024
# Uploads are JPEG, PNG, WebP and MP3, which do not compress; the database does, and level 6
# gets nearly all of what 9 would at a fraction of the time.
GZIP_LEVEL = 6


@dataclass(frozen=True)
class Summary:
    messages: int
    users: int
    files: int
    bytes: int

    def describe(self) -> str:
        counts = ", ".join(_count(n, word) for n, word in ((self.messages, "message"), (self.users, "user")))
        return f"{counts}, {_count(self.files, 'file')} ({self.bytes:,} bytes)"


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def stored_files(upload_dir: Path) -> list[tuple[str, int]]:
    """(relative path, size) of every stored upload, sorted; temp files and anything else
    that is not shaped like a stored name are left out."""
    found: list[tuple[str, int]] = []
    if not upload_dir.is_dir():
        return found
    for folder, dirs, files in os.walk(upload_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))  # .tmp/: uploads in progress
        for name in sorted(files):
            relative = os.path.relpath(os.path.join(folder, name), upload_dir)
            if storage.is_stored_name(relative):
                found.append((relative, os.path.getsize(os.path.join(folder, name))))
    return found


def make_backup(archive: Path, database_url: str, upload_dir: Path) -> Summary:
    """Write a backup of the database and the uploads to `archive`, which must not exist.
    Safe while the server runs. Raises BackupError with a one-line reason."""
    if archive.exists():
        raise BackupError(f"{archive} exists; choose a new name (a backup never overwrites a file)")
    kind = kind_of(database_url)
    try:
        archive.parent.mkdir(parents=True, exist_ok=True)
        # Beside the archive, not in /tmp (often small, or memory): the copy is as big as the database.
        work_dir = tempfile.TemporaryDirectory(prefix=f".{archive.name}.", dir=archive.parent)
    except OSError as exc:
        raise BackupError(f"cannot write to {archive.parent}: {exc.strerror or exc}") from None
    with work_dir as work:
        copy = Path(work) / "database"
        # The database first, then the files: uploads are written before the rows that
        # name them, so every file the copy refers to is already there to be listed.
        if kind == "sqlite":
            schema, counts = snapshot_sqlite(database_url, copy)
        else:
            schema, counts = snapshot_postgres(database_url, copy)
        files = stored_files(upload_dir)
        summary = Summary(counts["messages"], counts["users"], len(files), sum(size for _, size in files))
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "chatd_version": __version__,
            "schema_version": schema,
            "database": kind,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "counts": {"messages": summary.messages, "users": summary.users, "files": summary.files,
                       "bytes": summary.bytes},
        }  # fmt: skip
        _write_archive(archive, manifest, copy, DATABASE_MEMBER[kind], upload_dir, files)
    return summary


def _write_archive(
    archive: Path, manifest: dict[str, Any], copy: Path, copy_name: str, upload_dir: Path,
    files: list[tuple[str, int]],
) -> None:  # fmt: skip
    try:
        # mkstemp makes it 0600: the archive holds password hashes and every message.
        fd, part_name = tempfile.mkstemp(prefix=f".{archive.name}.", suffix=".part", dir=archive.parent)
    except OSError as exc:
        raise BackupError(f"cannot write to {archive.parent}: {exc.strerror or exc}") from None
    part = Path(part_name)
    try:
        with os.fdopen(fd, "wb") as out:
            with tarfile.open(fileobj=out, mode="w:gz", compresslevel=GZIP_LEVEL) as tar:
                body = json.dumps(manifest, indent=2).encode()
                tar.addfile(_entry(MANIFEST, len(body), time.time()), io.BytesIO(body))
                _add_file(tar, copy, copy_name)
                for relative, _ in files:
                    try:
                        _add_file(tar, upload_dir / relative, UPLOAD_PREFIX + relative)
                    except FileNotFoundError:
                        # Only a file whose database row failed is ever removed, at once.
                        raise BackupError(
                            f"upload {relative} disappeared during the backup; run it again"
                        ) from None
            out.flush()
            os.fsync(out.fileno())
        # A link, not a rename: it fails rather than replace a file made meanwhile.
        os.link(part, archive)
    except OSError as exc:
        raise BackupError(f"cannot write {archive}: {exc.strerror or exc}") from None
    finally:
        part.unlink(missing_ok=True)


def _entry(name: str, size: int, mtime: float) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, int(mtime), 0o644
    return info


def _add_file(tar: tarfile.TarFile, path: Path, name: str) -> None:
    with open(path, "rb") as source:
        stat = os.fstat(source.fileno())
        tar.addfile(_entry(name, stat.st_size, stat.st_mtime), source)


def restore_backup(archive: Path, database_url: str, upload_dir: Path, known_schema: int) -> Summary:
    """Restore `archive` into an empty database and an empty (or absent) upload dir.
    Anything else (a database with tables, an upload dir with files, the other database
    kind, a newer schema, a file that is not a chatd backup) raises BackupError before
    anything is changed; a damaged archive found half-way leaves nothing behind either."""
    kind = kind_of(database_url)
    try:
        tar = tarfile.open(archive, mode="r|gz")
    except FileNotFoundError:
        raise BackupError(f"{archive} does not exist") from None
    except (tarfile.TarError, OSError, EOFError):
        raise BackupError(f"{archive} is not a chatd backup (not a tar.gz archive)") from None
    with tar:
        manifest = _read_manifest(tar, archive)
        if manifest["database"] != kind:
            raise BackupError(
                f"{archive} holds a {_kind_name(manifest['database'])} database and the configured one "
                f"is {_kind_name(kind)}; restore it into a {_kind_name(manifest['database'])} database "
                "(chatd does not convert between them)"
            )
        if manifest["schema_version"] > known_schema:
            raise BackupError(
                f"{archive} was made by a newer chatd (schema {manifest['schema_version']}, this one "
                f"knows up to {known_schema}); upgrade chatd first"
            )
        check_empty_database(database_url)
        _check_empty_upload_dir(upload_dir)
        made = _missing_parents(upload_dir)
        try:
            upload_dir.parent.mkdir(parents=True, exist_ok=True)
            work = Path(tempfile.mkdtemp(prefix=f".{upload_dir.name}.restoring-", dir=upload_dir.parent))
        except OSError as exc:
            raise BackupError(f"upload dir {upload_dir} is not usable: {exc.strerror or exc}") from None
        try:
            files, size = _unpack(tar, archive, work, DATABASE_MEMBER[kind])
            expected = manifest["counts"]
            if (files, size) != (expected["files"], expected["bytes"]):
                raise BackupError(
                    f"{archive} is incomplete: {files} of {expected['files']} files, "
                    f"{size:,} of {expected['bytes']:,} bytes"
                )
            # The database, in one step that either happens or not; then the files.
            if kind == "sqlite":
                load_sqlite(work / "database", database_url)
            else:
                load_postgres(work / "database", database_url)
            _move_uploads(work / "upload", upload_dir)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            for folder in made:  # the folders made for the staging area, deepest first
                with contextlib.suppress(OSError):
                    folder.rmdir()
            raise
        shutil.rmtree(work, ignore_errors=True)
    return Summary(expected["messages"], expected["users"], files, size)


def _missing_parents(upload_dir: Path) -> list[Path]:
    """The upload dir's parents that do not exist yet, deepest first."""
    return [folder for folder in upload_dir.parents if not folder.exists()]


def _kind_name(kind: str) -> str:
    return {"sqlite": "SQLite", "postgresql": "PostgreSQL"}.get(kind, kind)


def _read_manifest(tar: tarfile.TarFile, archive: Path) -> dict[str, Any]:
    not_ours = BackupError(f"{archive} is not a chatd backup (no chatd manifest)")
    try:
        first = tar.next()
        if first is None or first.name != MANIFEST or not first.isfile() or first.size > MANIFEST_MAX:
            raise not_ours
        source = tar.extractfile(first)
        assert source is not None  # a regular file always has a body
        manifest = json.loads(source.read())
    except (tarfile.TarError, OSError, EOFError, ValueError):
        raise not_ours from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise not_ours
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(f"{archive} is a chatd backup of format {manifest.get('format_version')}, "
                          f"this chatd reads format {FORMAT_VERSION}")  # fmt: skip
    try:
        counts = manifest["counts"]
        for key in ("messages", "users", "files", "bytes"):
            int(counts[key])
        int(manifest["schema_version"])
        str(manifest["database"])
    except (KeyError, TypeError, ValueError):
        raise not_ours from None
    return manifest


def _check_empty_upload_dir(upload_dir: Path) -> None:
    if not upload_dir.exists():
        return
    if not upload_dir.is_dir():
        raise BackupError(f"upload dir {upload_dir} is not a folder")
    # Empty folders do not count, nor the placeholder a source checkout keeps in upload/.
    files = [
        os.path.join(folder, name)
        for folder, _, names in os.walk(upload_dir)
        for name in names
        if not (folder == str(upload_dir) and name == ".gitkeep")
    ]
    if files:
        raise BackupError(
            f"upload dir {upload_dir} is not empty ({len(files)} files); restore goes only into an "
            "empty data dir"
        )


def _unpack(tar: tarfile.TarFile, archive: Path, work: Path, database_member: str) -> tuple[int, int]:
    """Write the database member to work/database and the uploads under work/upload;
    (files, bytes) of the uploads."""
    uploads = work / "upload"
    storage.make_public_dirs(uploads)
    files = size = 0
    seen_database = False
    try:
        # next(), not iteration: iterating starts again from the manifest already read.
        while (member := tar.next()) is not None:
            source = tar.extractfile(member) if member.isfile() else None
            if source is None:
                raise BackupError(f"{archive} is not a chatd backup (unexpected entry {member.name!r})")
            if member.name == database_member and not seen_database:
                seen_database = True
                with open(work / "database", "wb") as out:
                    shutil.copyfileobj(source, out)
                continue
            relative = member.name.removeprefix(UPLOAD_PREFIX)
            if not seen_database or relative == member.name or not storage.is_stored_name(relative):
                raise BackupError(f"{archive} is not a chatd backup (unexpected entry {member.name!r})")
            target = storage.write_atomically(uploads, relative, source)
            os.utime(target, (member.mtime, member.mtime))
            files += 1
            size += member.size
    except (tarfile.TarError, EOFError, OSError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise BackupError(f"{archive} could not be read to the end: {reason}") from None
    if not seen_database:
        raise BackupError(f"{archive} is not a chatd backup (no database in it)")
    return files, size


def _move_uploads(staged: Path, upload_dir: Path) -> None:
    try:
        if not upload_dir.exists():
            staged.rename(upload_dir)
            os.chmod(upload_dir, storage.DIR_MODE)
            return
        for child in staged.iterdir():
            target = upload_dir / child.name
            if target.is_dir() and not any(target.iterdir()):
                target.rmdir()  # an empty shard folder left in the empty upload dir
            child.rename(target)
    except OSError as exc:
        raise BackupError(f"could not move the uploads into {upload_dir}: {exc.strerror or exc}") from None
