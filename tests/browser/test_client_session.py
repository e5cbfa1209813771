"""The chat page's session and resume cursor in real Chromium: the token stays in the HttpOnly
cookie, login's `next` stays on this site, and a reconnect misses nothing."""

from __future__ import annotations

import re
from urllib.parse import quote

import orjson
from playwright.sync_api import Page, WebSocketRoute, expect

from tests.browser.conftest import PASSWORD, Person, send_over_socket


def no_errors(*people: Person) -> None:
    for person in people:
        assert person.errors == [], person.errors


class SocketCable:
    """The page's WebSockets to /chat, passed through Playwright so a test can cut them
    (as a dropped network would) and lose some frames on the way (as a faulty proxy would).
    Set up before the page loads."""

    def __init__(self, page: Page, lose: str | None = None) -> None:
        self.cut_off = False
        self.lose = lose  # server frames whose content starts with this never arrive
        self.open: list[WebSocketRoute] = []
        self.urls: list[str] = []  # of the connections let through
        page.route_web_socket(re.compile(r"/chat\?"), self.route)

    def route(self, ws: WebSocketRoute) -> None:
        if self.cut_off:
            ws.close(code=1011, reason="network down")
            return
        self.urls.append(ws.url)
        server = ws.connect_to_server()
        server.on_message(lambda message: self.forward(ws, message))
        self.open.append(ws)

    def forward(self, ws: WebSocketRoute, message: str | bytes) -> None:
        frame = orjson.loads(message)
        if self.lose and str(frame.get("content", "")).startswith(self.lose):
            return
        ws.send(message)

    def cut(self) -> None:
        self.cut_off = True
        for ws in self.open:
            ws.close(code=1011, reason="network down")
        self.open.clear()

    def mend(self, page: Page) -> None:
        self.cut_off = False
        page.evaluate("() => window.dispatchEvent(new Event('online'))")  # reconnect now


def test_no_script_can_read_the_token_and_chatting_still_works(friends):
    ann, bob = friends
    urls: list[str] = []
    ann.page.on("websocket", lambda ws: urls.append(ws.url))
    ann.page.reload()
    ann.open_chat("Bob")
    ann.send("over the cookie")
    expect(bob.page.locator("li.msg .msg__text").last).to_have_text("over the cookie")
    bob.send("got it")
    expect(ann.page.locator("li.msg .msg__text").last).to_have_text("got it")

    token = ann.token()
    cookie = next(c for c in ann.context.cookies() if c["name"] == "chatd_token")
    assert cookie["httpOnly"]
    readable = ann.page.evaluate(
        "() => JSON.stringify([{...localStorage}, {...sessionStorage}, document.cookie])"
    )
    assert token not in readable
    assert "chatd_token" not in readable
    assert urls and all("token" not in url and token not in url for url in urls), urls
    assert all(re.search(r"/chat\?id=\d+(&since=\d+)?$", url) for url in urls), urls

    # Logging out ends the cookie too.
    ann.show_contacts()
    ann.page.click("#logout")
    expect(ann.page).to_have_url(re.compile(r"/login\.html"))
    assert "chatd_token" not in {c["name"] for c in ann.context.cookies()}
    ann.page.goto(ann.base_url + "/chat.html")
    expect(ann.page).to_have_url(re.compile(r"/login\.html"))
    no_errors(bob)


def test_login_goes_on_only_to_a_page_of_this_site(people):
    ann = people()
    ann.register("30011", "Ann")
    attacks = [
        "/%09/127.0.0.1:18399/x",  # the tab is dropped by the URL parser: //127.0.0.1:18399/x
        quote("//evil.example/x", safe=""),
        quote("/\\evil.example/x", safe=""),
        quote("https://evil.example/x", safe=""),
        quote("javascript:alert(1)", safe=""),
    ]
    for next_param in attacks:
        ann.page.goto(f"{ann.base_url}/login.html?next={next_param}")
        ann.page.fill("#mobile", "30011")
        ann.page.fill("#password", PASSWORD)
        ann.page.click("#login-submit")
        expect(ann.page).to_have_url(f"{ann.base_url}/chat.html")
        expect(ann.page.locator("#me-name")).to_contain_text("Ann")
    # A path of this site that looks like another host stays a path of this site.
    ann.page.goto(f"{ann.base_url}/login.html?next={quote('/.//evil.example/x', safe='')}")
    ann.page.fill("#mobile", "30011")
    ann.page.fill("#password", PASSWORD)
    ann.page.click("#login-submit")
    expect(ann.page).to_have_url(f"{ann.base_url}//evil.example/x")  # our 404, not evil.example
    expect(ann.page.locator("body")).to_contain_text("not found")
    # A page of this site is still where login goes on to.
    ann.page.goto(f"{ann.base_url}/login.html?next={quote('/chat.html?from=login', safe='')}")
    ann.page.fill("#mobile", "30011")
    ann.page.fill("#password", PASSWORD)
    ann.page.click("#login-submit")
    expect(ann.page).to_have_url(f"{ann.base_url}/chat.html?from=login")
    # Chromium logs our 404 for /.//evil.example/x and for the favicon it then asks for
    # (whenever those console events land): those, and nothing else.
    not_found = [e for e in ann.errors if "status of 404" in e]
    assert len(not_found) <= 2 and [e for e in ann.errors if e not in not_found] == [], ann.errors


def test_history_loaded_while_offline_does_not_skip_another_conversation(friends, people):
    ann, bob = friends
    carol = people()
    carol.register("30012", "Carol")
    ann.add_friend(carol)
    cable = SocketCable(ann.page)
    ann.page.reload()
    ann.open_chat("Carol")
    expect(ann.page.locator("#empty-state")).to_be_visible()  # history loaded: nothing yet
    ann_id = ann.user()["id"]
    send_over_socket(carol.base_url, carol.token(), ann_id, ["c-before"], prefix="before")
    expect(ann.page.locator("li.msg .msg__text")).to_have_text(["c-before"])
    delivered = ann.page.locator("li.msg").last.get_attribute("data-id")  # the newest frame
    ann.open_chat("Bob")

    cable.cut()
    expect(ann.page.locator("#offline")).to_be_visible()
    # While Ann is away: more than a history page from Carol, then one from Bob (newer ids).
    missed = [f"c{i}" for i in range(60)]
    send_over_socket(carol.base_url, carol.token(), ann_id, missed, prefix="missed")
    send_over_socket(bob.base_url, bob.token(), ann_id, ["b-newer"], prefix="newer")
    # Open Bob's chat again (offline: straight from the list): its history is newer than
    # everything Carol sent.
    ann.page.locator("#friend-list .contact", has_text="Bob").click()
    expect(ann.page.locator("li.msg .msg__text").last).to_have_text("b-newer")

    cable.mend(ann.page)
    expect(ann.page.locator("#offline")).to_be_hidden()
    # The resume cursor is the newest message the socket delivered, not Bob's history.
    assert cable.urls[-1].endswith(f"&since={delivered}"), (cable.urls, delivered)
    ann.open_chat("Carol")
    expect(ann.page.locator("li.msg .msg__text").last).to_have_text("c59")
    ann.scroll_to_start(61)
    assert ann.texts() == ["c-before", *missed]
    network = ("WebSocket connection",)  # Chromium's line for each refused reconnect
    assert all(any(n in e for n in network) for e in ann.errors), ann.errors
    no_errors(bob, carol)


def test_messages_lost_on_the_way_leave_no_hole_in_the_scrollback(friends):
    ann, bob = friends
    SocketCable(ann.page, lose="lost-")
    ann.page.reload()
    ann.open_chat("Bob")
    ann_id = ann.user()["id"]
    send_over_socket(bob.base_url, bob.token(), ann_id, ["b-before"], prefix="before")
    expect(ann.page.locator("li.msg .msg__text")).to_have_text(["b-before"])
    lost = [f"lost-{i}" for i in range(60)]
    send_over_socket(bob.base_url, bob.token(), ann_id, [*lost, "b-after"], prefix="lost")
    expect(ann.page.locator("li.msg .msg__text")).to_have_text(["b-before", "b-after"])

    ann.open_chat("Bob")  # opened again: the newest page shows what never arrived
    expect(ann.page.locator("li.msg .msg__text").last).to_have_text("b-after")
    ann.scroll_to_start(62)
    assert ann.texts() == ["b-before", *lost, "b-after"]
    no_errors(ann, bob)


# Counts the page's WebSockets (runs after Playwright's routing has replaced the class).
COUNT_SOCKETS = """
window.__sockets = 0;
const Routed = window.WebSocket;
window.WebSocket = class extends Routed {
  constructor(...args) {
    super(...args);
    window.__sockets += 1;
  }
};
"""


def test_a_socket_closed_for_good_is_not_reopened(friends):
    ann, bob = friends
    cable = SocketCable(ann.page)
    ann.page.add_init_script(COUNT_SOCKETS)
    ann.page.clock.install()  # so every backoff wait can be skipped below
    ann.page.reload()
    ann.show_contacts()  # connected
    assert ann.page.evaluate("() => window.__sockets") == 1

    # 4008: too many sockets for this account, the server closed this one.
    cable.open[-1].close(code=4008, reason="too many open connections for this account")
    offline = ann.page.locator("#offline")
    expect(offline).to_contain_text("too many chat windows")
    ann.page.clock.run_for(120_000)  # longer than the longest backoff
    ann.page.evaluate("() => window.dispatchEvent(new Event('online'))")  # network back: still not
    assert ann.page.evaluate("() => window.__sockets") == 1
    expect(offline).to_contain_text("too many chat windows")

    # 4001: the session ended elsewhere: to the login page, which says why.
    ann.page.reload()
    ann.show_contacts()
    cable.open[-1].close(code=4001, reason="logged out")
    expect(ann.page).to_have_url(re.compile(r"/login\.html\?next=/chat\.html&ended=1$"))
    expect(ann.page.locator("#form-error")).to_have_text(re.compile("session has ended"))
    no_errors(ann, bob)
