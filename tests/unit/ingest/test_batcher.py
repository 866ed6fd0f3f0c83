from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from vpp.ingest.batcher import Backoff, Batcher, BatcherClosed

FAST_RETRY = Backoff(initial_s=0.001, max_s=0.01)


class Recorder:
    """A flush function that records its batches and can be held or made to fail."""

    def __init__(self, failures: int = 0) -> None:
        self.batches: list[list[int]] = []
        self.attempts: list[int] = []
        self.failures = failures
        self.gate = asyncio.Event()
        self.gate.set()
        self.entered = asyncio.Event()

    async def flush(self, items: Sequence[int], attempt: int) -> list[int]:
        self.entered.set()
        self.attempts.append(attempt)
        await self.gate.wait()
        if self.failures:
            self.failures -= 1
            raise ConnectionError("store away")
        self.batches.append(list(items))
        return [item * 10 for item in items]


def make(recorder: Recorder, **kwargs: float) -> Batcher[int, int]:
    options: dict[str, float] = {"batch_size": 3, "flush_interval_s": 60.0, "max_buffered": 100}
    options.update(kwargs)
    batch_size = int(options["batch_size"])
    batcher: Batcher[int, int] = Batcher(
        "test",
        recorder.flush,
        batch_size=batch_size,
        flush_interval_s=options["flush_interval_s"],
        max_buffered=int(options["max_buffered"]),
        # Only size and time, unless a test asks for the idle-writer trigger.
        idle_batch=int(options.get("idle_batch", batch_size)),
        backoff=FAST_RETRY,
    )
    batcher.start()
    return batcher


async def test_a_full_batch_is_written_at_once() -> None:
    recorder = Recorder()
    batcher = make(recorder, batch_size=3, flush_interval_s=60.0)
    # The interval is a minute: only the size can trigger this write within the bound.
    results = await asyncio.wait_for(asyncio.gather(*(batcher.submit(i) for i in range(3))), 2)
    assert results == [0, 10, 20]
    assert recorder.batches == [[0, 1, 2]]
    await batcher.stop()


async def test_a_partial_batch_is_written_after_the_interval() -> None:
    recorder = Recorder()
    batcher = make(recorder, batch_size=100, flush_interval_s=0.05)
    loop = asyncio.get_running_loop()
    started = loop.time()
    results = await asyncio.wait_for(asyncio.gather(batcher.submit(1), batcher.submit(2)), 2)
    assert list(results) == [10, 20]
    assert recorder.batches == [[1, 2]]
    assert loop.time() - started >= 0.05
    await batcher.stop()


async def test_an_idle_writer_starts_with_half_a_batch() -> None:
    recorder = Recorder()
    batcher = make(recorder, batch_size=4, idle_batch=2, flush_interval_s=60.0)
    first = await asyncio.wait_for(asyncio.gather(batcher.submit(1), batcher.submit(2)), 2)
    assert list(first) == [10, 20]
    assert recorder.batches == [[1, 2]]
    # While the writer is busy, more than half a batch gathers: the next batch is full.
    recorder.gate.clear()
    recorder.entered.clear()
    busy = [asyncio.create_task(batcher.submit(i)) for i in (3, 4)]
    await asyncio.wait_for(recorder.entered.wait(), 2)
    later = [asyncio.create_task(batcher.submit(i)) for i in range(5, 11)]
    for _ in range(5):
        await asyncio.sleep(0)
    recorder.gate.set()
    await asyncio.wait_for(asyncio.gather(*busy, *later), 2)
    assert recorder.batches[1:] == [[3, 4], [5, 6, 7, 8], [9, 10]]
    await batcher.stop()


async def test_items_beyond_a_batch_go_into_the_next_one() -> None:
    recorder = Recorder()
    batcher = make(recorder, batch_size=2, flush_interval_s=0.01)
    results = await asyncio.wait_for(asyncio.gather(*(batcher.submit(i) for i in range(5))), 2)
    assert results == [0, 10, 20, 30, 40]
    assert [len(b) for b in recorder.batches] == [2, 2, 1]
    assert [item for batch in recorder.batches for item in batch] == [0, 1, 2, 3, 4]
    await batcher.stop()


async def test_a_failed_write_is_retried_until_it_succeeds() -> None:
    recorder = Recorder(failures=2)
    batcher = make(recorder, batch_size=2)
    results = await asyncio.wait_for(asyncio.gather(batcher.submit(1), batcher.submit(2)), 2)
    assert list(results) == [10, 20]
    assert recorder.attempts == [0, 1, 2]
    assert recorder.batches == [[1, 2]]
    await batcher.stop()


async def test_submit_waits_when_the_buffer_is_full() -> None:
    recorder = Recorder()
    recorder.gate.clear()  # the store hangs
    batcher = make(recorder, batch_size=2, max_buffered=4, flush_interval_s=0.01)
    first = [asyncio.create_task(batcher.submit(i)) for i in range(4)]
    await asyncio.wait_for(recorder.entered.wait(), 2)
    fifth = asyncio.create_task(batcher.submit(4))
    # Let every task run until it blocks: the fifth must not have been taken in.
    for _ in range(5):
        await asyncio.sleep(0)
    assert batcher.buffered == 4
    assert not fifth.done()
    recorder.gate.set()
    assert await asyncio.wait_for(asyncio.gather(*first, fifth), 2) == [0, 10, 20, 30, 40]
    await batcher.stop()


async def test_stop_writes_what_is_queued() -> None:
    recorder = Recorder()
    batcher = make(recorder, batch_size=100, flush_interval_s=60.0)
    pending = [asyncio.create_task(batcher.submit(i)) for i in range(3)]
    await asyncio.sleep(0)
    await batcher.stop(timeout_s=2)
    assert [task.result() for task in pending] == [0, 10, 20]


async def test_stop_with_the_store_away_leaves_items_unwritten() -> None:
    recorder = Recorder(failures=10_000)
    batcher = make(recorder, batch_size=1, flush_interval_s=0.01)
    pending = asyncio.create_task(batcher.submit(1))
    await asyncio.wait_for(recorder.entered.wait(), 2)
    await batcher.stop(timeout_s=0.05)
    with pytest.raises(BatcherClosed):
        await pending
    with pytest.raises(BatcherClosed):
        await batcher.submit(2)
