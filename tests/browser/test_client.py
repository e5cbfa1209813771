"""The chat page in real Chromium, two people in two windows, against the real server."""

from __future__ import annotations

import re
import shutil

from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS, PASSWORD, Person, send_over_socket
from tests.mediafiles import landscape, photo_with_exif


def no_errors(*people: Person) -> None:
    for person in people:
        assert person.errors == [], person.errors


def test_log_in_through_the_form_after_logging_out(people):
    ann = people()
    ann.register("30003", "Ann")
    ann.page.click("#logout")
    expect(ann.page).to_have_url(re.compile(r"/login\.html"))
    ann.page.fill("#mobile", "30003")
    ann.page.fill("#password", "not-the-password")
    ann.page.click("#login-submit")
    expect(ann.page.locator("#form-error")).to_have_text(re.compile("wrong mobile or password"))
    # Chromium itself logs every 4xx answer as a failed resource load; the page handled it.
    assert ann.errors == ["Failed to load resource: the server responded with a status of 401 (Unauthorized)"]
    ann.errors.clear()
    ann.page.fill("#password", PASSWORD)
    ann.page.click("#login-submit")
    expect(ann.page).to_have_url(re.compile(r"/chat\.html$"))
    expect(ann.page.locator("#me-name")).to_contain_text("Ann")
    no_errors(ann)


def test_text_both_ways_in_real_time_and_html_stays_text(friends):
    ann, bob = friends
    ann.send("Hello Bob <img src=x onerror=alert(1)>")
    expect(ann.page.locator("li.msg--mine").last).to_have_attribute("data-state", "sent")
    expect(bob.page.locator("li.msg .msg__text").last).to_have_text("Hello Bob <img src=x onerror=alert(1)>")
    assert bob.page.locator("#messages img").count() == 0
    bob.send("Hi Ann! :smile:")
    # The shortcode shows as the emoji itself.
    expect(ann.page.locator("li.msg:not(.msg--mine) .msg__text").last).to_have_text("Hi Ann! 😄")
    no_errors(ann, bob)


def test_unread_count_and_last_message_in_the_list(friends, people):
    ann, bob = friends
    # Ann looks at nothing in particular: a reload would reopen Bob's chat, unless forgotten.
    ann.page.evaluate(
        "() => { sessionStorage.clear();"
        " localStorage.removeItem(`chatd_open:${JSON.parse(localStorage.chatd_user).id}`); }"
    )
    ann.page.reload()
    ann.show_contacts()
    bob.send("are you there?")
    bob.send("hello?")
    bob_item = ann.page.locator("#friend-list .contact", has_text="Bob")
    expect(bob_item.locator(".unread")).to_have_attribute("data-count", "2")
    expect(bob_item.locator(".contact__last")).to_have_text(re.compile("hello"))
    bob_item.click()
    expect(bob_item.locator(".unread")).to_be_hidden()
    no_errors(ann, bob)


def test_emoji_from_the_picker_and_a_sticker(friends):
    ann, bob = friends
    ann.page.click('button[aria-label="Emoji"]')
    picker = ann.page.locator("#emoji-picker")
    expect(picker).to_be_visible()
    ann.page.fill("#emoji-search", "thumbs")
    picker.locator('button.emoji-item[data-code=":thumbs_up:"]').click()
    expect(ann.page.locator("#message-input")).to_have_value(re.compile("👍"))
    ann.page.press("#message-input", "Enter")
    expect(bob.page.locator("li.msg .msg__text").last).to_have_text("👍")
    ann.page.click('button[aria-label="Emoji"]')
    ann.page.locator('button.sticker-item[data-sticker="chatd-blobs/wave"]').click()
    sticker = bob.page.locator("li.msg img.msg__sticker").last
    expect(sticker).to_be_visible()
    assert sticker.evaluate("img => img.complete && img.naturalWidth > 0")
    # The pick is remembered among the recent ones.
    ann.page.click('button[aria-label="Emoji"]')
    expect(picker.locator('button.emoji-item[data-code=":thumbs_up:"]').first).to_be_visible()
    no_errors(ann, bob)


def test_photo_upload_shows_its_thumbnail_in_the_other_window(friends, tmp_path):
    ann, bob = friends
    photo = tmp_path / "holiday.jpg"
    photo.write_bytes(photo_with_exif(1600, 1200))
    ann.page.set_input_files("#image-input", str(photo))
    thumb = bob.page.locator("li.msg img.msg__thumb").last
    expect(thumb).to_be_visible(timeout=20_000)
    assert thumb.evaluate(
        "img => img.complete && img.naturalWidth > 0 && img.naturalHeight > img.naturalWidth"
    )
    thumb.click()
    lightbox = bob.page.locator("#lightbox")
    expect(lightbox).to_be_visible()
    full = lightbox.locator("img")
    expect(full).to_have_attribute("src", re.compile(r"^/upload/.*\.jpg$"))
    bob.page.keyboard.press("Escape")
    expect(lightbox).to_be_hidden()
    no_errors(ann, bob)


def test_voice_clip_from_the_microphone_arrives_with_its_duration_and_plays(friends):
    ann, bob = friends
    voice = ann.page.locator('button[aria-label="Voice"]')
    voice.hover()
    ann.page.mouse.down()
    expect(ann.page.locator("#voice-recorder")).to_be_visible()
    expect(ann.page.locator("#voice-timer")).to_have_text("0:02")  # hold for two seconds
    ann.page.mouse.up()
    clip = bob.page.locator('li.msg[data-media="3"]').last
    expect(clip).to_be_visible(timeout=20_000)
    expect(clip.locator(".msg__duration")).to_have_text(re.compile(r"^0:0[1-3]$"))
    audio = clip.locator("audio")
    clip.locator("button.msg__play").click()
    bob.page.wait_for_function(
        "a => a.readyState >= 1 && a.duration > 0 && !a.error && a.currentTime > 0",
        arg=audio.element_handle(),
    )
    assert audio.evaluate("a => a.error === null && a.duration > 1 && a.duration < 4")
    no_errors(ann, bob)


def test_escape_cancels_a_recording(friends):
    ann, bob = friends
    ann.page.locator('button[aria-label="Voice"]').hover()
    ann.page.mouse.down()
    expect(ann.page.locator("#voice-recorder")).to_be_visible()
    expect(ann.page.locator("#voice-timer")).to_have_text("0:01")  # long enough to be a clip
    ann.page.keyboard.press("Escape")
    ann.page.mouse.up()
    expect(ann.page.locator("#voice-recorder")).to_be_hidden()
    # Nothing may reach Bob before a message sent after the cancel.
    ann.send("sentinel")
    expect(bob.page.locator("li.msg").last).to_contain_text("sentinel")
    assert bob.page.locator('li.msg[data-media="3"]').count() == 0
    no_errors(ann, bob)


def test_scrollback_loads_150_messages_in_order_once(friends):
    ann, bob = friends
    send_over_socket(bob.base_url, bob.token(), ann.user()["id"], [f"m{i}" for i in range(150)])
    ann.page.reload()
    ann.open_chat("Bob")
    expect(ann.page.locator("li.msg .msg__text").last).to_have_text("m149")
    ann.scroll_to_start(150)  # to the top until nothing older is left
    assert ann.texts() == [f"m{i}" for i in range(150)]
    assert bob.user()["nickname"] == "Bob"
    no_errors(ann, bob)


def test_server_restart_while_the_other_side_sends_shows_every_message_once(friends, server):
    ann, bob = friends
    bob.send("before the restart")
    expect(ann.page.locator("li.msg .msg__text").last).to_have_text("before the restart")
    assert server.terminate() == 0
    expect(ann.page.locator("#offline")).to_be_visible()
    bob.send("while you were away 1")
    bob.send("while you were away 2")
    server.start()
    expect(ann.page.locator("#offline")).to_be_hidden(timeout=40_000)
    expect(ann.page.locator("li.msg .msg__text").last).to_have_text("while you were away 2", timeout=40_000)
    bob.send("after the restart")
    expect(ann.page.locator("li.msg .msg__text").last).to_have_text("after the restart")
    expected = ["before the restart", "while you were away 1", "while you were away 2", "after the restart"]
    assert ann.texts() == expected
    expect(bob.page.locator('li.msg--mine[data-state="sent"]')).to_have_count(4)
    assert bob.texts() == expected
    # Chromium logs every request the stopped server could not answer (refused, reset,
    # 503 while it stops) as a console error; those are the only ones allowed here.
    network = ("net::ERR_", "WebSocket connection", "status of 503")
    for person in (ann, bob):
        assert all(any(n in e for n in network) for e in person.errors), person.errors


def test_screenshot_of_the_chat_page(friends, tmp_path):
    """The README's picture: text with emoji, a photo, a voice clip, a sticker, a reaction and
    a reply."""
    ann, bob = friends
    ann.send("Dinner at 7? :smile:")
    bob.send("Yes! I'll bring dessert 🍰")
    photo = tmp_path / "dessert.jpg"
    photo.write_bytes(landscape())
    bob.page.set_input_files("#image-input", str(photo))
    expect(ann.page.locator("li.msg img.msg__thumb").last).to_be_visible()
    ann.page.locator('button[aria-label="Voice"]').hover()
    ann.page.mouse.down()
    expect(ann.page.locator("#voice-timer")).to_have_text("0:01")
    ann.page.mouse.up()
    expect(bob.page.locator('li.msg[data-media="3"] .msg__duration').last).to_be_visible()
    ann.page.click('button[aria-label="Emoji"]')
    ann.page.locator('button.sticker-item[data-sticker="chatd-blobs/party"]').click()
    expect(bob.page.locator("li.msg img.msg__sticker").last).to_be_visible()
    expect(ann.page.locator("li.msg img.msg__sticker").last).to_be_visible()
    # Bob (on the phone) reacts to the question and replies to it.
    question = bob.page.locator("li.msg", has=bob.page.locator(".msg__body", has_text="Dinner at 7")).last
    question.locator(".msg__actions").click()
    bob.page.get_by_role("button", name="React 👍").click()
    question.locator(".msg__actions").click()
    bob.page.get_by_role("menuitem", name="Reply").click()
    bob.send("See you there!")
    reply = ann.page.locator("li.msg", has=ann.page.locator(".msg__body", has_text="See you there")).last
    expect(reply.locator(".msg__quote")).to_contain_text("Dinner at 7")
    expect(ann.page.locator("li.msg .reaction", has_text="👍")).to_have_attribute("data-count", "1")
    ARTIFACTS.mkdir(exist_ok=True)
    for page in (ann.page, bob.page):  # every picture in the chat decoded, every font in place
        page.wait_for_function(
            "() => [...document.querySelectorAll('#messages img')].every((i) => i.complete)"
        )
        page.evaluate("() => document.fonts.ready.then(() => true)")
    ann.page.screenshot(path=str(ARTIFACTS / "chat-desktop.png"))
    bob.page.screenshot(path=str(ARTIFACTS / "chat-phone.png"))
    assert (ARTIFACTS / "chat-desktop.png").stat().st_size > 10_000
    shutil.copy(ARTIFACTS / "chat-desktop.png", ARTIFACTS / "latest.png")
    no_errors(ann, bob)


def test_a_denied_or_missing_microphone_is_explained(friends):
    ann, bob = friends
    for error, says in [("NotAllowedError", "denied"), ("NotFoundError", "No microphone found")]:
        # The browser's own answer to getUserMedia, as when the person clicks "Block".
        ann.context.add_init_script(
            f"navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('no', '{error}'));"
        )
        ann.page.reload()
        ann.open_chat("Bob")
        ann.page.locator('button[aria-label="Voice"]').hover()
        ann.page.mouse.down()
        expect(ann.page.locator("#composer-notice")).to_contain_text(says)
        ann.page.mouse.up()
        expect(ann.page.locator("#voice-recorder")).to_be_hidden()
    # Nothing may reach Bob before a message sent after the failed attempts.
    ann.send("sentinel")
    expect(bob.page.locator("li.msg").last).to_contain_text("sentinel")
    assert bob.page.locator('li.msg[data-media="3"]').count() == 0
    no_errors(ann, bob)
