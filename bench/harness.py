"""The parts of bench/scenarios.py that are not scenarios: building and running the compiled
load generator, seeding chatd's database, starting a pinned server, reading its CPU and memory.

The server runs on CPU 0 and the load generator on CPU 1 (``taskset -c``; the server's
threads inherit it), each in its own processes. Server start-up, CPU and RSS readings come
from bench/relay_bench.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relay_bench import (
    BENCH_DIR,
    ROOT,
    BenchError,
    Server,
    _group_pids,
    chatd_command,
    cpu_seconds,
    free_port,
    rss_mib,
)

__all__ = ["BenchError", "cpu_seconds", "rss_mib"]

BUILD_DIR = BENCH_DIR / ".build"
LOADGEN_SRC = BENCH_DIR / "loadgen.c"
LOADGEN = BUILD_DIR / "loadgen"
SERVER_CPU = "0"
LOADGEN_CPU = "1"


def build_loadgen() -> Path:
    """Compile loadgen.c with gcc -O2 when the binary is missing or older than the source."""
    if LOADGEN.exists() and LOADGEN.stat().st_mtime >= LOADGEN_SRC.stat().st_mtime:
        return LOADGEN
    BUILD_DIR.mkdir(exist_ok=True)
    cmd = ["gcc", "-O2", "-Wall", "-o", str(LOADGEN), str(LOADGEN_SRC)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"building the load generator failed:\n{done.stderr}")
    return LOADGEN


def pinned(cpu: str, argv: list[str]) -> list[str]:
    return ["taskset", "-c", cpu, *argv]


# --------------------------------------------------------------------------- seeding


@dataclass
class Seeded:
    """Template databases (copied for every server start) and the users' tokens."""

    dir: Path
    tokens: dict[int, str] = field(default_factory=dict)
    replay_before: int = 0  # the last message id before the replay scenario's messages

    def db(self, name: str) -> Path:
        return self.dir / f"{name}.db"


def run_seed(args: list[str]) -> dict[str, Any]:
    cmd = [sys.executable, str(BENCH_DIR / "seed.py"), *args]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False, timeout=600)
    if done.returncode != 0:
        raise BenchError(f"seeding failed: {' '.join(args)}\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def seed(tmp: Path, users: int, pairs: int, group: int, replay: int, big_users: int) -> Seeded:
    """``base``: users, friend pairs, group 1; ``replay``: base plus ``replay`` messages from
    user pairs*2+1 to pairs*2+2; ``big``: big_users users, all in group 1."""
    seeded = Seeded(tmp)
    tok = tmp / "tokens.json"
    run_seed(["--db", str(seeded.db("base")), "--users", str(users), "--pairs", str(pairs),
              "--group", str(group), "--tokens", str(tok)])  # fmt: skip
    seeded.tokens = {int(k): v for k, v in json.loads(tok.read_text()).items()}
    if replay:
        shutil.copy(seeded.db("base"), seeded.db("replay"))
        src, dst = 2 * pairs + 1, 2 * pairs + 2
        out = run_seed(["--db", str(seeded.db("replay")), "--messages", str(replay),
                        "--from", str(src), "--to", str(dst)])  # fmt: skip
        seeded.replay_before = int(out["max_id"]) - replay
    if big_users:
        tok_big = tmp / "tokens-big.json"
        run_seed(["--db", str(seeded.db("big")), "--users", str(big_users), "--group", str(big_users),
                  "--tokens", str(tok_big)])  # fmt: skip
        big = {int(k): v for k, v in json.loads(tok_big.read_text()).items()}
        seeded.tokens.update({-k: v for k, v in big.items()})  # the big database's, by -id
    return seeded


# --------------------------------------------------------------------------- servers


def start_server(
    target: str, tmp: Path, seeded: Seeded, db_name: str, group_size: int, chatd_args: list[str]
) -> Server:
    """Start the relay or chatd pinned to CPU 0, chatd on a copy of a seeded database."""
    port = free_port()
    if target == "relay":
        argv = [sys.executable, str(BENCH_DIR / "baseline_relay.py"), "--host", "127.0.0.1",
                "--port", str(port), "--group-size", str(group_size)]  # fmt: skip
        server = Server("relay", pinned(SERVER_CPU, argv), tmp, dict(os.environ))
        probe = server.port_open
    else:
        shutil.copy(seeded.db(db_name), tmp / "chat.db")
        argv, env = chatd_command(tmp, port, chatd_args)
        server = Server("chatd", pinned(SERVER_CPU, argv), tmp, env)
        probe = server.healthz
    try:
        server.wait_ready(probe)
    except BaseException:
        server.stop()
        raise
    return server


def peak_rss_mib(pgid: int) -> float:
    """Sum of VmHWM (each process's peak resident size) over the server's process group."""
    total = 0
    for pid in _group_pids(pgid):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


# --------------------------------------------------------------------------- load generator


@dataclass
class Readings:
    """What the driver read from /proc while the load generator ran."""

    rss_before: float = 0.0  # MiB, server, before the load generator connected
    rss_ready: float = 0.0  # MiB, server, with every socket open (after a settle)
    cpu_go: float = 0.0
    cpu_measure: float = 0.0
    cpu_end: float = 0.0
    t_measure: float = 0.0
    t_end: float = 0.0
    cpu_done: float = 0.0
    t_go: float = 0.0
    t_done: float = 0.0
    peak_rss: float = 0.0


def run_loadgen(
    server: Server, conf: dict[str, Any], conns: list[tuple[int, str, int]], timeout: float, settle: float
) -> tuple[dict[str, Any], Readings]:
    """Run the load generator (CPU 1) against ``server``; its JSON result and our readings.

    ``conns``: (user id, token or "", destination id or 0) per socket. The load generator
    holds after connecting (``#ready``); the server's RSS is read then, after ``settle`` s."""
    pg = server.proc.pid
    rd = Readings(rss_before=rss_mib(pg))
    lines = [f"{k} {v}" for k, v in {**conf, "port": server.port, "hold": 1, "timeout": timeout}.items()]
    lines += [f"conn {u} {t or '-'} {d}" for u, t, d in conns]
    proc = subprocess.Popen(
        pinned(LOADGEN_CPU, [str(build_loadgen())]),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    killer = threading.Timer(timeout + 60, proc.kill)  # the load generator has its own timeout
    killer.start()
    result: dict[str, Any] | None = None
    try:
        proc.stdin.write("\n".join(lines) + "\ngo\n")
        proc.stdin.flush()
        for line in proc.stdout:
            mark = line.strip()
            if mark == "#ready":
                time.sleep(settle)
                rd.rss_ready = rss_mib(pg)
                rd.cpu_go, rd.t_go = cpu_seconds(pg), time.monotonic()
                proc.stdin.write("\n")
                proc.stdin.flush()
            elif mark == "#measure":
                rd.cpu_measure, rd.t_measure = cpu_seconds(pg), time.monotonic()
            elif mark == "#end":
                rd.cpu_end, rd.t_end = cpu_seconds(pg), time.monotonic()
            elif mark.startswith("{"):
                result = json.loads(mark)
                rd.cpu_done, rd.t_done = cpu_seconds(pg), time.monotonic()
                rd.peak_rss = peak_rss_mib(pg)
        proc.wait(30)
    finally:
        killer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = proc.stderr.read() if proc.stderr else ""
    if result is None or "error" in result or proc.returncode != 0:
        why = result.get("error") if result else f"exit status {proc.returncode} {stderr[-500:]}"
        dead = server.proc.poll() is not None
        tail = (
            f"\n  the server died ({server.proc.returncode}); its log ends:\n{server.log_tail(25)}"
            if dead
            else ""
        )
        raise BenchError(f"{server.name}: load generator failed: {why}{tail}")
    return result, rd
