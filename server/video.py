"""Synchronous video work with ffmpeg: does a clip hold a video stream, remux it without its
metadata, measure it and draw a poster frame.

Everything here blocks; it runs in a media worker process (server/mediajobs.py), whose
deadline kills ffmpeg with the worker. Each ffmpeg run also has its own timeout."""

from __future__ import annotations

import hashlib
import io
import logging
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from server.errors import ClientError
from server.media import FFMPEG, THUMB_SIDE

log = logging.getLogger(__name__)

# A video stream that is not just cover art (MP3s and M4As carry those as "attached pic").
_VIDEO_STREAM = re.compile(r"Stream #\d+:\d+.*?: Video: (?!.*attached pic).*?, (\d{1,5})x(\d{1,5})")
_DURATION = re.compile(r"Duration: (\d+):(\d{2}):(\d{2}(?:\.\d+)?)")
_ROTATION = re.compile(r"rotation of (-?\d+(?:\.\d+)?) degrees")
_TIME = re.compile(r"time=(\d+):(\d{2}):(\d{2}(?:\.\d+)?)")

# What each container is stored as: (ffmpeg muxer, suffix, served type).
_OUTPUT = {
    "video/mp4": ("mp4", ".mp4", "video/mp4"),
    "video/quicktime": ("mp4", ".mp4", "video/mp4"),
    "video/webm": ("webm", ".webm", "video/webm"),
}


@dataclass
class VideoOut:
    """A remuxed clip in a temp file (`path`), to be moved into place by the server."""

    path: Path
    suffix: str
    mime: str
    size: int
    sha256: str
    seconds: float
    width: int
    height: int
    poster: bytes  # WebP, at most THUMB_SIDE px on its longest side


def _run(cmd: list[str], timeout: float) -> subprocess.CompletedProcess[bytes]:
    try:
        # The arguments are ours; the only outside input is the file, read by path.
        return subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)  # noqa: S603
    except subprocess.TimeoutExpired:
        raise ClientError(415, "the video could not be read in time") from None


def _seconds(match: re.Match[str] | None) -> float:
    if match is None:
        return 0.0
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def probe(src: Path, timeout: float) -> str:
    """ffmpeg's description of a file (its streams, duration, rotation) from its stderr."""
    proc = _run([FFMPEG, "-hide_banner", "-nostdin", "-i", str(src)], timeout)
    return proc.stderr.decode("utf-8", "replace")


def has_video(info: str) -> bool:
    """Whether ffmpeg found a real video stream (not an audio file's cover picture)."""
    return _VIDEO_STREAM.search(info) is not None


def _display_size(info: str) -> tuple[int, int]:
    match = _VIDEO_STREAM.search(info)
    if match is None:
        return 0, 0
    width, height = int(match.group(1)), int(match.group(2))
    rotation = _ROTATION.search(info)
    # A phone's portrait clip is stored landscape with a display rotation; browsers and our
    # poster apply it, so the sizes we report must too.
    if rotation is not None and round(abs(float(rotation.group(1)))) % 180 == 90:
        width, height = height, width
    return width, height


def _remux(src: Path, mime: str, out: Path, timeout: float) -> str:
    """Copy the first video and audio streams into a fresh container (no re-encoding), with
    no metadata (phones write the place a clip was taken) and, for MP4, the index first so
    playback starts before the whole file has arrived. Returns ffmpeg's stderr."""
    muxer = _OUTPUT[mime][0]
    cmd = [
        FFMPEG, "-hide_banner", "-nostdin", "-y", "-i", str(src),
        "-map", "0:v:0", "-map", "0:a:0?", "-c", "copy", "-map_metadata", "-1", "-map_chapters", "-1",
        *(["-movflags", "+faststart"] if muxer == "mp4" else []),
        "-f", muxer, str(out),
    ]  # fmt: skip
    proc = _run(cmd, timeout)
    stderr = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        reason = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit {proc.returncode}"
        log.warning("ffmpeg could not remux a video: %s", reason)
        raise ClientError(415, "this video could not be read")
    return stderr


def _poster(src: Path, at: float, timeout: float) -> tuple[bytes, str]:
    """(the frame at `at` seconds as PNG bytes, ffmpeg's stderr); rotation applied."""
    scale = f"scale=w={THUMB_SIDE}:h={THUMB_SIDE}:force_original_aspect_ratio=decrease"
    cmd = [
        FFMPEG, "-hide_banner", "-nostdin", "-ss", f"{at:.2f}", "-i", str(src),
        "-map", "0:v:0", "-frames:v", "1", "-vf", scale, "-f", "image2pipe", "-c:v", "png", "pipe:1",
    ]  # fmt: skip
    proc = _run(cmd, timeout)
    return (proc.stdout if proc.returncode == 0 else b""), proc.stderr.decode("utf-8", "replace")


def _webp(png: bytes) -> bytes:
    with Image.open(io.BytesIO(png), formats=["PNG"]) as im:
        im.thumbnail((THUMB_SIDE, THUMB_SIDE))
        frame = im.convert("RGB")
    out = io.BytesIO()
    frame.save(out, "WEBP", quality=80, method=4)
    return out.getvalue()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def process_video(src: Path, mime: str, out: Path, max_pixels: int, timeout: float) -> VideoOut:
    """Remux `src` to `out`, measure it and draw its poster. ClientError 415 when it holds
    no video or ffmpeg cannot read it, 413 when its frames are larger than max_pixels."""
    if mime not in _OUTPUT:
        raise ClientError(415, f"{mime} is not a video this chat stores (MP4 or WebM)")
    info = probe(src, timeout)
    if not has_video(info):
        raise ClientError(415, "this file has no video")
    width, height = _display_size(info)
    # Decoding one frame of a huge picture costs what a decompression bomb costs.
    if width * height > max_pixels:
        raise ClientError(413, f"video is {width}x{height}: more than {max_pixels:,} pixels")
    remux_log = _remux(src, mime, out, timeout)
    # The stored clip's own header; a browser recording has no duration in it, but the
    # fresh container has, and failing that, the time of the last packet copied.
    png, stored_info = _poster(out, 0.0, timeout)
    times = list(_TIME.finditer(remux_log))
    seconds = _seconds(_DURATION.search(stored_info)) or _seconds(times[-1] if times else None)
    if seconds >= 2:  # the very first frame is often black (a fade in): take one a bit later
        later, _ = _poster(out, min(1.0, seconds / 4), timeout)
        png = later or png
    if not png:
        raise ClientError(415, "this video has no frame that could be decoded")
    try:
        poster = _webp(png)
    except (OSError, ValueError) as exc:
        raise ClientError(415, f"the video's first frame could not be read: {exc}") from None
    _, suffix, stored_mime = _OUTPUT[mime]
    return VideoOut(
        path=out,
        suffix=suffix,
        mime=stored_mime,
        size=out.stat().st_size,
        sha256=_sha256(out),
        seconds=round(seconds, 2),
        width=width,
        height=height,
        poster=poster,
    )
