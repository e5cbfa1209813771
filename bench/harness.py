"""The parts of bench/scenarios.py that are not scenarios: building and running the compiled
load generator, seeding chatd's databases, starting a pinned server, reading its CPU and
memory (and, for chatd between processes, PostgreSQL's and Redis's CPU, and how the
sockets split between the workers).

One-process servers run on CPU 0 and the load generator on CPU 1 (``taskset -c``; the
server's threads inherit it), each in its own processes. chatd with ``--processes 2`` is
started pinned to CPUs 0,1 (its workers inherit that, or with ``pin_workers`` each gets
one of them), so its workers share the cores with the load generator, PostgreSQL and
Redis, which are not pinned. Server start-up, CPU and RSS readings come from
bench/relay_bench.py.
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

from pgredis import Services, proc_ticks
from relay_bench import (
    _OPENER,
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
WORKERS_TIMEOUT = 30.0  # every worker of --processes N answering /healthz, bus live


@dataclass(frozen=True)
class Target:
    """One way of running a server: the relay, or chatd with its bus, database and processes."""

    name: str
    title: str
    cpus: str  # taskset -c of the server (its workers inherit it)
    processes: int = 1
    cluster: bool = False  # Redis bus and PostgreSQL (a database copied per start)


TARGETS = {
    t.name: t
    for t in (
        Target("relay", "plain relay", SERVER_CPU),
        Target("chatd", "1 process, in-process bus, SQLite", SERVER_CPU),
        Target("pg1", "1 process, Redis bus, PostgreSQL", SERVER_CPU, 1, True),
        Target("pg2", "2 processes, Redis bus, PostgreSQL", f"{SERVER_CPU},{LOADGEN_CPU}", 2, True),
    )
}


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
    """Template databases (copied for every server start) and the users' tokens: SQLite
    files, and with ``services`` PostgreSQL databases holding the same rows."""

    dir: Path
    tokens: dict[int, str] = field(default_factory=dict)
    replay_before: int = 0  # the last message id before the replay scenario's messages
    services: Services | None = None

    def db(self, name: str) -> Path:
        return self.dir / f"{name}.db"

    def pg(self, name: str) -> str:
        assert self.services is not None
        return self.services.url(f"{self.services.prefix}_{name}")


def run_seed(args: list[str]) -> dict[str, Any]:
    cmd = [sys.executable, str(BENCH_DIR / "seed.py"), *args]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False, timeout=600)
    if done.returncode != 0:
        raise BenchError(f"seeding failed: {' '.join(args)}\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def seed(
    tmp: Path,
    users: int,
    pairs: int,
    group: int,
    replay: int,
    big_users: int,
    services: Services | None = None,
) -> Seeded:
    """``base``: users, friend pairs, group 1; ``replay``: base plus ``replay`` messages from
    user pairs*2+1 to pairs*2+2; ``big``: big_users users, all in group 1. Each as a SQLite
    file and, with ``services``, as a PostgreSQL template database, the same rows in both."""
    seeded = Seeded(tmp, services=services)

    def dbs(name: str, template: str | None = None) -> list[str]:
        if template:
            shutil.copy(seeded.db(template), seeded.db(name))
        out = ["--db", str(seeded.db(name))]
        if services is not None:
            out += ["--db", services.create(name, template)]
        return out

    tok = tmp / "tokens.json"
    run_seed([*dbs("base"), "--users", str(users), "--pairs", str(pairs), "--group", str(group),
              "--tokens", str(tok)])  # fmt: skip
    seeded.tokens = {int(k): v for k, v in json.loads(tok.read_text()).items()}
    if replay:
        src, dst = 2 * pairs + 1, 2 * pairs + 2
        out = run_seed(
            [*dbs("replay", "base"), "--messages", str(replay), "--from", str(src), "--to", str(dst)]
        )
        seeded.replay_before = int(out["max_id"]) - replay
    if big_users:
        tok_big = tmp / "tokens-big.json"
        run_seed(
            [*dbs("big"), "--users", str(big_users), "--group", str(big_users), "--tokens", str(tok_big)]
        )
        big = {int(k): v for k, v in json.loads(tok_big.read_text()).items()}
        seeded.tokens.update({-k: v for k, v in big.items()})  # the big database's, by -id
    return seeded


# --------------------------------------------------------------------------- servers


class BenchServer(Server):
    """A server started for one run: its target, and for chatd its workers' pids and (on
    PostgreSQL) the run's database, dropped with its Redis keys when it stops."""

    def __init__(self, target: Target, argv: list[str], tmp: Path, env: dict[str, str],
                 services: Services | None = None, db_url: str | None = None) -> None:  # fmt: skip
        super().__init__("relay" if target.name == "relay" else "chatd", argv, tmp, env)
        self.target = target
        self.services = services
        self.db_url = db_url
        self.workers: list[int] = []  # pids answering /healthz (one: the server itself)

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            if self.db_url and self.services is not None:
                self.services.drop(self.db_url)
                self.db_url = None


def start_server(
    target: Target, tmp: Path, seeded: Seeded, db_name: str, group_size: int, chatd_args: list[str],
    pin_workers: bool = False,
) -> BenchServer:  # fmt: skip
    """Start the relay or chatd pinned to ``target.cpus``: chatd on a copy of a seeded
    database (a SQLite file, or a PostgreSQL database made from the template, with the
    Redis bus and ``--processes``), ready once every worker answers /healthz."""
    port = free_port()
    if target.name == "relay":
        argv = [sys.executable, str(BENCH_DIR / "baseline_relay.py"), "--host", "127.0.0.1",
                "--port", str(port), "--group-size", str(group_size)]  # fmt: skip
        server = BenchServer(target, pinned(target.cpus, argv), tmp, dict(os.environ))
        probe = server.port_open
    else:
        services, db_url, extra = seeded.services, None, []
        if target.cluster:
            if services is None:
                raise BenchError(f"{target.name} needs PostgreSQL and Redis (seeded without them)")
            db_url = services.new_run(db_name)
            extra = ["--redis-url", services.redis_url, "--processes", str(target.processes)]
        else:
            shutil.copy(seeded.db(db_name), tmp / "chat.db")
        argv, env = chatd_command(tmp, port, [*extra, *chatd_args], db_url)
        server = BenchServer(target, pinned(target.cpus, argv), tmp, env, services, db_url)
        probe = server.healthz
    try:
        server.wait_ready(probe)
        if target.name != "relay":
            server.workers = wait_workers(server, target.processes)
            if pin_workers and len(server.workers) > 1:
                cpus = sorted(os.sched_getaffinity(server.proc.pid))
                for i, pid in enumerate(server.workers):
                    os.sched_setaffinity(pid, {cpus[i % len(cpus)]})
    except BaseException:
        server.stop()
        raise
    return server


def health(server: Server) -> dict[str, Any] | None:
    """GET /healthz on a new connection (so whichever worker accepts it answers)."""
    try:
        with _OPENER.open(server.base + "/healthz", timeout=5) as resp:
            answer: dict[str, Any] = json.load(resp)
            return answer
    except (OSError, ValueError):
        return None


def wait_workers(server: Server, processes: int) -> list[int]:
    """The pids of chatd's workers, once each has answered /healthz with its bus live."""
    seen: set[int] = set()
    deadline = time.monotonic() + WORKERS_TIMEOUT
    while len(seen) < processes:
        if time.monotonic() > deadline:
            raise BenchError(f"only {len(seen)} of {processes} workers ready:\n{server.log_tail(20)}")
        if server.proc.poll() is not None:
            raise BenchError(f"chatd exited ({server.proc.returncode}):\n{server.log_tail(20)}")
        h = health(server)
        if h and h.get("status") == "ok" and h.get("bus", {}).get("state") == "ok":
            seen.add(int(h["pid"]))
        else:
            time.sleep(0.05)
    return sorted(seen)


def worker_sockets(server: BenchServer) -> dict[int, int]:
    """{worker pid: its open WebSockets}, from /healthz asked until every worker answered
    (a shared listening socket: the kernel hands each new connection to one of them)."""
    found: dict[int, int] = {}
    for _ in range(400):
        h = health(server)
        if h:
            found[int(h["pid"])] = int(h["sockets"])
        if set(server.workers) <= set(found):
            break
    return found


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


Snapshot = dict[str, Any]


def snapshot(server: Server) -> Snapshot:
    """CPU counters at one moment: the server's process group (seconds), each chatd worker's
    and PostgreSQL's and Redis's processes ({pid: clock ticks}), and Redis's memory."""
    snap: Snapshot = {"t": time.monotonic(), "server": cpu_seconds(server.proc.pid)}
    if isinstance(server, BenchServer):
        snap["workers"] = {pid: proc_ticks(pid) for pid in server.workers}
        if server.services is not None:
            snap["pg"] = server.services.pg_ticks(server.db_url)
            snap["redis"] = server.services.redis_ticks()
            snap["redis_mem"] = server.services.redis_memory()
    return snap


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
    # snapshot() at "before" (connecting), "ready" (every socket open), "go" (sending, after
    # the settle), "measure" and "end" (a timed scenario's window), "done" (its result)
    snaps: dict[str, Snapshot] = field(default_factory=dict)
    sockets: dict[int, int] = field(default_factory=dict)  # worker pid -> its sockets, at "go"


def run_loadgen(
    server: Server, conf: dict[str, Any], conns: list[tuple[int, str, int]], timeout: float, settle: float
) -> tuple[dict[str, Any], Readings]:
    """Run the load generator (CPU 1) against ``server``; its JSON result and our readings.

    ``conns``: (user id, token or "", destination id or 0) per socket. The load generator
    holds after connecting (``#ready``); the server's RSS and the sockets per worker are
    read then, after ``settle`` s."""
    pg = server.proc.pid
    rd = Readings(rss_before=rss_mib(pg))
    rd.snaps["before"] = snapshot(server)
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
                rd.snaps["ready"] = snapshot(server)  # every socket open: the end of a connect phase
                time.sleep(settle)
                rd.rss_ready = rss_mib(pg)
                if isinstance(server, BenchServer) and server.workers:
                    rd.sockets = worker_sockets(server)
                rd.snaps["go"] = snapshot(server)
                rd.cpu_go, rd.t_go = rd.snaps["go"]["server"], rd.snaps["go"]["t"]
                proc.stdin.write("\n")
                proc.stdin.flush()
            elif mark == "#measure":
                rd.cpu_measure, rd.t_measure = cpu_seconds(pg), time.monotonic()
                rd.snaps["measure"] = snapshot(server)
            elif mark == "#end":
                rd.cpu_end, rd.t_end = cpu_seconds(pg), time.monotonic()
                rd.snaps["end"] = snapshot(server)
            elif mark.startswith("{"):
                result = json.loads(mark)
                rd.cpu_done, rd.t_done = cpu_seconds(pg), time.monotonic()
                rd.snaps["done"] = snapshot(server)
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
