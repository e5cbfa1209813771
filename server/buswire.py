"""How bus events travel through Redis: channel names, the bytes of each event, and the
script every process publishes with.

Channels (after the chat's prefix): `u:<id>` what one user's sockets get, `g:<id>` a
group's messages, `all` what every process needs (revoked tokens, resyncs). A message is
`D<id> <sent ms> <socket key or -> <frame payload>`: the payload is the frame the sockets
get, encoded once by the process that stored it. An ephemeral frame (typing, a group read
receipt) is `X<from user> <focus cmd> <focus id> <frame payload>` on the same channels: no
id, handed on at once, never read from the log."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from server.bus import (
    Delivery,
    Ephemeral,
    Event,
    Friendship,
    Membership,
    MembershipEnded,
    Notice,
    TokenRevoked,
)

# KEYS: the watermark (highest id published), the `all` channel. ARGV: prev_max (the
# highest id committed before this batch, read under the publish lock), batch_max (0: no
# message), then channel, data pairs. Ids travel as strings: Lua prints big numbers as
# 1e+15. Ids committed but above the watermark were never published (their process died
# between commit and publish): a resync `R<after> <upto>` on `all` makes every process
# read them from the database before what follows.
PUBLISH_LUA = """
local mark = redis.call('GET', KEYS[1])
local prev = tonumber(ARGV[1])
if mark and tonumber(mark) < prev then
  redis.call('PUBLISH', KEYS[2], 'R' .. mark .. ' ' .. ARGV[1])
end
for i = 3, #ARGV, 2 do
  redis.call('PUBLISH', ARGV[i], ARGV[i + 1])
end
local top = ARGV[1]
if tonumber(ARGV[2]) > prev then top = ARGV[2] end
if (not mark) or tonumber(mark) < tonumber(top) then
  redis.call('SET', KEYS[1], top)
end
return 1
"""

USER, GROUP, ALL = 0, 1, 2


@dataclass(frozen=True)
class Resync:
    """Ids after `after` (up to `upto`, 0: the log's end) must be read from the log."""

    after: int
    upto: int


def encode(prefix: bytes, event: Event, now_ms: int) -> list[tuple[bytes, bytes]]:
    """The (channel, data) pairs an event is published as."""
    if isinstance(event, Delivery):
        skip = event.skip_socket.encode() or b"-"
        data = b"D%d %d %s " % (event.message_id, now_ms, skip) + event.payload
        if event.group_id is not None:
            return [(prefix + b"g:%d" % event.group_id, data)]
        return [(prefix + b"u:%d" % user_id, data) for user_id in event.user_ids]
    if isinstance(event, Membership):
        return [(prefix + b"u:%d" % event.user_id, b"M%d" % event.group_id)]
    if isinstance(event, MembershipEnded):
        return [(prefix + b"u:%d" % event.user_id, b"E%d" % event.group_id)]
    if isinstance(event, Friendship):
        flag = int(event.friends)
        return [
            (prefix + b"u:%d" % event.user_id, b"F%d %d" % (event.other_id, flag)),
            (prefix + b"u:%d" % event.other_id, b"F%d %d" % (event.user_id, flag)),
        ]
    if isinstance(event, Notice):
        return [(prefix + b"u:%d" % user_id, b"N" + event.payload) for user_id in event.user_ids]
    if isinstance(event, Ephemeral):
        data = b"X%d %d %d " % (event.from_user, *event.focus) + event.payload
        if event.group_id is not None:
            return [(prefix + b"g:%d" % event.group_id, data)]
        return [(prefix + b"u:%d" % user_id, data) for user_id in event.user_ids]
    assert isinstance(event, TokenRevoked)
    fields = {"user_id": event.user_id, "digests": event.digests, "keep": event.keep, "reason": event.reason}
    return [(prefix + b"all", b"T" + orjson.dumps(fields))]


def decode(kind: int, target_id: int, data: bytes) -> Event | Resync | None:
    """The event a channel message carries (None: unknown, from a newer chatd)."""
    tag = data[:1]
    if tag == b"D":
        head_id, _sent_ms, skip, payload = data[1:].split(b" ", 3)
        socket_key = "" if skip == b"-" else skip.decode()
        if kind == GROUP:
            return Delivery(int(head_id), payload, group_id=target_id, skip_socket=socket_key)
        return Delivery(int(head_id), payload, user_ids=(target_id,), skip_socket=socket_key)
    if tag == b"X":
        from_user, focus_cmd, focus_id, payload = data[1:].split(b" ", 3)
        focus = (int(focus_cmd), int(focus_id))
        if kind == GROUP:
            return Ephemeral(payload, focus, int(from_user), group_id=target_id)
        return Ephemeral(payload, focus, int(from_user), user_ids=(target_id,))
    if tag == b"M":
        return Membership(target_id, int(data[1:]))
    if tag == b"E":
        return MembershipEnded(target_id, int(data[1:]))
    if tag == b"F":
        other, flag = data[1:].split(b" ")
        return Friendship(target_id, int(other), flag == b"1")
    if tag == b"N":
        return Notice((target_id,), data[1:])
    if tag == b"T":
        fields = orjson.loads(data[1:])
        return TokenRevoked(fields["user_id"], tuple(fields["digests"]), fields["keep"], fields["reason"])
    if tag == b"R":
        after, upto = data[1:].split(b" ")
        return Resync(int(after), int(upto))
    return None


def sent_ms(data: bytes) -> int | None:
    """When a message was published (ms since the epoch), for the bus-lag figure."""
    if data[:1] != b"D":
        return None
    return int(data[1:].split(b" ", 2)[1])


class Channels:
    """Channel names of one chat, and what a received channel name stands for."""

    def __init__(self, prefix: bytes) -> None:
        self.prefix = prefix
        self.all = prefix + b"all"
        self.watermark = prefix + b"published"
        self._parsed: dict[bytes, tuple[int, int]] = {}

    def user(self, user_id: int) -> bytes:
        return self.prefix + b"u:%d" % user_id

    def group(self, group_id: int) -> bytes:
        return self.prefix + b"g:%d" % group_id

    def target(self, channel: bytes) -> tuple[int, int]:
        """(USER | GROUP | ALL, id) of a channel name, parsed once."""
        target = self._parsed.get(channel)
        if target is None:
            name = channel[len(self.prefix) :]
            if name.startswith(b"u:"):
                target = (USER, int(name[2:]))
            elif name.startswith(b"g:"):
                target = (GROUP, int(name[2:]))
            else:
                target = (ALL, 0)
            if len(self._parsed) > 100_000:
                self._parsed.clear()
            self._parsed[channel] = target
        return target
