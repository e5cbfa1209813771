"""`python -m server` / `chatd`: parse options, open the database, serve, stop cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import signal
import socket
import sys
import tempfile
from collections.abc import Coroutine, Sequence
from typing import Any

from tornado.netutil import bind_sockets

from models import db, meta
from models.db import DatabaseError
from server import cli, cluster, logredact, originalclient, procs, storage
from server.app import make_app, make_ctx
from server.httpserver import make_http_server
from server.services import admin
from server.settings import Settings, SettingsError, load_settings

log = logging.getLogger("chatd")

SHUTDOWN_GRACE_S = 5.0
OPEN_FILES_WITHOUT_HARD_LIMIT = 1 << 20  # the kernel's usual fs.nr_open
LISTEN_BACKLOG = 4096  # connections the kernel queues for accept() (capped by net.core.somaxconn)


def fail(reason: str, code: int = 2) -> None:
    print(f"chatd: {reason}", file=sys.stderr)
    raise SystemExit(code)


def check_upload_dir(settings: Settings) -> None:
    try:
        settings.upload_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=settings.upload_dir):
            pass
        swept = storage.sweep_temp(settings.upload_dir)
    except OSError as exc:
        fail(f"upload dir {settings.upload_dir} is not usable: {exc.strerror or exc}", 1)
    if swept:
        log.info("removed %d unfinished uploads from %s", swept, settings.upload_dir / ".tmp")


def check_original_client_dir(settings: Settings) -> None:
    """Stop at once on an original_client_dir that cannot be served (each process renders
    it again as it builds its routes: a few files, read at start only)."""
    if settings.original_client_dir is not None:
        try:
            originalclient.load(settings.original_client_dir)
        except originalclient.OriginalClientError as exc:
            fail(str(exc))


def raise_open_files_limit() -> int:
    """Every socket is a descriptor: take the soft limit up to the hard one (often 1,024 by
    default, which would cap chatd at about a thousand users online). Returns the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else OPEN_FILES_WITHOUT_HARD_LIMIT
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (ValueError, OSError) as exc:
        log.warning("could not raise the open files limit from %d to %d: %s", soft, wanted, exc)
        return soft
    return wanted


def prepare_database(settings: Settings) -> str:
    """Open, migrate and close the database once, before any worker starts (so workers
    never race to migrate); the chat's identity."""
    try:
        database = db.open_database(settings.database, settings.sqlite_synchronous)
        db.bind(database)
        db.migrate(database)
        with database.connection_context():
            uid = meta.chat_uid()
        database.close()
    except DatabaseError as exc:
        fail(f"database {settings.database} is not usable: {exc}", 1)
    except Exception as exc:  # noqa: BLE001 - any driver error (bad path, refused, no permission) is one line
        fail(f"database is not usable: {type(exc).__name__}: {str(exc).strip().splitlines()[0]}", 1)
    return uid


def bind(settings: Settings) -> list[socket.socket]:
    try:
        return bind_sockets(settings.port, settings.host, backlog=LISTEN_BACKLOG)
    except OSError as exc:
        fail(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}", 1)
    raise AssertionError  # fail() does not return


async def serve(
    settings: Settings, sockets: list[socket.socket], worker: int | None = None, metrics_dir: str = ""
) -> None:
    """Serve on already bound sockets until SIGTERM (one process, or one worker writing its
    figures to `metrics_dir`)."""
    try:
        ctx = make_ctx(settings, metrics_dir)
    except DatabaseError as exc:
        fail(f"database {settings.database} is not usable: {exc}", 1)
    except Exception as exc:  # noqa: BLE001 - any driver error (bad path, refused, no permission) is one line
        fail(f"database is not usable: {type(exc).__name__}: {str(exc).strip().splitlines()[0]}", 1)
    app = make_app(settings, ctx)
    await ctx.start()
    if worker in (None, 0):
        await admin.log_first_run(ctx)  # before serving, so it is logged before anyone is served
    cluster_tasks = cluster.start_process_tasks(ctx)
    server = make_http_server(app, settings)
    server.add_sockets(sockets)
    if worker is None:
        log.info("chatd listening on %s (pid %d)", settings.describe(), os.getpid())
        log.info("open files limit: %d (each socket takes one)", raise_open_files_limit())
    else:
        raise_open_files_limit()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()

    log.info("stopping: closing sockets and finishing writes")
    # No new connections, no new frames, no new requests on kept-alive connections...
    server.stop()
    for task in cluster_tasks:
        task.cancel()
    # Media jobs get a short grace, then their workers and ffmpeg children are killed, so a
    # long transcode cannot keep us past systemd's TimeoutStopSec (15 s in chatd.service).
    media_stopped = asyncio.ensure_future(ctx.pools.media_procs.stop(settings.media_stop_grace))
    ctx.hub.shut_all(1001, "server restarting")
    try:
        await asyncio.wait_for(server.close_all_connections(), 1.0)
    except TimeoutError:
        pass
    # ...then store what arrived before (its senders resend unacked cmids: stored once),
    # and only then release the pools (late callers get a 503, never a 500).
    try:
        await asyncio.wait_for(ctx.writer.close(), SHUTDOWN_GRACE_S)
    except TimeoutError:
        log.warning("pending writes did not finish within %.0f s", SHUTDOWN_GRACE_S)
    await media_stopped
    await ctx.close()
    log.info("stopped")


def run_loop(main_coro: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop

        uvloop.run(main_coro)
    except ImportError:
        asyncio.run(main_coro)


def main(argv: Sequence[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] and argv[0] in cli.COMMANDS:
        return cli.COMMANDS[argv[0]](argv[1:])
    try:
        settings = load_settings(argv)
    except SettingsError as exc:
        fail(str(exc))
    logging.basicConfig(
        level=logging.DEBUG if settings.debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logredact.install()  # every logger's lines, Tornado's included, pass through it
    check_upload_dir(settings)
    check_original_client_dir(settings)
    chat_uid = prepare_database(settings)
    if settings.redis_url:
        try:
            cluster.check_redis(settings, chat_uid)
        except cluster.ClusterError as exc:
            fail(str(exc), 1)
    sockets = bind(settings)
    if settings.processes == 1:
        run_loop(serve(settings, sockets))
        return
    log.info("chatd listening on %s with %d processes", settings.describe(), settings.processes)
    workers = cluster.worker_settings(settings)
    with cluster.metrics_dir() as metrics_dir:  # before the fork: every worker writes there
        supervisor = procs.Supervisor(
            settings.processes,
            lambda index: run_loop(serve(workers, sockets, index, metrics_dir)),
            cluster.worker_exited,
        )
        code = supervisor.run()
    raise SystemExit(code)


if __name__ == "__main__":
    main()
