"""The emoji catalog: what load_catalog builds and what GET /emoji.json serves."""

from __future__ import annotations

import logging
from pathlib import Path

import orjson
import pytest
from PIL import Image

from server.emoji import EmojiCatalog, load_catalog

ROOT = Path(__file__).resolve().parents[1]
SKIN_TONES = {chr(cp) for cp in range(0x1F3FB, 0x1F400)}


@pytest.fixture(scope="module")
def catalog() -> EmojiCatalog:
    return load_catalog(ROOT / "asset")


@pytest.fixture
def doc(catalog) -> dict:
    return orjson.loads(catalog.payload)


def by_code(doc: dict) -> dict[str, dict]:
    return {item["code"]: item for item in doc["emoji"]}


async def fetch(http_client, url: str, **kwargs):
    return await http_client.fetch(url, raise_error=False, **kwargs)


@pytest.mark.gen_test
async def test_emoji_json_lists_smile_with_its_char_group_and_alias(http_client, base_url):
    response = await fetch(http_client, base_url + "/emoji.json")
    assert response.code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "public, max-age=3600"
    smile = by_code(orjson.loads(response.body))[":grinning_face_with_smiling_eyes:"]
    assert smile == {
        "code": ":grinning_face_with_smiling_eyes:",
        "char": "😄",
        "group": "Smileys & Emotion",
        "aliases": [":smile:"],
    }


@pytest.mark.gen_test
async def test_same_etag_answers_304_and_a_stale_one_200(http_client, base_url, catalog):
    first = await fetch(http_client, base_url + "/emoji.json")
    etag = first.headers["Etag"]
    assert etag == catalog.etag
    again = await fetch(http_client, base_url + "/emoji.json", headers={"If-None-Match": etag})
    assert again.code == 304
    assert again.body == b""
    stale = await fetch(http_client, base_url + "/emoji.json", headers={"If-None-Match": '"stale"'})
    assert stale.code == 200 and stale.body == catalog.payload


@pytest.mark.gen_test
async def test_sticker_urls_serve_webp_images(http_client, base_url, doc):
    stickers = {s["code"]: s for s in doc["stickers"]}
    wave = stickers["chatd-blobs/wave"]
    assert wave["url"] == "/asset/stickers/chatd-blobs/wave.webp"
    assert wave["pack"] == "chatd-blobs" and wave["title"] == "Wave"
    assert {"id": "chatd-blobs", "name": "Chatd Blobs"} in doc["packs"]
    for sticker in stickers.values():
        response = await fetch(http_client, base_url + sticker["url"])
        assert response.code == 200, sticker
        assert response.headers["Content-Type"] == "image/webp"
        assert response.body[:4] == b"RIFF" and response.body[8:12] == b"WEBP"


def test_thumbs_up_and_flags_are_there(doc):
    codes = by_code(doc)
    thumbs = codes[":thumbs_up:"]
    assert thumbs["char"] == "👍" and thumbs["group"] == "People & Body"
    assert {":+1:", ":thumbsup:"} <= set(thumbs["aliases"])
    assert "Flags" in doc["groups"]
    assert any(item["group"] == "Flags" and item["char"] == "🇯🇵" for item in doc["emoji"])


def test_groups_are_in_unicode_order_and_emoji_follow_them(doc):
    assert doc["groups"] == [
        "Smileys & Emotion", "People & Body", "Animals & Nature", "Food & Drink",
        "Travel & Places", "Activities", "Objects", "Symbols", "Flags",
    ]  # fmt: skip
    order = [doc["groups"].index(item["group"]) for item in doc["emoji"]]
    assert order == sorted(order)
    assert doc["emoji"][0]["char"] == "😀"


def test_no_skin_tone_variants_and_no_components(doc):
    assert "Component" not in doc["groups"]
    assert not [item for item in doc["emoji"] if SKIN_TONES & set(item["char"])]
    # the components themselves: a bare tone modifier and a hair piece
    assert not {"🏽", "🦰"} & {item["char"] for item in doc["emoji"]}
    # but the base of a toned emoji is listed
    assert "👋" in {item["char"] for item in doc["emoji"]}


def test_every_code_and_alias_is_unique(doc):
    names = [name for item in doc["emoji"] for name in (item["code"], *item["aliases"])]
    names += [sticker["code"] for sticker in doc["stickers"]]
    assert len(names) == len(set(names))
    chars = [item["char"] for item in doc["emoji"]]
    assert len(chars) == len(set(chars))


def test_name_clashes_are_resolved_deterministically(catalog, doc):
    codes = by_code(doc)
    # A code beats another emoji's alias: ":sunglasses:" is CLDR's name for 🕶️,
    # and only an alias of 😎 in the emoji package.
    assert codes[":sunglasses:"]["char"] == "🕶️"
    assert ":sunglasses:" not in codes[":smiling_face_with_sunglasses:"]["aliases"]
    assert catalog.char_for(":sunglasses:") == "🕶️"
    # Between aliases, the first emoji in sort order keeps it: 🙆 before 🙆‍♀️.
    assert ":ok_woman:" in codes[":person_gesturing_OK:"]["aliases"]
    assert ":ok_woman:" not in codes[":woman_gesturing_OK:"]["aliases"]
    assert catalog.char_for(":ok_woman:") == "🙆"
    # Loading again gives the very same document.
    assert load_catalog(ROOT / "asset").payload == catalog.payload


def test_accepts_codes_aliases_and_stickers_only(catalog):
    for code in (":grinning_face_with_smiling_eyes:", ":smile:", ":thumbs_up:", ":+1:", "chatd-blobs/wave"):
        assert catalog.accepts(code), code
    for code in (":no_such_emoji:", "<b>", "chatd-blobs/nope", "", "😄", ":SMILE:", "chatd-blobs/"):
        assert not catalog.accepts(code), code
    assert catalog.char_for(":smile:") == "😄"
    assert catalog.char_for("chatd-blobs/wave") is None
    assert catalog.char_for(":no_such_emoji:") is None


def test_catalog_is_large_and_every_emoji_fully_described(doc):
    assert len(doc["emoji"]) > 1500
    for item in doc["emoji"]:
        assert set(item) == {"code", "char", "group", "aliases"}
        assert item["code"].startswith(":") and item["code"].endswith(":")
        assert item["group"] in doc["groups"]


def write_pack(root: Path, pack: str, manifest: bytes | None, files: tuple[str, ...] = ()) -> None:
    folder = root / "stickers" / pack
    folder.mkdir(parents=True)
    for name in files:
        Image.new("RGBA", (8, 8), (255, 0, 0, 255)).save(folder / name, "WEBP")
    if manifest is not None:
        (folder / "manifest.json").write_bytes(manifest)


def manifest(*stickers: dict) -> bytes:
    return orjson.dumps({"name": "Test pack", "stickers": list(stickers)})


def test_bad_sticker_packs_are_skipped_with_a_warning(tmp_path, caplog):
    write_pack(tmp_path, "good", manifest({"name": "hi", "file": "hi.webp", "title": "Hi"}), ("hi.webp",))
    write_pack(tmp_path, "broken", b'{"name": "Broken", "stickers": [', ("x.webp",))
    write_pack(tmp_path, "missing-file", manifest({"name": "gone", "file": "gone.webp"}))
    write_pack(tmp_path, "no-manifest", None, ("x.webp",))
    write_pack(tmp_path, "bad-name", manifest({"name": "Hi There", "file": "x.webp"}), ("x.webp",))
    write_pack(tmp_path, "escape", manifest({"name": "up", "file": "../good/hi.webp"}))
    write_pack(tmp_path, "not-a-list", orjson.dumps({"name": "N", "stickers": {"a": 1}}))
    write_pack(tmp_path, "Upper", manifest({"name": "x", "file": "x.webp"}), ("x.webp",))
    with caplog.at_level(logging.WARNING, logger="server.emoji"):
        catalog = load_catalog(tmp_path)
    doc = orjson.loads(catalog.payload)
    assert doc["packs"] == [{"id": "good", "name": "Test pack"}]
    assert doc["stickers"] == [
        {"code": "good/hi", "url": "/asset/stickers/good/hi.webp", "title": "Hi", "pack": "good"}
    ]
    assert catalog.accepts("good/hi") and not catalog.accepts("broken/x")
    skipped = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    for pack in ("broken", "missing-file", "no-manifest", "bad-name", "escape", "not-a-list", "Upper"):
        assert f"/{pack}" in skipped, pack
    assert len(doc["emoji"]) > 1500  # the emoji are still all there


def test_no_stickers_folder_means_no_stickers(tmp_path):
    catalog = load_catalog(tmp_path)
    doc = orjson.loads(catalog.payload)
    assert doc["stickers"] == [] and doc["packs"] == []
    assert catalog.accepts(":smile:")
