"""Reading a client's WebSocket frames a chunk at a time.

Tornado's reader awaits the stream three or four times per frame (header, length, mask,
payload), each a future and a buffer copy; a sender with many frames in flight delivers
dozens per TCP read. This protocol takes what the stream has (up to 64 KiB) in one read and
parses every whole frame in it, then hands each message to Tornado's own `_handle_message`,
so close, ping, pong and the handler's push-back (a returned awaitable stops reading) are
exactly Tornado's. Compression is never negotiated by chatd, which this relies on."""

from __future__ import annotations

import asyncio

from tornado.iostream import StreamClosedError
from tornado.util import _websocket_mask
from tornado.websocket import WebSocketProtocol13

CHUNK = 65536
YIELD_AFTER = 256 * 1024  # bytes (and per-frame cost) read before letting other sockets run
FRAME_COST = 1024


class ProtocolError(Exception):
    """The peer broke RFC 6455: the connection is aborted, as Tornado does."""


class ChunkedFrames(WebSocketProtocol13):
    async def _receive_frame_loop(self) -> None:
        try:
            buffer = b""
            work = 0
            while not self.client_terminated:
                chunk = await self.stream.read_bytes(CHUNK, partial=True)
                self._wire_bytes_in += len(chunk)
                buffer = buffer + chunk if buffer else chunk
                used, frames = await self._take_frames(buffer)
                buffer = buffer[used:]
                work += len(chunk) + frames * FRAME_COST
                if work >= YIELD_AFTER:
                    work = 0
                    await asyncio.sleep(0)
        except StreamClosedError:
            self._abort()
        except ProtocolError:
            self._abort()
        finally:
            self.handler.on_ws_connection_close(self.close_code, self.close_reason)

    async def _take_frames(self, data: bytes) -> tuple[int, int]:
        """Handle every whole frame at the start of `data`; (bytes used, frames handled)."""
        pos = 0
        frames = 0
        size = len(data)
        while not self.client_terminated and size - pos >= 2:
            header, second = data[pos], data[pos + 1]
            length = second & 0x7F
            start = pos + 2
            if length == 126:
                if size - start < 2:
                    break
                length = int.from_bytes(data[start : start + 2], "big")
                start += 2
            elif length == 127:
                if size - start < 8:
                    break
                length = int.from_bytes(data[start : start + 8], "big")
                start += 8
            self._check_header(header, second, length)
            masked = second & 0x80
            end = start + (4 if masked else 0) + length
            if end > size:
                break  # the rest of this frame is still on its way
            payload = data[start + 4 : end] if masked else data[start:end]
            if masked:
                payload = _websocket_mask(data[start : start + 4], payload)
            pos = end
            frames += 1
            handled = self._frame(header, payload)
            if handled is not None:
                await handled  # the handler's push-back: read nothing more until it is done
        return pos, frames

    def _check_header(self, header: int, second: int, length: int) -> None:
        opcode = header & self.OPCODE_MASK
        if header & self.RSV_MASK:
            raise ProtocolError("reserved bits set")  # no extension was negotiated
        if opcode & 0x8 and ((second & 0x7F) >= 126 or not header & self.FIN):
            raise ProtocolError("control frame too long or fragmented")
        pending = len(self._fragmented_message_buffer or b"")
        if length + pending > self.params.max_message_size:
            self.close(1009, "message too big")
            raise ProtocolError("message too big")

    def _frame(self, header: int, payload: bytes) -> asyncio.Future[None] | None:
        """What Tornado's _receive_frame does once it has a frame: reassemble fragments
        (control frames may come between them), then hand over a whole message."""
        opcode = header & self.OPCODE_MASK
        final = header & self.FIN
        if opcode == 0:  # continuation
            if self._fragmented_message_buffer is None:
                raise ProtocolError("nothing to continue")
            self._fragmented_message_buffer.extend(payload)
            if not final:
                return None
            opcode = self._fragmented_message_opcode  # type: ignore[assignment]  # Tornado types it None
            payload = bytes(self._fragmented_message_buffer)
            self._fragmented_message_buffer = None
        elif not opcode & 0x8:  # the first frame of a data message
            if self._fragmented_message_buffer is not None:
                raise ProtocolError("a new message before the last one ended")
            if not final:
                self._fragmented_message_opcode = opcode  # type: ignore[assignment]
                self._fragmented_message_buffer = bytearray(payload)
                return None
        return self._handle_message(opcode, payload)
