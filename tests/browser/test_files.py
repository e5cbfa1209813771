"""Issue 11 point 7 in real Chromium: a video and a PDF sent with the Attach file button,
seen on the other side (a desktop and a 360 px phone) as a playable video with its poster
and a download card whose link downloads."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS, Person
from tests.mediafiles import landscape, tiny_pdf, video


def no_errors(*people: Person) -> None:
    for person in people:
        assert person.errors == [], person.errors


def send_video_and_pdf(sender: Person, tmp_path, fmt: str) -> None:
    clip = tmp_path / f"walk.{fmt}"
    clip.write_bytes(video(fmt, 3.0, tmp_path, size="480x270"))
    pdf = tmp_path / "Trip plan.pdf"
    pdf.write_bytes(tiny_pdf("Day 1: the lake"))
    photo = tmp_path / "lake.jpg"
    photo.write_bytes(landscape(640, 420))
    # One choice of three files, as a user picks them: the photo still goes as a photo, the
    # video as a video, the PDF as a file.
    sender.page.set_input_files("#file-input", [str(photo), str(clip), str(pdf)])
    mine = sender.page.locator("li.msg--mine")
    expect(mine.locator("img.msg__thumb")).to_have_count(1, timeout=30_000)
    expect(mine.locator("video.msg__video")).to_have_count(1, timeout=30_000)
    expect(mine.locator("a.filecard")).to_have_count(1, timeout=30_000)
    expect(mine.last).to_have_attribute("data-state", "sent")


def check_received(viewer: Person, fmt: str, shot: str) -> None:
    page = viewer.page
    expect(page.locator('li.msg[data-media="4"] img.msg__thumb')).to_have_count(1, timeout=30_000)
    clip = page.locator('li.msg[data-media="8"]').last
    expect(clip).to_be_visible(timeout=30_000)
    player = clip.locator("video.msg__video")
    expect(player).to_have_attribute("poster", re.compile(r"^/upload/.*\.thumb\.webp$"))
    expect(player).to_have_attribute("src", re.compile(rf"^/upload/.*\.{fmt}$"))
    expect(player).to_have_attribute("preload", "metadata")
    assert player.get_attribute("controls") is not None
    expect(clip.locator(".msg__duration")).to_have_text(re.compile(r"^0:0[23]$"))
    # Playable: the browser reads its metadata (the real length), and it plays.
    page.wait_for_function(
        "v => v.readyState >= 1 && v.duration > 2.5 && !v.error", arg=player.element_handle()
    )
    player.evaluate("v => { v.muted = true; return v.play(); }")
    page.wait_for_function("v => v.currentTime > 0 && !v.error", arg=player.element_handle())
    player.evaluate("v => v.pause()")
    # The poster is a real picture the browser decoded.
    assert page.evaluate(
        """async (src) => { const img = new Image(); img.src = src; await img.decode();
                            return img.naturalWidth > 0 && img.naturalWidth <= 320; }""",
        player.get_attribute("poster"),
    )
    # It fits the screen: never wider than the viewport, nothing scrolls sideways.
    width = (page.viewport_size or {"width": 0})["width"]
    box = player.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, (box, width)
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")

    card = page.locator('li.msg[data-media="9"] a.filecard').last
    expect(card).to_be_visible()
    expect(card.locator(".filecard__name")).to_have_text("Trip plan.pdf")
    expect(card.locator(".filecard__info")).to_have_text(re.compile(r"^\d+ B · PDF document$"))
    card_box = card.bounding_box()
    assert card_box is not None and card_box["x"] + card_box["width"] <= width
    # The link downloads (never opens the file in the page), under its own name.
    with page.expect_download() as download_info:
        card.click()
    download = download_info.value
    assert download.suggested_filename == "Trip plan.pdf"
    saved = download.path()
    assert saved is not None and saved.read_bytes().startswith(b"%PDF-1.4")
    response = page.request.get(viewer.base_url + card.get_attribute("href"))
    assert response.ok and response.headers["content-disposition"].startswith("attachment;")
    assert response.headers["content-type"] == "application/octet-stream"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / shot))
    # The conversation list says what came last: the file's name.
    viewer.show_contacts()
    expect(page.locator("#friend-list .contact__last").first).to_have_text(re.compile("Trip plan.pdf"))


@pytest.mark.parametrize("fmt", ["mp4", "webm"])
def test_video_and_pdf_from_a_desktop_reach_a_phone(friends, tmp_path, fmt):
    ann, bob = friends  # Ann on a desktop, Bob on a 360 px phone
    send_video_and_pdf(ann, tmp_path, fmt)
    check_received(bob, fmt, f"files-phone-{fmt}.png")
    no_errors(ann, bob)


def test_video_and_pdf_from_a_phone_reach_a_desktop(friends, tmp_path):
    ann, bob = friends
    send_video_and_pdf(bob, tmp_path, "mp4")
    check_received(ann, "mp4", "files-desktop.png")
    no_errors(ann, bob)
