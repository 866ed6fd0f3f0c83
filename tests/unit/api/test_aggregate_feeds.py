"""The API's aggregate feeds: a subscription sees each new aggregate of its scope, and a
poll that fails in a way nobody foresaw costs that poll only, not the feed."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import pytest

from tests.unit.api.test_aggregate_reader import aggregate
from vpp.api.live.aggregate_feeds import AggregateFeeds
from vpp.bus.channels import RedisNames
from vpp.config import IngestSettings
from vpp.services.aggregate import AggregateReader
from vpp.store.aggregate import Aggregate


class FaultyReader(AggregateReader):
    """Each read is the next total; the second raises what no handler names (a stand-in
    for a bug in the data or the code: no real server makes this fault on demand)."""

    def __init__(self) -> None:
        super().__init__(cast(Any, None), RedisNames("t"), IngestSettings(), redis_url="")
        self.reads = 0

    async def read(self, node_ids: Any = None) -> Aggregate:
        self.reads += 1
        if self.reads == 2:
            raise KeyError("a field no version ever wrote")
        return aggregate(float(self.reads))


async def test_a_feed_outlives_an_unforeseen_failure(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="vpp.api.live.aggregate_feeds")
    feeds = AggregateFeeds(FaultyReader(), poll_s=0.01)
    try:
        async with feeds.subscribe(None) as latest:
            first = await asyncio.wait_for(latest.get(), 2)
            after = await asyncio.wait_for(latest.get(), 2)
    finally:
        await feeds.stop()
    assert (first.total_power_kw, after.total_power_kw) == (1.0, 3.0)
    assert "aggregate of the fleet unavailable" in caplog.text
