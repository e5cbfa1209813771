"""Real media files made on the spot: images with Pillow, audio with the ffmpeg we ship."""

from __future__ import annotations

import io
import random
import subprocess
from pathlib import Path

import imageio_ffmpeg
from PIL import Image, ImageDraw

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
ORIENTATION = 0x0112
GPS_IFD = 0x8825


def photo_with_exif(width: int = 3000, height: int = 2000, orientation: int = 6) -> bytes:
    """A noisy (so, large) landscape JPEG whose EXIF says 'rotate 90° clockwise', with GPS."""
    rng = random.Random(7)
    im = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    # A solid red band on the left edge, so a test can tell where it went after rotation.
    ImageDraw.Draw(im).rectangle([0, 0, width // 10, height], fill=(255, 0, 0))
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0x010F] = "chatd test camera"  # Make
    gps = exif.get_ifd(GPS_IFD)
    gps[1] = "N"
    gps[2] = (52.0, 31.0, 12.0)
    gps[3] = "E"
    gps[4] = (13.0, 24.0, 36.0)
    out = io.BytesIO()
    im.save(out, "JPEG", quality=90, exif=exif.tobytes(), comment=b"secret comment")
    return out.getvalue()


def heic_photo(width: int = 800, height: int = 600) -> bytes:
    """What an iPhone sends: HEIC (made with pillow-heif), with EXIF."""
    from pillow_heif import register_heif_opener

    register_heif_opener()
    im = Image.new("RGB", (width, height), (30, 120, 200))
    ImageDraw.Draw(im).ellipse([100, 100, 500, 400], fill=(250, 200, 0))
    exif = Image.Exif()
    exif[0x010F] = "chatd test phone"
    out = io.BytesIO()
    im.save(out, "HEIF", quality=80, exif=exif.tobytes())
    return out.getvalue()


def landscape(width: int = 1200, height: int = 800) -> bytes:
    """A pleasant drawn picture (sky, sun, hills, a lake) as a JPEG, for screenshots."""
    im = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(im)
    for y in range(height):  # sky fading from blue to warm near the horizon
        t = y / height
        draw.line([(0, y), (width, y)], fill=(int(90 + 150 * t), int(150 + 70 * t), int(230 - 60 * t)))
    draw.ellipse([width * 0.68, height * 0.12, width * 0.82, height * 0.33], fill=(255, 214, 90))
    draw.polygon([(0, height * 0.62), (width * 0.3, height * 0.42), (width * 0.62, height * 0.64)],
                 fill=(74, 140, 92))  # fmt: skip
    draw.polygon([(width * 0.35, height * 0.66), (width * 0.72, height * 0.4), (width, height * 0.6),
                  (width, height * 0.7)], fill=(58, 118, 80))  # fmt: skip
    draw.rectangle([0, height * 0.66, width, height], fill=(64, 132, 190))
    for i in range(12):  # glints on the water
        x = width * (0.55 + 0.03 * (i % 4))
        y = height * (0.7 + 0.022 * i)
        draw.line([(x, y), (x + width * 0.05, y)], fill=(250, 230, 160), width=3)
    out = io.BytesIO()
    im.save(out, "JPEG", quality=90)
    return out.getvalue()


def png_with_alpha() -> bytes:
    im = Image.new("RGBA", (400, 300), (0, 0, 0, 0))
    ImageDraw.Draw(im).ellipse([50, 50, 350, 250], fill=(0, 128, 255, 180))
    out = io.BytesIO()
    im.save(out, "PNG")
    return out.getvalue()


def animated_gif(frames: int = 4) -> bytes:
    images = []
    for i in range(frames):
        im = Image.new("RGB", (120, 80), (255, 255, 255))
        ImageDraw.Draw(im).rectangle([i * 25, 20, i * 25 + 20, 60], fill=(i * 60, 0, 255 - i * 60))
        images.append(im)
    out = io.BytesIO()
    images[0].save(out, "GIF", save_all=True, append_images=images[1:], duration=120, loop=0)
    return out.getvalue()


def bomb_png(side: int = 14000) -> bytes:
    """Tiny on disk, 196 million pixels once decoded."""
    im = Image.new("1", (side, side))
    out = io.BytesIO()
    im.save(out, "PNG", optimize=True)
    return out.getvalue()


def audio(fmt: str, seconds: float, tmp: Path, video: bool = False) -> bytes:
    """A clip of a tone that rises and falls (so its waveform is not flat) in the container
    and codec a browser would record: webm/opus, ogg/opus, m4a/aac, also mp3 and wav."""
    codecs = {
        "webm": ["-c:a", "libopus", "-b:a", "32k"],
        "mp4": ["-c:a", "libopus", "-b:a", "32k"],  # what Chrome records for audio/mp4
        "ogg": ["-c:a", "libopus", "-b:a", "32k"],
        "m4a": ["-c:a", "aac", "-b:a", "64k"],
        "mp3": ["-c:a", "libmp3lame", "-b:a", "64k"],
        "wav": ["-c:a", "pcm_s16le"],
    }
    out = tmp / f"clip-{fmt}-{seconds}-{video}.{fmt}"
    tone = f"sine=frequency=440:duration={seconds},volume='0.2+0.8*abs(sin(t*2))':eval=frame"
    cmd = [FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i", tone]
    if video:
        cmd += ["-f", "lavfi", "-i", f"testsrc=size=160x120:rate=10:duration={seconds}", "-c:v", "libvpx"]
    cmd += [*codecs[fmt], "-ar", "48000", "-ac", "1", str(out)]
    subprocess.run(cmd, check=True, timeout=60)
    return out.read_bytes()


def many_frame_gif(frames: int, side: int = 1) -> bytes:
    """An animation of `frames` tiny frames (alternating colours, so none is merged away):
    small on disk, costly to decode frame by frame."""
    colours = [Image.new("P", (side, side), i % 2) for i in range(2)]
    for im in colours:
        im.putpalette([0, 0, 0, 255, 255, 255])
    out = io.BytesIO()
    rest = [colours[(i + 1) % 2] for i in range(frames - 1)]
    colours[0].save(out, "GIF", save_all=True, append_images=rest, duration=20, loop=0, optimize=False)
    return out.getvalue()


def video(fmt: str, seconds: float, tmp: Path, size: str = "320x240", rotate: int = 0, audio: bool = True,
          place: str = "") -> bytes:  # fmt: skip
    """A test-pattern clip as phones and browsers make them: MP4 (H.264 + AAC) or WebM
    (VP9 + Opus); `rotate` sets a display rotation (a portrait phone clip), `place` the
    location metadata phones write."""
    codecs = {
        "mp4": ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac"],
        "webm": ["-c:v", "libvpx-vp9", "-b:v", "200k", "-pix_fmt", "yuv420p", "-c:a", "libopus"],
    }
    made = tmp / f"made-{fmt}-{seconds}-{size}-{audio}.{fmt}"
    cmd = [
        FFMPEG,
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"testsrc=size={size}:rate=15:duration={seconds}",
    ]
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"]
    cmd += [*codecs[fmt], *(["-an"] if not audio else []), "-shortest", str(made)]
    subprocess.run(cmd, check=True, timeout=120)
    if not rotate and not place:
        return made.read_bytes()
    out = tmp / f"phone-{rotate}-{made.name}"
    tags = ["-metadata", f"location={place}"] if place else []
    rotation = ["-display_rotation", str(rotate)] if rotate else []
    subprocess.run([FFMPEG, "-v", "error", "-y", *rotation, "-i", str(made), "-c", "copy", *tags, str(out)],
                   check=True, timeout=60)  # fmt: skip
    return out.read_bytes()


def tiny_pdf(text: str = "Hello from chatd") -> bytes:
    """A real one-page PDF (any viewer opens it), written by hand with a correct xref."""
    stream = f"BT /F1 24 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)
