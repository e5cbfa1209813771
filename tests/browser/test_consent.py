"""Consent in real Chromium: friend requests, blocks, groups joined through invite links
(also by someone not signed in yet), kicks and the system lines every member sees."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS, PASSWORD, Person
from tests.serverproc import ServerProcess


def http_errors_only(*people: Person, statuses: tuple[int, ...] = ()) -> None:
    """Chromium logs each 4xx answer as a console error; the page handled those. Nothing else."""
    for person in people:
        others = [e for e in person.errors if not any(f"status of {s}" in e for s in statuses)]
        assert others == [], person.errors


def shot(person: Person, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    person.page.evaluate("() => document.fonts.ready.then(() => true)")
    person.page.screenshot(path=str(ARTIFACTS / name))


def system_line(person: Person, text: str):
    return person.page.locator("li.msg--system .msg__system", has_text=text)


def open_info(person: Person) -> None:
    person.page.click("#conv-info")
    expect(person.page.locator("#panel")).to_be_visible()


def close_panel(person: Person) -> None:
    person.page.click("#panel-close")
    expect(person.page.locator("#panel")).to_be_hidden()


def test_request_accept_and_decline_update_both_sides_live(people):
    ann, bob, carol = people(), people(width=360, height=740), people()
    ann.register("40001", "Ann")
    bob.register("40002", "Bob")
    carol.register("40003", "Carol")

    ann.request_friend(bob)
    # Ann sees her pending request; Bob, without a reload, a badge and Ann's request.
    expect(ann.page.locator('#request-list .request[data-direction="out"]', has_text="Bob")).to_contain_text(
        "Request sent"
    )
    expect(bob.page.locator("#toggle-badge")).to_have_text("1")  # on a phone, on the ☰ button
    bob.show_contacts()
    expect(bob.page.locator("#requests-badge")).to_have_text("1")
    shot(bob, "requests-phone.png")
    bob.accept_request(ann)
    # The new friend shows at once on both sides; the request is gone from both lists.
    expect(ann.page.locator("#friend-list .contact", has_text="Bob")).to_be_visible()
    expect(ann.page.locator("#request-list .request")).to_have_count(0)
    expect(bob.page.locator("#requests-badge")).to_be_hidden()
    ann.open_chat("Bob")
    ann.send("hello friend")
    bob.open_chat("Ann")
    expect(bob.page.locator("li.msg .msg__text").last).to_have_text("hello friend")

    # Carol asks Bob; Bob declines: Carol's pending request goes away live, no friendship.
    carol.request_friend(bob)
    bob.show_contacts()
    bob.page.get_by_role("button", name="Decline Carol").click()
    expect(carol.page.locator("#request-list .request")).to_have_count(0)
    expect(carol.page.locator("#friend-list .contact", has_text="Bob")).to_have_count(0)
    # Carol asks Ann and thinks better of it: Ann's badge goes away live.
    carol.request_friend(ann)
    expect(ann.page.locator("#requests-badge")).to_have_text("1")
    carol.page.get_by_role("button", name="Cancel the request to Ann").click()
    expect(ann.page.locator("#requests-badge")).to_be_hidden()
    expect(ann.page.locator("#request-list .request")).to_have_count(0)
    # Clear words for the refusals.
    carol.page.fill("#add-friend-input", "49999")
    carol.page.click("#add-friend-btn")
    expect(carol.page.locator("#add-friend-msg")).to_have_text(re.compile("No one with that mobile number"))
    ann.page.fill("#add-friend-input", bob.mobile)
    ann.page.click("#add-friend-btn")
    expect(ann.page.locator("#add-friend-msg")).to_have_text("You are already friends.")
    http_errors_only(ann, bob, carol, statuses=(404, 409))


def test_block_from_the_friend_menu_then_unblock(friends):
    ann, bob = friends
    open_info(ann)
    expect(ann.page.locator("#panel-title")).to_have_text("Bob")
    shot(ann, "friend-menu-desktop.png")
    ann.page.click('#panel [data-action="block"]')
    expect(ann.page.locator("#panel .confirm__q")).to_contain_text("Block Bob?")
    ann.page.click('#panel [data-confirm="yes"]')
    expect(ann.page.locator("#panel")).to_be_hidden()
    expect(ann.page.locator("#friend-list .contact", has_text="Bob")).to_have_count(0)
    # Bob, live: Ann leaves his list and his open chat with her no longer takes messages.
    expect(bob.page.locator("#composer-notice")).to_contain_text("no longer friends")
    expect(bob.page.locator("#message-input")).to_be_disabled()
    bob.show_contacts()
    expect(bob.page.locator("#friend-list .contact", has_text="Ann")).to_have_count(0)
    bob.page.fill("#add-friend-input", ann.mobile)
    bob.page.click("#add-friend-btn")
    expect(bob.page.locator("#add-friend-msg")).to_have_text("You cannot add this user.")

    # Ann's own panel lists whom she blocked; unblocking lets Bob ask again.
    ann.page.click("#me-name")
    blocked = ann.page.locator("#blocked-list li", has_text="Bob")
    expect(blocked).to_be_visible()
    blocked.get_by_role("button", name="Unblock Bob").click()
    expect(ann.page.locator("#blocked-list li", has_text="Bob")).to_have_count(0)
    close_panel(ann)
    bob.request_friend(ann)
    ann.accept_request(bob)
    expect(bob.page.locator("#friend-list .contact", has_text="Ann")).to_be_visible()
    http_errors_only(ann, bob, statuses=(403,))


def test_group_invite_link_join_login_kick_and_system_lines(people):
    ann, bob = people(), people(width=360, height=740)
    ann.register("40011", "Ann")
    bob.register("40012", "Bob")
    ann.show_contacts()
    ann.page.fill("#create-group-input", "Hikers")
    ann.page.click("#create-group-btn")
    expect(ann.page.locator("#conv-title")).to_contain_text("Hikers")
    open_info(ann)
    expect(ann.page.locator('#member-list .member[data-role="owner"]')).to_contain_text("Ann")
    ann.page.click("#make-invite")
    url = ann.page.locator("#invite-url").input_value()
    ann.page.click('[data-copy="invite-url"]')
    expect(ann.page.locator("#panel-msg")).to_have_text("Copied to the clipboard.")
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/invite/[0-9a-f]{32}", url), url
    qr = ann.page.locator("#panel img.qr")
    expect(qr).to_be_visible()
    qr.evaluate("img => img.decode()")  # the server's SVG loads
    shot(ann, "group-info-desktop.png")
    close_panel(ann)

    # Bob, signed in, opens the link: he is in, the group is open, everyone sees the line.
    bob.page.goto(url)
    expect(bob.page).to_have_url(re.compile(r"/chat\.html$"))
    expect(bob.page.locator("#conv-title")).to_contain_text("Hikers")
    expect(system_line(bob, "Bob joined")).to_be_visible()
    expect(system_line(ann, "Bob joined")).to_be_visible()
    open_info(bob)
    expect(bob.page.locator("#member-list .member")).to_have_count(2)
    shot(bob, "group-info-phone.png")
    close_panel(bob)

    # Carol, not signed in: the link goes through sign-in and register, then joins.
    carol = people()
    carol.register("40013", "Carol", start=url.removeprefix(carol.base_url))
    expect(carol.page.locator("#conv-title")).to_contain_text("Hikers")
    for person in (ann, bob, carol):
        expect(system_line(person, "Carol joined")).to_be_visible()
    carol.send("hi hikers")
    expect(bob.page.locator("li.msg .msg__text").last).to_have_text("hi hikers")

    # Ann (the owner) removes Bob: the line reaches everyone; Bob's chat locks live.
    open_info(ann)
    ann.page.locator("#member-list .member", has_text="Bob").locator('[data-action="kick"]').click()
    ann.page.click('#panel [data-confirm="yes"]')
    expect(ann.page.locator("#member-list .member")).to_have_count(2)
    for person in (ann, bob, carol):
        expect(system_line(person, "Bob was removed by Ann")).to_be_visible()
    expect(bob.page.locator("#composer-notice")).to_contain_text("no longer a member")
    expect(bob.page.locator("#message-input")).to_be_disabled()
    shot(bob, "group-removed-phone.png")
    bob.show_contacts()
    expect(bob.page.locator("#group-list .contact", has_text="Hikers")).to_have_count(0)

    # The owner makes Carol an admin.
    carol_row = ann.page.locator("#member-list .member", has_text="Carol")
    carol_row.get_by_role("button", name="Make admin: Carol").click()
    expect(ann.page.locator('#member-list .member[data-role="admin"]')).to_contain_text("Carol")

    # A rename shows as a line and in the list; the revoked link lets nobody in.
    ann.page.fill("#group-name", "Trail club")
    ann.page.locator("#group-name").press("Enter")
    expect(system_line(carol, "Ann renamed the group to Trail club")).to_be_visible()
    expect(carol.page.locator("#conv-title")).to_contain_text("Trail club")
    ann.page.check("#group-open")
    ann.page.select_option("#group-history", "all")
    expect(system_line(carol, "Ann made the group open")).to_be_visible()
    expect(system_line(carol, "Ann let new members see all history")).to_be_visible()
    expect(ann.page.locator("#panel .panel__meta")).to_contain_text("Open")
    shot(carol, "group-lines-desktop.png")
    invite = ann.page.locator("#invite-list li[data-code]").first
    expect(invite).to_be_visible()
    invite.get_by_role("button", name=re.compile("Revoke")).click()
    expect(ann.page.locator("#invite-list li[data-code]")).to_have_count(0)
    bob.page.goto(url)
    expect(bob.page.locator("#join-error")).to_contain_text("does not work")

    # Carol leaves: her line reaches Ann, and the group leaves Carol's list.
    open_info(carol)
    carol.page.click('#panel [data-action="leave"]')
    carol.page.click('#panel [data-confirm="yes"]')
    expect(system_line(ann, "Carol left")).to_be_visible()
    expect(carol.page.locator("#group-list .contact")).to_have_count(0)
    http_errors_only(ann, bob, carol, statuses=(404, 403))


def test_add_me_link_offers_a_request_and_findable_setting(people):
    ann, bob, carol = people(), people(width=360, height=740), people()
    ann.register("40021", "Ann")
    bob.register("40022", "Bob")
    carol.register("40023", "Carol")
    ann.page.click("#me-name")
    expect(ann.page.locator("#me-id")).to_have_text(str(ann.user()["id"]))
    expect(ann.page.locator("#me-mobile")).to_have_text("40021")
    link = ann.page.locator("#addme-url").input_value()
    assert link == f"{ann.base_url}/chat.html?add={ann.user()['id']}"
    ann.page.locator("#panel img.qr").evaluate("img => img.decode()")
    shot(ann, "me-desktop.png")

    bob.page.goto(link)
    expect(bob.page.locator("#add-question")).to_have_text("Send a friend request to Ann?")
    shot(bob, "add-me-phone.png")
    bob.page.click("#add-send")
    expect(bob.page.locator("#panel-msg")).to_have_text("Request sent to Ann.")
    close_panel(bob)
    close_panel(ann)
    ann.accept_request(bob)
    expect(bob.page.locator("#friend-list .contact", has_text="Ann")).to_be_visible()

    # Ann turns "find me by my mobile number" off: Carol's look-up finds nobody.
    ann.page.click("#me-name")
    ann.page.uncheck("#findable")
    expect(ann.page.locator("#findable")).to_be_enabled()  # the server answered
    ann.page.reload()
    ann.page.click("#me-name")
    expect(ann.page.locator("#findable")).not_to_be_checked()
    carol.page.fill("#add-friend-input", ann.mobile)
    carol.page.click("#add-friend-btn")
    expect(carol.page.locator("#add-friend-msg")).to_have_text(re.compile("No one with that mobile number"))
    http_errors_only(ann, bob, carol, statuses=(404,))


def test_sign_up_link_on_an_invite_only_server(browser, tmp_path):
    """registration = invite: the first account needs no code; its sign-up link opens the
    register page with the code filled in, and the newcomer lands in the chat."""
    (tmp_path / "invite-only").mkdir()
    server = ServerProcess(tmp_path / "invite-only", None, "--registration", "invite").start()
    try:
        admin, dan = Person(browser, server.base_url), Person(browser, server.base_url, width=360, height=740)
        admin.register("40031", "Ada")
        admin.page.click("#me-name")
        admin.page.get_by_role("button", name="Make a sign-up link").click()
        link = admin.page.locator("#signup-url").input_value()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/register\.html\?invite=\w+", link), link
        dan.page.goto(link)
        expect(dan.page.locator("#invite")).to_be_visible()
        expect(dan.page.locator("#invite")).to_have_value(link.rsplit("=", 1)[1])
        dan.page.fill("#mobile", "40032")
        dan.page.fill("#nickname", "Dan")
        dan.page.fill("#password", PASSWORD)
        shot(dan, "register-invite-phone.png")
        dan.page.click("#register-submit")
        expect(dan.page).to_have_url(re.compile(r"/chat\.html$"))
        expect(dan.page.locator("#offline")).to_be_hidden()
        http_errors_only(admin, dan)
        admin.close()
        dan.close()
    finally:
        server.stop()
