"""The process's figures for /metrics (Prometheus text format, prometheus-client).

The message path does not call prometheus-client: one `Counter.inc()` costs 0.3-0.5 us and
one `Histogram.observe()` about 1 us (2 us in multiprocess mode, where every change is
written to a memory-mapped file under a lock), several per message. It adds to plain
numbers in a `Tally` instead (an attribute add, a `bisect` for a histogram), folded into
the metrics when /metrics is read and, with `--processes`, every FLUSH_S seconds by each
worker, since a scrape reaches only one of them. Rare things (sockets opening, uploads,
batches) go to the metrics at once.

With `--processes N` (prometheus-client's multiprocess mode) the parent names a fresh
directory in PROMETHEUS_MULTIPROC_DIR before forking (server/cluster.py); each worker writes
its figures there and /metrics adds up every worker's files."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from bisect import bisect_left
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from server.buswire import sent_ms

log = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST
FLUSH_S = 1.0  # several processes: how old another worker's figures in a scrape may be
PROCESS_EVERY = 10  # ... and its memory, CPU and descriptors: every this many flushes
# Seconds: from 0.5 ms (a batch of one on an idle server) to seconds (a slow disk, a busy bus).
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)  # write_batch tops at 10,000
MEDIA_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
INF = float("inf")


class Tally:
    """What the message path counts, as plain numbers (IOLoop thread only)."""

    __slots__ = (
        "ack_counts",
        "ack_sum",
        "acks",
        "errors",
        "frames_in",
        "frames_out",
        "lag_counts",
        "lag_sum",
    )

    def __init__(self) -> None:
        self.frames_in = 0
        self.frames_out = 0
        self.acks = 0
        self.ack_counts = [0] * (len(LATENCY_BUCKETS) + 1)  # per bucket, the last one +Inf
        self.ack_sum = 0.0
        self.lag_counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.lag_sum = 0.0
        self.errors: dict[tuple[int, str], int] = {}  # (status, "socket" | "http") -> count

    def ack(self, seconds: float) -> None:
        """A message's ack pushed `seconds` after its frame arrived."""
        self.acks += 1
        self.ack_counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.ack_sum += seconds

    def error(self, status: int, via: str) -> None:
        """A cmd 13 answer (`via` "socket") or an HTTP 4xx/5xx answer ("http")."""
        key = (status, via)
        self.errors[key] = self.errors.get(key, 0) + 1


def add_observations(histogram: Histogram, counts: list[int], total: float) -> None:
    """Fold observations counted per bucket into a histogram in one go. prometheus-client
    has no bulk observe; this fills the per-bucket values (not cumulative) that observe()
    fills, pinned at 0.26 and checked against observe() by tests/test_metrics.py."""
    for bucket, count in zip(histogram._buckets, counts, strict=True):
        if count:
            bucket.inc(count)
    histogram._sum.inc(total)


class Metrics:
    """One process's metrics. `multiproc_dir`: the directory every worker writes to
    (several processes), or "" for one process (the usual process metrics included)."""

    def __init__(self, multiproc_dir: str = "") -> None:
        self.multiproc_dir = multiproc_dir
        self.tally = Tally()
        self.registry = CollectorRegistry()
        own: CollectorRegistry | None = self.registry
        # prometheus-client picks its kind of values when it is first imported (from
        # PROMETHEUS_MULTIPROC_DIR), which here is before the parent names the directory:
        # pick them now, in the worker (memory-mapped values are per pid, so never before
        # the fork), and plain ones for one process whatever the environment says.
        values.ValueClass = values.MultiProcessValue() if multiproc_dir else values.MutexValue
        if multiproc_dir:
            multiprocess.MultiProcessCollector(self.registry, multiproc_dir)
            own = None  # the files hold our figures: registering them too would count them twice
        else:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)
        self.sockets = Gauge(
            "chatd_sockets_open", "WebSockets open", registry=own, multiprocess_mode="livesum"
        )
        self.bus_up = Gauge(
            "chatd_bus_up",
            "1 while the bus carries events between processes (in-process: always); "
            "the lowest of the workers",
            registry=own,
            multiprocess_mode="livemin",
        )
        self.frames_in = Counter("chatd_frames_in", "WebSocket frames received", registry=own)
        self.frames_out = Counter(
            "chatd_frames_out",
            "frames handed to sockets: messages live and replayed, acks, errors, notices (not pings)",
            registry=own,
        )
        self.acks = Counter("chatd_acks", "messages stored and acked (cmd 12)", registry=own)
        self.ack_seconds = Histogram(
            "chatd_ack_seconds",
            "from a message frame's arrival to its ack being pushed",
            registry=own,
            buckets=LATENCY_BUCKETS,
        )
        self.batch_sizes = Histogram(
            "chatd_write_batch_messages",
            "messages per transaction of the message writer",
            registry=own,
            buckets=BATCH_BUCKETS,
        )
        self.bus_lag = Histogram(
            "chatd_bus_lag_seconds",
            "from a message's publish on the Redis bus to its receipt here (none in-process)",
            registry=own,
            buckets=LATENCY_BUCKETS,
        )
        self.uploads = Counter(
            "chatd_uploads",
            "uploads by kind (image, voice, video, file; av: an undeclared MP4/WebM; unknown: refused "
            "before its bytes said) and outcome "
            "(stored; refused: a 4xx; failed: a 5xx; abandoned: the client left first)",
            ["kind", "outcome"],
            registry=own,
        )
        self.media_seconds = Histogram(
            "chatd_media_seconds",
            "time a media worker took to process an upload",
            ["kind"],
            registry=own,
            buckets=MEDIA_BUCKETS,
        )
        self.errors = Counter(
            "chatd_errors",
            "refusals and errors by code: cmd 13 frames (via socket), HTTP 4xx/5xx answers (via http)",
            ["code", "via"],
            registry=own,
        )
        self._process: _ProcessFigures | None = _ProcessFigures() if multiproc_dir else None
        self._task: asyncio.Task[None] | None = None
        self.bus_up.set(1)

    # -- rare events: straight to the metrics --------------------------------------------

    def batch(self, size: int) -> None:
        self.batch_sizes.observe(size)

    def upload(self, kind: str, outcome: str) -> None:
        self.uploads.labels(kind, outcome).inc()

    def media_time(self, kind: str, seconds: float) -> None:
        self.media_seconds.labels(kind).observe(seconds)

    def bus_state(self, live: bool) -> None:
        self.bus_up.set(1 if live else 0)

    def on_lag(self, data: bytes) -> None:
        """A message received from the Redis bus (server/intake.py): publish to receipt."""
        sent = sent_ms(data)
        if sent is not None:
            lag = max(0.0, time.time() - sent / 1000.0)  # (clocks of other machines may differ)
            tally = self.tally
            tally.lag_counts[bisect_left(LATENCY_BUCKETS, lag)] += 1
            tally.lag_sum += lag

    # -- folding the tally in, and the answer to a scrape ----------------------------------

    def flush(self) -> None:
        """Move what the tally counted into the metrics (IOLoop thread)."""
        tally, fresh = self.tally, Tally()
        if tally.frames_in:
            self.frames_in.inc(tally.frames_in)
        if tally.frames_out:
            self.frames_out.inc(tally.frames_out)
        if tally.acks:
            self.acks.inc(tally.acks)
            add_observations(self.ack_seconds, tally.ack_counts, tally.ack_sum)
        if any(tally.lag_counts):
            add_observations(self.bus_lag, tally.lag_counts, tally.lag_sum)
        for (status, via), count in tally.errors.items():
            self.errors.labels(str(status), via).inc(count)
        self.tally = fresh

    def render(self) -> bytes:
        """The text format; reads files (/proc, other workers'): run it in a pool thread,
        after flush() on the loop."""
        if self._process is not None:
            self._process.sample()
        return generate_latest(self.registry)

    def start(self, offload: Callable[[Callable[[], None]], Awaitable[Any]]) -> None:
        """Several processes: flush every FLUSH_S, and sample this worker's process
        figures every PROCESS_EVERY flushes with `offload` (a pool: they read /proc)."""
        if self.multiproc_dir and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(offload))

    async def _run(self, offload: Callable[[Callable[[], None]], Awaitable[Any]]) -> None:
        ticks = 0
        while True:
            await asyncio.sleep(FLUSH_S)  # a timer: the figures' age, not a wait for an event
            self.flush()
            ticks += 1
            if self._process is not None and ticks % PROCESS_EVERY == 1:
                try:
                    await offload(self._process.sample)
                except Exception:  # a figure missed is not worth a worker
                    log.debug("sampling process figures failed", exc_info=True)

    async def close(self) -> None:
        """Stop the timer and write what is still counted (a worker stopping)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.flush()


class _ProcessFigures:
    """Several processes: the usual process metrics cannot be added up from one worker's
    /proc, so each worker writes its own: memory, descriptors and start time per worker
    (a `pid` label), CPU seconds summed over every worker that ran."""

    def __init__(self) -> None:
        self._collector = ProcessCollector(registry=None)
        self._lock = threading.Lock()  # a scrape's thread and the timer's may sample at once
        self._cpu_seen = 0.0
        self._cpu = Counter("process_cpu_seconds", "user and system CPU time of the workers", registry=None)
        self._gauges: dict[str, Gauge] = {}

    def sample(self) -> None:
        with self._lock:
            self._sample()

    def _sample(self) -> None:
        for family in self._collector.collect():
            for sample in family.samples:
                if sample.name == "process_cpu_seconds_total":
                    if sample.value > self._cpu_seen:
                        self._cpu.inc(sample.value - self._cpu_seen)
                        self._cpu_seen = sample.value
                    continue
                gauge = self._gauges.get(sample.name)
                if gauge is None:
                    gauge = self._gauges[sample.name] = Gauge(
                        sample.name, family.documentation, registry=None, multiprocess_mode="liveall"
                    )
                gauge.set(sample.value)
