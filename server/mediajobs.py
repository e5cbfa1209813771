"""Media jobs: decoding and encoding in worker processes we supervise ourselves.

A ProcessPoolExecutor cannot do what hostile uploads need: every job gets a deadline (past
it the worker is killed together with any ffmpeg it started, and a fresh one takes its
place), users are served in turn so one user's twenty GIFs cannot hold another's photo,
the waiting line is bounded (past it a 503 at once), and a worker is replaced after N jobs
or when a large image left it big, so memory goes back to the system. (pebble's pool has
timeouts and max_tasks, but kills only the worker, not its ffmpeg, and has no fair turns.)

Each worker is a forkserver child in a process group of its own; killing the group takes
its ffmpeg children with it. One thread per worker waits on its pipe, so the IOLoop only
sees futures."""

from __future__ import annotations

import asyncio
import itertools
import logging
import multiprocessing
import os
import resource
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from server.errors import ClientError
from server.settings import Settings

T = TypeVar("T")
log = logging.getLogger(__name__)

START_TIMEOUT_S = 30.0  # a worker must be up by then (forkserver start on a busy machine)
RESTARTING = "the server is restarting; try again in a moment"


class WorkerDied(Exception):
    """The worker process ended in the middle of a job (a crash, or it was killed)."""


class JobTimedOut(Exception):
    """The job ran past its deadline; its worker (and any ffmpeg) was killed."""


# -- inside a worker process ----------------------------------------------------------


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # not Linux: the peak is the best we have
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _worker_main(conn: Connection, server_pid: int) -> None:
    # Our own process group: ffmpeg children inherit it, so one killpg ends them all.
    os.setpgid(0, 0)
    # On a small machine, media work would otherwise take CPU from the IOLoop process;
    # a lower priority (inherited by ffmpeg) keeps chat latency steady while uploads run.
    os.nice(10)
    threading.Thread(target=_exit_with, args=(server_pid,), daemon=True, name="chatd-orphan-watch").start()
    conn.send(("ready", os.getpid(), 0))
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        fn, args = job
        try:
            answer: tuple[str, Any, int] = ("ok", fn(*args), 0)
        except Exception as exc:  # noqa: BLE001 - every error goes back to the caller
            answer = ("err", exc, 0)
        try:
            conn.send((answer[0], answer[1], _rss_bytes()))
        except Exception as exc:  # noqa: BLE001 - e.g. an unpicklable result or exception
            conn.send(("err", RuntimeError(f"media job answer could not be sent: {exc}"), _rss_bytes()))


def _exit_with(server_pid: int) -> None:
    """Leave when the server is gone (a crash or SIGKILL gives no chance to stop us),
    taking any ffmpeg child along; the forkserver then exits too."""
    while True:
        time.sleep(1.0)
        try:
            os.kill(server_pid, 0)
        except ProcessLookupError:
            os.killpg(0, signal.SIGKILL)


# -- in the server process -------------------------------------------------------------


class _Worker:
    """One worker process and the pipe to it. Used from one thread at a time."""

    def __init__(self, context: Any) -> None:
        self.context = context
        self.proc: Any = None
        self.conn: Connection | None = None
        self.pid = 0
        self.jobs = 0
        self.stopped = False

    def call(self, fn: Callable[..., Any], args: tuple[Any, ...], timeout: float) -> tuple[Any, int]:
        """(result, rss) of fn(*args) in the worker; raises what fn raised, JobTimedOut or WorkerDied."""
        if self.conn is None:
            self._start()
        if self.stopped:  # the server began to stop while this worker was starting
            self.kill()
            raise WorkerDied
        assert self.conn is not None
        try:
            self.conn.send((fn, args))
            if not self.conn.poll(timeout):
                self.kill()
                raise JobTimedOut
            status, value, rss = self.conn.recv()
        except (EOFError, OSError, BrokenPipeError):
            self.kill()
            raise WorkerDied from None
        self.jobs += 1
        if status == "err":
            raise value
        return value, rss

    def _start(self) -> None:
        parent, child = self.context.Pipe()
        proc = self.context.Process(
            target=_worker_main, args=(child, os.getpid()), name="chatd-media", daemon=True
        )
        proc.start()
        child.close()  # only the worker holds that end now, so its death reads as EOF here
        self.proc, self.conn, self.pid, self.jobs = proc, parent, proc.pid, 0
        try:
            if not parent.poll(START_TIMEOUT_S):
                raise WorkerDied
            parent.recv()
        except (EOFError, OSError, WorkerDied):
            self.kill()
            raise WorkerDied from None

    def terminate(self) -> None:
        """From any thread: kill the worker and its process group (ffmpeg). The thread
        waiting on its pipe then reads EOF and reaps it; its pipe stays that thread's."""
        self.stopped = True
        if self.proc is not None:
            _kill_group(self.proc.pid)

    def kill(self) -> None:
        """From the thread that owns the worker: kill it and its group, reap it, close the pipe."""
        proc, conn = self.proc, self.conn
        self.proc, self.conn, self.pid = None, None, 0
        if proc is None:
            return
        _kill_group(proc.pid)
        proc.join(5.0)
        if conn is not None:
            conn.close()


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        # Not yet (or no longer) a group leader: end the worker itself.
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@dataclass
class _Job:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    future: asyncio.Future[Any]


@dataclass
class _Owner:
    """One user's waiting jobs and how many of theirs started while they had work here."""

    queue: deque[_Job] = field(default_factory=deque)
    started: int = 0
    running: int = 0
    arrived: int = 0


class MediaJobs:
    """A fixed number of supervised worker processes behind a fair, bounded queue."""

    def __init__(
        self,
        workers: int = 2,
        timeout: float = 30.0,
        queue_max: int = 100,
        queue_per_user: int = 8,
        worker_jobs: int = 100,
        worker_rss_mb: int = 300,
        workers_per_user: int = 0,
    ) -> None:
        # forkserver: workers fork from a clean single-threaded server process, never
        # from this one with its threads and sockets.
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(["server.media"])
        self.timeout = timeout
        self.queue_max = queue_max
        self.queue_per_user = queue_per_user
        # One user's jobs never hold every worker (unless there is only one), so another
        # user's photo starts at once instead of waiting out a long job.
        self.workers_per_user = workers_per_user or max(1, workers - 1)
        self.worker_jobs = worker_jobs
        self.worker_rss = worker_rss_mb * 1024 * 1024
        self._workers = [_Worker(self._context) for _ in range(workers)]
        self._idle = list(self._workers)
        self._threads = ThreadPoolExecutor(workers, thread_name_prefix="chatd-media-proc")
        self._owners: dict[Hashable, _Owner] = {}
        self._arrivals = itertools.count()
        self._tasks: set[asyncio.Task[None]] = set()
        self._all_idle = asyncio.Event()
        self.queued = 0
        self.running = 0
        self.closed = False

    @classmethod
    def from_settings(cls, settings: Settings) -> MediaJobs:
        return cls(
            workers=settings.media_threads,
            timeout=settings.media_job_timeout,
            queue_max=settings.media_queue,
            queue_per_user=settings.media_queue_per_user,
            worker_jobs=settings.media_worker_jobs,
            worker_rss_mb=settings.media_worker_rss_mb,
            workers_per_user=settings.media_workers_per_user,
        )

    @property
    def jobs(self) -> int:
        """Jobs waiting or running."""
        return self.queued + self.running

    def pids(self) -> list[int]:
        """Pids of the worker processes alive now (for /healthz and tests)."""
        return [w.pid for w in self._workers if w.pid]

    async def run(self, owner: Hashable, fn: Callable[..., T], *args: Any) -> T:
        """fn(*args) in a worker, after other owners' earlier turns. ClientError 503/429 if
        the line is full, 413 if the job runs past the timeout, 415 if its worker died."""
        if self.closed:
            raise ClientError(503, RESTARTING)
        entry = self._owners.get(owner)
        if self.queued >= self.queue_max:
            raise ClientError(503, "the server is busy processing other uploads; try again in a moment")
        if entry is not None and len(entry.queue) >= self.queue_per_user:
            raise ClientError(429, "too many of your uploads are waiting to be processed; wait for them")
        if entry is None:
            entry = self._owners[owner] = _Owner(arrived=next(self._arrivals))
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        entry.queue.append(_Job(fn, args, future))
        self.queued += 1
        self._dispatch()
        return await future

    def _next_job(self) -> tuple[Hashable, _Job] | None:
        # Fair turns: the owner with the fewest jobs started so far goes first (ties: who
        # came first), so a user's second job waits behind everyone else's first.
        waiting = [
            (entry.started, entry.arrived, key)
            for key, entry in self._owners.items()
            if entry.queue and entry.running < self.workers_per_user
        ]
        if not waiting:
            return None
        key = min(waiting, key=lambda item: (item[0], item[1]))[2]
        entry = self._owners[key]
        self.queued -= 1
        return key, entry.queue.popleft()

    def _dispatch(self) -> None:
        while self._idle and not self.closed:
            picked = self._next_job()
            if picked is None:
                break
            owner, job = picked
            if job.future.cancelled():  # its caller went away while it waited
                self._forget_if_done(owner)
                continue
            entry = self._owners[owner]
            entry.started += 1
            entry.running += 1
            self.running += 1
            self._all_idle.clear()
            task = asyncio.ensure_future(self._run_on(self._idle.pop(), owner, job))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _forget_if_done(self, owner: Hashable) -> None:
        entry = self._owners.get(owner)
        if entry is not None and not entry.queue and not entry.running:
            del self._owners[owner]  # their next upload starts a fresh turn count

    async def _run_on(self, worker: _Worker, owner: Hashable, job: _Job) -> None:
        loop = asyncio.get_running_loop()
        try:
            call = worker.call
            result, rss = await loop.run_in_executor(self._threads, call, job.fn, job.args, self.timeout)
            if (worker.jobs >= self.worker_jobs or rss > self.worker_rss) and not self.closed:
                # Give the memory (Pillow's buffers, a big image's arena) back for good.
                log.info("replacing media worker %d after %d jobs, %d MB", worker.pid, worker.jobs, rss >> 20)
                await loop.run_in_executor(self._threads, worker.kill)
            outcome: Any = result
        except JobTimedOut:
            log.warning("a media job of %s ran past %g s; its worker was killed", owner, self.timeout)
            outcome = ClientError(413, f"this file took too long to process (over {self.timeout:g} s)")
        except WorkerDied:
            if self.closed:
                outcome = ClientError(503, RESTARTING)
            else:
                log.error("a media worker died; starting a new one")
                outcome = ClientError(415, "this file could not be processed")
        except Exception as exc:  # noqa: BLE001 - the job's own error, for its caller
            outcome = exc
        finally:
            entry = self._owners[owner]
            entry.running -= 1
            self.running -= 1
            self._idle.append(worker)
            self._forget_if_done(owner)
        if not job.future.done():
            if isinstance(outcome, BaseException):
                job.future.set_exception(outcome)
            else:
                job.future.set_result(outcome)
        if self.running == 0:
            self._all_idle.set()
        self._dispatch()

    async def stop(self, grace: float) -> None:
        """Refuse new jobs and drop waiting ones (503); give running jobs `grace` seconds,
        then kill every worker and its ffmpeg, so shutdown stays within systemd's limit."""
        self.closed = True
        for entry in self._owners.values():
            while entry.queue:
                job = entry.queue.popleft()
                self.queued -= 1
                if not job.future.done():
                    job.future.set_exception(ClientError(503, RESTARTING))
        if self.running:
            try:
                await asyncio.wait_for(self._all_idle.wait(), grace)
            except TimeoutError:
                log.warning("killing %d media jobs still running after %g s", self.running, grace)
        for worker in self._workers:
            worker.terminate()
        if self._tasks:  # their threads read EOF, reap the workers and answer 503
            await asyncio.wait(list(self._tasks), timeout=5.0)
        self.kill_all()

    def kill_all(self) -> None:
        """Kill every worker now: idle ones are reaped here, busy ones by their threads."""
        self.closed = True
        for worker in self._workers:
            if worker in self._idle:
                worker.kill()
            else:
                worker.terminate()
        self._threads.shutdown(wait=True, cancel_futures=True)
