"""POST /attach/upload and GET /upload/: real files made in the tests, real ffmpeg and Pillow."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import uuid

import orjson
import pytest
from PIL import Image
from tornado.httpclient import HTTPRequest

from tests import mediafiles
from tests.conftest import register, wait_until

ORIENTATION, GPS_IFD = mediafiles.ORIENTATION, mediafiles.GPS_IFD
MB = 1024 * 1024


def multipart(data: bytes, filename: str = "upload.bin", content_type: str = "application/octet-stream",
              **fields: str) -> tuple[bytes, str]:  # fmt: skip
    boundary = uuid.uuid4().hex
    body = b""
    for name, value in fields.items():
        body += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    body += (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


async def upload(http_client, base_url, token: str | None, data: bytes, **kw) -> tuple[int, dict]:
    body, content_type = multipart(data, **kw)
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    response = await http_client.fetch(
        HTTPRequest(base_url + "/attach/upload", method="POST", headers=headers, body=body,
                    request_timeout=120),
        raise_error=False,
    )  # fmt: skip
    return response.code, orjson.loads(response.body) if response.body else {}


async def fetch(http_client, base_url, url: str, **headers: str):
    return await http_client.fetch(base_url + url, headers=headers, raise_error=False)


def stored_files(settings) -> list[str]:
    """Every file kept under the upload dir (temp files included)."""
    root = settings.upload_dir
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture
def settings_overrides():
    # Videos and files have limits of their own (tests/test_files.py); 10 MB here as voice has.
    return {"image_max_bytes": 8 * MB, "voice_max_seconds": 30.0, "video_max_bytes": 10 * MB}


@pytest.mark.gen_test(timeout=60)
async def test_photo_is_rotated_stripped_of_exif_and_gps_and_thumbnailed(api, http_client, base_url):
    ann = await register(api, "Ann")
    original = mediafiles.photo_with_exif(3000, 2000, orientation=6)
    # The name and type the client gives are ignored: the bytes decide.
    status, env = await upload(http_client, base_url, ann.token, original, filename="x.txt",
                               content_type="text/plain")  # fmt: skip
    assert status == 200, env
    data = env["data"]
    assert data["media"] == 4 and data["mime"] == "image/jpeg"
    assert (data["width"], data["height"]) == (2000, 3000)  # turned upright
    stored = await fetch(http_client, base_url, data["url"])
    assert stored.code == 200 and stored.headers["Content-Type"] == "image/jpeg"
    assert stored.headers["X-Content-Type-Options"] == "nosniff"
    im = Image.open(io.BytesIO(stored.body))
    assert im.size == (2000, 3000)
    exif = im.getexif()
    assert ORIENTATION not in exif and not exif.get_ifd(GPS_IFD) and len(exif) == 0
    assert b"secret comment" not in stored.body and b"chatd test camera" not in stored.body
    # The red band on the left of the landscape original is now along the top.
    top = im.getpixel((1000, 20))
    assert top[0] > 200 and top[1] < 60 and top[2] < 60
    thumb = await fetch(http_client, base_url, data["pic"])
    assert thumb.code == 200 and thumb.headers["Content-Type"] == "image/webp"
    small = Image.open(io.BytesIO(thumb.body))
    assert max(small.size) == 320 and small.size == (213, 320)
    assert not small.getexif()
    assert data["size"] == len(stored.body)


@pytest.mark.gen_test(timeout=30)
async def test_heic_from_a_phone_is_stored_as_jpeg_without_metadata(api, http_client, base_url):
    ann = await register(api, "Ann")
    heic = mediafiles.heic_photo()
    status, env = await upload(http_client, base_url, ann.token, heic, filename="IMG_0001.HEIC")
    assert status == 200, env
    assert env["data"]["mime"] == "image/jpeg" and (env["data"]["width"], env["data"]["height"]) == (800, 600)
    stored = await fetch(http_client, base_url, env["data"]["url"])
    im = Image.open(io.BytesIO(stored.body))
    assert im.format == "JPEG" and len(im.getexif()) == 0 and b"chatd test phone" not in stored.body


@pytest.mark.gen_test(timeout=30)
async def test_png_keeps_its_transparency(api, http_client, base_url):
    ann = await register(api, "Ann")
    status, env = await upload(http_client, base_url, ann.token, mediafiles.png_with_alpha())
    assert status == 200, env
    stored = Image.open(io.BytesIO((await fetch(http_client, base_url, env["data"]["url"])).body))
    assert stored.format == "PNG" and stored.mode == "RGBA"
    assert stored.getpixel((5, 5))[3] == 0 and stored.getpixel((200, 150))[3] == 180
    thumb = Image.open(io.BytesIO((await fetch(http_client, base_url, env["data"]["pic"])).body))
    assert thumb.mode == "RGBA" and thumb.getpixel((2, 2))[3] == 0


@pytest.mark.gen_test(timeout=30)
async def test_animated_gif_keeps_its_animation(api, http_client, base_url):
    ann = await register(api, "Ann")
    status, env = await upload(http_client, base_url, ann.token, mediafiles.animated_gif(4))
    assert status == 200, env
    assert env["data"]["mime"] == "image/gif" and (env["data"]["width"], env["data"]["height"]) == (120, 80)
    stored = Image.open(io.BytesIO((await fetch(http_client, base_url, env["data"]["url"])).body))
    assert stored.is_animated and stored.n_frames == 4
    thumb = Image.open(io.BytesIO((await fetch(http_client, base_url, env["data"]["pic"])).body))
    assert thumb.is_animated and thumb.n_frames == 4


@pytest.mark.parametrize("fmt", ["webm", "ogg", "m4a", "mp4", "mp3", "wav"])
@pytest.mark.gen_test(timeout=60)
async def test_voice_clip_becomes_a_playable_mono_mp3_with_duration_and_waveform(
    api, http_client, base_url, tmp_path, fmt
):
    ann = await register(api, "Ann")
    clip = mediafiles.audio(fmt, 4.0, tmp_path)
    status, env = await upload(http_client, base_url, ann.token, clip, filename=f"voice.{fmt}")
    assert status == 200, env
    data = env["data"]
    assert data["media"] == 3 and data["mime"] == "audio/mpeg"
    assert abs(data["amount"] - 4.0) <= 0.3
    assert 64 <= len(data["waveform"]) <= 100 and all(0 <= p <= 255 for p in data["waveform"])
    assert max(data["waveform"]) == 255 and min(data["waveform"]) < 200  # it rises and falls
    served = await fetch(http_client, base_url, data["url"])
    assert served.headers["Content-Type"] == "audio/mpeg"
    # Playable: ffmpeg decodes the served file as one mono MP3 stream of the same length.
    path = tmp_path / "served.mp3"
    path.write_bytes(served.body)
    probe = subprocess.run(
        [mediafiles.FFMPEG, "-hide_banner", "-i", str(path), "-f", "null", "-"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert probe.returncode == 0 and "Audio: mp3" in probe.stderr and "mono" in probe.stderr
    assert "Video:" not in probe.stderr


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>", "photo.jpg"),
        (lambda: b"just some text, with commas, nothing more\n" * 20, "notes.png"),
        (lambda: os.urandom(5000), "noise.mp3"),
    ],
)
@pytest.mark.gen_test(timeout=30)
async def test_what_is_not_an_image_or_voice_is_415_and_leaves_nothing(
    api, http_client, base_url, settings, make, name
):
    ann = await register(api, "Ann")
    status, env = await upload(
        http_client, base_url, ann.token, make(), filename=name, content_type="image/jpeg"
    )
    assert status == 415 and env["code"] == -1 and env["msg"]
    assert stored_files(settings) == []


@pytest.mark.gen_test(timeout=30)
async def test_video_is_not_a_voice_clip(api, http_client, base_url, settings, tmp_path):
    ann = await register(api, "Ann")
    # (Sent without a kind, it would be a video message: tests/test_files.py.)
    status, env = await upload(
        http_client, base_url, ann.token, mediafiles.audio("webm", 2.0, tmp_path, video=True), kind="voice"
    )
    assert status == 415 and "video" in env["msg"]
    assert stored_files(settings) == []


@pytest.mark.gen_test(timeout=60)
async def test_voice_over_the_length_limit_is_refused(api, http_client, base_url, settings, tmp_path):
    ann = await register(api, "Ann")
    status, env = await upload(http_client, base_url, ann.token, mediafiles.audio("ogg", 35.0, tmp_path))
    assert status == 413 and "30" in env["msg"]
    assert stored_files(settings) == []


@pytest.mark.gen_test(timeout=30)
async def test_declared_kind_must_match_the_bytes(api, http_client, base_url, tmp_path):
    ann = await register(api, "Ann")
    status, _ = await upload(http_client, base_url, ann.token, mediafiles.png_with_alpha(), kind="voice")
    assert status == 415
    status, _ = await upload(http_client, base_url, ann.token, mediafiles.png_with_alpha(), kind="image")
    assert status == 200


@pytest.mark.gen_test(timeout=30)
async def test_decompression_bomb_is_refused(api, http_client, base_url, settings):
    ann = await register(api, "Ann")
    bomb = mediafiles.bomb_png(14000)
    assert len(bomb) < 100_000
    status, env = await upload(http_client, base_url, ann.token, bomb)
    assert status == 413 and "pixels" in env["msg"]
    assert stored_files(settings) == []


@pytest.mark.gen_test(timeout=30)
async def test_no_token_is_401_and_reads_no_body(api, http_client, base_url, settings):
    status, env = await upload(http_client, base_url, None, mediafiles.png_with_alpha())
    assert status == 401 and env["code"] == -1
    status, _ = await upload(http_client, base_url, "forged-token", mediafiles.png_with_alpha())
    assert status == 401
    assert stored_files(settings) == []


@pytest.mark.gen_test(timeout=60)
async def test_oversized_upload_with_a_length_is_refused_before_the_body(
    api, http_client, base_url, settings
):
    ann = await register(api, "Ann")
    body, content_type = multipart(os.urandom(12 * 1024 * 1024))  # over the voice limit too
    response = await http_client.fetch(
        HTTPRequest(
            base_url + "/attach/upload", method="POST", body=body, expect_100_continue=True,
            headers={"Content-Type": content_type, "Authorization": f"Bearer {ann.token}"},
        ),
        raise_error=False,
    )  # fmt: skip
    assert response.code == 413 and b"larger than 10 MB" in response.body
    assert stored_files(settings) == []


@pytest.mark.gen_test(timeout=60)
async def test_streamed_upload_is_cut_off_the_moment_it_passes_the_limit(api, base_url, settings):
    """No Content-Length (chunked): the server counts bytes as they arrive and answers
    413 while the client is still sending; nothing is left on disk."""
    ann = await register(api, "Ann")
    host, port = base_url.split("//")[1].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    boundary = "b" + uuid.uuid4().hex
    writer.write(
        (
            f"POST /attach/upload HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {ann.token}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\nTransfer-Encoding: chunked\r\n\r\n"
        ).encode()
    )
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'
    ).encode() + mediafiles.photo_with_exif(400, 300)[:2000]
    writer.write(b"%x\r\n%s\r\n" % (len(head), head))
    sent = len(head)
    answer = b""
    chunk = os.urandom(256 * 1024)
    while sent < 20 * 1024 * 1024:  # never more than 20 MB, whatever happens
        try:
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()
        except ConnectionError:
            break
        sent += len(chunk)
        try:
            answer = await asyncio.wait_for(reader.read(65536), 0.01)
        except TimeoutError:
            continue
        if answer:
            break
    if not answer:
        answer = await asyncio.wait_for(reader.read(65536), 5)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 8 * 1024 * 1024 + 4 * 1024 * 1024  # cut off near the limit, not at the end
    await wait_until(lambda: stored_files(settings) == [], what="the partial upload deleted")


@pytest.mark.gen_test(timeout=30)
async def test_served_files_support_range_etag_and_long_caching(api, http_client, base_url, tmp_path):
    ann = await register(api, "Ann")
    status, env = await upload(http_client, base_url, ann.token, mediafiles.audio("mp3", 3.0, tmp_path))
    assert status == 200
    url = env["data"]["url"]
    full = await fetch(http_client, base_url, url)
    assert "immutable" in full.headers["Cache-Control"] and full.headers["Accept-Ranges"] == "bytes"
    part = await fetch(http_client, base_url, url, Range="bytes=100-199")
    assert part.code == 206 and part.body == full.body[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(full.body)}"
    again = await fetch(http_client, base_url, url, **{"If-None-Match": full.headers["Etag"]})
    assert again.code == 304


@pytest.mark.gen_test(timeout=30)
async def test_upload_paths_are_random_sharded_and_nothing_else_is_served(
    api, http_client, base_url, settings
):
    ann = await register(api, "Ann")
    urls = []
    for _ in range(2):
        _, env = await upload(http_client, base_url, ann.token, mediafiles.png_with_alpha())
        urls.append(env["data"]["url"])
    import re

    for url in urls:
        assert re.fullmatch(r"/upload/([0-9a-f]{2})/([0-9a-f]{2})/\1\2[0-9a-f]{28}\.png", url), url
    assert urls[0] != urls[1]
    (settings.upload_dir / "secret.txt").write_text("not for you")
    for bad in ["/upload/secret.txt", "/upload/../chatd.db", "/upload/.tmp/x", "/upload/%2e%2e/chatd.db",
                urls[0].replace(".png", ".jpg")]:  # fmt: skip
        assert (await fetch(http_client, base_url, bad)).code == 404, bad


@pytest.mark.gen_test(timeout=30)
async def test_malformed_requests_are_400_and_leave_nothing(api, http_client, base_url, settings):
    ann = await register(api, "Ann")
    auth = {"Authorization": f"Bearer {ann.token}"}
    cases = [
        ({"Content-Type": "multipart/form-data"}, b"--x\r\n"),  # no boundary
        ({"Content-Type": "multipart/form-data; boundary=zz"}, b"--zz--\r\n"),  # no file in it
    ]
    for headers, body in cases:
        response = await http_client.fetch(
            HTTPRequest(base_url + "/attach/upload", method="POST", headers={**auth, **headers}, body=body),
            raise_error=False,
        )
        assert response.code == 400, (headers, response.body)
    status, _ = await upload(http_client, base_url, ann.token, mediafiles.png_with_alpha(), kind="movie")
    assert status == 400
    response = await http_client.fetch(
        HTTPRequest(base_url + "/attach/upload?kind=movie", method="POST", headers=auth, body=b"x" * 10),
        raise_error=False,
    )
    assert response.code == 400
    assert stored_files(settings) == []
