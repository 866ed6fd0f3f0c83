"""The fleet's history on the real store and Redis: the recorder files the fleet's
aggregate under the minute it is read in, once per minute however often or by however
many processes it runs, reads it back per bucket, forgets what is past the retention, and
keeps going when Redis is away; GraphQL and REST serve it to a viewer and refuse bad
ranges."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from tests.integration.api_support import Tokens, publish_live, reading
from tests.integration.test_api_graphql import gql
from vpp.api.live.fleet_recorder import FleetRecorder
from vpp.api.state import ApiState
from vpp.bus.channels import RedisNames
from vpp.config import IngestSettings, Settings
from vpp.services.aggregate import AggregateReader
from vpp.services.fleet_history import fleet_points
from vpp.store.aggregate import Aggregate
from vpp.store.database import Database
from vpp.store.documents import FLEET_HISTORY
from vpp.store.telemetry_queries import Bucket

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
# The aggregate is cached for a millisecond only: each minute recorded after `fleet_now`
# sees the readings as the test left them.
FRESH = IngestSettings(aggregate_cache_s=0.001)
HISTORY = """query($from: DateTime!, $to: DateTime!, $bucket: Bucket) {
  fleetHistory(from: $from, to: $to, bucket: $bucket) {
    start minutes totalPowerKw avgSoc avgFreq nodeCount onlineNodes } }"""


def reader(redis: Redis, names: RedisNames, settings: Settings) -> AggregateReader:
    return AggregateReader(redis, names, FRESH, redis_url=settings.redis.url)


async def fleet_now(redis: Redis, names: RedisNames, powers: dict[str, float]) -> None:
    """The nodes' latest readings, as the ingester leaves them in Redis."""
    await publish_live(
        redis,
        names,
        [
            reading(dc_id, power_kw=kw, soc=50.0 + i * 10, freq=50.0 - i * 0.1)
            for i, (dc_id, kw) in enumerate(powers.items())
        ],
    )
    await asyncio.sleep(0.01)  # past the cached aggregate's millisecond


async def run_until_recorded(recorder: FleetRecorder, minutes: int) -> None:
    """The recorder's loop, run until it has recorded `minutes` times (10 s at most)."""
    recorder.start()
    try:
        async with asyncio.timeout(10):
            while recorder.recorded < minutes:  # noqa: ASYNC110 - a count, with no event
                await asyncio.sleep(0.1)
    finally:
        await recorder.stop()


async def test_each_minute_is_recorded_once_and_read_back_per_bucket(
    scratch_db: Database, scratch_redis: Redis, scratch_names: RedisNames, settings: Settings
) -> None:
    db = scratch_db
    recorder = FleetRecorder(
        db, reader(scratch_redis, scratch_names, settings), retention=timedelta(days=1)
    )
    replica = FleetRecorder(
        db, reader(scratch_redis, scratch_names, settings), retention=timedelta(days=1)
    )

    await fleet_now(scratch_redis, scratch_names, {"fh-1": 10.0, "fh-2": 30.0})
    assert await recorder.record(T0 + timedelta(seconds=1)) == T0
    # Later in the same minute, and by a second process: still one point, the last read.
    await fleet_now(scratch_redis, scratch_names, {"fh-1": 12.0, "fh-2": 30.0})
    await replica.record(T0 + timedelta(seconds=40))
    assert await db[FLEET_HISTORY].count_documents({}) == 1

    await fleet_now(scratch_redis, scratch_names, {"fh-1": 20.0, "fh-2": 40.0})
    await recorder.record(T0 + timedelta(minutes=1, seconds=1))
    # 12:02 and 12:03 go unrecorded (the platform was down); 12:04 is.
    await fleet_now(scratch_redis, scratch_names, {"fh-1": 0.0, "fh-2": 4.0})
    await recorder.record(T0 + timedelta(minutes=4, seconds=1))

    minutes = await fleet_points(db, T0, T0 + timedelta(minutes=5), Bucket.MINUTE)
    assert [p.start for p in minutes] == [T0 + timedelta(minutes=m) for m in (0, 1, 4)]
    assert [p.total_power_kw for p in minutes] == [42.0, 60.0, 4.0]
    assert [p.avg_soc for p in minutes] == [55.0, 55.0, 55.0]
    assert [p.avg_freq for p in minutes] == pytest.approx([49.95, 49.95, 49.95])
    assert [(p.node_count, p.online_nodes, p.minutes) for p in minutes] == [(2, 2, 1)] * 3

    (five,) = await fleet_points(db, T0, T0 + timedelta(minutes=5), Bucket.FIVE_MINUTES)
    assert (five.start, five.minutes) == (T0, 3)
    assert five.total_power_kw == pytest.approx((42.0 + 60.0 + 4.0) / 3)
    # A range that starts mid-bucket reads only the minutes in it.
    later = await fleet_points(db, T0 + timedelta(minutes=1), T0 + timedelta(minutes=5))
    assert [p.start for p in later] == [T0 + timedelta(minutes=1), T0 + timedelta(minutes=4)]

    # A day later the next sweep deletes the minutes a day older than the one it files
    # (before 12:02 of the day before); 12:04 of that day stays until a later sweep.
    next_day = FleetRecorder(
        db, reader(scratch_redis, scratch_names, settings), retention=timedelta(days=1)
    )
    await next_day.record(T0 + timedelta(days=1, minutes=2, seconds=1))
    kept = await fleet_points(db, T0, T0 + timedelta(days=2), Bucket.HOUR)
    assert [(p.start, p.minutes) for p in kept] == [(T0, 1), (T0 + timedelta(days=1), 1)]
    (left,) = await fleet_points(db, T0, T0 + timedelta(hours=1))
    assert left.start == T0 + timedelta(minutes=4)


async def test_the_loop_records_on_its_period_and_outlives_an_unreachable_redis(
    scratch_db: Database,
    scratch_redis: Redis,
    scratch_names: RedisNames,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    db = scratch_db
    await fleet_now(scratch_redis, scratch_names, {"fh-1": 7.0})
    recorder = FleetRecorder(
        db, reader(scratch_redis, scratch_names, settings), retention=timedelta(days=1), every_s=1.0
    )
    await run_until_recorded(recorder, 2)
    # Two recordings a second apart are one minute's point, or two when a minute
    # turned between them.
    points = await fleet_points(db, datetime.now(UTC) - timedelta(minutes=2), datetime.now(UTC))
    assert 1 <= len(points) <= 2
    assert [p.total_power_kw for p in points] == [7.0] * len(points)

    # Nothing listens on this port: every read fails; the loop logs each minute it loses.
    gone = Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=0.5)
    away = FleetRecorder(
        db,
        AggregateReader(gone, scratch_names, FRESH, redis_url="redis://127.0.0.1:9/0"),
        retention=timedelta(days=1),
        every_s=1.0,
    )
    caplog.set_level(logging.WARNING, logger="vpp.api.live.fleet_recorder")
    away.start()
    try:
        async with asyncio.timeout(10):  # a second lost period: the loop went on
            while caplog.text.count("this minute is not recorded") < 2:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        assert away.recorded == 0
    finally:
        await away.stop()
        await gone.aclose()


async def test_a_viewer_reads_the_history_and_bad_ranges_are_refused(
    client: httpx.AsyncClient, tokens: Tokens, api: FastAPI
) -> None:
    state: ApiState = api.state.vpp
    start = datetime(2020, 2, 3, 4, 0, tzinfo=UTC)  # a range no other test records
    docs = [
        {
            "_id": start + timedelta(minutes=m),
            "total_power_kw": kw,
            "avg_soc": 60.0,
            "avg_freq": 50.01,
            "node_count": 20,
            "online_nodes": online,
            "at": start + timedelta(minutes=m),
        }
        for m, kw, online in [(0, 100.0, 20), (1, 120.0, 19), (2, 140.0, 20), (16, 80.0, 18)]
    ]
    await state.db[FLEET_HISTORY].insert_many(docs)
    try:
        viewer = await tokens.headers("viewer")
        variables = {"from": start.isoformat(), "to": (start + timedelta(hours=1)).isoformat()}
        by_quarter = await gql(client, HISTORY, {**variables, "bucket": "FIFTEEN_MINUTES"}, viewer)
        assert by_quarter.json()["data"]["fleetHistory"] == [
            {
                "start": start.isoformat(),
                "minutes": 3,
                "totalPowerKw": 120.0,
                "avgSoc": 60.0,
                "avgFreq": 50.01,
                "nodeCount": 20,
                "onlineNodes": 19,
            },
            {
                "start": (start + timedelta(minutes=15)).isoformat(),
                "minutes": 1,
                "totalPowerKw": 80.0,
                "avgSoc": 60.0,
                "avgFreq": 50.01,
                "nodeCount": 20,
                "onlineNodes": 18,
            },
        ]
        by_minute = await gql(client, HISTORY, variables, viewer)  # MINUTE by default
        assert len(by_minute.json()["data"]["fleetHistory"]) == 4

        backwards = {"from": variables["to"], "to": variables["from"]}
        refused = (await gql(client, HISTORY, backwards, viewer)).json()
        assert refused["data"] is None
        assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert refused["errors"][0]["message"] == "to: must be after from"
        a_year = {"from": start.isoformat(), "to": (start + timedelta(days=365)).isoformat()}
        too_many = (await gql(client, HISTORY, a_year, viewer)).json()
        assert too_many["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert "at most 10080: choose a wider bucket" in too_many["errors"][0]["message"]
        by_hour = await gql(client, HISTORY, {**a_year, "bucket": "HOUR"}, viewer)
        assert [p["minutes"] for p in by_hour.json()["data"]["fleetHistory"]] == [4]

        anonymous = (await gql(client, HISTORY, variables)).json()
        assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

        # The same over REST, for clients without GraphQL.
        url = "/api/aggregate/history"
        hour = {"start": variables["from"], "end": variables["to"], "bucket": "15m"}
        rest = await client.get(url, params=hour, headers=viewer)
        assert rest.status_code == 200
        assert [(p["start"], p["minutes"], p["total_power_kw"]) for p in rest.json()["data"]] == [
            ("2020-02-03T04:00:00Z", 3, 120.0),
            ("2020-02-03T04:15:00Z", 1, 80.0),
        ]
        backwards_rest = await client.get(
            url, params={"start": hour["end"], "end": hour["start"]}, headers=viewer
        )
        assert backwards_rest.status_code == 422
        assert backwards_rest.json()["error"] == "end: must be after start"
        year_rest = await client.get(
            url, params={"start": a_year["from"], "end": a_year["to"]}, headers=viewer
        )
        assert year_rest.status_code == 422
        assert year_rest.json()["error"].startswith("bucket: start-end spans 525600 buckets")
        assert (await client.get(url, params=hour)).status_code == 401
    finally:
        await state.db[FLEET_HISTORY].delete_many({"_id": {"$in": [d["_id"] for d in docs]}})


class FailsOnce(AggregateReader):
    """The real reader, whose first read raises what no handler names (a stand-in for a
    bug in the data or the code: no real server makes this fault on demand)."""

    failed = False

    async def read(self, node_ids: Sequence[str] | None = None) -> Aggregate:
        if not self.failed:
            self.failed = True
            raise KeyError("a field no version ever wrote")
        return await super().read(node_ids)


async def test_the_loop_outlives_an_unforeseen_failure(
    scratch_db: Database,
    scratch_redis: Redis,
    scratch_names: RedisNames,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await fleet_now(scratch_redis, scratch_names, {"fh-1": 5.0})
    faulty = FailsOnce(scratch_redis, scratch_names, FRESH, redis_url=settings.redis.url)
    recorder = FleetRecorder(scratch_db, faulty, retention=timedelta(days=1), every_s=1.0)
    caplog.set_level(logging.ERROR, logger="vpp.api.live.fleet_recorder")
    await run_until_recorded(recorder, 1)
    assert faulty.failed
    assert "this minute is not recorded" in caplog.text
    points = await fleet_points(
        scratch_db, datetime.now(UTC) - timedelta(minutes=2), datetime.now(UTC)
    )
    assert [p.total_power_kw for p in points] == [5.0]
