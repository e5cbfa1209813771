"""Relay benchmark: 1:1 text messages through chatd, as a ratio against a plain Tornado relay.

For each target (``bench/baseline_relay.py``, then the real chatd) this script starts the
server as a subprocess on a free loopback port, (chatd only) registers two users and makes
them friends over HTTP, then drives it from two load-generator processes:

- process A, the sender (user 1): sends N text messages to user 2, keeping at most W of
  them unacked (ack = ``{"cmd": 12, "cmid": ...}``);
- process B, the receiver (user 2): counts the message frames (cmd 10) until N, and takes
  each one's latency from the send time written into its ``content``.

A warm-up batch goes through first and is not measured. Server CPU time (utime + stime of
its whole process group, from /proc) and RSS are read around the measured part.

    .venv/bin/python bench/relay_bench.py                 # both targets, table with ratios
    .venv/bin/python bench/relay_bench.py --only baseline -n 5000
    .venv/bin/python bench/relay_bench.py --json          # machine-readable, on stdout

Exit status: 0 when every requested target ran, 1 when one failed (its reason is printed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
HOST = "127.0.0.1"  # loopback only

CMD_SINGLE = 10
CMD_ACK = 12
CMD_ERROR = 13
MEDIA_TEXT = 1

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

# Timeouts, in seconds. Every wait in this script has one.
START_TIMEOUT = 30.0  # server up (chatd may create its database)
HTTP_TIMEOUT = 10.0
CONNECT_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0  # SIGTERM -> exit, before SIGKILL


class BenchError(Exception):
    """A target could not be measured; the message says why."""


# --------------------------------------------------------------------------- /proc


def _group_pids(pgid: int) -> list[int]:
    """Live pids in process group ``pgid`` (the server and any workers it forked)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(rest[2]) == pgid:  # field 5, pgrp
            pids.append(int(entry))
    return pids


def cpu_seconds(pgid: int, children: bool = False) -> float:
    """utime + stime of every live process in the group, in seconds (from /proc/PID/stat).

    With ``children``, also the cutime + cstime of each: the CPU of child processes that
    have exited and been waited for (e.g. an ffmpeg run by the server), which no longer
    appear in /proc on their own."""
    total = 0
    for pid in _group_pids(pgid):
        try:
            with open(f"/proc/{pid}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(rest[11]) + int(rest[12])  # fields 14, 15: utime, stime (clock ticks)
        if children:
            total += int(rest[13]) + int(rest[14])  # fields 16, 17: cutime, cstime
    return total / CLK_TCK


def rss_mib(pgid: int) -> float:
    """Resident set size of the process group, MiB (from /proc/PID/statm)."""
    total = 0
    for pid in _group_pids(pgid):
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1])
        except (OSError, IndexError):
            continue
    return total * PAGE_SIZE / (1024 * 1024)


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


# urllib honours http_proxy; the servers are on loopback, so never use a proxy.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def api(base: str, path: str, body: dict[str, Any], token: str | None = None) -> Any:
    """POST JSON to chatd, return ``data`` of a ``code: 0`` envelope or raise BenchError."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with _OPENER.open(req, timeout=HTTP_TIMEOUT) as resp:
            envelope = json.load(resp)
    except urllib.error.HTTPError as exc:
        raise BenchError(f"POST {path}: HTTP {exc.code} {exc.read()[:300]!r}") from None
    except (OSError, ValueError) as exc:
        raise BenchError(f"POST {path}: {exc}") from None
    if envelope.get("code") != 0:
        raise BenchError(f"POST {path}: {envelope}")
    return envelope.get("data")


class Server:
    """One server subprocess in its own process group, with its log in a temp dir."""

    def __init__(self, name: str, argv: list[str], tmp: Path, env: dict[str, str]) -> None:
        self.name = name
        self.port = int(argv[argv.index("--port") + 1])
        self.base = f"http://{HOST}:{self.port}"
        self.log_path = tmp / f"{name}.log"
        self.users: list[tuple[int, str]] = []  # (id, token) of sender, receiver
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: CPU/RSS of workers too, one kill
            )

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join("    | " + line for line in text[-lines:])

    def wait_ready(self, probe: Callable[[], bool]) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(
                    f"{self.name} exited with status {self.proc.returncode} before it was ready:\n"
                    + self.log_tail()
                )
            if probe():
                return
            time.sleep(0.1)
        raise BenchError(f"{self.name} not ready after {START_TIMEOUT:.0f}s:\n" + self.log_tail())

    def port_open(self) -> bool:
        try:
            with socket.create_connection((HOST, self.port), timeout=1):
                return True
        except OSError:
            return False

    def healthz(self) -> bool:
        try:
            with _OPENER.open(self.base + "/healthz", timeout=2) as resp:
                return resp.status == 200 and json.load(resp).get("status") == "ok"
        except (OSError, ValueError):
            return False

    def stop(self) -> None:
        """SIGTERM the server's process group, SIGKILL it if it outlives STOP_TIMEOUT."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                print(f"  {self.name} ignored SIGTERM for {STOP_TIMEOUT:.0f}s: killed", file=sys.stderr)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # also any worker left behind
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass


def start_baseline(tmp: Path) -> Server:
    port = free_port()
    argv = [sys.executable, str(BENCH_DIR / "baseline_relay.py"), "--host", HOST, "--port", str(port)]
    server = Server("baseline", argv, tmp, dict(os.environ))
    try:
        server.wait_ready(server.port_open)
    except BaseException:
        server.stop()
        raise
    # The relay does no auth: any ids will do, tokens are ignored.
    server.users = [(1, ""), (2, "")]
    return server


def chatd_command(
    tmp: Path, port: int, extra_args: list[str], database: str | None = None
) -> tuple[list[str], dict[str, str]]:
    """argv and environment of chatd on its defaults, in ``tmp`` (database ``tmp/chat.db``
    unless ``database`` names another URL), with only the send limit lifted;
    bench/scenarios.py starts it the same way."""
    upload = tmp / "up"
    upload.mkdir(exist_ok=True)
    config = tmp / "bench.ini"  # empty: the defaults, not whatever config/chatd.ini says
    config.write_text("")
    argv = [
        sys.executable, "-m", "server",
        "--config", str(config),
        "--host", HOST,
        "--port", str(port),
        "--database", database or f"sqlite:///{tmp / 'chat.db'}",
        "--upload-dir", str(upload),
        # The per-user send limit (20/s by default) would otherwise refuse almost every
        # benchmark message with cmd 13; this measures the relay, not the limiter.
        "--send-rate", "100000",
        "--send-burst", "1000000",
        "--registration", "open",  # the load generator registers its users directly
        *extra_args,
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATD_")}
    return argv, env


def start_chatd(tmp: Path, extra_args: list[str]) -> Server:
    argv, env = chatd_command(tmp, free_port(), extra_args)
    server = Server("chatd", argv, tmp, env)
    try:
        server.wait_ready(server.healthz)
        for i in (1, 2):
            user = api(
                server.base,
                "/user/register",
                {"mobile": f"1380000000{i}", "passwd": f"bench-pass-{i}-Zq8", "nickname": f"bench{i}"},
            )
            server.users.append((int(user["id"]), str(user["token"])))
        api(server.base, "/contact/addfriend", {"dstid": server.users[1][0]}, token=server.users[0][1])
        api(server.base, "/contact/accept", {"dstid": server.users[0][0]}, token=server.users[1][1])
    except BaseException:
        server.stop()
        raise
    return server


# --------------------------------------------------------------------------- load generator
# These functions run in their own processes (multiprocessing "spawn"), never in the server.


def ws_url(port: int, user_id: int, token: str) -> str:
    url = f"ws://{HOST}:{port}/chat?id={user_id}"
    return url + f"&token={token}" if token else url


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


async def _receive(conf: dict[str, Any], ready: Any, warm: Any, go: Any) -> dict[str, Any]:
    from tornado.websocket import websocket_connect

    n, warmup = conf["n"], conf["warmup"]
    loop = asyncio.get_running_loop()
    warm_done: asyncio.Future[None] = loop.create_future()
    done: asyncio.Future[None] = loop.create_future()
    st: dict[str, Any] = {"got": 0, "got_warm": 0, "other": 0, "t_first": None, "t_last": None}
    latencies: list[float] = []

    def on_message(msg: str | bytes | None) -> None:
        if msg is None:
            exc = ConnectionError(f"receiver socket closed: {conn.close_code} {conn.close_reason}")
            for fut in (warm_done, done):
                if not fut.done():
                    fut.set_exception(exc)
            return
        now = time.time()
        frame = json.loads(msg)
        if frame.get("cmd") != CMD_SINGLE:
            st["other"] += 1
            return
        # content = "<phase> <i> <send time> <padding>"
        try:
            phase, index, sent_at, _ = frame["content"].split(" ", 3)
            sent = float(sent_at)
        except (KeyError, AttributeError, ValueError):
            st["other"] += 1
            return
        if phase == "w":
            # Messages arrive in order, so the last warm-up one means the warm-up is over.
            # Not a count: the server may register a new socket only after the handshake,
            # and a warm-up message racing that is stored but not pushed live.
            st["got_warm"] += 1
            if index == str(warmup - 1) and not warm_done.done():
                warm_done.set_result(None)
            return
        latencies.append(now - sent)
        st["got"] += 1
        if st["t_first"] is None:
            st["t_first"] = now
        st["t_last"] = now
        if st["got"] >= n and not done.done():
            done.set_result(None)

    conn = await asyncio.wait_for(
        websocket_connect(conf["url"], on_message_callback=on_message, max_message_size=16 * 1024 * 1024),
        CONNECT_TIMEOUT,
    )
    ready.set()
    try:
        await asyncio.wait_for(warm_done, conf["timeout"])
        warm.set()
        if not await loop.run_in_executor(None, go.wait, conf["timeout"]):
            raise TimeoutError("no go from the parent")
        cpu0 = time.process_time()
        await asyncio.wait_for(done, conf["timeout"])
        st["cpu_s"] = time.process_time() - cpu0
    except TimeoutError:
        st["error"] = (
            f"receiver timed out after {conf['timeout']:.0f}s: "
            f"{st['got_warm']}/{warmup} warm-up and {st['got']}/{n} messages received"
        )
    except ConnectionError as exc:
        st["error"] = f"{exc} after {st['got']}/{n} messages"
    finally:
        conn.close()
    latencies.sort()
    st.update(
        count=len(latencies),
        lat_p50_ms=percentile(latencies, 50) * 1000,
        lat_p90_ms=percentile(latencies, 90) * 1000,
        lat_p99_ms=percentile(latencies, 99) * 1000,
        lat_max_ms=(latencies[-1] * 1000) if latencies else float("nan"),
    )
    return st


async def _send(conf: dict[str, Any], warm: Any, go: Any) -> dict[str, Any]:
    from tornado.websocket import WebSocketClosedError, websocket_connect

    n, warmup, window = conf["n"], conf["warmup"], conf["window"]
    loop = asyncio.get_running_loop()
    st: dict[str, Any] = {
        "sent": 0,
        "acked": 0,
        "refused": 0,
        "other": 0,
        "t_start": None,
        "t_last_ack": None,
    }
    progress = asyncio.Event()  # set on every ack / refusal / close
    failure: list[str] = []

    def on_message(msg: str | bytes | None) -> None:
        if msg is None:
            failure.append(f"sender socket closed: {conn.close_code} {conn.close_reason}")
            progress.set()
            return
        frame = json.loads(msg)
        cmd = frame.get("cmd")
        if cmd == CMD_ACK:
            st["acked"] += 1
            st["t_last_ack"] = time.time()
            progress.set()
        elif cmd == CMD_ERROR:
            # A refused frame means we measure the wrong thing (e.g. the rate limiter): stop.
            st["refused"] += 1
            failure.append(f"server refused a frame: {frame}")
            progress.set()
        else:
            st["other"] += 1

    async def wait_until(pred: Callable[[], bool]) -> None:
        while not pred():
            if failure:
                raise ConnectionError(failure[0])
            progress.clear()
            await progress.wait()
        if failure:
            raise ConnectionError(failure[0])

    async def phase(tag: str, count: int) -> None:
        pad = "x" * max(0, conf["size"] - 32)
        for i in range(count):
            if st["sent"] - st["acked"] >= window:
                await wait_until(lambda: st["sent"] - st["acked"] < window)
            content = f"{tag} {i} {time.time():.6f} {pad}"
            frame = {
                "cmd": CMD_SINGLE,
                "dstid": conf["dstid"],
                "media": MEDIA_TEXT,
                "content": content,
                "cmid": f"{tag}-{i}",
            }
            if failure:
                raise ConnectionError(failure[0])
            # Not awaited: the window is the flow control, and the loop runs (reads acks)
            # whenever the window is full.
            conn.write_message(json.dumps(frame))
            st["sent"] += 1
        await wait_until(lambda: st["acked"] >= st["sent"])

    conn = await asyncio.wait_for(
        websocket_connect(conf["url"], on_message_callback=on_message, max_message_size=16 * 1024 * 1024),
        CONNECT_TIMEOUT,
    )
    try:
        await asyncio.wait_for(phase("w", warmup), conf["timeout"])
        st["acked"] = st["sent"] = 0
        warm.set()
        # Wait (off the loop) for the parent to read the server's CPU counter and say go.
        if not await loop.run_in_executor(None, go.wait, conf["timeout"]):
            raise TimeoutError("no go from the parent")
        st["t_start"] = time.time()
        cpu0 = time.process_time()
        await asyncio.wait_for(phase("b", n), conf["timeout"])
        st["cpu_s"] = time.process_time() - cpu0
    except TimeoutError:
        st["error"] = f"sender timed out after {conf['timeout']:.0f}s: {st['acked']}/{n} acked"
    except (ConnectionError, WebSocketClosedError) as exc:
        st["error"] = f"{type(exc).__name__}: {exc} ({st['acked']}/{n} acked)"
    finally:
        conn.close()
    return st


def _child(role: str, conf: dict[str, Any], events: tuple[Any, ...], out: Any) -> None:
    """Process entry point for the sender or the receiver; puts (role, result) on ``out``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    try:
        if role == "sender":
            result = asyncio.run(_send(conf, *events))
        else:
            result = asyncio.run(_receive(conf, *events))
    except BaseException as exc:  # report anything to the parent rather than die silently
        result = {"error": f"{role}: {type(exc).__name__}: {exc}"}
    out.put((role, result))


# --------------------------------------------------------------------------- one run


def run_load(server: Server, args: argparse.Namespace) -> dict[str, Any]:
    """Drive ``server`` with the two load processes; return the measured figures."""
    (sender_id, sender_token), (receiver_id, receiver_token) = server.users
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    r_ready, r_warm, s_warm, go = ctx.Event(), ctx.Event(), ctx.Event(), ctx.Event()
    common = {"n": args.n, "warmup": args.warmup, "timeout": args.timeout}
    receiver = ctx.Process(
        target=_child,
        args=(
            "receiver",
            {**common, "url": ws_url(server.port, receiver_id, receiver_token)},
            (r_ready, r_warm, go),
            out,
        ),
        daemon=True,
    )
    sender = ctx.Process(
        target=_child,
        args=(
            "sender",
            {**common, "url": ws_url(server.port, sender_id, sender_token), "dstid": receiver_id,
             "window": args.window, "size": args.size},
            (s_warm, go),
            out,
        ),
        daemon=True,
    )  # fmt: skip
    results: dict[str, dict[str, Any]] = {}
    finished = False

    def drain(block_until: float | None = None) -> None:
        while True:
            timeout = 0.0 if block_until is None else max(0.0, block_until - time.monotonic())
            try:
                role, res = out.get(timeout=timeout) if timeout > 0 else out.get_nowait()
            except Exception:  # queue.Empty
                return
            results[role] = res
            if block_until is not None and (len(results) == 2 or "error" in res):
                return

    def wait_for(ev: Any, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not ev.wait(0.05):
            drain()
            for res in results.values():
                if "error" in res:
                    raise BenchError(f"{server.name}: {res['error']}")
            for proc in (receiver, sender):
                if proc.exitcode not in (None, 0):
                    raise BenchError(f"{server.name}: load process died ({proc.exitcode}) waiting for {what}")
            if server.proc.poll() is not None:
                raise BenchError(f"{server.name} exited ({server.proc.returncode}):\n" + server.log_tail())
            if time.monotonic() > deadline:
                raise BenchError(f"{server.name}: timed out waiting for {what}")

    try:
        receiver.start()
        wait_for(r_ready, "the receiver to connect", CONNECT_TIMEOUT + 20)
        sender.start()
        wait_for(s_warm, "the warm-up acks", args.timeout + 20)
        wait_for(r_warm, "the warm-up deliveries", args.timeout)
        cpu0 = cpu_seconds(server.proc.pid)
        wall0 = time.time()
        go.set()
        drain(block_until=time.monotonic() + args.timeout + 10)
        wall1 = time.time()
        cpu1 = cpu_seconds(server.proc.pid)
        rss = rss_mib(server.proc.pid)
        server_alive = server.proc.poll() is None
        finished = True
    finally:
        for proc in (sender, receiver):
            if proc.pid is not None:
                proc.join(5 if finished else 0)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
        out.close()

    for res in results.values():
        if "error" in res:
            tail = "" if server_alive else "\n" + server.log_tail()
            raise BenchError(f"{server.name}: {res['error']}{tail}")
    snd, rcv = results.get("sender"), results.get("receiver")
    if snd is None or rcv is None:
        missing = [r for r in ("sender", "receiver") if r not in results]
        raise BenchError(f"{server.name}: no result from {', '.join(missing)} within {args.timeout:.0f}s")
    send_wall = snd["t_last_ack"] - snd["t_start"]
    recv_wall = rcv["t_last"] - snd["t_start"]
    cpu = cpu1 - cpu0
    return {
        "acked_per_s": args.n / send_wall,
        "delivered_per_s": args.n / recv_wall,
        "lat_p50_ms": rcv["lat_p50_ms"],
        "lat_p90_ms": rcv["lat_p90_ms"],
        "lat_p99_ms": rcv["lat_p99_ms"],
        "lat_max_ms": rcv["lat_max_ms"],
        "server_cpu_s": cpu,
        "server_cpu_us_per_msg": cpu / args.n * 1e6,
        "server_cpu_util": cpu / max(1e-9, wall1 - wall0),
        "server_rss_mib": rss,
        "sender_cpu_s": snd["cpu_s"],
        "receiver_cpu_s": rcv["cpu_s"],
        "wall_s": max(send_wall, recv_wall),
    }


def run_target(name: str, args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix=f"chatd-bench-{name}-"))
    server = None
    try:
        server = start_baseline(tmp) if name == "baseline" else start_chatd(tmp, args.chatd_arg)
        return run_load(server, args)
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            print(f"  kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------- report

# (key, label, format, better): the rows of the table, "higher" or "lower" is better.
ROWS = [
    ("acked_per_s", "acked msg/s (sender)", "{:,.0f}", "higher"),
    ("delivered_per_s", "delivered msg/s (receiver)", "{:,.0f}", "higher"),
    ("lat_p50_ms", "latency median, ms", "{:.2f}", "lower"),
    ("lat_p99_ms", "latency p99, ms", "{:.2f}", "lower"),
    ("server_cpu_s", "server CPU, s", "{:.2f}", "lower"),
    ("server_cpu_us_per_msg", "server CPU per msg, us", "{:.1f}", "lower"),
    ("server_cpu_util", "server CPU / wall", "{:.2f}", "lower"),
    ("server_rss_mib", "server RSS after, MiB", "{:.1f}", "lower"),
]


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median of every figure over the repeats."""
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def print_table(
    summary: dict[str, dict[str, Any]],
    runs: dict[str, list[dict[str, Any]]],
    errors: dict[str, str],
    args: argparse.Namespace,
) -> None:
    names = [t for t in ("baseline", "chatd") if t in summary]
    print(
        f"\nrelay benchmark: n={args.n} window={args.window} size={args.size} "
        f"warmup={args.warmup} repeat={args.repeat} (medians over repeats)"
    )
    if not names:
        for name, err in errors.items():
            print(f"  {name}: FAILED: {err}")
        return
    header = f"{'':28}" + "".join(f"{n:>14}" for n in names)
    both = "baseline" in summary and "chatd" in summary
    if both:
        header += f"{'chatd/baseline':>17}  better"
    print(header)
    for key, label, fmt, better in ROWS:
        line = f"{label:28}" + "".join(f"{fmt.format(summary[n][key]):>14}" for n in names)
        if both:
            base = summary["baseline"][key]
            ratio = summary["chatd"][key] / base if base else float("nan")
            line += f"{ratio:>17.2f}  {better}"
        print(line)
    for name in names:
        s = summary[name]
        if len(runs[name]) > 1:
            rates = [r["acked_per_s"] for r in runs[name]]
            print(f"  {name}: acked msg/s over {len(rates)} runs: {min(rates):,.0f} .. {max(rates):,.0f}")
        print(
            f"  {name}: load generator CPU (measured part) sender {s['sender_cpu_s']:.2f}s "
            f"receiver {s['receiver_cpu_s']:.2f}s, "
            f"latency p90 {s['lat_p90_ms']:.2f} ms max {s['lat_max_ms']:.2f} ms"
        )
    for name, err in errors.items():
        print(f"  {name}: FAILED: {err}")


def raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="1:1 relay throughput/latency of chatd vs a plain Tornado relay"
    )
    parser.add_argument("-n", type=int, default=20000, help="measured messages per run (default 20000)")
    parser.add_argument("--window", type=int, default=100, help="unacked messages in flight (default 100)")
    parser.add_argument(
        "--warmup", type=int, default=500, help="unmeasured messages first, at least 1 (default 500)"
    )
    parser.add_argument("--size", type=int, default=64, help="characters of content per message (default 64)")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per target, alternating; medians reported"
    )
    parser.add_argument("--only", choices=("chatd", "baseline"), help="measure one target only")
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds allowed per phase (default 120)"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (server log, database)")
    parser.add_argument(
        "--chatd-arg", action="append", default=[], metavar="ARG",
        help="extra argument for python -m server, repeatable (e.g. --chatd-arg=--sqlite-synchronous=normal)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.n < 1 or args.window < 1 or args.warmup < 1 or args.repeat < 1 or args.size < 32:
        parser.error("need -n >= 1, --window >= 1, --warmup >= 1, --repeat >= 1, --size >= 32")

    # SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C, so the finally blocks stop the server.
    signal.signal(signal.SIGTERM, raise_interrupt)
    targets = [args.only] if args.only else ["baseline", "chatd"]
    load_before = os.getloadavg()[0]
    if load_before > 0.5:
        print(
            f"warning: load average {load_before:.2f} before the run: something else is using the CPU, "
            "figures will be noisy (use --repeat 3)",
            file=sys.stderr,
        )
    runs: dict[str, list[dict[str, Any]]] = {t: [] for t in targets}
    errors: dict[str, str] = {}
    for rep in range(args.repeat):
        for target in targets:
            if target in errors:
                continue
            print(
                f"[{rep + 1}/{args.repeat}] {target}: running n={args.n} window={args.window} ...",
                file=sys.stderr,
            )
            try:
                res = run_target(target, args)
            except KeyboardInterrupt:
                print("interrupted: servers and load processes stopped", file=sys.stderr)
                return 130
            except BenchError as exc:
                errors[target] = str(exc)
                print(f"  {target} failed: {exc}", file=sys.stderr)
                continue
            runs[target].append(res)
            print(
                f"  acked {res['acked_per_s']:,.0f}/s delivered {res['delivered_per_s']:,.0f}/s "
                f"p50 {res['lat_p50_ms']:.2f} ms p99 {res['lat_p99_ms']:.2f} ms "
                f"server CPU {res['server_cpu_us_per_msg']:.1f} us/msg",
                file=sys.stderr,
            )

    summary = {t: summarize(r) for t, r in runs.items() if r and t not in errors}
    if args.json:
        ratio = {}
        if "baseline" in summary and "chatd" in summary:
            ratio = {
                key: (summary["chatd"][key] / summary["baseline"][key]) if summary["baseline"][key] else None
                for key in summary["chatd"]
            }
        report = {
            "params": {k: getattr(args, k) for k in ("n", "window", "warmup", "size", "repeat", "chatd_arg")},
            "machine": {
                "cpus": os.cpu_count(),
                "python": sys.version.split()[0],
                "loadavg_before": load_before,
            },
            "summary": summary,
            "runs": runs,
            "ratio_chatd_over_baseline": ratio,
            "errors": errors,
        }
        print(json.dumps(report, indent=2))
    else:
        print_table(summary, runs, errors, args)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
