"""The everyday conversation in real Chromium: drafts per chat, the open chat after a reload,
the "New messages" line and jump-to-latest, day lines and runs, profile pictures,
notifications while the page is hidden, and the offline banner."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import time
import urllib.request

import orjson
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Person, send_over_socket
from tests.mediafiles import png_with_alpha

# Lets a test hide the page the way a switched-away tab is hidden (visibilityState and
# `hidden` read "hidden", and a visibilitychange event fires), and records each
# Notification the page makes (title, body, tag) while keeping the real one working.
HIDE_AND_RECORD = """
(() => {
  let hidden = false;
  Object.defineProperty(Document.prototype, 'visibilityState',
    { configurable: true, get: () => hidden ? 'hidden' : 'visible' });
  Object.defineProperty(Document.prototype, 'hidden', { configurable: true, get: () => hidden });
  window.__setHidden = (value) => { hidden = value; document.dispatchEvent(new Event('visibilitychange')); };
  window.__notes = [];
  window.__asked = 0;
  const Real = window.Notification;
  class Recorded extends Real {
    constructor(title, options = {}) {
      super(title, options);
      window.__notes.push({ title, body: options.body, tag: options.tag, note: this });
    }
  }
  Recorded.requestPermission = (...args) => { window.__asked += 1; return Real.requestPermission(...args); };
  window.Notification = Recorded;
  window.__tones = 0;  // oscillators started: the new-message chime
  const oscillator = AudioContext.prototype.createOscillator;
  AudioContext.prototype.createOscillator = function () {
    window.__tones += 1;
    return oscillator.call(this);
  };
})();
"""


def no_errors(*people: Person) -> None:
    for person in people:
        assert person.errors == [], person.errors


def pair(people, reader_width: int) -> tuple[Person, Person]:
    """A reader (on a desktop or a phone) and a writer on a desktop, friends, each with the
    other's chat open."""
    reader = people(width=reader_width, height=740)
    writer = people()
    reader.register("31001", "Rea")
    writer.register("31002", "Wes")
    writer.add_friend(reader)
    reader.open_chat("Wes")
    writer.open_chat("Rea")
    return reader, writer


def user_id(person: Person) -> int:
    return int(person.user()["id"])


def wait_until_read(person: Person, friend_id: int) -> None:
    """Polls the server until the person's read mark on the chat with `friend_id` is at its
    newest message (the page marks it by itself; this only waits for that to be stored)."""
    request = urllib.request.Request(
        person.base_url + "/message/conversations", data=b"{}", method="POST",
        headers={"Authorization": f"Bearer {person.token()}", "Content-Type": "application/json"},
    )  # fmt: skip
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with urllib.request.urlopen(request, timeout=5) as answer:
            rows = orjson.loads(answer.read())["rows"]
        row = next(r for r in rows if r["cmd"] == 10 and r["dstid"] == friend_id)
        if row["last"] and row["readid"] >= row["last"]["id"]:
            return
        time.sleep(0.1)  # a poll of the stored state, not a wait standing in for an event
    raise AssertionError(f"the read mark never reached the newest message: {row}")


def input_value(person: Person) -> str:
    return person.page.input_value("#message-input")


def at_bottom(person: Person) -> bool:
    return person.page.locator("#message-pane").evaluate(
        "p => p.scrollHeight - p.scrollTop - p.clientHeight < 5"
    )


@pytest.mark.parametrize("width", [1100, 360])
def test_drafts_stay_with_their_chat_and_survive_a_reload(people, width):
    me, bob = pair(people, width)
    me.show_contacts()
    me.page.fill("#create-group-input", "Club")
    me.page.click("#create-group-btn")  # and the group opens
    expect(me.page.locator("#conv-title")).to_contain_text("Club")
    me.open_chat("Wes")
    me.page.fill("#message-input", "half-written for Wes")
    me.open_chat("Club", group=True)
    assert input_value(me) == ""  # the bug: Wes's draft followed into the group
    me.page.fill("#message-input", "for the club")
    me.page.press("#message-input", "Enter")
    expect(me.page.locator("li.msg .msg__text")).to_have_text(["for the club"])
    assert input_value(me) == ""
    me.open_chat("Wes")
    assert input_value(me) == "half-written for Wes"
    expect(me.page.locator("li.msg .msg__text")).to_have_count(0)  # nothing went to Wes
    me.open_chat("Club", group=True)
    me.page.fill("#message-input", "a draft for the club")
    me.open_chat("Wes")

    # A reload: the open chat is Wes's again, with its draft; the group keeps its own.
    me.page.reload()
    expect(me.page.locator("#conv-title")).to_have_text("Wes")
    expect(me.page.locator("#message-input")).to_have_value("half-written for Wes")
    me.page.press("#message-input", "Enter")  # sending clears the draft
    expect(bob.page.locator("li.msg .msg__text").last).to_have_text("half-written for Wes")
    me.open_chat("Club", group=True)
    expect(me.page.locator("#message-input")).to_have_value("a draft for the club")
    me.page.reload()
    expect(me.page.locator("#conv-title")).to_contain_text("Club")  # the last one open
    me.open_chat("Wes")
    expect(me.page.locator("#message-input")).to_have_value("")

    # Drafts belong to the signed-in user: logging out forgets them.
    me.open_chat("Club", group=True)
    me.show_contacts()
    me.page.click("#logout")
    expect(me.page).to_have_url(re.compile(r"/login\.html"))
    keys = me.page.evaluate("() => Object.keys(localStorage)")
    assert not [k for k in keys if k.startswith(("chatd_draft:", "chatd_open:"))], keys
    no_errors(me, bob)


@pytest.mark.parametrize("width", [1100, 360])
def test_seventy_unread_open_at_a_new_messages_line_and_jump_to_latest(people, width):
    me, wes = pair(people, width)
    send_over_socket(wes.base_url, wes.token(), user_id(me), [f"seen {i}" for i in range(5)], prefix="seen")
    expect(me.page.locator("li.msg .msg__text").last).to_have_text("seen 4")
    # They count as read once the mark is stored; then the reader goes away and 70 more come.
    wait_until_read(me, user_id(wes))
    rea = user_id(me)
    me.page.goto("about:blank")
    send_over_socket(wes.base_url, wes.token(), rea, [f"unread {i}" for i in range(70)], prefix="un")
    me.page.goto(me.base_url + "/chat.html")

    # The chat opens again by itself, at the line above the first unread message.
    line = me.page.locator("#messages > .new-line")
    expect(line).to_have_count(1)
    expect(line).to_have_text("New messages")
    first_unread = me.page.locator("#messages > .new-line + li.msg .msg__text")
    expect(first_unread).to_have_text("unread 0")
    expect(line).to_be_in_viewport()
    expect(first_unread).to_be_in_viewport()
    assert not at_bottom(me)
    assert me.page.locator("#messages li.msg .msg__text", has_text="seen 4").count() == 1

    # Scrolled up: a button jumps to the latest.
    jump = me.page.locator("#jump-latest")
    expect(jump).to_be_visible()
    jump.click()
    expect(me.page.locator("li.msg .msg__text", has_text="unread 69")).to_be_in_viewport()
    expect(jump).to_be_hidden()
    assert at_bottom(me)
    # Up again; a message arriving meanwhile is counted on the button, not scrolled to.
    me.page.locator("#message-pane").evaluate("p => { p.scrollTop = p.scrollHeight / 2; }")
    expect(jump).to_be_visible()
    wes.send("one more")
    expect(me.page.locator("#jump-count")).to_have_text("1")
    assert not at_bottom(me)
    jump.click()
    expect(me.page.locator("li.msg .msg__text").last).to_be_in_viewport()
    expect(me.page.locator("li.msg .msg__text").last).to_have_text("one more")
    no_errors(me, wes)


# Each day line's label and the text of the first message after it.
DAY_LINES = """list => [...list.querySelectorAll(':scope > .day-sep')].map(sep => {
  let next = sep.nextElementSibling;
  while (next && !next.matches('li.msg')) next = next.nextElementSibling;
  return [sep.textContent, next?.querySelector('.msg__text')?.textContent];
})"""


def insert_messages(db_path, rows: list[tuple[int, int, str, int]]) -> None:
    """1:1 text messages (sender, recipient, text, createat ms) straight into the database."""
    with sqlite3.connect(db_path, timeout=10) as db:
        db.executemany(
            "INSERT INTO message (user_id, cmd, dst_id, media, content, pic, url, memo, amount, cmid,"
            " createat) VALUES (?, 10, ?, 1, ?, '', '', '', 0, ?, ?)",
            [(u, d, text, f"old-{i}", at) for i, (u, d, text, at) in enumerate(rows)],
        )


def test_day_lines_between_days_and_one_name_and_avatar_per_run(people, server):
    me, wes = pair(people, 1100)
    rea, w = user_id(me), user_id(wes)
    now = int(time.time() * 1000)
    day = 86_400_000
    insert_messages(
        server.data_dir / "chatd.db",
        [
            (w, rea, "long ago 1", now - 40 * day),
            (w, rea, "three days ago 1", now - 3 * day),
            (w, rea, "three days ago 2", now - 3 * day + 30_000),
            (w, rea, "three days ago 3", now - 3 * day + 60_000),
            (rea, w, "my answer", now - 3 * day + 90_000),
            (w, rea, "three days ago, later", now - 3 * day + 3_600_000),
            (w, rea, "yesterday", now - day),
        ],
    )
    me.page.reload()  # the chat opens again and loads them
    expect(me.page.locator("li.msg .msg__text").first).to_have_text("long ago 1")
    send_over_socket(wes.base_url, wes.token(), rea, ["today 1", "today 2"], prefix="today")
    expect(me.page.locator("li.msg .msg__text").last).to_have_text("today 2")

    # One line per day, before that day's first message.
    expect(me.page.locator("#messages > .day-sep")).to_have_count(4)
    days = me.page.locator("#messages").evaluate(DAY_LINES)
    assert [text for _, text in days] == ["long ago 1", "three days ago 1", "yesterday", "today 1"], days
    assert [label for label, _ in days][2:] == ["Yesterday", "Today"], days

    # A run: the name on the first, the avatar beside the last; a pause of an hour or
    # another sender starts a new run.
    def bubble(text):
        return me.page.locator("li.msg", has=me.page.locator(".msg__text", has_text=re.compile(f"^{text}$")))

    for text, name_shown, avatar_shown in [
        ("three days ago 1", True, False),
        ("three days ago 2", False, False),
        ("three days ago 3", False, True),
        ("my answer", True, True),
        ("three days ago, later", True, True),
        ("today 1", True, False),
        ("today 2", False, True),
    ]:
        row = bubble(text)
        (
            expect(row.locator(".msg__from")).to_be_visible
            if name_shown
            else expect(row.locator(".msg__from")).to_be_hidden
        )()
        visible = row.locator(".msg__avatar").evaluate("a => getComputedStyle(a).visibility")
        assert (visible == "visible") == avatar_shown, (text, visible)
    # The time of a later message in a run shows on hover.
    later = bubble("three days ago 2").locator(".msg__meta time")
    assert later.evaluate("t => getComputedStyle(t.parentElement).opacity") == "0"
    bubble("three days ago 2").hover()
    expect(later).to_have_css("opacity", "1")
    no_errors(me, wes)


def test_a_new_picture_and_nickname_show_on_the_other_side_at_once(friends, tmp_path):
    ann, bob = friends  # Bob on a phone
    bob.send("hi from bob")
    ann.send("hi from ann")
    expect(bob.page.locator("li.msg .msg__text").last).to_have_text("hi from ann")
    picture = tmp_path / "me.png"
    picture.write_bytes(png_with_alpha())

    ann.page.click("#me-name")
    ann.page.click("#profile-edit")
    ann.page.set_input_files("#profile-file", str(picture))
    preview = ann.page.locator("#profile-preview img")
    expect(preview).to_have_attribute("src", re.compile(r"^/upload/.+\.thumb\.webp$"))
    src = preview.get_attribute("src")
    ann.page.fill("#profile-nickname", "Annie")
    ann.page.fill("#profile-memo", "Tea, not coffee")
    ann.page.click("#profile-save")
    expect(ann.page.locator("#panel")).to_be_hidden()
    expect(ann.page.locator("#me-name img")).to_have_attribute("src", src)
    expect(ann.page.locator("#me-name")).to_contain_text("Annie")
    expect(ann.page.locator("li.msg--mine .msg__avatar img").last).to_have_attribute("src", src)

    # Bob sees it without a reload: in the message list, the header and the friend list.
    theirs = bob.page.locator("li.msg:not(.msg--mine)").last
    expect(theirs.locator(".msg__avatar img")).to_have_attribute("src", src)
    expect(theirs.locator(".msg__from")).to_have_text("Annie")
    expect(bob.page.locator("#conv-avatar img")).to_have_attribute("src", src)
    expect(bob.page.locator("#conv-title")).to_have_text("Annie")
    bob.show_contacts()
    friend = bob.page.locator("#friend-list .contact", has_text="Annie")
    expect(friend.locator(".contact__avatar img")).to_have_attribute("src", src)
    assert bob.page.locator("#friend-list .contact__avatar img").evaluate("i => i.naturalWidth") > 0
    # And after a reload, from the server.
    bob.page.reload()
    expect(bob.page.locator("li.msg:not(.msg--mine) .msg__avatar img").last).to_have_attribute("src", src)
    no_errors(ann, bob)


@pytest.mark.parametrize("width", [1100, 360])
def test_a_notification_while_the_page_is_hidden_and_the_count_in_the_title(people, width, tmp_path):
    me = people(width=width, height=740)
    me.page.add_init_script(HIDE_AND_RECORD)
    wes = people()
    me.context.grant_permissions(["notifications"], origin=me.base_url)
    me.register("31001", "Rea")
    wes.register("31002", "Wes")
    wes.add_friend(me)
    me.show_contacts()
    me.page.fill("#create-group-input", "Club")
    me.page.click("#create-group-btn")
    expect(me.page.locator("#conv-title")).to_contain_text("Club")
    assert me.page.locator("#notify-offer").count() == 0  # already allowed: nothing to offer

    me.page.evaluate("() => window.__setHidden(true)")
    wes.open_chat("Rea")
    wes.send("are you there?")
    notes = "() => window.__notes.map(n => [n.title, n.body, n.tag])"
    expect(me.page.locator("#friend-list .contact .unread")).to_have_attribute("data-count", "1")
    assert me.page.evaluate(notes) == [["Wes", "are you there?", f"10:{user_id(wes)}"]]
    expect(me.page).to_have_title("(1) chatd")
    expect(me.page.locator("link[rel=icon]")).to_have_attribute("data-unread", "1")
    assert me.page.evaluate("() => document.querySelector('link[rel=icon]').href").startswith(
        "data:image/png"
    )
    # Our own message from another device is not notified; the next one from Wes is.
    send_over_socket(me.base_url, me.token(), user_id(wes), ["from my phone"], prefix="mine")
    wes.send("hello?")
    expect(me.page).to_have_title("(2) chatd")
    assert [n[1] for n in me.page.evaluate(notes)] == ["are you there?", "hello?"]
    # A photo is told as one.
    photo = tmp_path / "photo.png"
    photo.write_bytes(png_with_alpha())
    wes.page.set_input_files("#image-input", str(photo))
    expect(me.page).to_have_title("(3) chatd")
    assert [n[1] for n in me.page.evaluate(notes)] == ["are you there?", "hello?", "Photo"]
    # Each came with a chime; muted, the next one is silent (and still notified).
    tones = me.page.evaluate("() => window.__tones")
    assert tones > 0
    me.show_contacts()
    me.page.click("#me-name")
    me.page.locator("#sound-on").uncheck()
    me.page.click("#panel-close")
    wes.send("quietly")
    expect(me.page).to_have_title("(4) chatd")
    assert me.page.evaluate(notes)[-1][1] == "quietly"
    assert me.page.evaluate("() => window.__tones") == tones

    # Clicking it brings the page forward with that chat open.
    me.page.evaluate("() => window.__notes.at(-1).note.dispatchEvent(new Event('click'))")
    expect(me.page.locator("#conv-title")).to_have_text("Wes")
    me.page.evaluate("() => window.__setHidden(false)")
    expect(me.page).to_have_title("chatd")
    expect(me.page.locator("link[rel=icon]")).to_have_attribute("data-unread", "0")
    # Seen: nothing is notified while the page shows.
    wes.send("now you see me")
    expect(me.page.locator("li.msg .msg__text").last).to_have_text("now you see me")
    assert len(me.page.evaluate(notes)) == 4
    assert me.page.evaluate("() => window.__asked") == 0  # never asked without a click
    no_errors(me, wes)


def test_permission_is_asked_only_on_a_click_and_the_sound_can_be_muted(people):
    ann = people()
    ann.page.add_init_script(HIDE_AND_RECORD)
    ann.register("31003", "Ann")
    offer = ann.page.locator("#notify-offer")
    expect(offer).to_be_visible()
    assert ann.page.evaluate("() => window.__asked") == 0
    offer.get_by_role("button", name="Allow notifications").click()
    ann.page.wait_for_function("() => window.__asked === 1")
    # The sound is on until muted; the choice survives a reload.
    ann.page.click("#me-name")
    sound = ann.page.locator("#sound-on")
    expect(sound).to_be_checked()
    sound.uncheck()
    ann.page.reload()
    ann.page.click("#me-name")
    expect(ann.page.locator("#sound-on")).not_to_be_checked()
    no_errors(ann)


@pytest.mark.parametrize("width", [1100, 360])
def test_the_offline_banner_when_the_network_goes_and_catching_up_after(people, width):
    me, wes = pair(people, width)
    banner = me.page.locator("#offline")
    expect(banner).to_be_hidden()
    me.context.set_offline(True)
    expect(banner).to_be_visible(timeout=5_000)
    expect(banner).to_contain_text("offline")
    wes.send("sent while you were offline")
    me.page.fill("#message-input", "typed while offline")
    me.page.press("#message-input", "Enter")
    me.context.set_offline(False)
    expect(banner).to_be_hidden()
    expect(me.page.locator("li.msg .msg__text", has_text="sent while you were offline")).to_have_count(1)
    expect(wes.page.locator("li.msg .msg__text").last).to_have_text("typed while offline")
    no_errors(me, wes)


def test_a_server_that_stops_answering_shows_the_banner_within_seconds(people, server):
    me, wes = pair(people, 360)
    banner = me.page.locator("#offline")
    expect(banner).to_be_hidden()
    os.kill(server.proc.pid, signal.SIGSTOP)  # the connection stays up; nothing answers
    try:
        # A heartbeat every 10 s, given up 5 s later: well within 20 s.
        expect(banner).to_be_visible(timeout=20_000)
        expect(banner).to_contain_text("reconnecting")
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)
    expect(banner).to_be_hidden(timeout=40_000)
    wes.send("back again")
    expect(me.page.locator("li.msg .msg__text").last).to_have_text("back again")
    # The dropped socket may have logged its failed reconnects; nothing else.
    assert all("WebSocket" in e or "Failed to load resource" in e for e in me.errors), me.errors
    no_errors(wes)
