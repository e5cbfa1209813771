"""What a web page says about itself for a preview: Open Graph and Twitter card tags,
<title> and the meta description, read from its (capped) HTML with the standard library's
parser. Synchronous and pure Python: callers run it off the IOLoop."""

from __future__ import annotations

import codecs
import re
import unicodedata
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

TITLE_MAX = 200
DESCRIPTION_MAX = 300
SITE_MAX = 100
FEED = 8192  # characters given to the parser at a time, so it stops soon after </head>

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
# Invisible and control characters have no place in a card (bidi overrides reorder text).
_DROP = frozenset(("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"))


@dataclass
class PageMeta:
    title: str
    description: str
    site: str
    image: str  # an absolute http(s) URL, or ""


class _HeadParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, str] = {}
        self.title: list[str] = []
        self.in_title = False
        self.done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "meta":
            values = {k.lower(): v for k, v in attrs if v is not None}
            key = (values.get("property") or values.get("name") or "").strip().lower()
            content = values.get("content")
            if key and content is not None:
                self.meta.setdefault(key, content)  # the first one counts
        elif tag == "title":
            self.in_title = True
        elif tag == "body":
            self.done = True  # the tags a preview reads live in <head>

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        elif tag == "head":
            self.done = True

    def handle_data(self, data: str) -> None:
        if self.in_title and sum(map(len, self.title)) < TITLE_MAX * 4:
            self.title.append(data)


def decode(body: bytes, charset: str) -> str:
    """The page's text: the Content-Type's charset, else a <meta charset>, else UTF-8."""
    names = [charset] if charset else []
    found = _META_CHARSET.search(body[:4096])
    if found:
        names.append(found.group(1).decode("ascii"))
    for name in names:
        try:
            codecs.lookup(name)
        except LookupError:
            continue
        return body.decode(name, errors="replace")
    return body.decode("utf-8", errors="replace")


def clean(text: str, limit: int) -> str:
    """One line of visible text, at most `limit` characters (an ellipsis when cut)."""
    visible = "".join(ch for ch in text if unicodedata.category(ch) not in _DROP or ch in "\t\n\r")
    line = " ".join(visible.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def parse_page(body: bytes, charset: str, base_url: str) -> PageMeta:
    """Title, description, site name and image URL of an HTML page (empty when absent)."""
    parser = _HeadParser()
    text = decode(body, charset)
    for start in range(0, len(text), FEED):
        parser.feed(text[start : start + FEED])
        if parser.done:
            break
    meta = parser.meta

    def first(*keys: str) -> str:
        return next((meta[k] for k in keys if meta.get(k, "").strip()), "")

    title = first("og:title", "twitter:title") or "".join(parser.title)
    description = first("og:description", "twitter:description", "description")
    host = urlsplit(base_url).hostname or ""
    site = first("og:site_name", "application-name") or host.removeprefix("www.")
    image = first("og:image", "og:image:url", "og:image:secure_url", "twitter:image", "twitter:image:src")
    image_url = urljoin(base_url, image.strip()) if image else ""
    if urlsplit(image_url).scheme not in ("http", "https"):
        image_url = ""  # data:, javascript: and the like are never fetched
    return PageMeta(
        title=clean(title, TITLE_MAX),
        description=clean(description, DESCRIPTION_MAX),
        site=clean(site, SITE_MAX),
        image=image_url,
    )
