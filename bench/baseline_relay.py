"""The baseline for bench/relay_bench.py: a straightforward Tornado WebSocket relay.

What anyone would write in an afternoon with Tornado and nothing else: one dict of
user id -> socket, stdlib ``json`` to parse each frame and to build the forwarded one,
an ack ``{"cmd": 12, "cmid": ..., "id": n}`` from a plain counter. No storage, no
auth, no rate limit, no outbox: every figure chatd reports is measured against this.
With ``--group-size N``, users 1..N are the members of group 1 and a cmd 11 frame to it is
written to every member's socket but the sender's (as chatd does: the sender gets the ack).

    python bench/baseline_relay.py --port 9100 [--group-size 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import resource
import signal
import time
from typing import Any

import tornado.web
import tornado.websocket

log = logging.getLogger("baseline_relay")

CMD_SINGLE = 10
CMD_GROUP = 11
CMD_ACK = 12
CMD_ERROR = 13


class Relay:
    """The whole server state: live sockets by user id and the message counter."""

    def __init__(self, group_size: int = 0) -> None:
        self.sockets: dict[int, RelaySocketHandler] = {}
        self.next_id = 0
        self.group_members = range(1, group_size + 1)  # group 1


class RelaySocketHandler(tornado.websocket.WebSocketHandler):
    def initialize(self, relay: Relay) -> None:
        self.relay = relay
        self.user_id = 0

    def open(self) -> None:
        try:
            self.user_id = int(self.get_query_argument("id"))
        except (tornado.web.MissingArgumentError, ValueError):
            self.close(1008, "id missing")
            return
        # Last connection wins, as in the Go seed's clientMap.
        self.relay.sockets[self.user_id] = self

    def on_message(self, message: str | bytes) -> None:
        try:
            frame: dict[str, Any] = json.loads(message)
        except ValueError:
            self.write_message(json.dumps({"cmd": CMD_ERROR, "code": 400, "msg": "bad JSON"}))
            return
        cmd = frame.get("cmd")
        if cmd not in (CMD_SINGLE, CMD_GROUP):
            return  # heartbeats and anything else: ignored
        self.relay.next_id += 1
        msg_id = self.relay.next_id
        frame["id"] = msg_id
        frame["userid"] = self.user_id
        frame["createat"] = int(time.time() * 1000)
        if cmd == CMD_GROUP:
            members = self.relay.group_members if frame.get("dstid") == 1 else range(0)
            targets = [self.relay.sockets.get(uid) for uid in members if uid != self.user_id]
        else:
            targets = [self.relay.sockets.get(frame.get("dstid", 0))]
        for target in targets:
            if target is not None:
                try:
                    target.write_message(json.dumps(frame))
                except tornado.websocket.WebSocketClosedError:
                    pass
        try:
            self.write_message(json.dumps({"cmd": CMD_ACK, "cmid": frame.get("cmid"), "id": msg_id}))
        except tornado.websocket.WebSocketClosedError:
            pass

    def on_close(self) -> None:
        if self.relay.sockets.get(self.user_id) is self:
            del self.relay.sockets[self.user_id]


def make_app(group_size: int = 0) -> tornado.web.Application:
    return tornado.web.Application([(r"/chat", RelaySocketHandler, {"relay": Relay(group_size)})])


async def main(host: str, port: int, group_size: int) -> None:
    server = make_app(group_size).listen(port, address=host)
    log.info("baseline relay on ws://%s:%d/chat", host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--group-size", type=int, default=0, help="users 1..N are members of group 1")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # One descriptor per socket: take what the hard limit allows (bench/scenarios.py --big).
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(main(args.host, args.port, args.group_size))
