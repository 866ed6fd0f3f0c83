"""End to end on the real servers: simulated nodes -> Mosquitto -> ingest -> MongoDB + Redis.

Nothing here is stubbed: the simulator's nodes publish over their own MQTT sessions, the
ingester stores and publishes, and the store's queries answer.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from tests.integration.telemetry_helpers import (
    clear_retained_statuses,
    running_ingester,
    with_ingest,
)
from vpp.bus.channels import RedisNames
from vpp.config import Settings
from vpp.edge_sim.fleet import Fleet
from vpp.stack import Stack
from vpp.store.aggregate import get_aggregate
from vpp.store.database import Database, MongoClient, init_store, mongo_client
from vpp.store.documents import TELEMETRY
from vpp.store.nodes import register_nodes, seed_node_specs
from vpp.store.telemetry_queries import Bucket, downsampled_range

# A node range no other test module uses, so the broker's sessions and statuses are ours.
FIRST_NODE = 1601
NODES = 12
READINGS_PER_NODE = 8
DB_NAME = f"vpp_test_e2e_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
async def mongo(settings: Settings) -> AsyncIterator[MongoClient]:
    client = mongo_client(settings.mongo)
    yield client
    await client.drop_database(DB_NAME)
    await client.close()


@pytest.fixture(scope="module")
async def db(mongo: MongoClient, settings: Settings) -> Database:
    database = mongo[DB_NAME]
    await init_store(database, settings.mongo)
    specs = seed_node_specs(settings.mqtt, FIRST_NODE + NODES - 1)[FIRST_NODE - 1 :]
    await register_nodes(database, specs)
    return database


@pytest.fixture(scope="module")
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = Redis.from_url(settings.redis.url)
    yield client
    await client.aclose()


async def _until(check: Any, timeout_s: float, what: str) -> None:
    # The simulator and the ingester report by state, not events: poll, bounded.
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}")
        await asyncio.sleep(0.1)


async def test_simulated_nodes_land_in_the_store_and_the_aggregate(
    settings: Settings, db: Database, redis: Redis
) -> None:
    await clear_retained_statuses(settings)
    names = RedisNames(prefix=f"test-e2e-{uuid.uuid4().hex[:8]}")
    ingest_settings = with_ingest(
        settings, share_group=f"e2e-{uuid.uuid4().hex[:8]}", flush_interval_s=0.05
    )
    sim = settings.edge_sim.model_copy(update={"nodes": NODES, "first_node": FIRST_NODE})
    fleet = Fleet(settings.model_copy(update={"edge_sim": sim}))
    node_ids = fleet.node_ids

    async with running_ingester(ingest_settings, db, redis, names):
        # The fleet's own sessions publish; the readings are taken here, so that once they
        # are all in, the nodes stay online and still: the aggregate can be compared exactly.
        fleet.start(sampling=False)
        try:
            for _ in range(READINGS_PER_NODE):
                for node_id in node_ids:
                    fleet.sample(node_id)
                await asyncio.sleep(0.05)
            sent = dict.fromkeys(node_ids, READINGS_PER_NODE)

            async def all_stored() -> bool:
                count = await db[TELEMETRY].count_documents({"dc_id": {"$in": node_ids}})
                return count >= NODES * READINGS_PER_NODE

            await _until(all_stored, 60, "every reading in MongoDB")
            rows = (
                await db[TELEMETRY]
                .find({"dc_id": {"$in": node_ids}}, {"_id": 0})
                .sort([("dc_id", 1), ("seq", 1)])
                .to_list()
            )
            # Every reading each node sent is stored once: no gap, no duplicate.
            for node_id in node_ids:
                seqs = [r["seq"] for r in rows if r["dc_id"] == node_id]
                assert seqs == list(range(sent[node_id])), node_id

            # The aggregate (from the ingester's latest state in Redis) equals the newest
            # reading each node sent.
            newest = [r for r in rows if r["seq"] == READINGS_PER_NODE - 1]

            async def all_online() -> bool:
                live = await get_aggregate(redis, names, node_ids, offline_after_s=60, cache_s=0.01)
                return live.online_nodes == NODES

            await _until(all_online, 10, "every node online in the aggregate")
            aggregate = await get_aggregate(
                redis, names, node_ids, offline_after_s=60, cache_s=0.01
            )
        finally:
            assert await fleet.stop(drain_timeout_s=10)
        assert aggregate.node_count == NODES
        assert aggregate.total_power_kw == pytest.approx(
            sum(r["power_kw"] for r in newest), abs=1e-6
        )
        assert aggregate.avg_soc == pytest.approx(
            statistics.fmean(r["soc"] for r in newest), abs=1e-6
        )
        assert aggregate.avg_freq == pytest.approx(
            statistics.fmean(r["freq"] for r in newest), abs=1e-6
        )

    # A one-minute downsampling of one node's readings: each bucket's count, mean,
    # minimum and maximum are those of the readings in it.
    node_rows = [r for r in rows if r["dc_id"] == node_ids[0]]
    start = node_rows[0]["timestamp"].replace(second=0, microsecond=0)
    end = node_rows[-1]["timestamp"] + timedelta(minutes=1)
    buckets = await downsampled_range(db, node_ids[0], start, end, Bucket.MINUTE)
    assert sum(b.count for b in buckets) == len(node_rows)
    for bucket in buckets:
        inside = [
            r["power_kw"]
            for r in node_rows
            if bucket.start <= r["timestamp"] < bucket.start + timedelta(minutes=1)
        ]
        assert bucket.count == len(inside)
        assert bucket.power_kw.avg == pytest.approx(statistics.fmean(inside))
        assert bucket.power_kw.min == pytest.approx(min(inside))
        assert bucket.power_kw.max == pytest.approx(max(inside))


# The back-to-back test's own nodes, and the readings each takes in one burst.
BURST_FIRST = 1621
BURST_NODES = 4
BURST_READINGS = 10


async def test_readings_taken_back_to_back_are_each_stored(
    settings: Settings, db: Database, redis: Redis
) -> None:
    """After a stall the simulator's sampler takes each node's missed readings back to
    back, all within a millisecond. The store keys a reading by its node and timestamp in
    milliseconds, and takes a second reading under one key for a redelivery of the first:
    every reading must carry a time of its own, or all but one of a burst are lost."""
    specs = seed_node_specs(settings.mqtt, BURST_FIRST + BURST_NODES - 1)[BURST_FIRST - 1 :]
    await register_nodes(db, specs)
    names = RedisNames(prefix=f"test-e2e-burst-{uuid.uuid4().hex[:8]}")
    sim = settings.edge_sim.model_copy(update={"nodes": BURST_NODES, "first_node": BURST_FIRST})
    fleet = Fleet(settings.model_copy(update={"edge_sim": sim}))
    taken = dict.fromkeys(fleet.node_ids, BURST_READINGS)

    async def stored() -> int:
        return await db[TELEMETRY].count_documents({"dc_id": {"$in": fleet.node_ids}})

    async with running_ingester(with_ingest(settings, flush_interval_s=0.05), db, redis, names):
        fleet.start(sampling=False)
        for node_id in fleet.node_ids:
            for _ in range(BURST_READINGS):
                fleet.sample(node_id)
        assert await fleet.stop(drain_timeout_s=20)
        try:
            await _until(lambda: _at_least(stored, sum(taken.values())), 20, "every reading")
        except pytest.fail.Exception:
            pytest.fail(f"readings missing: {await _missing(db, taken)}")


async def _missing(db: Database, taken: dict[str, int]) -> dict[str, list[int]]:
    """Each node's readings (by seq) below the count it took that the store lacks."""
    rows = (
        await db[TELEMETRY].find({"dc_id": {"$in": list(taken)}}, {"dc_id": 1, "seq": 1}).to_list()
    )
    held: dict[str, set[int]] = {n: set() for n in taken}
    for r in rows:
        held[r["dc_id"]].add(r["seq"])
    gaps = {n: sorted(set(range(count)) - held[n]) for n, count in taken.items()}
    return {n: seqs for n, seqs in gaps.items() if seqs}


# The broker-restart test's own nodes.
RESTART_FIRST = 1641
RESTART_NODES = 20


async def test_a_broker_restart_loses_no_reading_at_the_store(
    settings: Settings, db: Database, redis: Redis
) -> None:
    """Counted where it matters: every reading every node took, before, during and after
    the broker is away, is stored exactly once (the nodes' buffers and QoS 1 carry it
    across; the ingester's persistent session picks up what the broker kept)."""
    specs = seed_node_specs(settings.mqtt, RESTART_FIRST + RESTART_NODES - 1)[RESTART_FIRST - 1 :]
    await register_nodes(db, specs)
    names = RedisNames(prefix=f"test-e2e-restart-{uuid.uuid4().hex[:8]}")
    # One ingester, subscribed plainly as the platform's default: Mosquitto keeps that
    # subscription across its restart (a shared one it forgets; vpp/ingest/consumer.py).
    ingest_settings = with_ingest(settings, share_group="", flush_interval_s=0.05)
    sim = settings.edge_sim.model_copy(
        update={"nodes": RESTART_NODES, "first_node": RESTART_FIRST, "interval_s": 0.1}
    )
    fleet = Fleet(settings.model_copy(update={"edge_sim": sim}))
    node_ids = fleet.node_ids
    broker = Stack(settings, only=["mqtt"])

    async def stored() -> int:
        return await db[TELEMETRY].count_documents({"dc_id": {"$in": node_ids}})

    try:
        async with running_ingester(ingest_settings, db, redis, names):
            fleet.start()
            await _until(lambda: _at_least(stored, RESTART_NODES * 5), 30, "readings before")
            await asyncio.to_thread(broker.down)
            # The nodes keep measuring into their buffers while the broker is away.
            await _until(
                lambda: _true(min(len(fleet.link(n).buffer) for n in node_ids) >= 10),
                20,
                "readings buffered during the outage",
            )
            await broker.up()
            taken_before_up = sum(fleet.node(n).seq for n in node_ids)
            await _until(
                lambda: _at_least(stored, taken_before_up + RESTART_NODES * 5),
                90,
                "readings after the broker came back",
            )
            assert await fleet.stop(drain_timeout_s=20)
            taken = {n: fleet.node(n).seq for n in node_ids}
            try:
                await _until(lambda: _at_least(stored, sum(taken.values())), 60, "every reading")
            except pytest.fail.Exception:
                # Which readings never arrived says where they were lost (before the broker
                # went down, while it was away, or in the ingester's catch-up).
                pytest.fail(f"readings missing after 60 s: {await _missing(db, taken)}")
        rows = (
            await db[TELEMETRY].find({"dc_id": {"$in": node_ids}}, {"dc_id": 1, "seq": 1}).to_list()
        )
        for node_id in node_ids:
            seqs = sorted(r["seq"] for r in rows if r["dc_id"] == node_id)
            assert seqs == list(range(taken[node_id])), node_id
    finally:
        await broker.up()


async def _at_least(count: Any, n: int) -> bool:
    return bool(await count() >= n)


async def _true(value: bool) -> bool:
    return value
