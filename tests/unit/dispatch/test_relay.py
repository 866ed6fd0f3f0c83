"""The relay's batching: acks of one shard become one signal; a gone shard drops them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from vpp.dispatch.models import AckBatch, NodeAck
from vpp.dispatch.relay import AckBatcher
from vpp.models import AckStatus


class FakeSignaller:
    def __init__(self, gone: frozenset[str] = frozenset(), failures: int = 0) -> None:
        self.signals: list[tuple[str, list[str]]] = []
        self._gone = gone
        self._failures = failures

    async def signal(self, workflow_id: str, batch: AckBatch) -> bool:
        if self._failures:
            self._failures -= 1
            raise ConnectionError("temporal away")
        self.signals.append((workflow_id, [a.dc_id for a in batch.acks]))
        return workflow_id not in self._gone


def node_ack(node: str) -> NodeAck:
    return NodeAck(
        dc_id=node, command_id=f"d:0:{node}", status=AckStatus.ACCEPTED, at=datetime.now(UTC)
    )


async def test_acks_for_one_shard_within_the_linger_go_in_one_signal() -> None:
    signaller = FakeSignaller()
    batcher = AckBatcher(signaller, batch_size=100, linger_s=0.05)
    await asyncio.gather(
        *(batcher.submit("wf-a", node_ack(f"n{i}")) for i in range(5)),
        *(batcher.submit("wf-b", node_ack(f"m{i}")) for i in range(2)),
    )
    assert sorted(signaller.signals) == [
        ("wf-a", ["n0", "n1", "n2", "n3", "n4"]),
        ("wf-b", ["m0", "m1"]),
    ]
    assert (batcher.stats.signals, batcher.stats.forwarded) == (2, 7)


async def test_a_full_batch_goes_at_once() -> None:
    signaller = FakeSignaller()
    batcher = AckBatcher(signaller, batch_size=3, linger_s=60.0)
    async with asyncio.timeout(5):
        await asyncio.gather(*(batcher.submit("wf", node_ack(f"n{i}")) for i in range(6)))
    assert [len(nodes) for _, nodes in signaller.signals] == [3, 3]


async def test_acks_for_a_shard_that_no_longer_runs_are_dropped_and_counted() -> None:
    batcher = AckBatcher(FakeSignaller(gone=frozenset({"wf"})), batch_size=10, linger_s=0.0)
    await batcher.submit("wf", node_ack("n"))
    assert (batcher.stats.late, batcher.stats.forwarded) == (1, 0)


async def test_a_failed_signal_is_retried_until_delivered() -> None:
    signaller = FakeSignaller(failures=2)
    batcher = AckBatcher(signaller, batch_size=10, linger_s=0.0)
    async with asyncio.timeout(5):
        await batcher.submit("wf", node_ack("n"))
    assert signaller.signals == [("wf", ["n"])]
    assert batcher.stats.signal_errors == 2


async def test_close_delivers_what_is_gathered() -> None:
    signaller = FakeSignaller()
    batcher = AckBatcher(signaller, batch_size=10, linger_s=60.0)
    pending = asyncio.ensure_future(batcher.submit("wf", node_ack("n")))
    await asyncio.sleep(0)
    await batcher.close()
    await pending
    assert signaller.signals == [("wf", ["n"])]
