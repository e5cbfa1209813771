"""Synchronous media work: sniffing, images (Pillow) and voice (ffmpeg + pydub).

Everything here blocks; callers run it in the media pool, never on the IOLoop."""

from __future__ import annotations

import array
import io
import logging
import re
import subprocess
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import imageio_ffmpeg
import magic
from PIL import GifImagePlugin, Image, ImageOps, ImageSequence

from server.errors import ClientError

log = logging.getLogger(__name__)

with warnings.catch_warnings():
    # pydub warns at import when ffmpeg is not on PATH; we hand it the binary below.
    warnings.simplefilter("ignore", RuntimeWarning)
    warnings.simplefilter("ignore", DeprecationWarning)
    from pydub import AudioSegment

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
# pydub only ever gets raw PCM from us (never MP4 from a pipe, which needs the plain
# name "ffmpeg"; see the stack notes), so an absolute path is safe here.
AudioSegment.converter = FFMPEG

try:  # HEIC photos (iPhones); stored as JPEG since most browsers cannot show HEIC
    from pillow_heif import register_heif_opener

    register_heif_opener()
    HEIC = True
except ImportError:  # pragma: no cover - optional
    HEIC = False

SNIFF_BYTES = 4096
THUMB_SIDE = 320
PCM_RATE = 44100
WAVEFORM_PEAKS = 80

# libmagic's answer -> Pillow format allowed to decode it. Nothing else is ever decoded.
IMAGE_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/webp": "WEBP"}
if HEIC:
    IMAGE_FORMATS.update({"image/heic": "HEIF", "image/heif": "HEIF"})
# libmagic names audio-only WebM and MP4 (what browsers record) video/*; ffmpeg confirms.
VOICE_TYPES = frozenset(
    {
        "video/webm",
        "audio/webm",
        "audio/ogg",
        "video/mp4",
        "audio/mp4",
        "audio/x-m4a",
        "video/quicktime",
        "audio/mpeg",
        "audio/x-wav",
        "audio/wav",
        "audio/vnd.wave",
    }
)

IMAGE = "image"
VOICE = "voice"

_magic = threading.local()


def sniff(head: bytes) -> tuple[str, str]:
    """(kind, mime) of an upload from its first bytes; ClientError(415) if not allowed."""
    if not hasattr(_magic, "instance"):
        _magic.instance = magic.Magic(mime=True)  # one per thread: libmagic is not thread-safe
    mime = _magic.instance.from_buffer(head[:SNIFF_BYTES])
    if mime in IMAGE_FORMATS:
        return IMAGE, mime
    if mime in VOICE_TYPES:
        return VOICE, mime
    raise ClientError(415, f"unsupported file type {mime}: send a JPEG, PNG, GIF or WebP image or voice")


@dataclass
class ImageOut:
    data: bytes
    suffix: str
    mime: str
    thumb: bytes
    thumb_suffix: str
    width: int
    height: int
    animated: bool


@dataclass
class VoiceOut:
    data: bytes
    suffix: str
    mime: str
    seconds: float
    waveform: list[int] = field(default_factory=list)


def _count_frames(im: Image.Image, max_frames: int) -> int:
    """Frames in the image, counting no further than max_frames + 1.

    Pillow's GIF n_frames walks the whole file (1.4 s for 100,000 frames here, before any
    decoding); this walks the same way, without decoding, but stops past the cap. Other
    formats state their frame count in a header, so theirs costs nothing."""
    if not isinstance(im, GifImagePlugin.GifImageFile):
        return getattr(im, "n_frames", 1)
    count = 1
    try:
        while count <= max_frames:
            im._seek(im.tell() + 1, False)  # what n_frames does, frame by frame
            count += 1
    except EOFError:
        pass
    im.seek(0)
    return count


def _check_pixels(im: Image.Image, max_pixels: int, max_frames: int) -> int:
    if im.width * im.height > max_pixels:
        raise ClientError(413, f"image is {im.width}x{im.height}: more than {max_pixels:,} pixels")
    frames = _count_frames(im, max_frames)
    if frames > max_frames:
        raise ClientError(413, f"animation has more than {max_frames:,} frames")
    # Every frame of an animation is decoded; bound the total work too.
    if frames > 1 and im.width * im.height * frames > max_pixels:
        raise ClientError(413, f"animation has too many frames ({frames}) for its size")
    return frames


def _open(src: Path | io.BytesIO, fmt: str, max_pixels: int) -> Image.Image:
    # Pillow's own bomb guard (it raises past 2x the limit) plus ours in _check_pixels.
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(src, formats=[fmt])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ClientError(413, f"image has more than {max_pixels:,} pixels") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ClientError(415, f"image could not be read: {exc}") from None


def process_image(src: Path, mime: str, max_pixels: int, max_frames: int = 1000) -> ImageOut:
    """Re-encode an image without metadata, orientation applied, plus a thumbnail.
    ClientError 413 past max_pixels or max_frames, 415 if it cannot be decoded."""
    fmt = IMAGE_FORMATS[mime]
    with _open(src, fmt, max_pixels) as im:
        frames = _check_pixels(im, max_pixels, max_frames)
        try:
            if frames > 1 and fmt in ("GIF", "WEBP"):
                return _animated(im, fmt)
            return _still(src, im, fmt, max_pixels)
        except ClientError:
            raise
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            raise ClientError(415, f"image could not be decoded: {exc}") from None


def _clean(im: Image.Image) -> Image.Image:
    """The pixels alone: a copy with no info, so no EXIF, XMP or comment is saved again."""
    im.load()
    copy = im.copy()
    copy.info = {}
    return copy


def _still(src: Path, im: Image.Image, fmt: str, max_pixels: int) -> ImageOut:
    oriented = ImageOps.exif_transpose(im)
    has_alpha = oriented.mode in ("RGBA", "LA", "PA") or "transparency" in oriented.info
    pixels = _clean(oriented.convert("RGBA" if has_alpha else "RGB"))
    out = io.BytesIO()
    if fmt == "PNG" or (fmt == "GIF" and has_alpha):
        pixels.save(out, "PNG", optimize=True)
        suffix, mime = ".png", "image/png"
    elif fmt == "WEBP":
        pixels.save(out, "WEBP", quality=90, method=4)
        suffix, mime = ".webp", "image/webp"
    elif fmt == "GIF":
        pixels.save(out, "PNG", optimize=True)  # a still GIF keeps its look as a PNG
        suffix, mime = ".png", "image/png"
    else:  # JPEG and HEIC
        pixels.save(out, "JPEG", quality=88, optimize=True, progressive=True)
        suffix, mime = ".jpg", "image/jpeg"
    return ImageOut(
        data=out.getvalue(),
        suffix=suffix,
        mime=mime,
        thumb=_still_thumbnail(src, fmt, max_pixels),
        thumb_suffix=".thumb.webp",
        width=pixels.width,
        height=pixels.height,
        animated=False,
    )


def _still_thumbnail(src: Path, fmt: str, max_pixels: int) -> bytes:
    # A fresh open, so JPEG draft mode can decode at 1/2..1/8 scale (about 4x faster);
    # exif_transpose would force a full decode, so it comes after the reduction.
    with _open(src, fmt, max_pixels) as im:
        if fmt == "JPEG":
            im.draft("RGB", (THUMB_SIDE, THUMB_SIDE))
        im.thumbnail((THUMB_SIDE, THUMB_SIDE))
        small = ImageOps.exif_transpose(im)
        small.thumbnail((THUMB_SIDE, THUMB_SIDE))
        has_alpha = small.mode in ("RGBA", "LA", "PA") or "transparency" in small.info
        thumb = _clean(small.convert("RGBA" if has_alpha else "RGB"))
    out = io.BytesIO()
    thumb.save(out, "WEBP", quality=80, method=4)
    return out.getvalue()


def _animated(im: Image.Image, fmt: str) -> ImageOut:
    frames: list[Image.Image] = []
    thumbs: list[Image.Image] = []
    durations: list[int] = []
    for frame in ImageSequence.Iterator(im):
        rgba = _clean(frame.convert("RGBA"))
        frames.append(rgba)
        small = rgba.copy()
        small.thumbnail((THUMB_SIDE, THUMB_SIDE))
        thumbs.append(small)
        durations.append(int(frame.info.get("duration", im.info.get("duration", 100)) or 100))
    loop = int(im.info.get("loop", 0))
    timing = {"save_all": True, "duration": durations, "loop": loop}
    out = io.BytesIO()
    if fmt == "GIF":
        frames[0].save(out, "GIF", append_images=frames[1:], disposal=2, **timing)
        suffix, mime = ".gif", "image/gif"
    else:
        frames[0].save(out, "WEBP", append_images=frames[1:], quality=85, **timing)
        suffix, mime = ".webp", "image/webp"
    thumb = io.BytesIO()
    thumbs[0].save(thumb, "WEBP", append_images=thumbs[1:], quality=75, **timing)
    return ImageOut(
        data=out.getvalue(),
        suffix=suffix,
        mime=mime,
        thumb=thumb.getvalue(),
        thumb_suffix=".thumb.webp",
        width=frames[0].width,
        height=frames[0].height,
        animated=True,
    )


_VIDEO_STREAM = re.compile(r"Stream #\d+:\d+.*?: Video: (?!.*attached pic)")


def decode_audio(src: Path, max_seconds: float, timeout: float) -> bytes:
    """Mono 16-bit PCM at PCM_RATE from whatever ffmpeg can read; 415 unless it is audio only.

    Decoding stops just past the limit, so an over-long clip costs little to refuse."""
    cmd = [
        FFMPEG, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info",
        "-i", str(src),
        "-map", "0:a:0", "-vn", "-sn", "-dn",
        "-ac", "1", "-ar", str(PCM_RATE), "-t", f"{max_seconds + 1:.1f}",
        "-f", "s16le", "pipe:1",
    ]  # fmt: skip
    try:
        # The arguments are ours; the only outside input is the file, read by path.
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)  # noqa: S603
    except subprocess.TimeoutExpired:
        raise ClientError(415, "voice clip could not be decoded in time") from None
    stderr = proc.stderr.decode("utf-8", "replace")
    if _VIDEO_STREAM.search(stderr):
        raise ClientError(415, "a voice message must be audio only, not video")
    if proc.returncode != 0:
        reason = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit {proc.returncode}"
        log.warning("ffmpeg refused an upload: %s", reason)
        raise ClientError(415, "not a playable audio file")
    if len(proc.stdout) < PCM_RATE * 2 // 10:  # under 0.1 s
        raise ClientError(415, "the clip has no audio")
    return proc.stdout


def waveform(pcm: bytes, peaks: int = WAVEFORM_PEAKS) -> list[int]:
    """Peak levels 0-255 in `peaks` equal slices, scaled to the loudest slice."""
    samples = array.array("h")
    samples.frombytes(pcm[: len(pcm) // 2 * 2])
    n = len(samples)
    if n == 0:
        return [0] * peaks
    levels = []
    for i in range(peaks):
        part = samples[i * n // peaks : (i + 1) * n // peaks]
        levels.append(max(max(part), -min(part)) if part else 0)
    loudest = max(levels) or 1
    return [round(255 * level / loudest) for level in levels]


def process_voice(src: Path, max_seconds: float, timeout: float, bitrate: str) -> VoiceOut:
    """Transcode a clip to mono MP3, which every current browser plays, and measure it.

    pydub's export runs ffmpeg with no timeout of its own: the media job's deadline bounds
    it (server/mediajobs.py kills the worker's whole process group, ffmpeg included)."""
    pcm = decode_audio(src, max_seconds, timeout)
    seconds = len(pcm) / 2 / PCM_RATE
    if seconds > max_seconds:
        raise ClientError(413, f"voice clip is longer than {max_seconds:g} seconds")
    segment = AudioSegment(data=pcm, sample_width=2, frame_rate=PCM_RATE, channels=1)
    out = io.BytesIO()
    segment.export(out, format="mp3", bitrate=bitrate, parameters=["-map_metadata", "-1"])
    return VoiceOut(
        data=out.getvalue(),
        suffix=".mp3",
        mime="audio/mpeg",
        seconds=round(seconds, 2),
        waveform=waveform(pcm),
    )


def preview_thumbnail(data: bytes, max_pixels: int) -> bytes:
    """A link preview's image (fetched from a third-party site) as a still WebP of at most
    THUMB_SIDE px, from its first frame and pixels alone. ClientError 415/413 as uploads."""
    _kind, mime = sniff(data[:SNIFF_BYTES])
    if mime not in IMAGE_FORMATS:
        raise ClientError(415, "not an image")
    with _open(io.BytesIO(data), IMAGE_FORMATS[mime], max_pixels) as im:
        if im.width * im.height > max_pixels:
            raise ClientError(413, "image has too many pixels")
        try:
            if im.format == "JPEG":
                im.draft("RGB", (THUMB_SIDE, THUMB_SIDE))
            small = ImageOps.exif_transpose(im)
            small.thumbnail((THUMB_SIDE, THUMB_SIDE))
            has_alpha = small.mode in ("RGBA", "LA", "PA") or "transparency" in small.info
            thumb = _clean(small.convert("RGBA" if has_alpha else "RGB"))
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            raise ClientError(415, f"image could not be decoded: {exc}") from None
    out = io.BytesIO()
    thumb.save(out, "WEBP", quality=80, method=4)
    return out.getvalue()
