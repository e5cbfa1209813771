"""server/batch.py: lookups from many callers in one job."""

from __future__ import annotations

import asyncio

import pytest

from server.batch import Batcher


@pytest.mark.gen_test
async def test_keys_asked_together_share_one_job_and_each_gets_its_answer():
    jobs: list[list[int]] = []

    async def run(keys: list[int]) -> dict[int, str]:
        jobs.append(keys)
        await asyncio.sleep(0)
        return {k: f"v{k}" for k in keys if k != 3}

    batcher: Batcher[int, str] = Batcher(run)
    got = await asyncio.gather(*(batcher.get(k) for k in (1, 2, 1, 3)))
    assert got == ["v1", "v2", "v1", None]  # 3 is not in the answer
    assert jobs == [[1, 2, 3]]  # one job, each key once
    assert await batcher.get(4) == "v4"  # and later ones start a new job


@pytest.mark.gen_test
async def test_a_failed_job_fails_its_callers_only():
    calls = 0

    async def run(keys: list[int]) -> dict[int, int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database down")
        return {k: k for k in keys}

    batcher: Batcher[int, int] = Batcher(run, max_batch=2)
    got = await asyncio.gather(*(batcher.get(k) for k in (1, 2, 3)), return_exceptions=True)
    assert [type(g) for g in got[:2]] == [RuntimeError, RuntimeError]
    assert got[2] == 3  # the next batch ran


@pytest.mark.gen_test
async def test_a_later_key_does_not_wait_for_a_running_job():
    # The database pool keeps the order of its jobs; a key must be in a job as soon as
    # its turn of the loop ends, not after whatever job is still running.
    started: list[list[int]] = []
    release = asyncio.Event()

    async def run(keys: list[int]) -> dict[int, int]:
        started.append(keys)
        if keys == [1]:
            await release.wait()
        return {k: k for k in keys}

    batcher: Batcher[int, int] = Batcher(run)
    first = batcher.get(1)
    await asyncio.sleep(0)
    second = batcher.get(2)
    assert await second == 2 and started == [[1], [2]] and not first.done()
    release.set()
    assert await first == 1
