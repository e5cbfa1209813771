"""What the /metrics figures cost one acked 1:1 message, in-process: the statements the
message path runs for them (server/metrics.py's Tally), against calling prometheus-client
for each of them, on one process and in multiprocess mode.

    .venv/bin/python bench/metrics_cost.py [--n 200000]

Per message: frames in +1 and the arrival time (socket.py on_message); the ack's latency
(socket.py _answer); frames out +1 for the ack (outlet.py push_payload) and +recipients
for the delivery (hub.py deliver). Figures are ns per message, best of 5."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def tally_path(n: int) -> float:
    from server.metrics import Metrics

    metrics = Metrics()
    ctx = SimpleNamespace(metrics=metrics)

    def one_message() -> None:
        ctx.metrics.tally.frames_in += 1  # on_message
        arrived = time.monotonic()
        ctx.metrics.tally.frames_out += 1  # push_payload (the ack)
        ctx.metrics.tally.ack(time.monotonic() - arrived)  # _answer
        pushed = 0  # hub.deliver: one recipient with one socket
        pushed += 1
        metrics.tally.frames_out += pushed

    return min(timeit.repeat(one_message, number=n, repeat=5)) / n * 1e9


def prometheus_path(n: int) -> float:
    from prometheus_client import CollectorRegistry, Counter, Histogram

    from server.metrics import LATENCY_BUCKETS

    registry = CollectorRegistry()
    frames_in = Counter("fi", "x", registry=registry)
    frames_out = Counter("fo", "x", registry=registry)
    acks = Counter("a", "x", registry=registry)
    ack_seconds = Histogram("s", "x", registry=registry, buckets=LATENCY_BUCKETS)

    def one_message() -> None:
        frames_in.inc()
        arrived = time.monotonic()
        frames_out.inc()
        acks.inc()
        ack_seconds.observe(time.monotonic() - arrived)
        frames_out.inc(1)

    return min(timeit.repeat(one_message, number=n, repeat=5)) / n * 1e9


def baseline(n: int) -> float:
    def one_message() -> None:
        pass

    return min(timeit.repeat(one_message, number=n, repeat=5)) / n * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--multiprocess", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.multiprocess:  # a child: prometheus-client decides on its import
        from prometheus_client import values

        values.ValueClass = values.MultiProcessValue()
        print(f"{prometheus_path(args.n) - baseline(args.n):.0f}")
        return
    empty = baseline(args.n)
    print(f"ns per acked message, above an empty call ({empty:.0f} ns), best of 5 x {args.n:,}:")
    print(f"  tally (what chatd does)                  {tally_path(args.n) - empty:6.0f}")
    print(f"  prometheus-client calls, one process     {prometheus_path(args.n) - empty:6.0f}")
    with tempfile.TemporaryDirectory() as path:
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": path}
        out = subprocess.run(
            [sys.executable, __file__, "--multiprocess", "--n", str(args.n)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        print(f"  prometheus-client calls, multiprocess    {float(out.stdout):6.0f}")


if __name__ == "__main__":
    main()
