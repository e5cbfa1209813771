"""`--processes N`: N worker processes serving one listening socket, forked after it is
bound (Tornado's pre-fork model), under a parent that restarts a worker that dies and
passes SIGTERM on so that they all stop cleanly.

The parent starts no event loop and no thread before forking; each worker builds its own
database pool, bus connection and media workers."""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable
from types import FrameType

log = logging.getLogger("chatd")

STOP_GRACE_S = 12.0  # workers stop within a few seconds; past this they are killed (unit: 15)
RESTART_MIN_S = 0.5
RESTART_MAX_S = 30.0
STEADY_S = 10.0  # a worker that ran this long had no start-up trouble: back to the short wait


def worker_count(total: int, processes: int) -> int:
    """One worker's share of a machine-wide count (media workers): at least one."""
    return max(1, round(total / processes))


class Supervisor:
    """Fork `count` workers running `work(index)`; restart one that exits while not
    stopping; on SIGTERM or SIGINT stop them all and return 0."""

    def __init__(self, count: int, work: Callable[[int], None], on_exit: Callable[[int], None]) -> None:
        self.count = count
        self.work = work
        self.on_exit = on_exit  # told each dead worker's pid (metrics files are per pid)
        self.children: dict[int, tuple[int, float]] = {}  # pid -> (index, started at)
        self.stopping = False
        self.restart_wait = [RESTART_MIN_S] * count

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._stop)
        signal.signal(signal.SIGALRM, self._kill_all)
        for index in range(self.count):
            self._start(index)
        log.info("started %d workers (pids %s)", self.count, ", ".join(map(str, self.children)))
        while self.children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            index, started = self.children.pop(pid, (-1, 0.0))
            self.on_exit(pid)
            if index < 0 or self.stopping:
                continue
            self._restart(index, started, status)
        return 0

    def _start(self, index: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM):
                signal.signal(sig, signal.SIG_DFL)
            code = 1
            try:
                self.work(index)
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                log.exception("worker %d failed", index)
            finally:
                logging.shutdown()
                os._exit(code)
        self.children[pid] = (index, time.monotonic())

    def _restart(self, index: int, started: float, status: int) -> None:
        how = f"exit code {os.waitstatus_to_exitcode(status)}"
        if os.WIFSIGNALED(status):
            how = f"signal {signal.Signals(os.WTERMSIG(status)).name}"
        ran = time.monotonic() - started
        if ran > STEADY_S:
            self.restart_wait[index] = RESTART_MIN_S
        wait = self.restart_wait[index]
        self.restart_wait[index] = min(wait * 2, RESTART_MAX_S)
        log.warning("worker %d died (%s) after %.1f s; starting it again in %.1f s", index, how, ran, wait)
        time.sleep(wait)  # a SIGTERM meanwhile sets stopping
        if not self.stopping:
            self._start(index)

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        if self.stopping:
            return
        self.stopping = True
        log.info("stopping %d workers", len(self.children))
        for pid in self.children:
            _signal(pid, signal.SIGTERM)
        signal.alarm(int(STOP_GRACE_S))

    def _kill_all(self, signum: int, frame: FrameType | None) -> None:
        for pid in self.children:
            log.warning("worker pid %d did not stop in %.0f s; killing it", pid, STOP_GRACE_S)
            _signal(pid, signal.SIGKILL)


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
