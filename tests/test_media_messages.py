"""Image and voice messages name a stored upload; the server fills pic, amount and memo."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from tests import mediafiles
from tests.conftest import assert_next_is_sentinel, befriend, connect, register, wait_until
from tests.test_uploads import upload


@pytest.fixture
def settings_overrides():
    return {"send_rate": 10_000.0, "send_burst": 10_000, "media_threads": 2}


async def pair(api, base_url):
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    await befriend(api, ann, bob)
    return ann, bob, await connect(base_url, ann), await connect(base_url, bob)


@pytest.mark.gen_test(timeout=60)
async def test_image_message_carries_the_uploads_thumbnail_and_size(api, http_client, base_url):
    ann, bob, a, b = await pair(api, base_url)
    _, env = await upload(http_client, base_url, ann.token, mediafiles.png_with_alpha())
    image = env["data"]
    # What the client claims about the picture is ignored.
    await a.send(cmd=10, dstid=bob.id, media=4, url=image["url"], pic="/upload/evil.png", amount=99,
                 memo="lies", content="look")  # fmt: skip
    assert (await a.next_frame())["cmd"] == 12
    got = await b.next_message()
    assert (got["media"], got["url"], got["pic"], got["content"]) == (4, image["url"], image["pic"], "look")
    assert got["amount"] == 0
    memo = orjson.loads(got["memo"])
    assert (memo["width"], memo["height"], memo["mime"]) == (400, 300, "image/png")


@pytest.mark.gen_test(timeout=60)
async def test_voice_message_carries_the_measured_duration_and_waveform(api, http_client, base_url, tmp_path):
    ann, bob, a, b = await pair(api, base_url)
    _, env = await upload(http_client, base_url, ann.token, mediafiles.audio("webm", 3.0, tmp_path))
    voice = env["data"]
    await a.send(cmd=10, dstid=bob.id, media=3, url=voice["url"], amount=600)
    assert (await a.next_frame())["cmd"] == 12
    got = await b.next_message()
    assert got["media"] == 3 and got["url"] == voice["url"] and got["pic"] == ""
    assert got["amount"] == voice["amount"] and abs(got["amount"] - 3.0) <= 0.3
    assert orjson.loads(got["memo"])["waveform"] == voice["waveform"]


@pytest.mark.gen_test(timeout=60)
async def test_missing_foreign_or_wrong_kind_uploads_are_refused(api, http_client, base_url, tmp_path):
    ann, bob, a, b = await pair(api, base_url)
    _, env = await upload(http_client, base_url, ann.token, mediafiles.audio("ogg", 2.0, tmp_path))
    voice_url = env["data"]["url"]
    cases = [
        (4, voice_url, 400),  # a voice clip sent as an image
        (3, "/upload/00/00/" + "0" * 32 + ".mp3", 404),  # the shape of ours, but never uploaded
        (4, "https://evil.example/upload/ab/cd/x.jpg", 404),  # not ours at all
        (4, "", 404),
        (3, "/etc/passwd", 404),
    ]
    for media, url, code in cases:
        cmid = await a.send(cmd=10, dstid=bob.id, media=media, url=url)
        frame = await a.next_frame()
        assert (frame["cmd"], frame["cmid"], frame["code"]) == (13, cmid, code), (media, url, frame)
    await assert_next_is_sentinel(b, sender=a, dstid=bob.id)
    # Another user's upload may be forwarded: the URL is the capability.
    await b.send(cmd=10, dstid=ann.id, media=3, url=voice_url)
    assert (await b.next_frame())["cmd"] == 12
    assert (await a.next_message())["url"] == voice_url


@pytest.mark.gen_test(timeout=120)
async def test_chat_goes_on_while_voice_clips_transcode(api, http_client, base_url, tmp_path, ctx):
    ann, bob, a, b = await pair(api, base_url)
    clip = mediafiles.audio("ogg", 25.0, tmp_path)
    # Four: the most one user may have in progress at once (uploads_per_user).
    uploads = [asyncio.ensure_future(upload(http_client, base_url, ann.token, clip)) for _ in range(4)]
    await wait_until(lambda: ctx.pools.media_jobs >= 3, what="the media workers busy with them")
    assert not all(u.done() for u in uploads)
    # A protocol-level ping answered by the server's IOLoop...
    pong = asyncio.get_running_loop().create_future()
    a.conn.on_pong = lambda data: pong.done() or pong.set_result(data)
    a.conn.ping(b"are you there")
    assert await asyncio.wait_for(pong, 10) == b"are you there"
    # ...and a 1:1 message, stored and delivered, both while the clips are still transcoding.
    await a.send(cmd=0)
    await a.send(cmd=10, dstid=bob.id, media=1, content="still here")
    assert (await a.next_frame(10))["cmd"] == 12
    assert (await b.next_message(10))["content"] == "still here"
    assert not all(u.done() for u in uploads), "uploads finished first: the test proved nothing"
    results = await asyncio.gather(*uploads)
    assert all(status == 200 for status, _ in results)


@pytest.mark.gen_test(timeout=30)
async def test_emoji_and_sticker_messages_need_a_code_from_the_catalog(api, base_url, http_client):
    _, bob, a, b = await pair(api, base_url)
    catalog = orjson.loads((await http_client.fetch(base_url + "/emoji.json")).body)
    sticker = catalog["stickers"][0]["code"]
    for code in [":grinning_face_with_smiling_eyes:", ":smile:", ":+1:", sticker]:
        await a.send(cmd=10, dstid=bob.id, media=6, content=code)
        assert (await a.next_frame())["cmd"] == 12, code
        got = await b.next_message()
        assert (got["media"], got["content"]) == (6, code)
    for bad in [":no_such_emoji:", "😄", "chatd-blobs/nope", ":smile: extra", ""]:
        cmid = await a.send(cmd=10, dstid=bob.id, media=6, content=bad)
        assert await a.next_frame() == {
            "cmd": 13, "cmid": cmid, "code": 400, "msg": f"unknown emoji code {bad[:64]!r}"
        }  # fmt: skip
    await assert_next_is_sentinel(b, sender=a, dstid=bob.id)
    # Text may carry shortcodes freely; the catalog lets the client draw them.
    await a.send(cmd=10, dstid=bob.id, media=1, content="nice :thumbs_up: :made_up:")
    assert (await b.next_message())["content"] == "nice :thumbs_up: :made_up:"
