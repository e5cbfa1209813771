"""QR codes (SVG, made by segno) of this server's own links: invites, sign-up links, "add me"."""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING

import segno

from server.errors import ClientError

if TYPE_CHECKING:
    from server.context import Ctx

MAX_TEXT = 512
# Only links into this server: a QR endpoint that encodes any text would lend the server's
# name to whatever someone wants a phone to open. The tail is limited to URL-safe characters.
_PATH = re.compile(r"(?:/invite/|/chat\.html\?add=|/register\.html\?invite=)[A-Za-z0-9._~%=&-]*")
_ORIGIN = re.compile(r"(https?)://([^/?#]+)")


def check_text(text: str, origins: set[str]) -> None:
    """ClientError(400) unless `text` is one of this server's own links: a path, or that
    path behind one of `origins` (scheme://host the request came to)."""
    if not text or len(text) > MAX_TEXT:
        raise ClientError(400, f"text must be 1 to {MAX_TEXT} characters")
    origin = _ORIGIN.match(text)
    path = text[origin.end() :] if origin else text
    if origin and origin.group(0).lower() not in origins:
        raise ClientError(400, "text must be a link to this server")
    if not _PATH.fullmatch(path):
        raise ClientError(400, "text must be an invite, sign-up or add-me link of this server")


def make_svg(text: str) -> bytes:
    """The QR code of `text` as an SVG document (runs in a pool: a few ms of CPU)."""
    out = io.BytesIO()
    code = segno.make(text, error="m", micro=False)
    # Dark on white with the standard 4-module quiet zone, so phones read it on any page theme.
    # omitsize gives a viewBox, so the page can show it at any size; the width and height put
    # back a natural size for an <img> that sets none.
    code.save(out, kind="svg", scale=4, border=4, dark="#000", light="#fff", xmldecl=False, omitsize=True)
    width, height = code.symbol_size(scale=4, border=4)
    svg = out.getvalue()
    assert svg.startswith(b"<svg ")
    return f'<svg width="{width}" height="{height}" '.encode() + svg[len(b"<svg ") :]


async def get_qr_svg(ctx: Ctx, text: str, origins: set[str]) -> bytes:
    check_text(text, origins)
    return await ctx.pools.media(make_svg, text)
