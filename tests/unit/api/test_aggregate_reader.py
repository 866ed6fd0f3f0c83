"""The API's aggregate reader: one computation per scope at a time, and the previous value
meanwhile, so an expired cache under load is computed once, not by every request."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, cast

from vpp.bus.channels import RedisNames
from vpp.config import IngestSettings
from vpp.services.aggregate import AggregateReader
from vpp.store.aggregate import Aggregate, FreqStatus


def aggregate(total: float) -> Aggregate:
    return Aggregate(
        total_power_kw=total,
        avg_soc=None,
        avg_freq=None,
        node_count=0,
        online_nodes=0,
        freq_status=FreqStatus.UNKNOWN,
        computed_at=datetime.now(UTC),
    )


class SlowReader(AggregateReader):
    """Each fetch waits until the test releases it, and counts itself."""

    def __init__(self) -> None:
        super().__init__(cast(Any, None), RedisNames("t"), IngestSettings(), redis_url="")
        self.release = asyncio.Event()
        self.hold = True
        self.fetches = 0

    async def _fetch(self, key: str, scope: list[str] | None) -> Aggregate:
        self.fetches += 1
        if self.hold:
            await self.release.wait()
            self.release.clear()
        return aggregate(float(self.fetches))


async def test_concurrent_reads_share_one_computation() -> None:
    reader = SlowReader()
    reads = [asyncio.ensure_future(reader.read(None)) for _ in range(50)]
    await asyncio.sleep(0)
    reader.release.set()
    values = await asyncio.gather(*reads)
    assert reader.fetches == 1
    assert {v.total_power_kw for v in values} == {1.0}


async def test_reads_during_a_refresh_get_the_previous_value_at_once() -> None:
    reader = SlowReader()
    first = asyncio.ensure_future(reader.read(["a"]))
    await asyncio.sleep(0)
    reader.release.set()
    assert (await first).total_power_kw == 1.0
    refreshing = asyncio.ensure_future(reader.read(["a"]))  # starts the second fetch
    await asyncio.sleep(0)
    meanwhile = await asyncio.wait_for(reader.read(["a"]), 1)
    assert meanwhile.total_power_kw == 1.0  # not blocked behind the refresh
    reader.release.set()
    assert (await refreshing).total_power_kw == 2.0
    assert reader.fetches == 2


async def test_scopes_do_not_share_flights() -> None:
    reader = SlowReader()
    reader.hold = False
    await asyncio.gather(reader.read(["a"]), reader.read(["b"]))
    assert reader.fetches == 2
