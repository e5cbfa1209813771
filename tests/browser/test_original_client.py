"""chatd's page beside the original client's (issue 12): a user still on the old page sends
text and a sticker from its panel; chatd's page shows both, the sticker as an image."""

from __future__ import annotations

import urllib.parse
import urllib.request

import orjson
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Person, run_in_thread
from tests.browser.test_client import no_errors
from tests.originalfixture import STICKER, original_folder, start_original_server


@pytest.fixture
def original_server(tmp_path):
    proc = start_original_server(tmp_path, original_folder(tmp_path / "gochat"))
    yield proc
    proc.stop()


def old_page_post(base_url: str, path: str, cookie: str = "", **fields: object) -> tuple[dict, str]:
    """A form POST as the original's pages send it: the cookie, this origin, no _xsrf."""
    headers = {"Origin": base_url, "Sec-Fetch-Site": "same-origin"}
    if cookie:
        headers["Cookie"] = cookie
    body = urllib.parse.urlencode({k: str(v) for k, v in fields.items()}).encode()
    with urllib.request.urlopen(urllib.request.Request(f"{base_url}/{path}", body, headers)) as response:
        set_cookie = response.headers.get("Set-Cookie", "")
        return orjson.loads(response.read()), set_cookie.split(";", 1)[0] or cookie


def old_page_sends(base_url: str, user: dict, frames: list[dict]) -> None:
    """The original's socket (?id=&token=, frames without cmid), from a thread of its own."""
    from tornado.websocket import websocket_connect

    async def run() -> None:
        ws = await websocket_connect(
            base_url.replace("http", "ws") + f"/chat?id={user['id']}&token={user['token']}"
        )
        for frame in frames:
            await ws.write_message(orjson.dumps(frame).decode())
        ws.close()

    run_in_thread(run, 30)


def test_chatd_page_shows_what_the_original_page_sends_stickers_included(browser, original_server):
    base = original_server.base_url
    ann = Person(browser, base)
    try:
        ann.register("30101", "Ann")
        envelope, _ = old_page_post(
            base, "user/register", mobile="30102", passwd="old secret", nickname="Oldie"
        )
        assert envelope["code"] == 0, envelope
        envelope, cookie = old_page_post(base, "user/login", mobile="30102", passwd="old secret")
        oldie = envelope["data"]
        ann_id = ann.user()["id"]
        envelope, _ = old_page_post(base, "contact/addfriend", cookie, dstid=ann_id, userid=oldie["id"])
        assert envelope["code"] == 0, envelope  # no request: friends at once
        expect(ann.page.locator("#friend-list .contact", has_text="Oldie")).to_be_visible()
        ann.open_chat("Oldie")
        base_frame = {
            "id": 1,
            "userid": oldie["id"],
            "cmd": 10,
            "dstid": ann_id,
            "pic": "",
            "memo": "",
            "amount": 0,
        }
        old_page_sends(base, oldie, [
            {**base_frame, "media": 1, "content": "hello from the old page", "url": ""},
            {**base_frame, "media": 4, "content": "", "url": STICKER},
        ])  # fmt: skip
        expect(ann.page.locator("li.msg .msg__text", has_text="hello from the old page")).to_be_visible()
        sticker = ann.page.locator("li.msg img.msg__sticker")
        expect(sticker).to_be_visible()
        expect(sticker).to_have_attribute("src", urllib.parse.quote(STICKER))
        # The GIF itself came from the original's asset folder.
        assert ann.page.evaluate("img => img.complete && img.naturalWidth", sticker.element_handle()) == 8
        no_errors(ann)
    finally:
        ann.close()
