"""Search in real Chromium: a hit far back in history, found from the sidebar, opens the
conversation at that message; scrolling down from there reaches the latest. Desktop and a
360 px phone."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS, Person, send_over_socket

FILLER = 130  # more than two pages of history after the message searched for


def search_for(person: Person, text: str) -> None:
    person.show_contacts()
    person.page.fill("#search-input", text)
    person.page.click("#search-btn")
    expect(person.page.locator("#panel[data-panel='search']")).to_be_visible()


def open_hit_and_check(person: Person, snippet: str, word: str, picture: str) -> None:
    page = person.page
    hit = page.locator("#search-results .search-hit").first
    expect(hit.locator(".search-hit__snippet")).to_have_text(snippet)
    expect(hit.locator("mark")).to_have_text(word)  # the hit marked, as text
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"search-{picture}.png"))
    message_id = hit.get_attribute("data-id")
    hit.click()
    expect(page.locator("#panel")).to_be_hidden()
    shown = page.locator(f"li.msg[data-id='{message_id}']")
    expect(shown).to_be_in_viewport()
    expect(shown).to_have_class(re.compile(r"\bmsg--found\b"))  # marked a moment
    expect(shown.locator(".msg__text")).to_have_text(snippet)
    page.screenshot(path=str(ARTIFACTS / f"search-{picture}-opened.png"))
    # The window around it, not the latest: the newest filler is not loaded yet.
    expect(page.locator("li.msg .msg__text", has_text=f"filler {FILLER - 1}")).to_have_count(0)
    # Scrolling down loads the newer pages until the latest, each message once.
    last = page.locator("li.msg .msg__text").filter(has_text=re.compile(rf"^filler {FILLER - 1}$"))
    for _ in range(6):
        if last.count():
            break
        count = page.locator("li.msg").count()
        page.locator("#message-pane").evaluate("pane => { pane.scrollTop = pane.scrollHeight; }")
        expect(page.locator("li.msg")).not_to_have_count(count)
    expect(last).to_have_count(1)
    expect(page.locator("#load-newer")).to_be_hidden()
    texts = person.texts()
    fillers = [t for t in texts if t.startswith("filler ")]
    assert fillers == [f"filler {i}" for i in range(FILLER - len(fillers), FILLER)]


def test_a_search_hit_far_back_opens_its_message_on_desktop_and_phone(friends):
    ann, bob = friends  # Ann on a desktop, Bob on a 360 px phone
    secret = "the secret fruit is a pomegranate 石榴"
    texts = ["an early message", secret] + [f"filler {i}" for i in range(FILLER)]
    send_over_socket(ann.base_url, ann.token(), bob.user()["id"], texts, prefix="search")
    expect(bob.page.locator("li.msg .msg__text").last).to_have_text(f"filler {FILLER - 1}")

    ann.page.reload()  # what came live is gone: the message is only in the database
    search_for(ann, "POMEGRANATE")
    expect(ann.page.locator("#search-results .search-hit")).to_have_count(1)
    hit = ann.page.locator("#search-results .search-hit")
    expect(hit.locator(".search-hit__conv")).to_have_text("Bob")
    expect(hit.locator(".search-hit__from")).to_have_text("Ann")
    open_hit_and_check(ann, secret, "pomegranate", "desktop")
    expect(ann.page.locator("#conv-title")).to_have_text("Bob")
    # Again, now that it is on screen with everything after it: only scrolled back to.
    search_for(ann, "pomegranate")
    ann.page.locator("#search-results .search-hit").first.click()
    again = ann.page.locator("li.msg", has_text="pomegranate")
    expect(again).to_be_in_viewport()
    expect(again).to_have_count(1)
    expect(ann.page.locator("li.msg .msg__text", has_text=f"filler {FILLER - 1}")).to_have_count(1)

    # On the phone, a two-character Chinese word (the short search), from the contact list.
    bob.page.reload()
    search_for(bob, "石榴")
    expect(bob.page.locator("#panel .panel__meta", has_text="newest 5,000")).to_be_visible()
    open_hit_and_check(bob, secret, "石榴", "phone")
    expect(bob.page.locator("#sidebar")).not_to_be_in_viewport()  # the chat is in front
    # Sending from there goes back to the latest with the new message at the bottom.
    bob.send("back to now")
    expect(bob.page.locator("li.msg .msg__text").last).to_have_text("back to now")
    assert ann.errors == [] and bob.errors == []


def test_search_only_in_the_open_conversation_and_none_found(friends, people):
    ann, bob = friends  # Ann has Bob's conversation open
    cat = people()
    cat.register("30009", "Cat")
    cat.add_friend(ann)
    send_over_socket(cat.base_url, cat.token(), ann.user()["id"], ["kiwi from Cat"], prefix="cat")
    send_over_socket(bob.base_url, bob.token(), ann.user()["id"], ["kiwi from Bob"], prefix="bob")
    ann.open_chat("Bob")
    search_for(ann, "kiwi")
    hits = ann.page.locator("#search-results .search-hit")
    expect(hits).to_have_count(2)
    ann.page.get_by_label("Only in Bob").check()
    expect(ann.page.locator("#search-status")).to_have_text("1 found")
    expect(hits).to_have_count(1)
    expect(hits.locator(".search-hit__snippet")).to_have_text("kiwi from Bob")
    ann.page.fill("#search-again", "nothing like this")
    ann.page.press("#search-again", "Enter")
    expect(ann.page.locator("#search-status")).to_have_text("No messages found.")
    expect(hits).to_have_count(0)
    assert ann.errors == [] and cat.errors == []
