"""Media benchmark: image and voice uploads through chatd, and chat latency while they run.

Against the real server (``python -m server`` as a subprocess on a free loopback port, with
a fresh temp database and upload dir; started by ``relay_bench.start_chatd``):

1. images: N uploads of a realistic photo (generated once: 4000x3000 JPEG q90, noise and
   shapes, EXIF orientation 6 and GPS, about 2.7 MB) to ``POST /attach/upload`` from C
   concurrent clients; uploads/s, upload latency, server CPU per upload;
2. voice: N uploads of a 30 s WebM/Opus clip (ffmpeg lavfi sine + libopus), the same figures;
3. chat: a sender and a receiver process (two befriended users, WebSocket) exchange a 1:1
   text message every 20 ms for the whole run; its send -> deliver latency is reported
   for an idle window (no uploads) and for the windows in which 1. and 2. ran.

The upload clients run in their own process, the chat sender and receiver in two more.
Before the server starts, ``server.media.process_image`` and ``process_voice`` run on the
same files in this process, single-threaded: the raw work the server figures compare to.

    .venv/bin/python bench/media_bench.py               # table on stdout
    .venv/bin/python bench/media_bench.py --quick       # smoke run, small N (< 1 min)
    .venv/bin/python bench/media_bench.py --json        # machine-readable, on stdout

Exit status: 0 when everything was measured, 1 when something failed (the reason is printed).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import multiprocessing as mp
import os
import queue
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from relay_bench import (
    CMD_ACK,
    CMD_ERROR,
    CMD_SINGLE,
    CONNECT_TIMEOUT,
    HOST,
    MEDIA_TEXT,
    ROOT,
    BenchError,
    Server,
    api,
    cpu_seconds,
    percentile,
    raise_interrupt,
    rss_mib,
    start_chatd,
    ws_url,
)

MEDIA_VOICE = 3
MEDIA_IMAGE = 4
PROBE_DRAIN = 10.0  # seconds for the last chat messages and acks after the probe stops
RESULT_TIMEOUT = 30.0  # seconds for a child process to hand back its result once told to stop
# Chat figures also given as a ratio "during uploads / idle".
RATIO_KEYS = (
    "lat_p50_ms lat_p99_ms lat_max_ms ack_p50_ms ack_p99_ms healthz_p50_ms healthz_p99_ms healthz_max_ms"
).split()
# The options reported under "params" in --json.
PARAMS = (
    "images voices clients baseline_seconds interval_ms warmup micro_repeat photo clip_seconds "
    "media_threads chatd_arg quick"
).split()


# --------------------------------------------------------------------------- test media


def make_photo(path: Path, width: int, height: int) -> None:
    """A photo-like JPEG (q90): smooth colour field, shapes, sensor-like grain, and EXIF
    that says 'rotate 90° clockwise' plus camera and GPS tags the server must strip."""
    from PIL import Image, ImageDraw

    rng = random.Random(20240601)
    cols, rows = max(2, width // 100), max(2, height // 100)
    field = Image.frombytes("RGB", (cols, rows), rng.randbytes(cols * rows * 3))
    im = field.resize((width, height), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(im)
    for _ in range(300):
        x, y, r = rng.randrange(width), rng.randrange(height), rng.randrange(20, 400)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        if rng.random() < 0.5:
            draw.ellipse([x - r, y - r, x + r, y + r], fill=colour)
        else:
            draw.rectangle([x - r, y - r // 2, x + r, y + r // 2], fill=colour)
    grain = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    im = Image.blend(im, grain, 0.08)  # not trivially compressible: about 2.7 MB at 12 MP
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° CW to display
    exif[0x010F] = "chatd bench camera"  # Make
    exif[0x0110] = "model 1"  # Model
    exif[0x0132] = "2024:06:01 12:00:00"  # DateTime
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)})
    out = io.BytesIO()
    im.save(out, "JPEG", quality=90, exif=exif.tobytes())
    path.write_bytes(out.getvalue())


def make_clip(path: Path, seconds: float) -> None:
    """A mono WebM/Opus clip (what a browser records) of a tone that rises and falls."""
    import imageio_ffmpeg

    tone = f"sine=frequency=440:duration={seconds},volume='0.2+0.8*abs(sin(t*2))':eval=frame"
    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-nostdin", "-y",
        "-f", "lavfi", "-i", tone,
        "-c:a", "libopus", "-b:a", "32k", "-ar", "48000", "-ac", "1", str(path),
    ]  # fmt: skip
    try:
        subprocess.run(cmd, check=True, timeout=120, capture_output=True)
    except subprocess.CalledProcessError as exc:
        raise BenchError(f"ffmpeg could not make the clip: {exc.stderr.decode(errors='replace')}") from None
    except subprocess.TimeoutExpired:
        raise BenchError("ffmpeg took over 120 s to make the clip") from None


# --------------------------------------------------------------------------- in-process figure


def run_micro(photo: Path, clip: Path, repeat: int) -> dict[str, Any]:
    """``process_image`` / ``process_voice`` in this process, one at a time, with the
    server's default settings. One untimed call each first (imports, libmagic, caches)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from server import media
    from server.settings import Settings

    s = Settings()
    jobs: dict[str, Callable[[], Any]] = {
        "image": lambda: media.process_image(photo, "image/jpeg", s.image_max_pixels),
        "voice": lambda: media.process_voice(clip, s.voice_max_seconds, s.ffmpeg_timeout, s.voice_bitrate),
    }
    result: dict[str, Any] = {}
    for kind, job in jobs.items():
        job()
        t0, cpu0, kids0 = time.perf_counter(), time.process_time(), os.times()
        for _ in range(repeat):
            job()
        wall = time.perf_counter() - t0
        kids1 = os.times()
        cpu = time.process_time() - cpu0
        child_cpu = (kids1.children_user - kids0.children_user) + (
            kids1.children_system - kids0.children_system
        )
        result[kind] = {
            "repeat": repeat,
            "per_s": repeat / wall,
            "ms_each": wall / repeat * 1000,
            "cpu_ms_each": (cpu + child_cpu) / repeat * 1000,  # ffmpeg runs included
        }
    return result


# --------------------------------------------------------------------------- load generators
# These run in their own processes (multiprocessing "spawn"), never in the server.


def _multipart(data: bytes, filename: str, mime: str) -> tuple[bytes, str]:
    boundary = "chatdbench" + secrets.token_hex(12)
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: {mime}\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _check_answer(body: bytes, media: int) -> dict[str, Any]:
    envelope = json.loads(body)
    data = envelope.get("data") or {}
    if envelope.get("code") != 0 or data.get("media") != media:
        raise ValueError(f"unexpected answer {body[:300]!r}")
    if media == MEDIA_IMAGE and not data.get("pic"):
        raise ValueError(f"image answer without a thumbnail: {body[:300]!r}")
    if media == MEDIA_VOICE and not data.get("amount"):
        raise ValueError(f"voice answer without a duration: {body[:300]!r}")
    return data


async def _uploads(conf: dict[str, Any]) -> dict[str, Any]:
    """``conf["n"]`` uploads, ``conf["clients"]`` at a time, each client with its own user.
    Job i sends ``conf["files"][i % len(files)]``; the whole body is built once per file."""
    from tornado.httpclient import AsyncHTTPClient, HTTPRequest

    bodies = []
    for spec in conf["files"]:
        body, content_type = _multipart(Path(spec["path"]).read_bytes(), spec["name"], spec["mime"])
        bodies.append((body, content_type, spec["media"]))
    n, clients = conf["n"], conf["clients"]
    http = AsyncHTTPClient(force_instance=True, max_clients=clients)
    st: dict[str, Any] = {"next": 0, "t_start": None, "t_end": None, "answers": {}}
    latencies: list[float] = []
    errors: list[str] = []

    async def client(k: int) -> None:
        token = conf["tokens"][k % len(conf["tokens"])]
        while st["next"] < n and not errors:
            i = st["next"]
            st["next"] += 1
            body, content_type, media = bodies[i % len(bodies)]
            req = HTTPRequest(
                conf["url"],
                method="POST",
                body=body,
                headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
                connect_timeout=CONNECT_TIMEOUT,
                request_timeout=conf["timeout"],
            )
            t0 = time.time()
            if st["t_start"] is None:
                st["t_start"] = t0
            resp = await http.fetch(req, raise_error=False)
            t1 = time.time()
            if resp.code != 200:
                detail = resp.body[:300] if resp.body else resp.error
                errors.append(f"upload {i}: HTTP {resp.code} {detail!r}")
                return
            try:
                st["answers"].setdefault(media, _check_answer(resp.body, media))
            except ValueError as exc:
                errors.append(f"upload {i}: {exc}")
                return
            latencies.append(t1 - t0)
            st["t_end"] = t1

    cpu0 = time.process_time()
    try:
        await asyncio.wait_for(asyncio.gather(*(client(k) for k in range(clients))), conf["timeout"])
    except TimeoutError:
        errors.append(f"uploads timed out after {conf['timeout']:.0f}s: {len(latencies)}/{n} done")
    finally:
        http.close()
    st.update(latencies=latencies, cpu_s=time.process_time() - cpu0)
    if errors:
        st["error"] = errors[0]
    return st


async def _probe_send(conf: dict[str, Any], stop: Any) -> dict[str, Any]:
    """Send one 1:1 text message every ``interval`` s until ``stop``, then an end marker.
    Returns every send time and ack time, indexed by sequence number."""
    from tornado.websocket import WebSocketClosedError, websocket_connect

    sends: list[float] = []
    acks: dict[int, float] = {}
    failure: list[str] = []

    def on_message(msg: str | bytes | None) -> None:
        if msg is None:
            failure.append(f"chat sender socket closed: {conn.close_code} {conn.close_reason}")
            return
        frame = json.loads(msg)
        if frame.get("cmd") == CMD_ACK and str(frame.get("cmid", "")).startswith("p-"):
            acks[int(frame["cmid"][2:])] = time.time()
        elif frame.get("cmd") == CMD_ERROR:
            failure.append(f"server refused a chat frame: {frame}")

    def frame(content: str, cmid: str) -> str:
        return json.dumps(
            {"cmd": CMD_SINGLE, "dstid": conf["dstid"], "media": MEDIA_TEXT, "content": content, "cmid": cmid}
        )

    conn = await asyncio.wait_for(
        websocket_connect(conf["url"], on_message_callback=on_message), CONNECT_TIMEOUT
    )
    st: dict[str, Any] = {}
    cpu0 = time.process_time()
    try:
        deadline = time.monotonic() + conf["max_seconds"]
        interval = conf["interval"]
        next_at = time.monotonic()
        while not stop.is_set():
            if failure:
                raise ConnectionError(failure[0])
            if time.monotonic() > deadline:
                raise TimeoutError(f"no stop from the parent within {conf['max_seconds']:.0f}s")
            seq = len(sends)
            now = time.time()
            conn.write_message(frame(f"p {seq} {now:.6f}", f"p-{seq}"))
            sends.append(now)
            next_at += interval
            delay = next_at - time.monotonic()
            if delay < 0:  # we were late (a busy machine): no burst to catch up
                next_at, delay = time.monotonic(), 0.0
            await asyncio.sleep(delay)
        conn.write_message(frame(f"end {len(sends)} 0", "end"))
        drain_until = time.monotonic() + PROBE_DRAIN
        while len(acks) < len(sends) and time.monotonic() < drain_until and not failure:
            await asyncio.sleep(0.05)
        if failure:
            raise ConnectionError(failure[0])
    except (TimeoutError, ConnectionError, WebSocketClosedError) as exc:
        st["error"] = f"chat sender: {type(exc).__name__}: {exc}"
    finally:
        conn.close()
    st.update(sends=sends, acks=acks, cpu_s=time.process_time() - cpu0)
    return st


async def _probe_healthz(conf: dict[str, Any], stop: Any, samples: list[tuple[float, float]]) -> None:
    """GET /healthz every ``interval`` s until ``stop``, on schedule even while earlier ones
    are unanswered (a stall delays every request due in it, as with the chat messages).
    /healthz is answered on the IOLoop with no database and no thread pool, so its latency
    is the IOLoop's own delay (plus a TCP connect: the client does not keep connections)."""
    from tornado.httpclient import AsyncHTTPClient

    http = AsyncHTTPClient(force_instance=True, max_clients=1000)
    pending: set[asyncio.Task[None]] = set()
    failure: list[str] = []

    async def one() -> None:
        t0 = time.time()
        resp = await http.fetch(
            conf["healthz"], raise_error=False, connect_timeout=CONNECT_TIMEOUT, request_timeout=30
        )
        if resp.code != 200:
            failure.append(f"GET /healthz: HTTP {resp.code} {resp.error}")
        samples.append((t0, time.time() - t0))

    interval = conf["interval"]
    next_at = time.monotonic()
    try:
        while not stop.is_set():
            if failure:
                raise ConnectionError(failure[0])
            task = asyncio.get_running_loop().create_task(one())
            pending.add(task)
            task.add_done_callback(pending.discard)
            next_at += interval
            delay = next_at - time.monotonic()
            if delay < 0:
                next_at, delay = time.monotonic(), 0.0
            await asyncio.sleep(delay)
        if pending:
            await asyncio.wait(pending, timeout=35)
    finally:
        for task in pending:
            task.cancel()
        http.close()


async def _probe_receive(conf: dict[str, Any], ready: Any, first: Any, stop: Any) -> dict[str, Any]:
    """Note the arrival time of every probe message until the sender's end marker; probe
    /healthz meanwhile."""
    from tornado.websocket import websocket_connect

    loop = asyncio.get_running_loop()
    end: asyncio.Future[None] = loop.create_future()
    received: dict[int, float] = {}
    healthz: list[tuple[float, float]] = []

    def on_message(msg: str | bytes | None) -> None:
        if msg is None:
            if not end.done():
                end.set_exception(ConnectionError(f"socket closed: {conn.close_code} {conn.close_reason}"))
            return
        now = time.time()
        frame = json.loads(msg)
        if frame.get("cmd") != CMD_SINGLE:
            return
        tag, seq, _ = str(frame.get("content", "")).split(" ", 2)
        if tag == "p":
            received[int(seq)] = now
            if not first.is_set():
                first.set()
        elif tag == "end" and not end.done():
            end.set_result(None)

    conn = await asyncio.wait_for(
        websocket_connect(conf["url"], on_message_callback=on_message), CONNECT_TIMEOUT
    )
    ready.set()
    st: dict[str, Any] = {}
    cpu0 = time.process_time()
    health_task = loop.create_task(_probe_healthz(conf, stop, healthz))
    try:
        deadline = time.monotonic() + conf["max_seconds"]
        stopped_at = None
        while not end.done():
            await asyncio.wait([end], timeout=0.1)
            if health_task.done() and health_task.exception() is not None:
                raise ConnectionError(f"healthz probe: {health_task.exception()}")
            if stopped_at is None and stop.is_set():
                stopped_at = time.monotonic()
            if stopped_at is not None and time.monotonic() - stopped_at > PROBE_DRAIN + 5:
                raise TimeoutError("no end marker from the chat sender")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no stop from the parent within {conf['max_seconds']:.0f}s")
        end.result()
        await asyncio.wait_for(health_task, 35)
    except (TimeoutError, ConnectionError) as exc:
        st["error"] = f"chat receiver: {type(exc).__name__}: {exc}"
    finally:
        health_task.cancel()
        conn.close()
    st.update(received=received, healthz=healthz, cpu_s=time.process_time() - cpu0)
    return st


def _child(role: str, conf: dict[str, Any], events: tuple[Any, ...], out: Any) -> None:
    """Process entry point; puts the role's result dict on ``out``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    try:
        if role == "uploader":
            result = asyncio.run(_uploads(conf))
        elif role == "chat sender":
            result = asyncio.run(_probe_send(conf, *events))
        else:
            result = asyncio.run(_probe_receive(conf, *events))
    except BaseException as exc:  # report anything to the parent rather than die silently
        result = {"error": f"{role}: {type(exc).__name__}: {exc}"}
    out.put(result)


class Child:
    """One load-generator process and the queue it answers on."""

    def __init__(self, ctx: Any, role: str, conf: dict[str, Any], events: tuple[Any, ...] = ()) -> None:
        self.role = role
        self.out = ctx.Queue()
        self.proc = ctx.Process(target=_child, args=(role, conf, events, self.out), daemon=True, name=role)
        self.proc.start()

    def poll(self, timeout: float) -> dict[str, Any] | None:
        try:
            return self.out.get(timeout=timeout) if timeout > 0 else self.out.get_nowait()
        except queue.Empty:
            return None

    def stop(self, grace: float = 5.0) -> None:
        if self.proc.pid is not None:
            self.proc.join(grace)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)
        self.out.close()
        self.out.cancel_join_thread()


# --------------------------------------------------------------------------- the server run


def lat_stats(seconds: list[float], prefix: str) -> dict[str, float]:
    values = sorted(seconds)
    return {
        f"{prefix}_p50_ms": percentile(values, 50) * 1000,
        f"{prefix}_p90_ms": percentile(values, 90) * 1000,
        f"{prefix}_p99_ms": percentile(values, 99) * 1000,
        f"{prefix}_max_ms": (values[-1] * 1000) if values else float("nan"),
    }


def chat_window(sender: dict[str, Any], receiver: dict[str, Any], spans: list[tuple[float, float]]) -> dict:
    """Latency of the probe messages sent within any of ``spans`` (time.time() pairs)."""
    lat, ack = [], []
    sent = lost = 0
    for seq, at in enumerate(sender["sends"]):
        if not any(t0 <= at < t1 for t0, t1 in spans):
            continue
        sent += 1
        got = receiver["received"].get(seq)
        if got is None:
            lost += 1
        else:
            lat.append(got - at)
        if seq in sender["acks"]:
            ack.append(sender["acks"][seq] - at)
    health = [lag for at, lag in receiver["healthz"] if any(t0 <= at < t1 for t0, t1 in spans)]
    seconds = sum(t1 - t0 for t0, t1 in spans)
    return {
        "seconds": seconds,
        "messages": sent,
        "lost": lost,
        "send_rate_per_s": sent / seconds if seconds > 0 else float("nan"),
        **lat_stats(lat, "lat"),
        **lat_stats(ack, "ack"),
        "healthz_requests": len(health),
        **lat_stats(health, "healthz"),
    }


class Run:
    """The server, the chat probe and the phases, with everything stopped in ``close``."""

    def __init__(self, args: argparse.Namespace, tmp: Path, photo: Path, clip: Path) -> None:
        self.args = args
        self.photo, self.clip = photo, clip
        self.ctx = mp.get_context("spawn")
        self.children: list[Child] = []
        self.server: Server | None = None
        self.tmp = tmp
        self.tokens: list[str] = []

    # -- helpers ---------------------------------------------------------------------
    def check(self) -> None:
        """Raise BenchError if the server or a chat probe process has gone."""
        assert self.server is not None
        if self.server.proc.poll() is not None:
            raise BenchError(f"chatd exited ({self.server.proc.returncode}):\n" + self.server.log_tail())
        for child in self.children:
            if child.role.startswith("chat") and child.proc.exitcode is not None:
                res = child.poll(1.0) or {}
                raise BenchError(res.get("error") or f"{child.role} exited early ({child.proc.exitcode})")

    def wait_event(self, ev: Any, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not ev.wait(0.05):
            self.check()
            if time.monotonic() > deadline:
                raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}")

    def sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            time.sleep(min(0.1, left))
            self.check()

    def result(self, child: Child, timeout: float, tick: Callable[[], None] | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            res = child.poll(0.2)
            if res is not None:
                return res
            if tick is not None:
                tick()
            if child.proc.exitcode is not None:
                res = child.poll(1.0)
                if res is not None:
                    return res
                raise BenchError(f"{child.role} process died ({child.proc.exitcode}) without a result")
            self.check()
            if time.monotonic() > deadline:
                raise BenchError(f"{child.role}: no result within {timeout:.0f}s")

    def spawn(self, role: str, conf: dict[str, Any], events: tuple[Any, ...] = ()) -> Child:
        child = Child(self.ctx, role, conf, events)
        self.children.append(child)
        return child

    def uploads(
        self, files: list[dict[str, Any]], n: int, clients: int, tick: Callable[[], None] | None
    ) -> dict:
        assert self.server is not None
        conf = {
            "url": self.server.base + "/attach/upload",
            "files": files,
            "n": n,
            "clients": clients,
            "tokens": self.tokens,
            "timeout": self.args.timeout,
        }
        child = self.spawn("uploader", conf)
        try:
            res = self.result(child, self.args.timeout + 30, tick)
        finally:
            child.stop()
            self.children.remove(child)
        if "error" in res:
            raise BenchError(res["error"])
        return res

    # -- the run ---------------------------------------------------------------------
    def start(self) -> None:
        a = self.args
        extra = [
            # Limits that always fit the bench's files, whatever the defaults become.
            "--image-max-bytes", str(max(32 << 20, 2 * self.photo.stat().st_size)),
            "--voice-max-seconds", str(max(120, a.clip_seconds + 30)),
        ]  # fmt: skip
        if a.media_threads:
            extra += ["--media-threads", str(a.media_threads)]
        self.server = start_chatd(self.tmp, extra + a.chatd_arg)  # also lifts the send rate limit
        self.tokens = []
        for k in range(a.clients):
            user = api(
                self.server.base,
                "/user/register",
                {"mobile": f"1390000{k:04d}", "passwd": f"bench-upload-{k}-Zq8", "nickname": f"uploader{k}"},
            )
            self.tokens.append(str(user["token"]))

    def measure(self) -> dict[str, Any]:
        a, server = self.args, self.server
        assert server is not None
        (sender_id, sender_token), (receiver_id, receiver_token) = server.users
        photo = {"path": str(self.photo), "name": "IMG_0001.jpg", "mime": "image/jpeg", "media": MEDIA_IMAGE}
        clip = {"path": str(self.clip), "name": "voice.webm", "mime": "audio/webm", "media": MEDIA_VOICE}

        # The chat probe runs through everything that follows.
        print("  starting the chat probe ...", file=sys.stderr)
        max_seconds = 3 * a.timeout + a.baseline_seconds + 120
        ready, first, stop = self.ctx.Event(), self.ctx.Event(), self.ctx.Event()
        probe_conf = {"max_seconds": max_seconds}
        receiver = self.spawn(
            "chat receiver",
            {
                **probe_conf,
                "url": ws_url(server.port, receiver_id, receiver_token),
                "healthz": server.base + "/healthz",
                "interval": a.interval_ms / 1000,
            },
            (ready, first, stop),
        )
        self.wait_event(ready, "the chat receiver to connect", CONNECT_TIMEOUT + 30)
        sender = self.spawn(
            "chat sender",
            {**probe_conf, "url": ws_url(server.port, sender_id, sender_token), "dstid": receiver_id,
             "interval": a.interval_ms / 1000},
            (stop,),
        )  # fmt: skip
        self.wait_event(first, "the first chat delivery", CONNECT_TIMEOUT + 30)

        # Warm-up: the first upload of each kind per media thread (libmagic, Pillow plugins).
        if a.warmup:
            print(f"  warm-up: {a.warmup} image + {a.warmup} voice uploads ...", file=sys.stderr)
            self.uploads([photo, clip], 2 * a.warmup, min(a.clients, 2 * a.warmup), None)

        print(f"  chat idle window: {a.baseline_seconds:g}s ...", file=sys.stderr)
        idle_cpu0, idle0 = cpu_seconds(server.proc.pid, children=True), time.time()
        self.sleep(a.baseline_seconds)
        idle1, idle_cpu1 = time.time(), cpu_seconds(server.proc.pid, children=True)
        idle_cpu_per_s = (idle_cpu1 - idle_cpu0) / (idle1 - idle0)

        phases: dict[str, Any] = {}
        for kind, spec, n in (("image", photo, a.images), ("voice", clip, a.voices)):
            print(f"  {kind}: {n} uploads, {a.clients} clients ...", file=sys.stderr)
            peak = [rss_mib(server.proc.pid)]

            def tick(peak: list[float] = peak) -> None:
                peak[0] = max(peak[0], rss_mib(server.proc.pid))

            cpu0, wall0 = cpu_seconds(server.proc.pid, children=True), time.time()
            res = self.uploads([spec], n, a.clients, tick)
            wall1, cpu1 = time.time(), cpu_seconds(server.proc.pid, children=True)
            wall = res["t_end"] - res["t_start"]
            cpu = cpu1 - cpu0
            # The chat probe keeps running: take off what it cost the server when idle.
            net = max(0.0, cpu - idle_cpu_per_s * (wall1 - wall0))
            lat = lat_stats(res["latencies"], "lat")
            answer = dict(res["answers"].get(spec["media"], {}))
            if "waveform" in answer:
                answer["waveform"] = f"{len(answer['waveform'])} peaks"
            phases[kind] = {
                "n": n,
                "clients": a.clients,
                "per_s": n / wall,
                **lat,
                "server_cpu_s": cpu,
                "server_cpu_ms_each": net / n * 1000,
                "server_cpu_ms_each_gross": cpu / n * 1000,
                "server_cpu_util": cpu / max(1e-9, wall1 - wall0),
                "server_rss_peak_mib": peak[0],
                "client_cpu_s": res["cpu_s"],
                "wall_s": wall,
                "span": (res["t_start"], res["t_end"]),
                "answer": answer,
            }
            print(
                f"    {n / wall:.2f}/s, latency median {lat['lat_p50_ms']:.0f} ms, "
                f"server CPU {net / n * 1000:.0f} ms each",
                file=sys.stderr,
            )

        print("  stopping the chat probe ...", file=sys.stderr)
        stop.set()
        snd = self.result(sender, RESULT_TIMEOUT + PROBE_DRAIN)
        if "error" in snd:
            raise BenchError(snd["error"])
        rcv = self.result(receiver, RESULT_TIMEOUT + PROBE_DRAIN)
        if "error" in rcv:
            raise BenchError(rcv["error"])
        spans = {kind: [phases[kind]["span"]] for kind in phases}
        chat = {
            "idle": chat_window(snd, rcv, [(idle0, idle1)]),
            "image": chat_window(snd, rcv, spans["image"]),
            "voice": chat_window(snd, rcv, spans["voice"]),
            "uploads": chat_window(snd, rcv, spans["image"] + spans["voice"]),
        }
        idle, loaded = chat["idle"], chat["uploads"]
        chat["ratio_uploads_over_idle"] = {
            key: (loaded[key] / idle[key]) if idle[key] else None for key in RATIO_KEYS
        }
        chat["interval_ms"] = a.interval_ms
        chat["idle_server_cpu_per_s"] = idle_cpu_per_s
        chat["sender_cpu_s"], chat["receiver_cpu_s"] = snd["cpu_s"], rcv["cpu_s"]
        for phase in phases.values():
            phase["span"] = list(phase["span"])
        return {"uploads": phases, "chat": chat}

    def close(self) -> None:
        for child in self.children:
            child.stop(grace=0)
        self.children.clear()
        if self.server is not None:
            self.server.stop()


# --------------------------------------------------------------------------- report


def _no_nan(value: Any) -> Any:
    """NaN (a figure with no samples) as null: JSON has no NaN."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_no_nan(v) for v in value]
    return value


def fmt(value: Any, spec: str) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    return spec.format(value)


def print_table(report: dict[str, Any]) -> None:
    p, m, media = report["params"], report["machine"], report["media"]
    print(
        f"\nmedia benchmark: {m['cpus']} CPUs, load average {m['loadavg_before']:.2f} before, "
        f"{m['loadavg_after']:.2f} after; media threads "
        f"{p['media_threads'] or 'default'}, {p['clients']} upload clients"
    )
    print(
        f"  photo {media['photo']['width']}x{media['photo']['height']} JPEG q90 "
        f"{media['photo']['bytes'] / 1e6:.2f} MB (EXIF orientation 6);  "
        f"clip {media['clip']['seconds']:g} s WebM/Opus {media['clip']['bytes'] / 1e3:.0f} kB"
    )
    micro, up = report.get("micro") or {}, report.get("uploads") or {}
    kinds = ("image", "voice")
    rows: list[tuple[str, Callable[[str], str]]] = []
    if micro:
        rows += [
            (
                f"in-process, 1 thread, per s (x{p['micro_repeat']})",
                lambda k: fmt(micro[k]["per_s"], "{:.2f}"),
            ),
            ("  CPU per item, ms", lambda k: fmt(micro[k]["cpu_ms_each"], "{:.0f}")),
        ]
    if up:
        rows += [
            ("server: uploads", lambda k: str(up[k]["n"])),
            ("  uploads per s", lambda k: fmt(up[k]["per_s"], "{:.2f}")),
            ("  upload latency median, ms", lambda k: fmt(up[k]["lat_p50_ms"], "{:.0f}")),
            ("  upload latency p90, ms", lambda k: fmt(up[k]["lat_p90_ms"], "{:.0f}")),
            ("  server CPU per upload, ms (1)", lambda k: fmt(up[k]["server_cpu_ms_each"], "{:.0f}")),
            ("  server CPU / wall", lambda k: fmt(up[k]["server_cpu_util"], "{:.2f}")),
            ("  server RSS peak, MiB", lambda k: fmt(up[k]["server_rss_peak_mib"], "{:.0f}")),
        ]
    if micro and up:
        rows += [
            ("  uploads/s over in-process/s", lambda k: fmt(up[k]["per_s"] / micro[k]["per_s"], "{:.2f}")),
            (
                "  server CPU over in-process CPU",
                lambda k: fmt(up[k]["server_cpu_ms_each"] / micro[k]["cpu_ms_each"], "{:.2f}"),
            ),
        ]
    print(f"\n{'':40}{'images':>12}{'voice':>12}")
    for label, cell in rows:
        print(f"{label:40}" + "".join(f"{cell(k):>12}" for k in kinds))
    if up:
        print(
            "  (1) minus what the chat probe cost the server in the idle window "
            f"(with it: {up['image']['server_cpu_ms_each_gross']:.0f} / "
            f"{up['voice']['server_cpu_ms_each_gross']:.0f} ms)"
        )
        for kind in kinds:
            ans = up[kind]["answer"]
            if kind == "image":
                what = f"{ans.get('width')}x{ans.get('height')}"
            else:
                what = f"{ans.get('amount')} s"
            what = f"stored {what} {ans.get('mime')}, {ans.get('size')} bytes"
            print(f"  {kind}: {what}; client process CPU {up[kind]['client_cpu_s']:.2f}s")

    chat = report.get("chat")
    if not chat:
        return
    cols = (("idle", "idle"), ("image", "images"), ("voice", "voice"), ("uploads", "all uploads"))
    print(f"\nchat latency while uploading (1:1 text every {chat['interval_ms']:g} ms, send -> deliver)")
    print(f"{'':24}" + "".join(f"{title:>12}" for _, title in cols) + f"{'uploads/idle':>14}")
    ratio = chat["ratio_uploads_over_idle"]
    for key, label, spec in (
        ("messages", "messages", "{:d}"),
        ("lost", "lost", "{:d}"),
        ("lat_p50_ms", "deliver median, ms", "{:.2f}"),
        ("lat_p99_ms", "deliver p99, ms", "{:.2f}"),
        ("lat_max_ms", "deliver max, ms", "{:.2f}"),
        ("ack_p50_ms", "ack median, ms", "{:.2f}"),
        ("ack_p99_ms", "ack p99, ms", "{:.2f}"),
        ("healthz_p50_ms", "GET /healthz median, ms", "{:.2f}"),
        ("healthz_p99_ms", "GET /healthz p99, ms", "{:.2f}"),
        ("healthz_max_ms", "GET /healthz max, ms", "{:.2f}"),
    ):
        line = f"{label:24}" + "".join(f"{fmt(chat[col][key], spec):>12}" for col, _ in cols)
        if key in ratio:
            line += f"{fmt(ratio[key], '{:.2f}'):>14}"
        print(line)
    print(
        f"  server CPU in the idle window (the probe alone) {chat['idle_server_cpu_per_s'] * 1000:.0f} ms/s; "
        f"probe CPU sender {chat['sender_cpu_s']:.2f}s receiver {chat['receiver_cpu_s']:.2f}s"
    )


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="chatd media benchmark: image/voice uploads per second, and chat latency while they run"
    )
    parser.add_argument("--images", type=int, help="measured image uploads (default 40, --quick 6)")
    parser.add_argument("--voices", type=int, help="measured voice uploads (default 20, --quick 4)")
    parser.add_argument("-c", "--clients", type=int, default=4, help="concurrent upload clients (default 4)")
    parser.add_argument("--quick", action="store_true", help="small N for a smoke run (well under a minute)")
    parser.add_argument(
        "--baseline-seconds", type=float, help="chat idle window before the uploads (default 5, --quick 2)"
    )
    parser.add_argument(
        "--interval-ms", type=float, default=20.0, help="ms between chat messages (default 20)"
    )
    parser.add_argument(
        "--warmup", type=int, help="unmeasured uploads of each kind before measuring (default 2, --quick 1)"
    )
    parser.add_argument(
        "--micro-repeat", type=int, help="in-process calls per kind, after one untimed (default 5, --quick 1)"
    )
    parser.add_argument("--no-micro", action="store_true", help="skip the in-process figure")
    parser.add_argument("--no-server", action="store_true", help="only the in-process figure")
    parser.add_argument("--photo", default="4000x3000", help="photo size WxH (default 4000x3000)")
    parser.add_argument("--clip-seconds", type=float, default=30.0, help="voice clip length (default 30)")
    parser.add_argument("--media-threads", type=int, help="chatd --media-threads (default: chatd's default)")
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds allowed per upload phase (default 300)"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    parser.add_argument(
        "--keep", action="store_true", help="keep the temp dir (server log, database, uploads)"
    )
    parser.add_argument(
        "--chatd-arg", action="append", default=[], metavar="ARG",
        help="extra argument for python -m server, repeatable (e.g. --chatd-arg=--sqlite-synchronous=normal)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    for name, full, quick in (
        ("images", 40, 6),
        ("voices", 20, 4),
        ("baseline_seconds", 5.0, 2.0),
        ("warmup", 2, 1),
        ("micro_repeat", 5, 1),
    ):
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    try:
        width, height = (int(v) for v in args.photo.lower().split("x"))
    except ValueError:
        parser.error("--photo must be WxH, e.g. 4000x3000")
    if min(args.images, args.voices, args.clients, args.micro_repeat, width, height) < 1 or args.warmup < 0:
        parser.error("counts, --clients, --micro-repeat and the photo size must be >= 1, --warmup >= 0")
    if args.baseline_seconds <= 0 or args.interval_ms <= 0 or args.clip_seconds <= 0:
        parser.error("--baseline-seconds, --interval-ms and --clip-seconds must be > 0")

    # SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C, so the finally blocks stop everything.
    signal.signal(signal.SIGTERM, raise_interrupt)
    load_before = os.getloadavg()[0]
    if load_before > 0.5:
        print(
            f"warning: load average {load_before:.2f} before the run: something else is using the CPU, "
            "figures will be noisy",
            file=sys.stderr,
        )
    report: dict[str, Any] = {
        "params": {k: getattr(args, k) for k in PARAMS},
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "loadavg_before": load_before},
        "errors": [],
    }
    tmp = Path(tempfile.mkdtemp(prefix="chatd-bench-media-"))
    run = None
    t_begin = time.monotonic()
    try:
        media_dir = tmp / "media"
        media_dir.mkdir()
        photo, clip = media_dir / "photo.jpg", media_dir / "clip.webm"
        print(f"making a {width}x{height} photo and a {args.clip_seconds:g} s clip ...", file=sys.stderr)
        make_photo(photo, width, height)
        make_clip(clip, args.clip_seconds)
        report["media"] = {
            "photo": {"width": width, "height": height, "bytes": photo.stat().st_size},
            "clip": {"seconds": args.clip_seconds, "bytes": clip.stat().st_size},
        }
        if not args.no_micro:
            print(f"in-process: process_image / process_voice x{args.micro_repeat} ...", file=sys.stderr)
            report["micro"] = run_micro(photo, clip, args.micro_repeat)
        if not args.no_server:
            print(f"chatd on {HOST}: starting ...", file=sys.stderr)
            run = Run(args, tmp, photo, clip)
            try:
                run.start()
                report.update(run.measure())
            except BenchError as exc:
                report["errors"].append(str(exc))
                print(f"  failed: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted: server and load processes stopped", file=sys.stderr)
        return 130
    except BenchError as exc:
        report["errors"].append(str(exc))
        print(f"failed: {exc}", file=sys.stderr)
    finally:
        if run is not None:
            run.close()
        if args.keep:
            print(f"  kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    report["machine"]["loadavg_after"] = os.getloadavg()[0]
    report["wall_s"] = time.monotonic() - t_begin
    if args.json:
        print(json.dumps(_no_nan(report), indent=2))
    elif "media" in report:
        print_table(report)
    for err in report["errors"]:
        print(f"FAILED: {err}")
    return 1 if report["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
