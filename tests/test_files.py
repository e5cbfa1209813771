"""Issue 11 point 7: videos (media 8) and any other file (media 9) as attachments: the kind
from the bytes, the poster and duration from ffmpeg, files only ever served as downloads,
their own limits, nothing left behind, and the messages that carry them."""

from __future__ import annotations

import asyncio
import io
import os
import sqlite3
import urllib.parse

import orjson
import pytest
from PIL import Image
from tornado.httpclient import HTTPRequest

from server import video
from server.services.attachments import clean_name, content_disposition
from tests import mediafiles
from tests.conftest import assert_next_is_sentinel, befriend, both_databases, connect, register
from tests.test_uploads import fetch, multipart, stored_files, upload

MB = 1024 * 1024


@pytest.fixture
def settings_overrides():
    return {"video_max_bytes": 2 * MB, "file_max_bytes": 1 * MB, "send_rate": 10_000.0, "send_burst": 10_000}


def served_files(settings) -> list[str]:
    """Stored files only (no temp files), relative to the upload dir."""
    return [p for p in stored_files(settings) if not p.startswith(".tmp")]


@pytest.mark.parametrize(("fmt", "mime"), [("mp4", "video/mp4"), ("webm", "video/webm")])
@pytest.mark.gen_test(timeout=120)
async def test_a_video_is_measured_given_a_poster_and_served_inline_with_range(
    api, http_client, base_url, tmp_path, fmt, mime
):
    ann = await register(api, "Ann")
    clip = mediafiles.video(fmt, 2.5, tmp_path)
    # No kind, and a name and type that lie: the bytes (and ffmpeg) decide.
    status, env = await upload(http_client, base_url, ann.token, clip, filename="notes.txt",
                               content_type="text/plain")  # fmt: skip
    assert status == 200, env
    data = env["data"]
    assert (data["media"], data["mime"], data["width"], data["height"]) == (8, mime, 320, 240)
    assert abs(data["amount"] - 2.5) <= 0.2
    assert data["url"].endswith(f".{fmt}") and data["pic"].endswith(".thumb.webp")
    poster = await fetch(http_client, base_url, data["pic"])
    assert poster.code == 200 and poster.headers["Content-Type"] == "image/webp"
    assert Image.open(io.BytesIO(poster.body)).size == (320, 240)
    stored = await fetch(http_client, base_url, data["url"])
    assert stored.code == 200 and stored.headers["Content-Type"] == mime
    assert "Content-Disposition" not in stored.headers  # a video plays in the page
    assert stored.headers["X-Content-Type-Options"] == "nosniff" and len(stored.body) == data["size"]
    part = await fetch(http_client, base_url, data["url"], Range="bytes=0-99")
    assert part.code == 206 and part.body == stored.body[:100]


@pytest.mark.gen_test(timeout=120)
async def test_a_portrait_phone_clip_keeps_its_rotation_and_loses_its_location(
    api, http_client, base_url, tmp_path
):
    ann = await register(api, "Ann")
    clip = mediafiles.video("mp4", 2.0, tmp_path, size="320x180", rotate=90, place="+52.5200+013.4050/")
    source = tmp_path / "source.mp4"
    source.write_bytes(clip)
    assert "location" in video.probe(source, 20)
    status, env = await upload(http_client, base_url, ann.token, clip, kind="video")
    assert status == 200, env
    assert (env["data"]["width"], env["data"]["height"]) == (180, 320)  # as it is shown
    poster = Image.open(io.BytesIO((await fetch(http_client, base_url, env["data"]["pic"])).body))
    assert poster.size == (180, 320)
    kept = tmp_path / "kept.mp4"
    kept.write_bytes((await fetch(http_client, base_url, env["data"]["url"])).body)
    info = video.probe(kept, 20)
    assert "location" not in info and "rotation of" in info


@pytest.mark.gen_test(timeout=120)
async def test_what_is_not_a_video_is_refused_as_one_and_leaves_nothing(
    api, http_client, base_url, settings, tmp_path
):
    ann = await register(api, "Ann")
    cases = [
        mediafiles.png_with_alpha(),  # an image
        mediafiles.audio("mp3", 2.0, tmp_path),  # audio
        mediafiles.audio("webm", 2.0, tmp_path),  # a WebM, but audio only
        mediafiles.tiny_pdf(),
        b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + os.urandom(5000),  # an MP4 head, then noise
    ]
    for data in cases:
        status, env = await upload(http_client, base_url, ann.token, data, kind="video")
        assert status == 415 and "video" in env["msg"], env
    # The audio-only WebM without a kind is still a voice clip.
    status, env = await upload(http_client, base_url, ann.token, cases[2])
    assert status == 200 and env["data"]["media"] == 3
    assert len(served_files(settings)) == 1 and not [p for p in stored_files(settings) if ".tmp" in p]


@pytest.mark.parametrize(
    ("data", "name", "sniffed"),
    [
        (b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>",
         "holiday.jpg", "text/html"),
        (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>',
         "logo.svg", "image/svg+xml"),
        (b"fetch('/user/me').then(r => r.text()).then(alert);\n" * 3, "app.js", "text/plain"),
    ],
)  # fmt: skip
@pytest.mark.gen_test(timeout=60)
async def test_a_file_is_only_ever_a_download_whatever_it_holds(
    api, http_client, base_url, data, name, sniffed
):
    ann = await register(api, "Ann")
    status, env = await upload(http_client, base_url, ann.token, data, filename=name,
                               content_type="image/jpeg", kind="file")  # fmt: skip
    assert status == 200, env
    got = env["data"]
    assert (got["media"], got["name"], got["size"]) == (9, name, len(data))
    assert got["mime"].startswith(sniffed) and got["url"].endswith(".bin")
    served = await fetch(http_client, base_url, got["url"])
    assert served.code == 200 and served.body == data  # kept as it came
    assert served.headers["Content-Type"] == "application/octet-stream"
    assert served.headers["Content-Disposition"] == (
        f"attachment; filename=\"{name}\"; filename*=UTF-8''{urllib.parse.quote(name)}"
    )
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in served.headers["Content-Security-Policy"]
    # Without kind=file such bytes are not a media kind: 415, as before.
    status, _ = await upload(http_client, base_url, ann.token, data, filename=name)
    assert status == 415


@pytest.mark.gen_test(timeout=60)
async def test_a_photo_sent_as_a_file_stays_a_file_and_a_raw_body_names_itself(api, http_client, base_url):
    ann = await register(api, "Ann")
    photo = mediafiles.photo_with_exif(400, 300)
    status, env = await upload(http_client, base_url, ann.token, photo, filename="scan.jpg", kind="file")
    assert status == 200 and env["data"]["media"] == 9 and env["data"]["mime"] == "image/jpeg"
    assert (await fetch(http_client, base_url, env["data"]["url"])).body == photo  # untouched, as asked
    pdf = mediafiles.tiny_pdf()
    response = await http_client.fetch(
        HTTPRequest(base_url + "/attach/upload?kind=file&name=" + urllib.parse.quote("Bericht März.pdf"),
                    method="POST", body=pdf, headers={"Authorization": f"Bearer {ann.token}"}),
    )  # fmt: skip
    data = orjson.loads(response.body)["data"]
    assert (data["name"], data["mime"], data["size"]) == ("Bericht März.pdf", "application/pdf", len(pdf))
    served = await fetch(http_client, base_url, data["url"])
    disposition = served.headers["Content-Disposition"]
    assert (
        disposition == "attachment; filename=\"Bericht Marz.pdf\"; filename*=UTF-8''Bericht%20M%C3%A4rz.pdf"
    )


def test_file_names_lose_folders_controls_and_direction_tricks():
    assert clean_name("../../etc/passwd") == "passwd"
    assert clean_name("C:\\Users\\ann\\report.pdf") == "report.pdf"
    assert clean_name("invoice\u202efdp.exe") == "invoicefdp.exe"  # no right-to-left override
    assert clean_name("a\x00b\x1f\u200bc\r\nd.txt") == "abc d.txt"
    assert clean_name("   ...  ") == "file" and clean_name("") == "file"
    long = clean_name("x" * 500 + ".tar.gz")
    assert len(long) == 200 and long.endswith("x.gz")
    header = content_disposition('résumé "final";.pdf')
    assert header.startswith("attachment; filename=\"resume _final__.pdf\"; filename*=UTF-8''")
    assert "\r" not in content_disposition("a\rb") and "\n" not in content_disposition("a\nb")


@pytest.mark.gen_test(timeout=60)
async def test_files_and_videos_past_their_limits_are_413_and_leave_nothing(
    api, http_client, base_url, settings
):
    ann = await register(api, "Ann")
    auth = {"Authorization": f"Bearer {ann.token}"}
    # A declared length over the file limit: refused before any byte of the body is read.
    body, content_type = multipart(os.urandom(int(1.5 * MB)), filename="big.zip")
    response = await http_client.fetch(
        HTTPRequest(base_url + "/attach/upload?kind=file", method="POST", body=body, expect_100_continue=True,
                    headers={**auth, "Content-Type": content_type}),
        raise_error=False,
    )  # fmt: skip
    assert response.code == 413 and b"larger than 1 MB" in response.body
    # Chunked (no length): counted as the bytes arrive, refused past the limit.
    answer = await chunked_upload(base_url, ann.token, "/attach/upload?kind=file&name=big.zip", 3 * MB)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    # A video past video_max_bytes (its head is a real MP4, so it is sniffed as one).
    head = mediafiles.video("mp4", 1.0, settings.upload_dir.parent)
    status, env = await upload(http_client, base_url, ann.token, head + os.urandom(3 * MB), kind="video")
    assert status == 413 and "2 MB" in env["msg"]
    assert stored_files(settings) == []


async def chunked_upload(base_url: str, token: str, path: str, most: int) -> bytes:
    """Sends a raw body in chunks (no Content-Length) until the server answers or `most`
    bytes are sent; returns what the server answered."""
    host, port = base_url.split("//")[1].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n".encode())  # fmt: skip
    # Chunks smaller than the multipart slack: a chunk header that alone passes Tornado's
    # body limit is refused by Tornado itself (a bare 400) before any handler sees it.
    sent, answer, chunk = 0, b"", os.urandom(32 * 1024)
    while sent < most and not answer:
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
    answer = answer or await asyncio.wait_for(reader.read(65536), 5)
    writer.close()
    assert sent < most, "the server took more than the limit"
    return answer


async def friends(api, base_url):
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    await befriend(api, ann, bob)
    return ann, bob, await connect(base_url, ann), await connect(base_url, bob)


@both_databases
@pytest.mark.gen_test(timeout=120)
async def test_video_and_file_messages_are_filled_from_their_uploads_stored_once_and_replayed(
    api, http_client, base_url, tmp_path
):
    ann, bob, a, b = await friends(api, base_url)
    _, env = await upload(http_client, base_url, ann.token, mediafiles.video("webm", 2.0, tmp_path))
    clip = env["data"]
    _, env = await upload(http_client, base_url, ann.token, mediafiles.tiny_pdf(), filename="plan.pdf",
                          kind="file")  # fmt: skip
    pdf = env["data"]
    # What the client claims is ignored; a caption is kept.
    await a.send(cmd=10, dstid=bob.id, media=8, url=clip["url"], pic="/upload/evil.png", amount=999,
                 memo="lies", content="our walk", cmid="v-1")  # fmt: skip
    ack = await a.next_frame()
    assert (ack["cmd"], ack["cmid"]) == (12, "v-1")
    got = await b.next_message()
    assert (got["media"], got["url"], got["pic"], got["content"]) == (8, clip["url"], clip["pic"], "our walk")
    assert got["amount"] == clip["amount"] and abs(got["amount"] - 2.0) <= 0.2
    assert orjson.loads(got["memo"]) == {
        "mime": "video/webm",
        "width": 320,
        "height": 240,
        "size": clip["size"],
    }
    await a.send(cmd=10, dstid=bob.id, media=9, url=pdf["url"], memo='{"name": "evil.exe"}', cmid="f-1")
    file_ack = await a.next_frame()
    got = await b.next_message()
    assert (got["media"], got["url"], got["pic"], got["amount"]) == (9, pdf["url"], "", 0)
    assert orjson.loads(got["memo"]) == {"mime": "application/pdf", "name": "plan.pdf", "size": pdf["size"]}
    # A retry of the same cmid is acked with the same id and stored once.
    await a.send(cmd=10, dstid=bob.id, media=9, url=pdf["url"], cmid="f-1")
    assert (await a.next_frame())["id"] == file_ack["id"]
    # Bob comes back later: the replay carries both, filled as they were.
    replay = await connect(base_url, bob, since=ack["id"] - 1)
    first, second = await replay.next_message(), await replay.next_message()
    assert (first["id"], first["media"], first["pic"]) == (ack["id"], 8, clip["pic"])
    assert (second["id"], orjson.loads(second["memo"])["name"]) == (file_ack["id"], "plan.pdf")
    await assert_next_is_sentinel(replay, sender=a, dstid=bob.id)
    history = await api.ok("/message/history", bob.token, cmd=10, dstid=ann.id)
    assert [m["media"] for m in history] == [1, 9, 8]  # the sentinel, newest first; one file


@pytest.mark.gen_test(timeout=120)
async def test_a_media_frame_must_name_an_upload_of_its_own_kind(api, http_client, base_url, tmp_path):
    ann, bob, a, b = await friends(api, base_url)
    _, env = await upload(http_client, base_url, ann.token, mediafiles.png_with_alpha())
    image_url = env["data"]["url"]
    _, env = await upload(http_client, base_url, ann.token, mediafiles.video("mp4", 1.0, tmp_path))
    video_url = env["data"]["url"]
    _, env = await upload(http_client, base_url, ann.token, b"plain notes\n", filename="n.txt", kind="file")
    file_url = env["data"]["url"]
    cases = [
        (8, image_url, 400),  # an image sent as a video
        (8, file_url, 400),
        (9, video_url, 400),  # a video sent as a file
        (9, image_url, 400),
        (4, file_url, 400),  # a file sent as a photo
        (3, video_url, 400),
        (8, "/upload/00/00/" + "0" * 32 + ".mp4", 404),  # the shape of ours, never uploaded
        (9, "https://evil.example/upload/x.bin", 404),
        (9, "", 404),
    ]
    for media_no, url, code in cases:
        cmid = await a.send(cmd=10, dstid=bob.id, media=media_no, url=url)
        frame = await a.next_frame()
        assert (frame["cmd"], frame["cmid"], frame["code"]) == (13, cmid, code), (media_no, url, frame)
    await assert_next_is_sentinel(b, sender=a, dstid=bob.id)


@pytest.fixture
def previous_release_database(tmp_path):
    """The chat's SQLite file as the previous release left it (schema 3), in place before
    the app starts (this fixture comes first in the test's arguments) and migrates it."""
    from tests.test_migration import load_sqlite

    load_sqlite(tmp_path / "chatd.db")
    return tmp_path / "chatd.db"


@pytest.mark.gen_test(timeout=60)
async def test_a_database_from_the_previous_release_takes_files(
    previous_release_database, api, http_client, base_url, settings
):
    assert str(previous_release_database) in settings.database
    ann = await register(api, "Ann")
    status, env = await upload(http_client, base_url, ann.token, b"col1,col2\n1,2\n", filename="t.csv",
                               kind="file")  # fmt: skip
    assert status == 200 and env["data"]["name"] == "t.csv"
    with sqlite3.connect(previous_release_database) as conn:
        assert conn.execute("SELECT kind, name FROM media").fetchall() == [("file", "t.csv")]
        assert conn.execute("SELECT version FROM schema_version").fetchone()[0] >= 6
    conn.close()
