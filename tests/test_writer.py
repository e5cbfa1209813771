"""The writer commits many messages per transaction and keeps their order."""

from __future__ import annotations

import asyncio

import pytest

from server.writer import MessageWriter, WriterClosed
from tests.conftest import befriend, connect, register


@pytest.fixture
def settings_overrides():
    return {"send_rate": 100_000.0, "send_burst": 100_000}


@pytest.mark.gen_test
async def test_items_queued_during_a_commit_share_the_next_one():
    batches: list[list[int]] = []

    async def store(items):
        await asyncio.sleep(0.01)  # a commit takes time; meanwhile more arrive
        batches.append(items)
        return [i * 10 for i in items]

    async def publish(results):
        pass

    writer = MessageWriter(store, publish, batch_max=50)
    futures = [writer.submit(i) for i in range(200)]
    assert [await f for f in futures] == [i * 10 for i in range(200)]
    assert [i for batch in batches for i in batch] == list(range(200))
    assert len(batches) <= 5 and max(len(b) for b in batches) == 50
    await writer.close()
    with pytest.raises(WriterClosed):
        writer.submit(1)


# One failing item failing alone is tested through the real store (SQLite and PostgreSQL)
# in tests/test_message_path.py: a fake store here could not see a batch-wide failure.


@pytest.mark.gen_test(timeout=30)
async def test_a_burst_from_a_socket_is_stored_in_few_transactions(api, base_url, ctx):
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    await befriend(api, ann, bob)
    a, b = await connect(base_url, ann), await connect(base_url, bob)
    batches_before = ctx.writer.batches
    for i in range(300):
        await a.send(cmd=10, dstid=bob.id, media=1, content=f"b{i}")
    ids = [(await a.next_frame())["id"] for _ in range(300)]
    assert ids == sorted(ids)
    assert [(await b.next_message())["content"] for _ in range(300)] == [f"b{i}" for i in range(300)]
    assert ctx.writer.batches - batches_before < 100
