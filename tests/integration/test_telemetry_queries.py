"""The store's queries on known readings: latest N, a range, a downsampled range."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from statistics import mean
from typing import Any

import pytest

from vpp.config import Settings
from vpp.store.database import Database, MongoClient, init_store, mongo_client
from vpp.store.documents import TELEMETRY, TELEMETRY_KEY_INDEX
from vpp.store.retention import prune_telemetry
from vpp.store.telemetry_queries import (
    Bucket,
    downsampled_range,
    latest_readings,
    readings_in_range,
)

DB_NAME = f"vpp_test_queries_{uuid.uuid4().hex[:8]}"
NODE = "node-q0001"
OTHER = "node-q0002"
STEP = timedelta(seconds=20)
COUNT = 90  # 30 minutes
# Three hours ago on the hour, so "latest" has to widen its search window.
T0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)


def known(i: int, node: str = NODE) -> dict[str, Any]:
    stamp = T0 + i * STEP
    return {
        "dc_id": node,
        "seq": i,
        "timestamp": stamp,
        "soc": 50.0 + i % 7,
        "power_kw": float(i) if node == NODE else 1000.0,
        "freq": 50.0 + (i % 5 - 2) * 0.01,
        "received_at": stamp + timedelta(milliseconds=30),
    }


@pytest.fixture(scope="module")
async def db(settings: Settings) -> AsyncIterator[Database]:
    client: MongoClient = mongo_client(settings.mongo)
    database = client[DB_NAME]
    await init_store(database, settings.mongo)
    docs = [known(i) for i in range(COUNT)] + [known(i, OTHER) for i in range(COUNT)]
    await database[TELEMETRY].insert_many(docs)
    yield database
    await client.drop_database(DB_NAME)
    await client.close()


async def test_latest_readings_newest_first(db: Database) -> None:
    latest = await latest_readings(db, NODE, limit=5)
    assert [r.seq for r in latest] == [89, 88, 87, 86, 85]
    assert latest[0].timestamp == T0 + 89 * STEP
    assert latest[0].received_at == T0 + 89 * STEP + timedelta(milliseconds=30)
    everything = await latest_readings(db, NODE, limit=1000)
    assert len(everything) == COUNT
    assert await latest_readings(db, "node-nobody", limit=3) == []


async def test_range_includes_start_and_excludes_end(db: Database) -> None:
    rows = await readings_in_range(db, NODE, T0 + 10 * STEP, T0 + 20 * STEP)
    assert [r.seq for r in rows] == list(range(10, 20))
    assert {r.dc_id for r in rows} == {NODE}
    limited = await readings_in_range(db, NODE, T0, T0 + timedelta(hours=1), limit=7)
    assert [r.seq for r in limited] == list(range(7))


@pytest.mark.parametrize(("bucket", "per_bucket"), [(Bucket.MINUTE, 3), (Bucket.FIVE_MINUTES, 15)])
async def test_downsampling_gives_avg_min_max_per_bucket(
    db: Database, bucket: Bucket, per_bucket: int
) -> None:
    # Start mid-bucket: the first bucket holds only the readings from there on.
    start = T0 + STEP
    buckets = await downsampled_range(db, NODE, start, T0 + timedelta(hours=1), bucket)
    expected: dict[datetime, list[dict[str, Any]]] = {}
    for i in range(1, COUNT):
        doc = known(i)
        index = (doc["timestamp"] - T0) // bucket.width
        expected.setdefault(T0 + index * bucket.width, []).append(doc)
    assert [b.start for b in buckets] == sorted(expected)
    assert buckets[0].count == per_bucket - 1
    assert {b.count for b in buckets[1:]} == {per_bucket}
    for got in buckets:
        docs = expected[got.start]
        assert got.count == len(docs)
        for field in ("power_kw", "soc", "freq"):
            values = [d[field] for d in docs]
            stats = getattr(got, field)
            assert stats.avg == pytest.approx(mean(values))
            assert stats.min == pytest.approx(min(values))
            assert stats.max == pytest.approx(max(values))


async def test_an_hour_bucket_covers_the_whole_half_hour(db: Database) -> None:
    (only,) = await downsampled_range(db, NODE, T0, T0 + timedelta(hours=2), Bucket.HOUR)
    assert (only.start, only.count) == (T0, COUNT)
    assert only.power_kw.avg == pytest.approx(mean(range(COUNT)))


async def test_queries_walk_the_node_time_index(db: Database) -> None:
    query = {"dc_id": NODE, "timestamp": {"$gte": T0, "$lt": T0 + timedelta(hours=1)}}
    plan = await db[TELEMETRY].find(query).explain()
    assert "IXSCAN" in str(plan["queryPlanner"]["winningPlan"])
    assert TELEMETRY_KEY_INDEX in str(plan["queryPlanner"]["winningPlan"])


async def test_bad_ranges_are_refused(db: Database) -> None:
    with pytest.raises(ValueError, match="before end"):
        await readings_in_range(db, NODE, T0, T0)
    with pytest.raises(ValueError, match="time zone"):
        await readings_in_range(db, NODE, T0.replace(tzinfo=None), T0 + STEP)
    with pytest.raises(ValueError, match="wider bucket"):
        await downsampled_range(db, NODE, T0 - timedelta(days=30), T0, Bucket.MINUTE)
    with pytest.raises(ValueError, match="limit"):
        await latest_readings(db, NODE, limit=0)


async def test_pruning_deletes_only_readings_past_the_retention(db: Database) -> None:
    node = "node-q0003"
    now = datetime.now(UTC)
    ages = [timedelta(days=40), timedelta(days=31), timedelta(days=29), timedelta(hours=1)]
    await db[TELEMETRY].insert_many(
        [known(i, node) | {"timestamp": now - age} for i, age in enumerate(ages)]
    )
    deleted = await prune_telemetry(db, [node, "node-nobody"], retention_s=30 * 86_400)
    assert deleted == 2
    kept = await db[TELEMETRY].find({"dc_id": node}).sort("timestamp", 1).to_list()
    assert [doc["seq"] for doc in kept] == [2, 3]
