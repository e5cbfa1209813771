"""Reply and jump, edit, recall and reactions, between a desktop and a 360 px phone."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import send_over_socket
from tests.browser.test_client import no_errors


def bubble(person, text):
    """The message whose own text (not a quote of it) shows `text`."""
    page = person.page
    return page.locator("li.msg", has=page.locator(".msg__body", has_text=text)).last


def act(person, text, action):
    """Opens the ⋯ menu of the message showing `text` and picks `action`."""
    bubble(person, text).locator(".msg__actions").click()
    person.page.get_by_role("menuitem", name=action).click()


def test_reply_on_a_phone_quotes_and_a_click_on_the_quote_jumps_back_through_history(friends):
    ann, bob = friends
    ann.send("the plan: picnic on Sunday")
    expect(bubble(bob, "the plan")).to_be_visible()
    # Enough after it that Ann's next page load shows only the newest page.
    send_over_socket(ann.base_url, ann.token(), bob.user()["id"], [f"filler {i}" for i in range(70)])
    expect(bubble(bob, "filler 69")).to_be_visible()
    bubble(bob, "the plan").scroll_into_view_if_needed()
    act(bob, "the plan", "Reply")
    expect(bob.page.locator("#reply-bar")).to_contain_text("the plan")
    bob.send("count me in")
    expect(bob.page.locator("#reply-bar")).to_be_hidden()
    mine = bubble(bob, "count me in")
    expect(mine).to_have_attribute("data-state", "sent")
    expect(mine.locator(".msg__quote")).to_contain_text("the plan")

    ann.page.reload()
    ann.open_chat("Bob")
    reply = bubble(ann, "count me in")
    quote = reply.locator(".msg__quote")
    expect(quote).to_contain_text("Ann")  # the quoted message is Ann's, fetched by id
    expect(quote).to_contain_text("the plan: picnic on Sunday")
    target = bubble(ann, "the plan: picnic")
    expect(target).to_have_count(0)  # not loaded yet
    quote.click()
    expect(target).to_be_in_viewport()
    expect(target).to_have_class("msg msg--mine msg--flash")
    no_errors(ann, bob)


def test_edit_recall_and_a_reaction_are_seen_on_the_other_side_and_after_a_reload(friends):
    ann, bob = friends
    ann.send("meet at 5")
    expect(bubble(bob, "meet at 5")).to_be_visible()

    act(ann, "meet at 5", "Edit")
    editor = ann.page.locator("li.msg .msg__edit-input")
    editor.fill("meet at 6")
    editor.press("Enter")
    theirs = bob.page.locator("li.msg:not(.msg--mine)").last
    expect(theirs.locator(".msg__text")).to_have_text("meet at 6")
    expect(theirs.locator(".msg__edited")).to_be_visible()

    # Bob (phone) reacts; Ann sees it counted, then adds hers to it from the chip.
    bubble(bob, "meet at 6").locator(".msg__actions").click()
    bob.page.get_by_role("button", name="React 👍").click()
    chip = bubble(ann, "meet at 6").locator(".reaction", has_text="👍")
    expect(chip).to_have_attribute("data-count", "1")
    chip.click()
    expect(chip).to_have_attribute("data-count", "2")
    expect(bubble(bob, "meet at 6").locator(".reaction", has_text="👍")).to_have_attribute("data-count", "2")
    expect(bubble(bob, "meet at 6").locator(".reaction--mine")).to_have_count(1)

    ann.send("oops, wrong chat: my bank PIN")
    expect(bubble(bob, "my bank PIN")).to_be_visible()
    act(ann, "my bank PIN", "Recall")
    expect(bob.page.locator("#messages")).not_to_contain_text("my bank PIN")
    expect(bob.page.locator("li.msg[data-recalled] .msg__recalled")).to_have_text("Ann recalled a message")
    expect(ann.page.locator("li.msg[data-recalled] .msg__recalled")).to_have_text("You recalled a message")
    # Nor does the conversation list's preview show it.
    preview = bob.page.locator("#friend-list .contact", has_text="Ann").locator(".contact__last")
    expect(preview).to_have_text("Message recalled")

    # History shows the same after a reload.
    bob.page.reload()
    bob.open_chat("Ann")
    expect(bubble(bob, "meet at 6").locator(".reaction", has_text="👍")).to_have_attribute("data-count", "2")
    expect(bubble(bob, "meet at 6").locator(".msg__edited")).to_be_visible()
    expect(bob.page.locator("li.msg[data-recalled]")).to_have_count(1)
    expect(bob.page.locator("#messages")).not_to_contain_text("my bank PIN")
    no_errors(ann, bob)
