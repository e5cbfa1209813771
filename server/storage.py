"""Where uploads live. The only module that builds paths under the upload dir.

Layout: <root>/<ab>/<cd>/<key><suffix>, key = 32 random hex digits (128 bits: not
guessable, not enumerable), sharded by its first four digits so no folder grows huge.
URLs are /upload/<ab>/<cd>/<key><suffix>."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
import time
from pathlib import Path
from typing import IO

URL_PREFIX = "/upload/"
# What an upload URL may look like; anything else is not ours.
_URL = re.compile(r"/upload/([0-9a-f]{2})/([0-9a-f]{2})/(\1\2[0-9a-f]{28})(\.thumb)?\.[a-z0-9]{2,5}")


# Stored uploads are public to whoever has the URL (the random key is the secret), and a web
# server in front of chatd that runs as another user (config/nginx.conf) reads them from disk:
# so files are 0644 and their folders 0755 whatever the umask. Temp files under .tmp/ keep
# mkstemp's 0600: nobody else has any business there.
FILE_MODE, DIR_MODE = 0o644, 0o755


class StorageError(ValueError):
    pass


def new_key() -> str:
    return secrets.token_hex(16)


def relative_path(key: str, suffix: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{32}", key) or not re.fullmatch(r"(\.thumb)?\.[a-z0-9]{2,5}", suffix):
        raise StorageError(f"bad upload name {key!r}{suffix!r}")
    return f"{key[:2]}/{key[2:4]}/{key}{suffix}"


def path_for(root: Path, relative: str) -> Path:
    """The absolute path of a stored file, refusing anything that would leave the root."""
    resolved_root = root.resolve()
    path = (resolved_root / relative).resolve()
    if resolved_root not in path.parents:
        raise StorageError(f"{relative!r} is outside the upload dir")
    return path


def url_for(relative: str) -> str:
    return URL_PREFIX + relative


def key_of_url(url: str) -> str | None:
    """The upload key an /upload/ URL names, or None if it is not one of ours."""
    match = _URL.fullmatch(url)  # not match + "$": that lets a trailing newline through
    return match.group(3) if match else None


def temp_file(root: Path, prefix: str = "incoming-") -> tuple[int, Path]:
    """An open temp file inside the upload dir (same filesystem, so the final rename is atomic)."""
    tmp_dir = root / ".tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=prefix, dir=tmp_dir)
    return fd, Path(name)


def is_stored_name(relative: str) -> bool:
    """Whether a path under the upload dir has the shape of a stored file (not a temp file)."""
    return key_of_url(url_for(relative)) is not None


def make_public_dirs(folder: Path) -> None:
    """Create a folder and its missing parents with DIR_MODE (mkdir alone obeys the umask)."""
    if folder.is_dir():
        return
    make_public_dirs(folder.parent)
    try:
        folder.mkdir()
    except FileExistsError:
        return
    os.chmod(folder, DIR_MODE)


def write_atomically(root: Path, relative: str, data: bytes | IO[bytes]) -> Path:
    """Write bytes (or a stream's) to a temp file beside the target, fsync, then rename into place."""
    target = path_for(root, relative)
    make_public_dirs(target.parent)
    fd, tmp = tempfile.mkstemp(prefix=".part-", dir=target.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as out:
            if isinstance(data, bytes):
                out.write(data)
            else:
                shutil.copyfileobj(data, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def move_into_place(root: Path, temp: Path, relative: str) -> Path:
    """Rename a finished temp file (inside the root, so on its filesystem) to its stored name,
    readable by a web server in front as every stored file is."""
    target = path_for(root, relative)
    make_public_dirs(target.parent)
    os.chmod(temp, FILE_MODE)
    os.replace(temp, target)
    return target


def sweep_temp(root: Path, older_than_s: float = 3600.0) -> int:
    """Delete temp files left by uploads a crash interrupted; returns how many.

    Only old ones: another process sharing the dir may be receiving an upload right now."""
    tmp_dir = root / ".tmp"
    if not tmp_dir.is_dir():
        return 0
    cutoff = time.time() - older_than_s
    removed = 0
    for path in tmp_dir.iterdir():
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed


def remove(root: Path, relative: str) -> None:
    path_for(root, relative).unlink(missing_ok=True)
