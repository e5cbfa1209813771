"""The message-path benchmark (issues 9 and 10): chatd against a plain Tornado relay, and
chatd between processes (Redis bus, PostgreSQL; 1 and 2 processes) against chatd in one
process (in-process bus, SQLite), scenario by scenario, two tables of ratios.

For every scenario and target (bench/baseline_relay.py, chatd, then chatd on Redis and
PostgreSQL with 1 and with 2 processes; alternating with --repeat) it starts a fresh
server (on a copy of a database seeded directly by bench/seed.py: a SQLite file, or a
PostgreSQL database made from a seeded template), pinned to CPU 0 (2 processes: CPUs 0
and 1), runs the compiled load generator (bench/loadgen.c) pinned to CPU 1, and reads the
server's, PostgreSQL's and Redis's CPU and memory from /proc. See bench/README.md.

    .venv/bin/python bench/scenarios.py --quick            # smoke run, a few minutes
    .venv/bin/python bench/scenarios.py --repeat 3         # the figures to quote
    .venv/bin/python bench/scenarios.py --only pairs16,burst --chatd-arg=--outbox-bytes=8388608
    .venv/bin/python bench/scenarios.py --no-cluster       # relay and chatd only (issue 9's run)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    TARGETS,
    BenchError,
    Readings,
    Seeded,
    Target,
    build_loadgen,
    run_loadgen,
    seed,
    start_server,
)
from pgredis import DEFAULT_PG, DEFAULT_REDIS, Services, ticks_delta
from relay_bench import CLK_TCK

ORDER = ("relay", "chatd", "pg1", "pg2")  # within a repeat; every run is a fresh server
CLUSTER = ("pg1", "pg2")
Conns = list[tuple[int, str, int]]
Metrics = dict[str, float]


@dataclass
class Scenario:
    key: str
    title: str
    conf: Callable[[dict[str, Any]], dict[str, Any]]  # loadgen keys, given the results so far
    conns: Callable[[str, Seeded], Conns]  # sockets for a target
    metrics: Callable[[dict[str, Any], Readings], Metrics]
    rows: list[tuple[str, str, str, bool]]  # metric, label, format, ratio makes sense
    db: str = "base"
    group: int = 0  # the relay's --group-size
    targets: tuple[str, ...] = ORDER
    timed: bool = False  # a measured window (#measure .. #end)
    # The second table's CPU figures: over which readings (harness.Readings.snaps), and per
    # what (a key of the load generator's result, its name); None: no CPU figures.
    span: tuple[str, str] | None = None
    per: tuple[str, str] = ("received_win", "message")
    settle: float = 0.3
    timeout: float = 300.0
    results: dict[str, list[Metrics]] = field(default_factory=dict)


def tok(seeded: Seeded, target: str, user: int) -> str:
    return "" if target == "relay" else seeded.tokens[user]


def pair_conns(target: str, seeded: Seeded, pairs: int) -> Conns:
    out: Conns = []
    for k in range(pairs):
        a, b = 2 * k + 1, 2 * k + 2
        out += [(b, tok(seeded, target, b), 0), (a, tok(seeded, target, a), b)]
    return out


def group_conns(target: str, seeded: Seeded, members: int) -> Conns:
    # user 1 sends to group 1 (cmd 11); users 2..members receive
    out: Conns = [(u, tok(seeded, target, u), 0) for u in range(2, members + 1)]
    return [*out, (1, tok(seeded, target, 1), 1)]


def share(r: dict[str, Any]) -> float:
    """The load generator's CPU seconds over the wall time of the send phase."""
    return float(r["cpu_send_s"] / max(1e-9, r["send_s"]))


def window_metrics(r: dict[str, Any], rd: Readings) -> Metrics:
    wall = max(1e-9, rd.t_end - rd.t_measure)
    return {
        "msg_s": r["acked_win"] / r["window_s"],
        "deliveries_s": r["received_win"] / r["window_s"],
        "p50": r["lat_p50_ms"],
        "p99": r["lat_p99_ms"],
        "fair": r["sender_rate_min"] / r["sender_rate_median"] if r["sender_rate_median"] else 0.0,
        "cpu_us": (rd.cpu_end - rd.cpu_measure) / max(1, r["received_win"]) * 1e6,
        "srv_util": (rd.cpu_end - rd.cpu_measure) / wall,
        "lg_share": share(r),
    }


LOAD_ROWS = [
    ("srv_util", "server CPU / wall (1.0 = its core busy)", "{:.2f}", False),
    ("lg_share", "load generator CPU / wall", "{:.2f}", False),
]
PAIR_ROWS = [
    ("msg_s", "msg/s acked", "{:,.0f}", True),
    ("p50", "latency p50, ms", "{:,.1f}", True),
    ("p99", "latency p99, ms", "{:,.1f}", True),
    ("fair", "fairness: min / median per-socket rate", "{:.2f}", False),
    ("cpu_us", "server CPU per message, us", "{:,.0f}", True),
    *LOAD_ROWS,
]


def burst_metrics(r: dict[str, Any], rd: Readings) -> Metrics:
    closes = r["closes"]
    return {
        "complete": r["receivers_complete"],
        "receivers": r["receivers"],
        "order": r["gaps"] + r["disorder"] + r["ids_not_ascending"],
        "closed": sum(closes.values()),
        "closed_1013": closes.get("1013", 0),
        "secs": r["last_receive_s"],
        "deliveries_s": r["received"] / max(1e-9, r["last_receive_s"]),
        "peak_rss": rd.peak_rss,
        "lg_share": share(r),
    }


def make_scenarios(a: argparse.Namespace) -> list[Scenario]:
    q = a.quick
    dur, warm = (3.0, 1.0) if q else (10.0, 2.0)
    pairs, members, burst = 500, 500, a.burst or (500 if q else 2000)
    idle, opens = (2000, 2000) if q else (10000, 5000)
    timed = {"duration": dur, "warmup": warm}

    def unsaturated(res: dict[str, Any]) -> dict[str, Any]:
        best = res.get("pairs16", {}).get("chatd") or []
        if not best:
            raise BenchError("needs chatd's pairs16 rate first (run pairs16 too)")
        rate = 0.2 * statistics.median(m["msg_s"] for m in best)
        return {**timed, "window": 16, "rate": f"{rate:.1f}"}

    def idle_metrics(r: dict[str, Any], rd: Readings) -> Metrics:
        return {"kb": (rd.rss_ready - rd.rss_before) * 1024 / r["conns"], "rss": rd.rss_ready}

    def since(extra: dict[str, Any]) -> Callable[[dict[str, Any]], dict[str, Any]]:
        return lambda res: {"since": 0, **extra}  # fresh database: replay covers a group join race

    pair = lambda t, s: pair_conns(t, s, pairs)  # noqa: E731
    group = lambda t, s: group_conns(t, s, members)  # noqa: E731
    scenarios = [
        Scenario(
            "pairs16",
            f"{pairs * 2} sockets, {pairs} friend pairs, 16 in flight",
            since({**timed, "window": 16}),
            pair,
            window_metrics,
            PAIR_ROWS,
            timed=True,
        ),
        Scenario(
            "pairs1",
            "same, 1 in flight",
            since({**timed, "window": 1}),
            pair,
            window_metrics,
            PAIR_ROWS,
            timed=True,
        ),
        Scenario(
            "fanout",
            f"fan-out: 1 sender, 16 in flight, {members}-member group",
            since({**timed, "window": 16, "cmd": 11}),
            group,
            window_metrics,
            [
                ("deliveries_s", "deliveries/s", "{:,.0f}", True),
                ("p99", "p99, ms", "{:,.0f}", True),
                *LOAD_ROWS,
            ],
            group=members,
            timed=True,
            per=("received_win", "delivery"),
        ),
        Scenario(
            "fanout20",
            f"fan-out at 20 msg/s, {members}-member group",
            since({"duration": 3 * dur / 2, "warmup": warm, "rate": 20, "window": 1000, "cmd": 11}),
            group,
            window_metrics,
            [
                ("p50", "delivery p50, ms", "{:.1f}", True),
                ("p99", "delivery p99, ms", "{:.1f}", True),
                *LOAD_ROWS,
            ],
            group=members,
            timed=True,
            per=("received_win", "delivery"),
        ),
        Scenario(
            "burst",
            f"burst: {burst} messages at once into a {members}-member group",
            since({"window": burst, "count": burst, "expect": burst, "cmd": 11, "allow_close": 1}),
            group,
            burst_metrics,
            [
                ("complete", f"members that got all {burst} (of {members - 1})", "{:.0f}", False),
                ("order", "out of order / missing (must be 0)", "{:.0f}", False),
                ("closed", "sockets closed by the server (any code)", "{:.0f}", False),
                ("closed_1013", "sockets closed with 1013", "{:.0f}", False),
                ("secs", "time until the last delivery, s", "{:.1f}", True),
                ("deliveries_s", "deliveries/s", "{:,.0f}", True),
                ("peak_rss", "server peak RSS, MiB", "{:.0f}", True),
                ("lg_share", "load generator CPU / wall", "{:.2f}", False),
            ],
            group=members,
            span=("go", "done"),
            per=("received", "delivery"),
        ),
        Scenario(
            "unsaturated",
            "pairs at 20% of chatd's pairs16 rate (both servers)",
            unsaturated,
            pair,
            window_metrics,
            [
                ("p50", "latency p50, ms", "{:.1f}", True),
                ("p99", "latency p99, ms", "{:.1f}", True),
                ("msg_s", "msg/s acked (offered the same)", "{:,.0f}", True),
                *LOAD_ROWS,
            ],
            timed=True,
        ),
        Scenario(
            "idle",
            f"{idle:,} idle authenticated sockets (relay: ?id=N)",
            lambda res: {},
            lambda t, s: [(u, tok(s, t, u), 0) for u in range(1, idle + 1)],
            idle_metrics,
            [
                ("kb", "RSS per idle socket, KB", "{:.1f}", True),
                ("rss", "server RSS with them, MiB", "{:.0f}", True),
            ],
            settle=2.0,
        ),
        Scenario(
            "connect",
            f"new sockets: {opens:,}, 200 handshakes at once",
            lambda res: {"conc": 200},
            lambda t, s: [(u, tok(s, t, u), 0) for u in range(1, opens + 1)],
            lambda r, rd: {"per_s": r["conns"] / r["connect_s"], "lg_share": r["cpu_s"] / r["wall_s"]},
            [
                ("per_s", "sockets/s (chatd with token check)", "{:,.0f}", True),
                ("lg_share", "load generator CPU / wall", "{:.2f}", False),
            ],
            span=("before", "ready"),  # the load generator opens every socket before "#ready"
            per=("conns", "new socket"),
        ),
        Scenario(
            "replay",
            f"replay: {a.replay:,} missed messages, since=ID (no relay)",
            lambda res: {"since": "replay", "expect": a.replay},
            lambda t, s: [(2 * pairs + 2, tok(s, t, 2 * pairs + 2), 0)],
            lambda r, rd: {"secs": r["since_connect_start_s"], "order": r["gaps"] + r["disorder"]},
            [
                ("secs", "connect -> all received, s", "{:.2f}", False),
                ("order", "out of order / missing (must be 0)", "{:.0f}", False),
            ],
            db="replay",
            targets=("chatd", *CLUSTER),
        ),
    ]
    if a.big:
        # One descriptor per socket on each side: neither process can pass the hard limit
        # (raising it needs CAP_SYS_RESOURCE), so ask for no more than it allows.
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        n = a.big if hard == resource.RLIM_INFINITY else min(a.big, (hard - 200) // 20 * 20)
        if n < a.big:
            print(f"warning: RLIMIT_NOFILE hard limit {hard}: --big holds {n:,} sockets, not {a.big:,}",
                  file=sys.stderr)  # fmt: skip
        scenarios.append(big_scenario(n))
    return scenarios


def big_scenario(n: int) -> Scenario:
    """n sockets (chatd: n/20 users with 20 sockets each, its sockets_per_user default, all
    in group 1), one group message to all of them."""
    per_user = 20
    users = n // per_user

    def conns(t: str, s: Seeded) -> Conns:
        if t == "relay":
            return [(u, "", 0) for u in range(2, n + 1)] + [(1, "", 1)]
        out = [(u, s.tokens[-u], 0) for u in range(1, users + 1) for _ in range(per_user)]
        return [*out[1:], (1, s.tokens[-1], 1)]  # one of user 1's sockets sends

    def metrics(r: dict[str, Any], rd: Readings) -> Metrics:
        return {
            "held": r["receivers_complete"],
            "rss": rd.rss_ready,
            "kb": (rd.rss_ready - rd.rss_before) * 1024 / r["conns"],
            "connect_s": r["connect_s"],
            "secs": r["last_receive_s"],
        }

    return Scenario(
        "big",
        f"{n:,} sockets, one group message to each",
        lambda res: {"count": 1, "expect": 1, "cmd": 11, "conc": 200, "since": 0},
        conns,
        metrics,
        [
            ("held", f"sockets that got the message (of {n - 1:,})", "{:,.0f}", False),
            ("connect_s", "time to open them all, s", "{:.0f}", True),
            ("secs", "send -> last delivery, s", "{:.1f}", True),
            ("rss", "server RSS, MiB", "{:,.0f}", True),
            ("kb", "RSS per socket, KB", "{:.1f}", True),
        ],
        db="big",
        group=n,
        settle=2.0,
        timeout=900,
    )


def cluster_metrics(sc: Scenario, target: Target, r: dict[str, Any], rd: Readings) -> Metrics:
    """The second table's figures: chatd's CPU (each worker's too), PostgreSQL's and Redis's,
    all three per message, and how the sockets split between the workers."""
    out: Metrics = {}
    if len(rd.sockets) > 1 and r["conns"] > 1:
        out["c_split"] = max(rd.sockets.values()) / max(1, sum(rd.sockets.values()))
    if sc.key == "idle" and "redis_mem" in rd.snaps.get("go", {}):
        out["c_redis_kb"] = (
            (rd.snaps["go"]["redis_mem"] - rd.snaps["before"]["redis_mem"]) / 1024 / r["conns"]
        )
    span = ("measure", "end") if sc.timed else sc.span
    s0, s1 = (rd.snaps.get(span[0]), rd.snaps.get(span[1])) if span else (None, None)
    if s0 is None or s1 is None:
        return out
    wall = max(1e-9, s1["t"] - s0["t"])
    chatd = s1["server"] - s0["server"]
    out["c_srv"] = chatd / wall
    workers = s1.get("workers", {})
    if len(workers) > 1:
        busiest_first = sorted(workers, key=lambda pid: -rd.sockets.get(pid, 0))
        util = [(workers[p] - s0["workers"].get(p, 0)) / CLK_TCK / wall for p in busiest_first]
        out["c_w_hi"], out["c_w_lo"] = util[0], util[-1]
    total = chatd
    if "pg" in s1:
        pg, rds = ticks_delta(s0["pg"], s1["pg"]), ticks_delta(s0["redis"], s1["redis"])
        out["c_pg"], out["c_redis"] = pg / wall, rds / wall
        if target.cluster:  # in memory chatd uses neither: what they did then was someone else's
            total += pg + rds
    out["c_all_us"] = total / max(1, r[sc.per[0]]) * 1e6
    return out


def run_one(
    sc: Scenario, target: Target, a: argparse.Namespace, seeded: Seeded, res: dict[str, Any]
) -> Metrics:
    conf = sc.conf(res)
    if conf.get("since") == "replay":
        conf["since"] = seeded.replay_before
    tmp = Path(tempfile.mkdtemp(prefix=f"chatd-{sc.key}-{target.name}-"))
    server = None
    try:
        server = start_server(target, tmp, seeded, sc.db, sc.group, a.chatd_arg, a.pin_workers)
        raw, rd = run_loadgen(server, conf, sc.conns(target.name, seeded), sc.timeout, sc.settle)
        if server.proc.poll() is not None:
            raise BenchError(f"{target.name} exited ({server.proc.returncode}):\n{server.log_tail(25)}")
        m = sc.metrics(raw, rd)
        if target.name != "relay":
            m.update(cluster_metrics(sc, target, raw, rd))
        return m
    finally:
        if server is not None:
            server.stop()
        if a.keep:
            print(f"  kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def cell(fmt: str, values: list[Metrics] | None, key: str) -> tuple[str, float | None]:
    have = [m[key] for m in values or [] if key in m]
    if not have:
        return "-", None
    v = statistics.median(have)
    return fmt.format(v), v


def ratio(flag: bool, num: float | None, den: float | None) -> str:
    return f"{num / den:.2f}" if flag and num is not None and den else ""


def print_table(scenarios: list[Scenario], errors: dict[tuple[str, str], str], a: argparse.Namespace) -> None:
    mine = ("chatd", "relay")
    scenarios = [sc for sc in scenarios if any(sc.results.get(t) or (sc.key, t) in errors for t in mine)]
    if not scenarios:
        return
    print(f"\nchatd vs plain relay: repeat={a.repeat}{' quick' if a.quick else ''}, medians over repeats; "
          f"ratio = chatd / relay\n")  # fmt: skip
    w0, w1 = 52, 44
    print(f"{'scenario':{w0}} {'metric':{w1}} {'chatd':>12} {'relay':>12} {'ratio':>7}")
    for sc in scenarios:
        first = True
        for key, label, fmt, flag in sc.rows:
            c, cv = cell(fmt, sc.results.get("chatd"), key)
            r, rv = cell(fmt, sc.results.get("relay"), key)
            print(
                f"{sc.title[:w0] if first else '':{w0}} {label:{w1}} {c:>12} {r:>12} {ratio(flag, cv, rv):>7}"
            )
            first = False
        for t in mine:
            if (sc.key, t) in errors:
                print(f"{'':{w0}} {t} FAILED: {errors[(sc.key, t)]}")


def cluster_rows(sc: Scenario) -> list[tuple[str, str, str, bool]]:
    """The second table's rows for a scenario: its own (but the CPU / wall ones), then
    chatd's, each worker's, PostgreSQL's and Redis's CPU, and the socket split."""
    own = [row for row in sc.rows if row[0] not in ("srv_util", "lg_share")]
    extra: list[tuple[str, str, str, bool]] = []
    if sc.timed or sc.span:
        extra += [
            ("c_srv", "chatd CPU / wall (1.0 = one core busy)", "{:.2f}", False),
            ("c_w_hi", "  the worker with more sockets, CPU / wall", "{:.2f}", False),
            ("c_w_lo", "  the other worker, CPU / wall", "{:.2f}", False),
            ("c_pg", "PostgreSQL CPU / wall (run's backends + background)", "{:.2f}", False),
            ("c_redis", "Redis CPU / wall", "{:.2f}", False),
            ("c_all_us", f"CPU per {sc.per[1]}: chatd + PostgreSQL + Redis, us", "{:,.1f}", True),
        ]
    if sc.key == "idle":
        # no ratio: the memory column's figure is Redis's noise around 0
        extra.append(("c_redis_kb", "Redis memory per idle socket, KB", "{:.2f}", False))
    extra.append(("c_split", "share of sockets on the busier worker (0.50: even)", "{:.2f}", False))
    lg = [row for row in sc.rows if row[0] == "lg_share"]
    return own + extra + lg


def print_cluster_table(
    scenarios: list[Scenario], errors: dict[tuple[str, str], str], a: argparse.Namespace
) -> None:
    cols = ("chatd", *CLUSTER)
    if not any(sc.results.get(t) for sc in scenarios for t in CLUSTER):
        return
    quick = " quick" if a.quick else ""
    print(f"\nchatd between processes vs 1 process in memory: repeat={a.repeat}{quick}, medians of repeats; "
          "x/mem = that column / memory, 2p/1p = 2 processes / 1 process")  # fmt: skip
    pin = "each worker on its own core" if a.pin_workers else "its workers inherit that"
    print(
        f"  memory: {TARGETS['chatd'].title}, CPU 0.  1 proc: {TARGETS['pg1'].title}, CPU 0.\n"
        f"  2 procs: {TARGETS['pg2'].title}, the parent pinned to CPUs 0,1 ({pin}): the workers share\n"
        "  both cores with the load generator (CPU 1 in every run), PostgreSQL and Redis (never pinned).\n"
        "  PostgreSQL: the run's backends + the cluster's background processes; Redis: its server process;\n"
        "  both may also serve others (the memory column, which uses neither, shows that background).\n"
    )
    w1, w = 56, 11
    heads = " ".join(f"{h:>{w}}" for h in ("memory", "1 proc", "2 procs"))
    print(f"{'metric':{w1}} {heads} {'1p/mem':>7} {'2p/mem':>7} {'2p/1p':>7}")
    for sc in scenarios:
        if not any(sc.results.get(t) for t in CLUSTER) and not any((sc.key, t) in errors for t in CLUSTER):
            continue
        print(sc.title)
        for key, label, fmt, flag in cluster_rows(sc):
            cells = [cell(fmt, sc.results.get(t), key) for t in cols]
            if all(v is None for _, v in cells):
                continue
            (m, mv), (p1, v1), (p2, v2) = cells
            print(f"  {label:{w1 - 2}} {m:>{w}} {p1:>{w}} {p2:>{w}} {ratio(flag, v1, mv):>7} "
                  f"{ratio(flag, v2, mv):>7} {ratio(flag, v2, v1):>7}")  # fmt: skip
        for t in cols:
            if (sc.key, t) in errors:
                print(f"  {t} FAILED: {errors[(sc.key, t)]}")
    verdict = []
    for key, metric in (("pairs16", "msg_s"), ("pairs1", "msg_s"), ("fanout", "deliveries_s")):
        sc = next((s for s in scenarios if s.key == key), None)
        if sc is None:
            continue
        _, v1 = cell("{}", sc.results.get("pg1"), metric)
        _, v2 = cell("{}", sc.results.get("pg2"), metric)
        if v1 and v2:
            verdict.append(f"{key} {v2 / v1:.2f} ({'more' if v2 > v1 else 'NOT more'})")
    if verdict:
        print(f"\n2 processes / 1 process on Redis + PostgreSQL: {'; '.join(verdict)}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="short windows and fewer sockets: a smoke run")
    p.add_argument("--repeat", type=int, default=1, help="runs per scenario and target, alternating; medians")
    p.add_argument("--only", default="", help="comma-separated scenario keys (default: all)")
    p.add_argument("--target", default="", help=f"comma-separated targets (default: {','.join(ORDER)})")
    p.add_argument("--no-cluster", action="store_true", help="skip chatd on Redis + PostgreSQL (pg1, pg2)")
    p.add_argument(
        "--pg-url", default=DEFAULT_PG, help="an existing database of the PostgreSQL cluster to use"
    )
    p.add_argument("--redis-url", default=DEFAULT_REDIS, help="the Redis chatd's bus uses (keys are removed)")
    p.add_argument("--pin-workers", action="store_true", help="pg2: pin each worker to a core of its own")
    p.add_argument("--big", type=int, nargs="?", const=100_000, default=0,
                   help="also hold this many sockets (default 100,000) each getting one message")  # fmt: skip
    p.add_argument("--burst", type=int, default=0, help="messages in the burst (default 2000; --quick 500)")
    p.add_argument("--replay", type=int, default=10_000, help="missed messages in the replay scenario")
    p.add_argument("--keep", action="store_true", help="keep each server's temp dir (log, database)")
    p.add_argument("--json", action="store_true", help="also print every run's figures as JSON on stdout")
    p.add_argument(
        "--chatd-arg", action="append", default=[], metavar="ARG", help="extra chatd option, repeatable"
    )
    a = p.parse_args(argv)
    wanted = [t for t in a.target.split(",") if t] or list(ORDER)
    if set(wanted) - set(ORDER):
        p.error(f"unknown target {', '.join(sorted(set(wanted) - set(ORDER)))}; known: {', '.join(ORDER)}")
    if a.no_cluster:
        wanted = [t for t in wanted if t not in CLUSTER]
    signal.signal(signal.SIGTERM, lambda s, f: (_ for _ in ()).throw(KeyboardInterrupt()))
    scenarios = make_scenarios(a)
    if a.only:
        keys = a.only.split(",")
        unknown = set(keys) - {s.key for s in scenarios}
        if unknown:
            p.error(
                f"unknown scenario {', '.join(sorted(unknown))}; known: {', '.join(s.key for s in scenarios)}"
            )
        scenarios = [s for s in scenarios if s.key in keys]
    load = os.getloadavg()
    print(
        f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs",
        file=sys.stderr,
    )
    t0 = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="chatd-bench-seed-"))
    errors: dict[tuple[str, str], str] = {}
    services: Services | None = None
    loads: list[float] = []
    try:
        build_loadgen()
        if any(t in CLUSTER for t in wanted):
            services = Services(a.pg_url, a.redis_url)
        users = 2000 if a.quick else 10_000  # the idle and connect scenarios' sockets; pairs use 1..1000
        replay = a.replay if any(s.key == "replay" for s in scenarios) else 0
        seeded = seed(tmp, users, 500, 500, replay, a.big // 20, services)
        results: dict[str, Any] = {}
        for sc in scenarios:
            results[sc.key] = sc.results
            targets = [t for t in ORDER if t in sc.targets and t in wanted]
            for rep in range(a.repeat):
                for name in targets:
                    if (sc.key, name) in errors:
                        continue
                    loads.append(os.getloadavg()[0])  # others' work on the machine shows here
                    print(f"[{sc.key} {rep + 1}/{a.repeat}] {name} {time.strftime('%H:%M:%S')} "
                          f"load {loads[-1]:.2f} ...", file=sys.stderr, end=" ", flush=True)  # fmt: skip
                    try:
                        m = run_one(sc, TARGETS[name], a, seeded, results)
                    except BenchError as exc:
                        errors[(sc.key, name)] = str(exc)
                        print(f"FAILED: {exc}", file=sys.stderr)
                        continue
                    sc.results.setdefault(name, []).append(m)
                    print(" ".join(f"{k}={v:.4g}" for k, v in m.items()), file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted: servers and load generators stopped", file=sys.stderr)
        return 130
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if services is not None:
            services.close()
    print_table(scenarios, errors, a)
    print_cluster_table(scenarios, errors, a)
    load = os.getloadavg()
    print(f"\n{time.monotonic() - t0:.0f} s; load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if loads:
        print(f"1-minute load average as each run started: min {min(loads):.2f}, median "
              f"{statistics.median(loads):.2f}, max {max(loads):.2f} (each run's is on stderr)")  # fmt: skip
    if a.json:
        print(json.dumps({s.key: s.results for s in scenarios}, indent=1))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
