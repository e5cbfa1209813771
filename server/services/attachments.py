"""Videos and other files as attachments: which kind an upload is stored as, its limits,
its file name, storing it, and what media 8 (video) and 9 (file) messages carry.

The kind comes from the bytes (libmagic, then ffmpeg), never the name; the client's
declared kind only narrows it:

| declared | the bytes are                     | stored as                          |
|----------|-----------------------------------|------------------------------------|
| file     | anything                          | file (a download, never shown)     |
| image    | JPEG, PNG, GIF, WebP, HEIC        | image (else 415)                   |
| voice    | audio, or MP4/WebM without video  | voice (else 415)                   |
| video    | MP4/WebM/QuickTime with video     | video (else 415)                   |
| (none)   | an image                          | image                              |
| (none)   | MP4/WebM/QuickTime                | video with a video stream, voice without |
| (none)   | other audio                       | voice                              |
| (none)   | anything else                     | 415: send it with kind=file        |
"""

from __future__ import annotations

import logging
import unicodedata
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from models import media as media_q
from models.media import MediaRow
from server import media, storage
from server.errors import ClientError
from server.settings import Settings
from server.video import VideoOut

if TYPE_CHECKING:
    from server.context import Ctx

log = logging.getLogger(__name__)

KINDS = (media.IMAGE, media.VOICE, media.VIDEO, media.FILE)
AV = "av"  # an MP4/WebM/QuickTime upload with no declared kind: voice or video, ffmpeg decides
FILE_SUFFIX = ".bin"  # every file is stored under this suffix, and served as a download
NAME_MAX = 200  # characters of a file's name kept
_INVISIBLE = frozenset(("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"))

MEDIA_VIDEO = 8
MEDIA_FILE = 9
WHAT = {media.IMAGE: "an image", media.VOICE: "a voice clip", media.VIDEO: "a video", media.FILE: "a file"}


def check_declared(kind: str | None) -> None:
    if kind is not None and kind not in KINDS:
        raise ClientError(400, "kind must be image, voice, video or file")


def decide_kind(declared: str | None, mime: str) -> str:
    """The kind an upload of type `mime` is stored as (AV: voice or video, decided once
    ffmpeg has looked); ClientError(415) when the bytes are not what was declared."""
    check_declared(declared)
    if declared == media.FILE:
        return media.FILE
    if mime in media.IMAGE_FORMATS:
        kind = media.IMAGE
    elif mime in media.VIDEO_TYPES:
        kind = declared if declared in (media.VOICE, media.VIDEO) else AV
    elif mime in media.VOICE_TYPES:
        kind = media.VOICE
    else:
        if declared is None:
            raise ClientError(
                415,
                f"unsupported file type {mime}: send a JPEG, PNG, GIF or WebP image, voice or an "
                "MP4 or WebM video, or attach it as a file",
            )
        kind = ""
    if declared is not None and declared != kind:
        raise ClientError(415, f"this file is not {WHAT[declared]}")
    return kind


def limit_for(settings: Settings, kind: str | None) -> int:
    """The most bytes an upload of `kind` may have (None: not known yet)."""
    limits = {
        media.IMAGE: settings.image_max_bytes,
        media.VOICE: settings.voice_max_bytes,
        media.VIDEO: settings.video_max_bytes,
        media.FILE: settings.file_max_bytes,
    }
    if kind == AV:
        return max(settings.voice_max_bytes, settings.video_max_bytes)
    # Undeclared (or a bad kind, refused with 400 next): it can only be a media kind.
    return limits.get(
        kind or "", max(settings.image_max_bytes, settings.voice_max_bytes, settings.video_max_bytes)
    )


def largest_upload(settings: Settings) -> int:
    return max(limit_for(settings, kind) for kind in KINDS)


def clean_name(raw: str) -> str:
    """A file name fit to show and to offer as a download: no folders, no controls or
    invisible characters (a U+202E can make "invoice‮fdp.exe" read as "invoiceexe.pdf"),
    at most NAME_MAX characters with its extension kept; "file" when nothing is left."""
    name = unicodedata.normalize("NFC", raw).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(
        " " if _is_space(ch) else "" if unicodedata.category(ch) in _INVISIBLE else ch for ch in name
    )
    name = " ".join(name.split()).strip(" .")
    if len(name) > NAME_MAX:
        stem, dot, ext = name.rpartition(".")
        ext = ext if dot and 0 < len(ext) <= 16 else ""
        keep = NAME_MAX - len(ext) - (1 if ext else 0)
        name = (stem if ext else name)[:keep].rstrip(" .") + (f".{ext}" if ext else "")
    return name or "file"


def _is_space(ch: str) -> bool:
    return ch in "\t\r\n" or unicodedata.category(ch) == "Zs"


def content_disposition(name: str) -> str:
    """`attachment` with the name: an ASCII fallback for old clients, and RFC 6266's
    filename* in UTF-8 for everyone else."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    ascii_name = "".join(ch if ch.isprintable() and ch not in '"\\;%' else "_" for ch in ascii_name)
    ascii_name = ascii_name.strip(" .") or "file"
    quoted = urllib.parse.quote(name, safe="")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quoted}"


# -- storing (media thread pool) ---------------------------------------------------------


def store_file(
    root: Path, user_id: int, temp: Path, mime: str, name: str, size: int, sha256: str
) -> MediaRow:
    """Move a received file into place as it came, and describe it."""
    key = storage.new_key()
    rel = storage.relative_path(key, FILE_SUFFIX)
    storage.move_into_place(root, temp, rel)
    return _row(key, user_id, media.FILE, mime, rel, "", size, sha256, name=name)


def store_video(root: Path, user_id: int, out: VideoOut) -> MediaRow:
    """Move a remuxed video into place beside its poster, and describe it."""
    key = storage.new_key()
    rel = storage.relative_path(key, out.suffix)
    poster = storage.relative_path(key, ".thumb.webp")
    storage.write_atomically(root, poster, out.poster)
    try:
        storage.move_into_place(root, out.path, rel)
    except BaseException:
        storage.remove(root, poster)
        raise
    row = _row(key, user_id, media.VIDEO, out.mime, rel, poster, out.size, out.sha256)
    row["width"], row["height"], row["seconds"] = out.width, out.height, out.seconds
    return row


def _row(key: str, user_id: int, kind: str, mime: str, rel: str, thumb: str, size: int, sha256: str,
         name: str = "") -> MediaRow:  # fmt: skip
    return MediaRow(key=key, user_id=user_id, kind=kind, mime=mime, path=rel, thumb=thumb, size=size,
                    width=0, height=0, seconds=0.0, waveform=[], sha256=sha256, name=name)  # fmt: skip


# -- answers and messages ------------------------------------------------------------------


def answer_fields(row: MediaRow) -> dict[str, Any]:
    """What an upload's answer adds for a video or a file."""
    if row["kind"] == media.VIDEO:
        return {
            "media": MEDIA_VIDEO,
            "pic": storage.url_for(row["thumb"]),
            "width": row["width"],
            "height": row["height"],
            "amount": row["seconds"],
        }
    return {"media": MEDIA_FILE, "name": row["name"]}


def message_fields(media_no: int, row: MediaRow) -> tuple[str, float, str]:
    """(pic, amount, memo) of a media 8 / 9 message, from its upload."""
    if media_no == MEDIA_VIDEO:
        memo = {"mime": row["mime"], "width": row["width"], "height": row["height"], "size": row["size"]}
        return storage.url_for(row["thumb"]), row["seconds"], _json(memo)
    return "", 0.0, _json({"mime": row["mime"], "name": row["name"], "size": row["size"]})


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


async def download_name(ctx: Ctx, relative: str) -> str:
    """The name a stored file is downloaded as ("file" if its row is gone)."""
    key = storage.key_of_url(storage.url_for(relative))
    if key is None:
        return "file"
    rows = await ctx.pools.db(media_q.find_media, [key])
    row = rows.get(key)
    return row["name"] if row is not None and row["name"] else "file"
