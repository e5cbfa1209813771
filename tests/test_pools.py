"""The pools: work runs off the IOLoop; after close, callers get a 503, never a crash."""

from __future__ import annotations

import threading

import pytest

from models import db
from server.errors import ClientError
from server.pools import Pools


@pytest.mark.gen_test
async def test_jobs_run_off_the_loop_thread_and_a_closed_pool_answers_503(tmp_path):
    database = db.open_database(f"sqlite:///{tmp_path}/p.db")
    pools = Pools(database, db_threads=4, hash_threads=1, media_threads=1)
    loop_thread = threading.get_ident()
    assert await pools.db(threading.get_ident) != loop_thread
    assert await pools.hashing(threading.get_ident) != loop_thread
    assert await pools.media(threading.get_ident) != loop_thread
    pools.close()
    for run in (pools.db, pools.hashing, pools.media, pools.media_process):
        with pytest.raises(ClientError) as err:
            await run(threading.get_ident)
        assert err.value.status == 503


@pytest.mark.gen_test(timeout=60)
async def test_media_workers_are_processes_and_client_errors_cross_back(tmp_path):
    import os

    from server.media import sniff

    database = db.open_database(f"sqlite:///{tmp_path}/p.db")
    pools = Pools(database, db_threads=1, hash_threads=1, media_threads=1)
    try:
        assert await pools.media_process(os.getpid) != os.getpid()
        with pytest.raises(ClientError) as err:
            await pools.media_process(sniff, b"<html><body>not media</body></html>")
        assert err.value.status == 415 and "text/html" in err.value.msg
    finally:
        pools.close()
