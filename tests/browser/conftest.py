"""Browser tests: Debian's Chromium driven by Playwright against the real server process.

They run in their own pytest process (`pytest tests/browser -p no:tornado`): sync Playwright
cannot share a process with pytest-tornado's event loops."""

from __future__ import annotations

import asyncio
import re
import shutil
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.serverproc import ServerProcess

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    # Chromium's background services try the network, which this machine kind refuses.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # A fake microphone (a beeping tone) that needs no permission prompt.
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
PASSWORD = "secret-pass"


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import expect, sync_playwright

    # CI machines have 2 cores and run a server, two browser contexts and ffmpeg at once:
    # give each expectation room (they pass as soon as the condition holds).
    expect.set_options(timeout=15_000)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def server(tmp_path):
    proc = ServerProcess(tmp_path).start()
    yield proc
    proc.stop()


class Person:
    """One browser window (its own cookies and storage) and the console errors it saw."""

    def __init__(self, browser, base_url: str, width: int = 1100, height: int = 720) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.page = self.context.new_page()
        self.base_url = base_url
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", lambda d: (self.errors.append(f"dialog: {d.message}"), d.dismiss()))
        self.mobile = ""
        self.nickname = ""

    def register(self, mobile: str, nickname: str, start: str = "/chat.html") -> None:
        """Opens `start` logged out, follows the sign-in page's link to register, and comes
        back to the chat page (`start` may be an invite or add-me link)."""
        from playwright.sync_api import expect

        page = self.page
        page.goto(self.base_url + start)
        expect(page).to_have_url(re.compile(r"/login\.html"))  # not logged in: sent to log in
        page.click("#switch-link")
        expect(page).to_have_url(re.compile(r"/register\.html"))
        page.fill("#mobile", mobile)
        page.fill("#nickname", nickname)
        page.fill("#password", PASSWORD)
        page.click("#register-submit")
        expect(page).to_have_url(re.compile(r"/chat\.html$"))  # and back where they wanted to go
        expect(page.locator("#offline")).to_be_hidden()
        self.mobile = mobile
        self.nickname = nickname

    def show_contacts(self) -> None:
        """On a phone the contacts slide over the chat; open them unless they are open."""
        from playwright.sync_api import expect

        expect(self.page.locator("#offline")).to_be_hidden()  # the page has finished starting
        narrow = (self.page.viewport_size or {"width": 1000})["width"] <= 720
        if narrow and "sidebar-open" not in (self.page.get_attribute("#app", "class") or ""):
            self.page.click("#sidebar-toggle")
        expect(self.page.locator("#friend-list")).to_be_visible()

    def request_friend(self, other: Person) -> None:
        """Sends `other` a friend request by their mobile number."""
        from playwright.sync_api import expect

        self.show_contacts()
        self.page.fill("#add-friend-input", other.mobile)
        self.page.click("#add-friend-btn")
        expect(self.page.locator("#add-friend-msg")).to_have_text(f"Request sent to {other.nickname}.")

    def accept_request(self, other: Person) -> None:
        """Accepts `other`'s request from the Requests list (it arrives live)."""
        from playwright.sync_api import expect

        self.show_contacts()
        self.page.get_by_role("button", name=f"Accept {other.nickname}").click()
        expect(self.page.locator("#friend-list .contact", has_text=other.nickname)).to_be_visible()

    def add_friend(self, other: Person) -> None:
        """Friends with `other`: a request from here, accepted in their browser; the new
        friend then shows in this list without a reload."""
        from playwright.sync_api import expect

        self.request_friend(other)
        other.accept_request(self)
        expect(self.page.locator("#friend-list .contact", has_text=other.nickname)).to_be_visible()

    def open_chat(self, name: str, group: bool = False) -> None:
        self.show_contacts()
        self.page.locator("#group-list .contact" if group else "#friend-list .contact", has_text=name).click()

    def send(self, text: str) -> None:
        self.page.fill("#message-input", text)
        self.page.press("#message-input", "Enter")

    def texts(self) -> list[str]:
        return self.page.locator("li.msg .msg__text").all_text_contents()

    def token(self) -> str:
        """The session token, from the HttpOnly cookie (the page itself cannot read it)."""
        return next(c["value"] for c in self.context.cookies() if c["name"] == "chatd_token")

    def user(self) -> dict:
        """The public profile the page keeps."""
        return orjson.loads(self.page.evaluate("() => localStorage.getItem('chatd_user')"))

    def scroll_to_start(self, count: int) -> None:
        """Scrolls the open conversation up, a page at a time, until `count` bubbles show."""
        from playwright.sync_api import expect

        messages = self.page.locator("li.msg")
        for _ in range(count):
            shown = messages.count()
            if shown >= count:
                return
            self.page.locator("#message-pane").evaluate("pane => { pane.scrollTop = 0; }")
            expect(messages).not_to_have_count(shown)  # the next older page arrived
        expect(messages).to_have_count(count)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def people(browser, server):
    made: list[Person] = []

    def make(**size: int) -> Person:
        person = Person(browser, server.base_url, **size)
        made.append(person)
        return person

    yield make
    for person in made:
        person.close()


@pytest.fixture
def friends(people):
    """Ann on a desktop and Bob on a phone, registered and friends, each in the other's chat."""
    ann, bob = people(), people(width=360, height=740)
    ann.register("30001", "Ann")
    bob.register("30002", "Bob")
    ann.add_friend(bob)
    ann.open_chat("Bob")
    bob.page.reload()
    bob.open_chat("Ann")
    return ann, bob


def send_over_socket(base_url: str, token: str, dst: int, texts: list[str], prefix: str = "bulk") -> None:
    """1:1 text messages straight over a WebSocket (as an API client would), each acked,
    from a thread with its own event loop."""
    from tornado.websocket import websocket_connect

    async def run() -> None:
        ws = await websocket_connect(base_url.replace("http", "ws") + f"/chat?token={token}")
        for i, text in enumerate(texts):
            frame = {"cmd": 10, "dstid": dst, "media": 1, "content": text, "cmid": f"{prefix}-{i}"}
            await ws.write_message(orjson.dumps(frame).decode())
        acks = 0
        while acks < len(texts):
            message = await ws.read_message()
            assert message is not None, "socket closed before every ack"
            acks += orjson.loads(message)["cmd"] == 12
        ws.close()

    run_in_thread(run)


def run_in_thread(run: Callable[[], Coroutine[Any, Any, None]], timeout: float = 60) -> None:
    """Run a coroutine to its end in a thread with its own event loop (sync Playwright owns
    this one); its exception, if any, fails the test."""
    errors: list[BaseException] = []

    def main() -> None:
        try:
            asyncio.run(run())
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            errors.append(exc)

    thread = threading.Thread(target=main)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive() and not errors, errors
