"""Two people in two browser windows register, befriend and chat."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import Person


def register(person: Person, mobile: str, nickname: str) -> None:
    page = person.page
    page.goto(person.base_url + "/chat.html")
    expect(page).to_have_url(re.compile(r"/login\.html"))  # not logged in: sent to log in
    page.click("#switch-link")
    expect(page).to_have_url(re.compile(r"/register\.html"))
    page.fill("#mobile", mobile)
    page.fill("#nickname", nickname)
    page.fill("#password", "secret-pass")
    page.click("#register-submit")
    expect(page).to_have_url(re.compile(r"/chat\.html$"))  # and back where they wanted to go
    expect(page.locator("#offline")).to_be_hidden()


def send(person: Person, text: str) -> None:
    person.page.fill("#message-input", text)
    person.page.press("#message-input", "Enter")


def test_register_befriend_and_chat_both_ways(people):
    ann, bob = people(), people(width=360, height=740)  # a desktop and a phone
    register(ann, "30001", "Ann")
    register(bob, "30002", "Bob")

    ann.page.fill("#add-friend-input", "30002")
    ann.page.click("#add-friend-btn")
    expect(ann.page.locator("#friend-list .contact", has_text="Bob")).to_be_visible()

    send(ann, "Hello Bob <img src=x onerror=alert(1)>")
    mine = ann.page.locator("li.msg--mine").last
    expect(mine).to_have_attribute("data-state", "sent")  # acked once stored

    # Bob's page learns of the new friend from the message and shows it in real time.
    bob_ann = bob.page.locator("#friend-list .contact", has_text="Ann")
    expect(bob_ann).to_be_attached()
    if not bob_ann.is_visible():
        bob.page.click("#sidebar-toggle")
    bob_ann.click()
    text = bob.page.locator("li.msg .msg__text").last
    expect(text).to_have_text("Hello Bob <img src=x onerror=alert(1)>")  # as text, not HTML
    assert bob.page.locator("#messages img").count() == 0

    send(bob, "Hi Ann!")
    reply = ann.page.locator("li.msg:not(.msg--mine) .msg__text").last
    expect(reply).to_have_text("Hi Ann!")
    assert ann.errors == [] and bob.errors == []


def test_wrong_password_shows_a_clear_error(people):
    ann = people()
    register(ann, "30003", "Ann")
    ann.page.click("#logout")
    expect(ann.page).to_have_url(re.compile(r"/login\.html"))
    ann.page.fill("#mobile", "30003")
    ann.page.fill("#password", "not-the-password")
    ann.page.click("#login-submit")
    expect(ann.page.locator("#form-error")).to_have_text(re.compile("wrong mobile or password"))
    expect(ann.page).to_have_url(re.compile(r"/login\.html"))
