"""The original Go IM's client folder (`original_client_dir`, issue 12): its pages, read and
rendered once at start, and which of its asset/ files a URL names.

The folder is a copy of the original project's `view/` (Go templates, server/gotemplates.py)
and `asset/` (its JS, CSS, mui, Vue, images and doutu stickers), served at `/asset/`."""

from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from server.gotemplates import TemplateError, load_pages

ASSET_PREFIX = "/asset/"  # where the original's pages (and its users' default avatars) link
UPLOADS_PREFIX = "/mnt/"  # where the original server stored and served uploads (its mnt/)
HOME = "/user/login.shtml"  # where the original's `/` redirects


class OriginalClientError(ValueError):
    """The folder cannot be served; one line naming the folder or file and why."""


@dataclass(frozen=True)
class OriginalClient:
    root: Path
    asset_dir: Path
    pages: dict[str, str]  # "/user/login.shtml" -> the rendered page


def load(root: Path) -> OriginalClient:
    """Read and render `root/view/**/*` and check `root/asset/`. Raises OriginalClientError."""
    view_dir, asset_dir = root / "view", root / "asset"
    for needed in (view_dir, asset_dir):
        if not needed.is_dir():
            raise OriginalClientError(
                f"original_client_dir {root}: no {needed.name}/ folder in it (it must hold a copy "
                "of the original project's view/ and asset/)"
            )
    try:
        pages = load_pages(view_dir)
    except TemplateError as exc:
        raise OriginalClientError(f"original_client_dir {root}: {exc}") from None
    except OSError as exc:
        raise OriginalClientError(
            f"original_client_dir {root}: cannot read {exc.filename}: {exc.strerror}"
        ) from None
    if not pages:
        raise OriginalClientError(
            f'original_client_dir {root}: view/ defines no page (no {{{{define "/..."}}}})'
        )
    return OriginalClient(root, asset_dir, pages)


def asset_file(asset_dir: Path, relative: str) -> Path | None:
    """The regular file `relative` names inside `asset_dir`, or None: never a path with `..`,
    an absolute one, or one whose real path (symlinks resolved) lies outside the folder.
    Touches the file system (a stat or two): call it where blocking is allowed."""
    parts = relative.split("/")
    if not relative or "\x00" in relative or "\\" in relative or relative.startswith("/"):
        return None
    if any(part in ("", ".", "..") for part in parts):
        return None
    real_root = os.path.realpath(asset_dir)
    real = os.path.realpath(os.path.join(real_root, *parts))
    if not real.startswith(real_root + os.sep) or not os.path.isfile(real):
        return None
    return Path(real)


def asset_url_file(root: Path, url: str) -> Path | None:
    """The original's file that a URL names: `/asset/images/user.jpg` (the built-in avatar
    and group icon its pages send) in its asset/, or `/mnt/NAME` (where its server kept
    uploads, avatars included) in its mnt/. None for any other URL."""
    if "?" in url or "#" in url:
        return None
    for prefix, folder in ((ASSET_PREFIX, "asset"), (UPLOADS_PREFIX, "mnt")):
        if url.startswith(prefix):
            return asset_file(root / folder, urllib.parse.unquote(url[len(prefix) :]))
    return None
