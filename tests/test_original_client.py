"""The original Go IM client against the real server process (issue 12).

`OriginalPage` imitates what that client's pages do, from the field lists of the issue:
form POSTs carrying `userid` and no token (the browser adds the cookie, Origin and
Sec-Fetch-Site), HTTP 200 answers read by `code`, uploads of `file` plus `filetype` whose
`data` goes into the frame's `url`, and a socket opened with `?id=&token=`, never `since`,
sending frames of `id, userid, cmd, dstid, media, content, pic, url, memo, amount` and no
cmid. With `original_client` on all of it works; with it off, chatd answers as before."""

from __future__ import annotations

import itertools
import sqlite3
import urllib.parse
import uuid
from http.cookies import SimpleCookie
from typing import Any

import orjson
import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import websocket_connect

from tests import mediafiles
from tests.conftest import Account, ChatClient, connect, register, wait_until
from tests.conftest import Api as ChatdApi
from tests.originalfixture import OLD_AVATAR, STICKER, STICKER_AS_SENT, original_folder, start_original_server
from tests.serverproc import ServerProcess
from tests.test_uploads import multipart

pytestmark = pytest.mark.slow

_mobiles = itertools.count(18_600_000_000)


class OriginalPage:
    """One browser tab of the original client: its cookie, its calls, its socket."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = AsyncHTTPClient()
        self.cookie = ""
        self.user: dict[str, Any] = {}
        self.socket: ChatClient | None = None

    def _headers(self, origin: str | None) -> dict[str, str]:
        headers = {
            "Origin": origin or self.base_url,
            "Sec-Fetch-Site": "same-origin" if origin is None else "cross-site",
        }
        if self.cookie:
            headers["Cookie"] = self.cookie
        return headers

    def _keep_cookie(self, response: Any) -> None:
        for header in response.headers.get_list("Set-Cookie"):
            jar = SimpleCookie(header)
            if "chatd_token" in jar:
                self.cookie = f"chatd_token={jar['chatd_token'].value}"

    async def post(self, path: str, origin: str | None = None, **fields: Any) -> tuple[int, dict[str, Any]]:
        """`util.post(path, fields)`: a form POST; (HTTP status, the JSON envelope)."""
        headers = {**self._headers(origin), "Content-Type": "application/x-www-form-urlencoded"}
        body = urllib.parse.urlencode({k: str(v) for k, v in fields.items()})
        response = await self.http.fetch(
            HTTPRequest(f"{self.base_url}/{path}", method="POST", headers=headers, body=body),
            raise_error=False,
        )
        self._keep_cookie(response)
        return response.code, orjson.loads(response.body)

    async def ok(self, path: str, **fields: Any) -> dict[str, Any]:
        status, envelope = await self.post(path, **fields)
        assert (status, envelope["code"]) == (200, 0), (path, status, envelope)
        return envelope

    async def register_and_login(self, nickname: str, passwd: str = "original pw") -> OriginalPage:
        mobile = str(next(_mobiles))
        await self.ok(
            "user/register", mobile=mobile, passwd=passwd, nickname=nickname, sex="W", memo="hi",
            avatar="/asset/images/user.jpg",
        )  # fmt: skip
        self.user = (await self.ok("user/login", mobile=mobile, passwd=passwd))["data"]
        return self

    @property
    def id(self) -> int:
        return int(self.user["id"])

    async def upload(self, data: bytes, filetype: str) -> tuple[int, dict[str, Any]]:
        """`uploadfile("attach/upload", ...)`: multipart `file` plus `filetype`."""
        body, content_type = multipart(data, filename="blob", filetype=filetype)
        headers = {**self._headers(None), "Content-Type": content_type}
        response = await self.http.fetch(
            HTTPRequest(f"{self.base_url}/attach/upload", method="POST", headers=headers, body=body,
                        request_timeout=60),
            raise_error=False,
        )  # fmt: skip
        return response.code, orjson.loads(response.body)

    async def open_chat(self) -> ChatClient:
        """`initwebsocket()`: ws://HOST/chat?id=ID&token=TOKEN, no since, no cookie needed."""
        url = self.base_url.replace("http", "ws", 1) + f"/chat?id={self.id}&token={self.user['token']}"
        account = Account(self.id, self.user["token"], self.user["mobile"], self.user["nickname"])
        self.socket = ChatClient(await websocket_connect(url), account)
        return self.socket

    async def send(self, cmd: int, dstid: int, media: int, **fields: Any) -> None:
        """`this.webSocket.send(JSON.stringify(msg))` with the original's fields, no cmid."""
        assert self.socket is not None
        frame = {"id": 1, "userid": self.id, "cmd": cmd, "dstid": dstid, "media": media, "content": "",
                 "pic": "", "url": "", "memo": "", "amount": 0, **fields}  # fmt: skip
        await self.socket.send_raw(orjson.dumps(frame).decode())


@pytest.fixture
def original_server(tmp_path):
    proc = start_original_server(tmp_path, original_folder(tmp_path / "gochat"))
    yield proc
    proc.stop()


@pytest.fixture
def plain_server(tmp_path):
    proc = ServerProcess(tmp_path).start()
    yield proc
    proc.stop()


async def next_message(page: OriginalPage) -> dict[str, Any]:
    """The next frame the page gets: with original_client on, it only ever gets messages."""
    assert page.socket is not None
    frame = await page.socket.next_frame()
    assert frame["cmd"] in (10, 11), f"the original's page cannot show {frame}"
    return frame


async def sentinel(
    sender: OriginalPage, receiver: OriginalPage, cmd: int = 10, dstid: int | None = None
) -> None:
    """The receiver's very next frame is a fresh text from the sender: nothing came before it."""
    text = f"sentinel {uuid.uuid4().hex[:8]}"
    await sender.send(cmd, dstid or receiver.id, 1, content=text)
    frame = await next_message(receiver)
    assert (frame["content"], frame["userid"]) == (text, sender.id), frame


@pytest.mark.gen_test(timeout=90)
async def test_every_flow_of_the_original_client_works_with_original_client_on(original_server, tmp_path):
    base = original_server.base_url
    ann = await OriginalPage(base).register_and_login("Ann")
    bob = await OriginalPage(base).register_and_login("Bob")
    assert ann.cookie and "token" in ann.user
    # Friends: no requests in the original, so addfriend makes friends both ways at once.
    assert (await ann.ok("contact/loadfriend", userid=ann.id))["rows"] == []
    await ann.ok("contact/addfriend", dstid=bob.id, userid=ann.id)
    assert [u["id"] for u in (await bob.ok("contact/loadfriend", userid=bob.id))["rows"]] == [ann.id]
    found = (await bob.ok("user/find", id=ann.id))["data"]
    assert (found["id"], found["nickname"]) == (ann.id, "Ann")
    # An avatar the original server stored under /mnt/ is served and kept on a profile edit.
    assert (await ann.http.fetch(base + OLD_AVATAR)).body[:4] == b"\x89PNG"
    await ann.ok("user/profile", avatar=OLD_AVATAR, nickname="Ann")
    status, envelope = await ann.post("user/profile", avatar="/mnt/../view/user/login.html")
    assert (status, envelope["code"]) == (200, -1)

    # Text, both ways, with no cmid; neither page gets an ack or any other frame it cannot show.
    await ann.open_chat()
    await bob.open_chat()
    await ann.send(10, bob.id, 1, content="hello from the old page")
    got = await next_message(bob)
    assert (got["cmd"], got["userid"], got["dstid"], got["media"], got["content"]) == (
        10, ann.id, bob.id, 1, "hello from the old page",
    )  # fmt: skip
    await sentinel(bob, ann)  # Ann got no ack (nor her own message) before Bob's reply

    # A photo: upload with filetype, `data` is the URL, which goes into the frame.
    status, answer = await ann.upload(mediafiles.landscape(), ".png")
    assert status == 200 and answer["code"] == 0 and isinstance(answer["data"], str), answer
    await ann.send(10, bob.id, 4, url=answer["data"])
    photo = await next_message(bob)
    assert (photo["media"], photo["url"]) == (4, answer["data"]) and photo["pic"].startswith("/upload/")

    # A voice clip as the page records it (webm/opus, sent as ".mp3"), with its seconds.
    status, answer = await ann.upload(mediafiles.audio("webm", 1.5, tmp_path), ".mp3")
    assert status == 200 and isinstance(answer["data"], str), answer
    await ann.send(10, bob.id, 3, url=answer["data"], amount=2)
    voice = await next_message(bob)
    assert voice["media"] == 3 and voice["url"] == answer["data"] and 1 <= voice["amount"] <= 2

    # A sticker from its own panel: media 4 naming a GIF under asset/plugins/doutu/.
    for sent in (STICKER_AS_SENT, urllib.parse.quote(STICKER)):
        await ann.send(10, bob.id, 4, url=sent)
        sticker = await next_message(bob)
        assert (sticker["media"], sticker["url"]) == (4, STICKER)
    # Its panel reads the pack with a POST, and shows the GIFs by the URLs it built.
    status, pack = await ann.post("asset/plugins/doutu//mkgif/info.json")
    assert status == 200 and pack["id"] == "mkgif"
    gif = await ann.http.fetch(base + urllib.parse.quote(STICKER_AS_SENT))
    assert gif.body[:3] == b"GIF"
    # A name that is not one of its files is no sticker.
    await ann.send(10, bob.id, 4, url="/asset/plugins/doutu/../../view/user/login.html")
    await sentinel(ann, bob)

    # Groups: created open (it has no invites), found by number, joined, chatted in.
    made = (await ann.ok("contact/createcommunity", name="Old friends", ownerid=ann.id, cate=0, memo="",
                         icon="/asset/images/community.png"))["data"]  # fmt: skip
    await bob.ok("contact/joincommunity", dstid=made["id"], userid=bob.id)
    assert [g["id"] for g in (await bob.ok("contact/loadcommunity", userid=bob.id))["rows"]] == [made["id"]]
    await ann.send(11, made["id"], 1, content="welcome to the group")
    group_text = await next_message(bob)  # no join line, nothing else: only the text
    assert (group_text["cmd"], group_text["dstid"], group_text["content"]) == (
        11,
        made["id"],
        "welcome to the group",
    )

    # Offline: Bob's page closes; what Ann sends meanwhile comes on his next visit, once, in order.
    bob.socket.close()
    await bob.socket.conn.read_message()  # the close handshake is done
    for text in ("missed one", "missed two"):
        await ann.send(10, bob.id, 1, content=text)
    await bob.open_chat()
    assert [(await next_message(bob))["content"] for _ in range(2)] == ["missed one", "missed two"]
    await sentinel(ann, bob)
    # And a third visit replays none of it again.
    bob.socket.close()
    await bob.socket.conn.read_message()
    await bob.open_chat()
    await sentinel(ann, bob)


@pytest.mark.gen_test(timeout=60)
async def test_original_pages_get_code_minus_one_with_http_200_and_change_nothing(original_server):
    base = original_server.base_url
    ann = await OriginalPage(base).register_and_login("Ann")
    bob = await OriginalPage(base).register_and_login("Bob")
    # A wrong password: the page reads `code` and `msg` of an HTTP 200 answer.
    status, envelope = await OriginalPage(base).post("user/login", mobile=ann.user["mobile"], passwd="nope")
    assert status == 200 and envelope["code"] == -1 and envelope["msg"]
    # A userid that is not the signed-in user's is refused, not believed (the original trusted it).
    status, envelope = await ann.post("contact/addfriend", dstid=bob.id, userid=bob.id)
    assert (status, envelope["code"]) == (200, -1) and "userid" in envelope["msg"]
    # Another site's page cannot use the cookie without _xsrf.
    status, envelope = await ann.post(
        "contact/addfriend", origin="http://evil.example", dstid=bob.id, userid=ann.id
    )
    assert (status, envelope["code"]) == (200, -1)
    assert (await ann.ok("contact/loadfriend", userid=ann.id))["rows"] == []
    # chatd's own client, on the same server, still gets statuses, acks and notices.
    chatd = ChatdApi(AsyncHTTPClient(), base)
    cat, dan = await register(chatd, "Cat"), await register(chatd, "Dan")
    status, envelope = await chatd.call("/contact/addfriend", cat.token, dstid=999_999)
    assert status == 404 and envelope["code"] == -1
    await chatd.ok("/contact/addfriend", cat.token, dstid=dan.id)
    c = await connect(base, cat, since=0)
    cmid = await c.send(cmd=10, dstid=dan.id, media=1, content="hi")
    assert (await c.next_frame())["cmid"] == cmid
    # A client's cmid cannot take the server's namespace.
    await c.send(cmd=10, dstid=dan.id, media=1, content="sneaky", cmid="~" + "0" * 32)
    refused = await c.next_frame()
    assert (refused["cmd"], refused["code"]) == (13, 400)


@pytest.mark.gen_test(timeout=60)
async def test_with_original_client_off_chatd_answers_the_original_page_as_before(plain_server):
    base = plain_server.base_url
    ann = OriginalPage(base)
    mobile = str(next(_mobiles))
    await ann.ok("user/register", mobile=mobile, passwd="original pw", nickname="Ann")
    ann.user = (await ann.ok("user/login", mobile=mobile, passwd="original pw"))["data"]
    status, envelope = await ann.post("contact/loadfriend", userid=ann.id)
    assert status == 403 and envelope["code"] == -1  # no _xsrf: refused, as chatd always did
    status, envelope = await OriginalPage(base).post("user/login", mobile=mobile, passwd="nope")
    assert status == 401
    assert (await ann.upload(mediafiles.landscape(), ".png"))[0] == 403
    page = await ann.open_chat()
    await ann.send(10, ann.id + 1, 1, content="no cmid")
    refused = await page.next_frame()
    assert (refused["cmd"], refused["code"]) == (13, 400) and "cmid" in refused["msg"]


def cursor_in(server: ServerProcess, user_id: int) -> int:
    with sqlite3.connect(server.data_dir / "chatd.db") as conn:
        row = conn.execute("SELECT last_id FROM delivery_cursor WHERE user_id = ?", (user_id,)).fetchone()
    return int(row[0]) if row else 0


@pytest.mark.gen_test(timeout=60)
async def test_a_dropped_page_gets_again_only_what_no_answered_ping_confirmed(tmp_path):
    # The page never acks: a pong to a ping sent after a message proves it arrived (TCP
    # keeps order), so a connection that vanishes loses nothing and repeats nothing older.
    folder = original_folder(tmp_path / "gochat")
    server = start_original_server(tmp_path, folder, "--ping-interval", "0.2")
    try:
        ann = await OriginalPage(server.base_url).register_and_login("Ann")
        bob = await OriginalPage(server.base_url).register_and_login("Bob")
        await ann.ok("contact/addfriend", dstid=bob.id, userid=ann.id)
        await ann.open_chat()
        await bob.open_chat()
        await ann.send(10, bob.id, 1, content="seen and confirmed")
        seen = await next_message(bob)
        await wait_until(lambda: cursor_in(server, bob.id) >= seen["id"], what="a pong moves the cursor")
        bob.socket.conn.stream.close()  # gone without a close frame (a phone out of coverage)
        await ann.send(10, bob.id, 1, content="sent while gone")
        await bob.open_chat()
        assert (await next_message(bob))["content"] == "sent while gone"
        await sentinel(ann, bob)
    finally:
        server.stop()
