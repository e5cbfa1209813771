"""Typing, presence and read receipts in real Chromium, on a desktop and a 360 px phone."""

from __future__ import annotations

import urllib.request

import orjson
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Person
from tests.browser.test_consent import shot


def call(person: Person, path: str, **body: object) -> dict:
    """The HTTP API as that person (their session token), for set-up the UI has tests of its own."""
    request = urllib.request.Request(
        person.base_url + path,
        data=orjson.dumps(body),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {person.token()}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        envelope = orjson.loads(response.read())
    assert envelope["code"] == 0, envelope
    return envelope.get("data", envelope.get("rows"))


def status(person: Person):
    return person.page.locator("#conv-status")


def bubble(person: Person, text: str):
    return person.page.locator("li.msg", has_text=text)


@pytest.mark.parametrize("phone", ["reader", "sender"])
def test_typing_shows_and_clears_and_a_read_receipt_appears_when_the_chat_is_opened(people, phone):
    small, big = {"width": 360, "height": 740}, {}
    ann = people(**(small if phone == "sender" else big))
    bob = people(**(small if phone == "reader" else big))
    ann.register("50001", "Ann")
    bob.register("50002", "Bob")
    ann.add_friend(bob)
    ann.open_chat("Bob")
    bob.open_chat("Ann")
    # Presence: each sees the other online under the chat's title.
    expect(status(ann)).to_have_text("online")
    expect(status(bob)).to_have_text("online")

    # Ann types: Bob sees it; she clears her draft: it goes at once.
    ann.page.locator("#message-input").press_sequentially("hel")
    expect(status(bob)).to_have_text("Ann is typing…")
    expect(status(bob)).to_have_attribute("data-kind", "typing")
    shot(bob, f"typing-{'phone' if phone == 'reader' else 'desktop'}.png")
    ann.page.fill("#message-input", "")
    expect(status(bob)).to_have_text("online")
    # She types and sends: the message ends the indicator.
    ann.page.locator("#message-input").press_sequentially("hello Bob")
    expect(status(bob)).to_have_text("Ann is typing…")
    ann.page.press("#message-input", "Enter")
    expect(bubble(bob, "hello Bob")).to_be_visible()
    expect(status(bob)).to_have_text("online")
    # She types and stops without a word: it clears by itself after a few seconds.
    ann.page.locator("#message-input").press_sequentially("hm")
    expect(status(bob)).to_have_text("Ann is typing…")
    expect(status(bob)).to_have_text("online", timeout=10_000)
    ann.page.fill("#message-input", "")

    # Bob has the chat open, so what Ann sent is read.
    expect(bubble(ann, "hello Bob").locator(".msg__receipt")).to_have_attribute("data-read", "true")
    # Bob looks at another chat: Ann's next message is only sent...
    group = call(bob, "/contact/createcommunity", name="Elsewhere")
    bob.page.reload()
    bob.open_chat("Elsewhere", group=True)
    expect(bob.page.locator("#conv-title")).to_contain_text("Elsewhere")
    ann.send("are you there?")
    receipt = bubble(ann, "are you there?").locator(".msg__receipt")
    expect(receipt).to_have_attribute("data-read", "false")
    expect(receipt).to_have_attribute("aria-label", "Sent")
    # ... and Ann is not told Bob is typing in his group.
    bob.page.locator("#message-input").press_sequentially("in the group")
    expect(status(ann)).to_have_text("online")
    # ... until he opens their chat: then it is read.
    bob.open_chat("Ann")
    expect(bubble(bob, "are you there?")).to_be_visible()
    expect(receipt).to_have_attribute("data-read", "true")
    expect(receipt).to_have_attribute("aria-label", "Read")
    shot(ann, f"read-receipt-{'phone' if phone == 'sender' else 'desktop'}.png")
    assert group["id"] > 0
    assert ann.errors == [] and bob.errors == []


def test_group_read_by_n_and_who_read_it(people):
    ann, bob, cy = people(), people(width=360, height=740), people()
    ann.register("51001", "Ann")
    bob.register("51002", "Bob")
    cy.register("51003", "Cy")
    club = call(ann, "/contact/createcommunity", name="Club")["id"]
    for member in (bob, cy):
        code = call(ann, "/contact/invite", dstid=club)["code"]
        call(member, "/contact/joincommunity", code=code)
        member.page.reload()
    ann.open_chat("Club", group=True)
    ann.send("hello club")
    expect(bubble(ann, "hello club")).to_have_attribute("data-state", "sent")
    expect(bubble(ann, "hello club").locator(".msg__readby")).to_have_count(0)  # nobody yet

    bob.open_chat("Club", group=True)
    expect(bubble(bob, "hello club")).to_be_visible()
    readby = bubble(ann, "hello club").locator(".msg__readby")
    expect(readby).to_have_text("Read by 1")
    # Typing in a group names the typist for the others who have it open.
    bob.page.locator("#message-input").press_sequentially("hi")
    expect(status(ann)).to_have_text("Bob is typing…")
    cy.open_chat("Club", group=True)
    expect(readby).to_have_text("Read by 2")
    shot(ann, "read-by-desktop.png")
    readby.click()
    expect(ann.page.locator("#readers-list li")).to_have_text(["Bob", "Cy"])
    ann.page.click("#panel-close")

    # Cy stops sending receipts (in the Me panel): she is no longer counted.
    cy.page.click("#me-name")
    shot(cy, "live-settings.png")
    cy.page.uncheck("#send-receipts")
    expect(cy.page.locator("#send-receipts")).to_be_enabled()  # the server answered
    cy.page.click("#panel-close")
    ann.page.reload()
    ann.open_chat("Club", group=True)
    expect(bubble(ann, "hello club").locator(".msg__readby")).to_have_text("Read by 1")
    assert ann.errors == [] and bob.errors == [] and cy.errors == []
