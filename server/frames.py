"""WebSocket text frames built once and written as they are to every recipient.

A server's frames are not masked (RFC 6455 5.1), so header + payload are the same bytes for
every socket that gets a message: the hub builds them once per delivery instead of once per
socket. chatd negotiates no compression, which is what makes this valid."""

from __future__ import annotations

import struct

_FIN_TEXT = 0x81


def text_frame(payload: bytes) -> bytes:
    """One unfragmented, unmasked text frame carrying `payload` (UTF-8 JSON)."""
    size = len(payload)
    if size < 126:
        return bytes((_FIN_TEXT, size)) + payload
    if size <= 0xFFFF:
        return struct.pack("!BBH", _FIN_TEXT, 126, size) + payload
    return struct.pack("!BBQ", _FIN_TEXT, 127, size) + payload


def payload_of(frame: bytes) -> bytes:
    """The payload of a frame text_frame built (for the few sockets that look inside)."""
    size = frame[1] & 0x7F
    return frame[2 + (2 if size == 126 else 8 if size == 127 else 0) :]
