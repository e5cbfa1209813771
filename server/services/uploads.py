"""Uploads: stream a request body to a temp file within the size limit, decide what it is
from its bytes, process it in the media pool, store it, and record it."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from python_multipart.multipart import MultipartParser, parse_options_header

from models import media as media_q
from models.media import MediaRow
from server import media, storage, video
from server.errors import ClientError
from server.services import attachments
from server.services.attachments import AV
from server.settings import Settings
from server.sharedlimits import SharedSlots

if TYPE_CHECKING:
    from server.context import Ctx

log = logging.getLogger(__name__)

MEDIA_IMAGE = 4
MEDIA_VOICE = 3
FIELD_MAX = 64  # bytes of a non-file form field (kind)
Decoded = media.ImageOut | media.VoiceOut | video.VideoOut


def limit_for(ctx: Ctx, kind: str | None) -> int:
    return attachments.limit_for(ctx.settings, kind)


@dataclass(frozen=True, slots=True)
class UploadSlot:
    """One upload in progress: whose, and its entry in Redis when it is counted there."""

    user_id: int
    shared_id: str = ""


class UploadSlots:
    """Uploads in progress, per user and in all. Each holds a connection and a temp file
    until its body is in; past a cap the next one is refused (429) before its body is read.
    With Redis (`shared`) the per-user count is the chat's, whatever process each upload
    reaches (this process's while Redis is unreachable); the total stays this process's:
    it guards this machine's disk and connections."""

    def __init__(self, per_user: int, total: int, shared: SharedSlots | None = None) -> None:
        self.per_user = per_user
        self.total = total
        self.shared = shared
        self.in_progress = 0
        self.by_user: dict[int, int] = {}
        self._freeing: set[asyncio.Future[None]] = set()  # releases in Redis under way

    async def take(self, user_id: int) -> UploadSlot:
        """Count one more upload for user_id; ClientError(429) past either cap."""
        shared_id = None if self.shared is None else await self.shared.take(user_id, self.per_user)
        if shared_id == "" or (shared_id is None and self.by_user.get(user_id, 0) >= self.per_user):
            raise ClientError(429, f"you have {self.per_user} uploads in progress; wait for one to finish")
        slot = UploadSlot(user_id, shared_id or "")
        if self.in_progress >= self.total:
            self._free_shared(slot)
            raise ClientError(429, "the server is busy with other uploads; try again in a moment")
        self.by_user[user_id] = self.by_user.get(user_id, 0) + 1
        self.in_progress += 1
        return slot

    def give_back(self, slot: UploadSlot) -> asyncio.Future[None] | None:
        """Free the slot here at once. When it is counted in Redis, the returned task frees
        it there: await it before answering the client, so that the client's next upload
        finds the slot free whatever process it reaches."""
        left = self.by_user.get(slot.user_id, 0) - 1
        if left > 0:
            self.by_user[slot.user_id] = left
        else:
            self.by_user.pop(slot.user_id, None)
        self.in_progress -= 1
        return self._free_shared(slot)

    def _free_shared(self, slot: UploadSlot) -> asyncio.Future[None] | None:
        if not slot.shared_id or self.shared is None:
            return None
        freeing = asyncio.ensure_future(self.shared.give_back(slot.user_id, slot.shared_id))
        self._freeing.add(freeing)  # held until done, whether or not the caller awaits it
        freeing.add_done_callback(self._freeing.discard)
        return freeing


class UploadReceiver:
    """Takes a request body chunk by chunk: multipart (`file` plus an optional `kind`
    field) or the raw file as the whole body. File bytes go to a temp file via the media
    pool; the size limit is checked as they arrive and the type from the first bytes.
    `name`: the file's name for a raw body (a multipart part's filename wins)."""

    def __init__(self, ctx: Ctx, content_type: str, declared_kind: str | None, name: str = "") -> None:
        self.ctx = ctx
        self.kind: str | None = None
        self.mime = ""
        self.declared_kind = declared_kind
        self.size = 0
        self.name = attachments.clean_name(name)
        self._hash = hashlib.sha256()  # of the bytes as they came (a file is stored so)
        # The temp file is made when the first file bytes arrive (in the media pool), so a
        # request refused before that leaves nothing behind.
        self.fd = -1
        self.path: Path | None = None
        self._pending = bytearray()  # file bytes parsed but not yet written
        self._head = bytearray()  # the first bytes, for sniffing
        self._files_seen = 0
        self._part: dict[str, Any] | None = None
        self._fields: dict[str, bytes] = {}
        self._parser: MultipartParser | None = None
        self._discarded = False
        self._busy = False  # a job on the temp file is running in the media pool
        self._cleanup: asyncio.Future[None] | None = None
        mimetype, options = parse_options_header(content_type.encode("latin-1", "replace"))
        if mimetype == b"multipart/form-data":
            boundary = options.get(b"boundary")
            if not boundary:
                raise ClientError(400, "multipart body without a boundary")
            self._parser = MultipartParser(boundary, cast(Any, self._callbacks()))
        attachments.check_declared(declared_kind)

    # -- multipart callbacks (sync, inside parser.write) ---------------------------------
    def _callbacks(self) -> dict[str, Any]:
        header: dict[str, bytearray] = {"field": bytearray(), "value": bytearray()}
        headers: dict[bytes, bytes] = {}

        def on_part_begin() -> None:
            headers.clear()

        def on_header_field(data: bytes, start: int, end: int) -> None:
            header["field"] += data[start:end]

        def on_header_value(data: bytes, start: int, end: int) -> None:
            header["value"] += data[start:end]

        def on_header_end() -> None:
            headers[bytes(header["field"]).lower()] = bytes(header["value"])
            header["field"].clear()
            header["value"].clear()

        def on_headers_finished() -> None:
            _, options = parse_options_header(headers.get(b"content-disposition", b""))
            name = options.get(b"name", b"").decode("utf-8", "replace")
            is_file = b"filename" in options or name == "file"
            if is_file:
                self._files_seen += 1
                if self._files_seen > 1:
                    raise ClientError(400, "send one file per upload")
                if options.get(b"filename"):
                    self.name = attachments.clean_name(options[b"filename"].decode("utf-8", "replace"))
            self._part = {"name": name, "file": is_file, "data": bytearray()}

        def on_part_data(data: bytes, start: int, end: int) -> None:
            part = self._part
            if part is None:
                return
            if part["file"]:
                self._take_file_bytes(data[start:end])
            else:
                part["data"] += data[start:end]
                if len(part["data"]) > FIELD_MAX:
                    raise ClientError(400, f"form field {part['name']} too long")

        def on_part_end() -> None:
            part = self._part
            if part is not None and not part["file"]:
                self._fields[part["name"]] = bytes(part["data"])
            self._part = None

        return {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        }

    def field(self, name: str) -> str:
        """A non-file form field's text ("" when absent), e.g. the original's `filetype`."""
        return self._fields.get(name, b"").decode("utf-8", "replace")

    def _take_file_bytes(self, data: bytes) -> None:
        self.size += len(data)
        limit = limit_for(self.ctx, self.kind or self.declared_kind)
        if self.size > limit:
            raise ClientError(413, f"file is larger than {limit // (1024 * 1024)} MB")
        if len(self._head) < media.SNIFF_BYTES:
            self._head += data[: media.SNIFF_BYTES - len(self._head)]
        self._pending += data

    # -- driven by the handler -------------------------------------------------------
    # The temp file has one owner: every operation on it (create, write, close, unlink) is
    # a job of this receiver in the media pool, one at a time, and discard() only marks it.
    # Closing the fd on the IOLoop while a write was queued let the number be reused, and
    # another upload's file received this one's bytes.
    async def feed(self, chunk: bytes) -> None:
        """One body chunk. ClientError(413/415/400) as soon as the upload is refused."""
        try:
            if self._parser is not None:
                self._parser.write(chunk)
            else:
                self._take_file_bytes(chunk)
        except ClientError:
            raise
        except Exception as exc:  # noqa: BLE001 - the parser's own errors are the client's fault
            raise ClientError(400, f"malformed multipart body: {exc}") from None
        if self.kind is None and len(self._head) >= media.SNIFF_BYTES:
            await self._sniff()
        await self._flush()

    async def _flush(self, close: bool = False) -> None:
        data, self._pending = bytes(self._pending), bytearray()
        if data or close:
            await self._file_job(self._write, data, close)

    async def _file_job(self, fn: Callable[..., None], *args: Any) -> None:
        if self._discarded:
            raise ClientError(400, "upload abandoned")
        self._busy = True
        try:
            await self.ctx.pools.media(fn, *args)
        finally:
            self._busy = False
            if self._discarded:  # discard() came while the job ran: clean up after it
                self._clean_up()
        if self._discarded:
            raise ClientError(400, "upload abandoned")

    def _write(self, data: bytes, close: bool) -> None:
        """In the media pool: make the temp file if needed, append, optionally close."""
        if self.path is None:
            self.fd, self.path = storage.temp_file(self.ctx.settings.upload_dir)
        self._hash.update(data)
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]
        if close:
            fd, self.fd = self.fd, -1
            os.close(fd)

    def _remove(self) -> None:
        """In the media pool: close (if open) and delete the temp file."""
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)
        if self.path is not None:
            self.path.unlink(missing_ok=True)

    async def _sniff(self) -> None:
        self.mime = await self.ctx.pools.media(media.mime_of, bytes(self._head))
        wanted = self.declared_kind or self._fields.get("kind", b"").decode("utf-8", "replace") or None
        self.kind = attachments.decide_kind(wanted, self.mime)
        self.check_size()

    def check_size(self) -> None:
        limit = limit_for(self.ctx, self.kind)
        if self.size > limit:
            raise ClientError(413, f"file is larger than {limit // (1024 * 1024)} MB")

    async def finish(self) -> None:
        """The whole body arrived: check it held one file and sniff short files too."""
        if self._parser is not None:
            try:
                self._parser.finalize()
            except Exception as exc:  # noqa: BLE001 - see feed()
                raise ClientError(400, f"malformed multipart body: {exc}") from None
        if self.size == 0:
            raise ClientError(400, "no file in the upload (send it as the multipart field 'file')")
        if self.kind is None:
            await self._sniff()
        declared = self._fields.get("kind", b"").decode("utf-8", "replace") or None
        if declared is not None and self.declared_kind is None and declared != self.kind:  # after the file
            self.kind = attachments.decide_kind(declared, self.mime)
            self.check_size()
        await self._flush(close=True)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def discard(self) -> None:
        """Forget the upload: its temp file is closed and deleted by the media pool, after
        any job on it still running (safe to call twice, from any IOLoop callback)."""
        self._discarded = True
        if not self._busy:
            self._clean_up()

    async def close(self) -> None:
        """discard(), and return once the temp file is gone (call it when no job runs)."""
        self.discard()
        if self._cleanup is not None:
            await asyncio.shield(self._cleanup)

    def _clean_up(self) -> None:
        if self._cleanup is None and (self.path is not None or self.fd >= 0):
            self._cleanup = asyncio.ensure_future(self._remove_in_pool())

    async def _remove_in_pool(self) -> None:
        try:
            await self.ctx.pools.media(self._remove)
        except ClientError:  # the pool is closed (shutdown): start-up sweeps what is left
            log.info("temp file %s left for the start-up sweep", self.path)
        except OSError:
            log.exception("could not remove temp file %s", self.path)


def _decode(settings: Settings, kind: str, mime: str, path: Path, work: Path) -> tuple[Decoded, float]:
    """Runs in a media worker process: all the decoding and encoding, and the seconds it
    took there (the time waiting for a worker and the pipe's not counted). A video is
    remuxed into `work`, a temp file the caller removes if it is not moved into place."""
    started = time.monotonic()
    out: Decoded
    if kind == media.IMAGE:
        out = media.process_image(path, mime, settings.image_max_pixels, settings.image_max_frames)
    elif kind == media.VIDEO or (kind == AV and video.has_video(video.probe(path, settings.ffmpeg_timeout))):
        out = video.process_video(path, mime, work, settings.image_max_pixels, settings.ffmpeg_timeout)
    else:
        out = media.process_voice(
            path, settings.voice_max_seconds, settings.ffmpeg_timeout, settings.voice_bitrate
        )
    return out, time.monotonic() - started


def _store(root: Path, user_id: int, kind: str, out: media.ImageOut | media.VoiceOut) -> MediaRow:
    """Runs in the media thread pool: write the files, atomically, and describe them."""
    key = storage.new_key()
    rel = storage.relative_path(key, out.suffix)
    storage.write_atomically(root, rel, out.data)
    thumb_rel = ""
    width = height = 0
    seconds, waveform = 0.0, []
    if isinstance(out, media.ImageOut):
        thumb_rel = storage.relative_path(key, out.thumb_suffix)
        storage.write_atomically(root, thumb_rel, out.thumb)
        width, height = out.width, out.height
    else:
        seconds, waveform = out.seconds, out.waveform
    return MediaRow(
        key=key,
        user_id=user_id,
        kind=kind,
        mime=out.mime,
        path=rel,
        thumb=thumb_rel,
        size=len(out.data),
        width=width,
        height=height,
        seconds=seconds,
        waveform=waveform,
        sha256=hashlib.sha256(out.data).hexdigest(),
        name="",
    )


def answer_for(row: MediaRow) -> dict[str, Any]:
    """The upload's answer `data`, as PROTOCOL.md lists it (and README for video and file)."""
    answer: dict[str, Any] = {
        "media": MEDIA_IMAGE if row["kind"] == media.IMAGE else MEDIA_VOICE,
        "url": storage.url_for(row["path"]),
        "mime": row["mime"],
        "size": row["size"],
    }
    if row["kind"] == media.IMAGE:
        answer.update(pic=storage.url_for(row["thumb"]), width=row["width"], height=row["height"])
    elif row["kind"] == media.VOICE:
        answer.update(amount=row["seconds"], waveform=row["waveform"])
    else:
        answer.update(attachments.answer_fields(row))
    return answer


async def _processed(ctx: Ctx, user_id: int, receiver: UploadReceiver) -> MediaRow:
    """The upload decoded (a file: as it came) and its files written; the temp files are
    gone afterwards, whatever happened."""
    assert receiver.kind is not None and receiver.path is not None
    root = ctx.settings.upload_dir
    if receiver.kind == media.FILE:
        try:
            return await ctx.pools.media(
                attachments.store_file, root, user_id, receiver.path, receiver.mime, receiver.name,
                receiver.size, receiver.sha256,
            )  # fmt: skip
        finally:
            await receiver.close()
    work = receiver.path.with_name(receiver.path.name + ".video")
    try:
        # Each user's uploads take turns with everyone else's; a job past media_job_timeout
        # is killed (413), a crashed worker is a 415, a full line a 503 or 429.
        out, took = await ctx.pools.media_process(
            _decode, ctx.settings, receiver.kind, receiver.mime, receiver.path, work, owner=user_id
        )
        receiver.kind = media.VIDEO if isinstance(out, video.VideoOut) else receiver.kind
        if receiver.kind == AV:  # it was audio only after all: a voice clip, with its limit
            receiver.kind = media.VOICE
            receiver.check_size()
        ctx.metrics.media_time(receiver.kind, took)
        if isinstance(out, video.VideoOut):
            return await ctx.pools.media(attachments.store_video, root, user_id, out)
    finally:
        await receiver.close()
        await ctx.pools.media(work.unlink, True)  # missing_ok: moved into place, or never made
    return await ctx.pools.media(_store, root, user_id, receiver.kind, out)


async def do_upload(ctx: Ctx, user_id: int, receiver: UploadReceiver) -> dict[str, Any]:
    """Process, store and record a received upload; the temp file is gone afterwards."""
    row = await _processed(ctx, user_id, receiver)
    try:
        # Not shed: the work is done and the files are written; refusing now would waste it.
        await ctx.pools.db(media_q.insert_media, row, shed=False)
    except Exception:
        # Without its row nothing can name the file: do not keep it.
        for rel in (row["path"], row["thumb"]):
            if rel:
                await ctx.pools.media(storage.remove, ctx.settings.upload_dir, rel)
        raise
    log.info(
        "user %d uploaded %s %s (%d bytes) as %s", user_id, row["kind"], row["mime"], row["size"], row["path"]
    )
    return answer_for(row)
