"""The telemetry path on the real servers: MQTT -> ingest -> MongoDB + Redis."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from tests.integration.telemetry_helpers import (
    LiveListener,
    clear_retained_statuses,
    publishers,
    reading,
    running_ingester,
    with_ingest,
)
from vpp.bus.channels import RedisNames
from vpp.bus.topics import NodeChannel
from vpp.config import Settings
from vpp.ingest.consumer import PUBACK_SUCCESS, Ingester
from vpp.models import NodeStatus
from vpp.stack import Stack
from vpp.store.aggregate import Aggregate, FreqStatus, get_aggregate
from vpp.store.database import Database, MongoClient, TelemetryLayout, init_store, mongo_client
from vpp.store.documents import DEAD_LETTERS, TELEMETRY, TELEMETRY_KEY_INDEX, DeadLetterReason
from vpp.store.live_state import (
    Heard,
    LiveReading,
    LiveStateWriter,
    epoch_ms,
    read_live_states,
)
from vpp.store.nodes import register_nodes, seed_node_specs

DB_NAME = f"vpp_test_ingest_{uuid.uuid4().hex[:8]}"
REGISTERED = [f"node-{n:05d}" for n in range(1, 13)]
UNREGISTERED = "node-00019"  # has a broker account, is not in the registry
STEP = timedelta(seconds=1)


@pytest.fixture(scope="module", autouse=True)
async def _no_foreign_statuses(settings: Settings) -> None:
    await clear_retained_statuses(settings)


@pytest.fixture(scope="module")
async def mongo(settings: Settings) -> AsyncIterator[MongoClient]:
    # A short server selection timeout: the outage tests see a failed write within 1 s.
    client = mongo_client(settings.mongo, server_selection_timeout_ms=1_000)
    yield client
    await client.drop_database(DB_NAME)
    await client.close()


@pytest.fixture(scope="module")
async def db(mongo: MongoClient, settings: Settings) -> Database:
    database = mongo[DB_NAME]
    await init_store(database, settings.mongo)
    await register_nodes(database, seed_node_specs(settings.mqtt, len(REGISTERED)))
    return database


@pytest.fixture(scope="module")
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = Redis.from_url(settings.redis.url)
    yield client
    await client.aclose()


@pytest.fixture
async def names(redis: Redis) -> AsyncIterator[RedisNames]:
    names = RedisNames(prefix=f"test-{uuid.uuid4().hex[:8]}")
    yield names
    await redis.delete(*names.all_keys(), names.aggregate_cache(None))


@pytest.fixture
def ingest_settings(settings: Settings) -> Settings:
    return with_ingest(settings, flush_interval_s=0.05)


@pytest.fixture
async def ingester(
    ingest_settings: Settings, db: Database, redis: Redis, names: RedisNames
) -> AsyncIterator[Ingester]:
    async with running_ingester(ingest_settings, db, redis, names) as running:
        yield running


async def stored(db: Database, node_ids: list[str]) -> list[dict[str, Any]]:
    cursor = db[TELEMETRY].find({"dc_id": {"$in": node_ids}}, {"_id": 0}).sort("timestamp", 1)
    return await cursor.to_list()


async def dead_letters(db: Database, **query: Any) -> list[dict[str, Any]]:
    return await db[DEAD_LETTERS].find(query, {"_id": 0}).to_list()


async def test_store_has_a_unique_key_and_a_layout(settings: Settings, db: Database) -> None:
    indexes = await db[TELEMETRY].index_information()
    assert indexes[TELEMETRY_KEY_INDEX]["key"] == [("dc_id", 1), ("timestamp", 1)]
    assert indexes[TELEMETRY_KEY_INDEX]["unique"] is True
    # Idempotent: a second initialisation keeps the collection as it is.
    info = await init_store(db, settings.mongo)
    assert info.layout in (TelemetryLayout.TIME_SERIES, TelemetryLayout.PLAIN)
    assert info.retention_s == settings.mongo.telemetry_retention_days * 86_400
    if info.server.startswith("secantus"):
        # SecantusDB: a time series with the unique key; retention is pruned by ingest,
        # and no TTL index (its sweeper would stall writes, see vpp.store.database).
        assert info.layout is TelemetryLayout.TIME_SERIES
        assert not info.retention_enforced
        assert all("expireAfterSeconds" not in spec for spec in indexes.values())


async def test_readings_are_stored_published_and_kept_as_latest_state(
    settings: Settings, ingester: Ingester, db: Database, redis: Redis, names: RedisNames
) -> None:
    nodes = REGISTERED[:3]
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    sent = {
        (node, seq): reading(node, seq, start + timedelta(seconds=seq), power_kw=float(seq))
        for node in nodes
        for seq in range(10)
    }
    async with LiveListener(redis, names) as live, publishers(settings, *nodes) as pubs:
        for seq in range(10):
            for pub in pubs:
                pub.publish(sent[(pub.node_id, seq)])
        got = await live.collect(len(sent))

    # Live: every reading once, in batches (one message per batch, not per reading).
    assert sorted((r["dc_id"], r["seq"]) for r in got) == sorted(sent)
    assert len(live.batches) < len(sent)
    # MongoDB: every reading exactly once, with its values.
    rows = await stored(db, nodes)
    assert sorted((r["dc_id"], r["seq"]) for r in rows) == sorted(sent)
    for row in rows:
        assert row["power_kw"] == float(row["seq"])
        assert row["timestamp"] == start + timedelta(seconds=row["seq"])
        assert row["timestamp"].tzinfo is not None
        assert row["received_at"] >= row["timestamp"]
    # Redis: the newest reading of each node, and the node online.
    states = await read_live_states(redis, names, nodes, offline_after_s=30)
    assert [(s.dc_id, s.online) for s in states] == [(n, True) for n in nodes]
    for state in states:
        assert state.reading is not None
        assert state.reading.seq == 9
    assert ingester.buffered == 0
    assert ingester.acknowledged.count == len(sent)


async def test_aggregate_equals_what_was_sent(
    settings: Settings, ingester: Ingester, db: Database, redis: Redis, names: RedisNames
) -> None:
    nodes = REGISTERED[3:7]
    values: dict[str, dict[str, Any]] = {
        nodes[0]: {"power_kw": 12.5, "soc": 80.0, "freq": 50.02},
        nodes[1]: {"power_kw": -4.0, "soc": 40.0, "freq": 49.98},
        nodes[2]: {"power_kw": 7.25, "soc": 55.0, "freq": 50.01},
        nodes[3]: {"power_kw": 100.0, "soc": 10.0, "freq": 50.05},
    }
    async with LiveListener(redis, names) as live, publishers(settings, *nodes) as pubs:
        for pub in pubs:
            pub.publish(reading(pub.node_id, 1, **values[pub.node_id]))
        await live.collect(len(nodes))
        await asyncio.wait_for(ingester.acknowledged.reached(len(nodes)), 10)
        # The last node says goodbye (as its last will would): it no longer counts.
        pubs[3].publish(NodeStatus.OFFLINE.value.encode(), NodeChannel.STATUS)
        await asyncio.wait_for(ingester.acknowledged.reached(len(nodes) + 1), 10)

    cache_s = settings.ingest.aggregate_cache_s
    whole = await get_aggregate(redis, names, None, offline_after_s=30, cache_s=cache_s)
    online = [values[n] for n in nodes[:3]]
    assert whole.node_count == 4
    assert whole.online_nodes == 3
    assert whole.total_power_kw == pytest.approx(sum(v["power_kw"] for v in online))
    assert whole.avg_soc == pytest.approx(sum(v["soc"] for v in online) / 3)
    assert whole.avg_freq == pytest.approx(sum(v["freq"] for v in online) / 3)
    assert whole.freq_status is FreqStatus.NORMAL

    part = await get_aggregate(redis, names, nodes[:2], offline_after_s=30, cache_s=cache_s)
    assert (part.node_count, part.online_nodes) == (2, 2)
    assert part.total_power_kw == pytest.approx(8.5)
    # Cached: the same result (same computation time) until the cache expires.
    again = await get_aggregate(redis, names, None, offline_after_s=30, cache_s=cache_s)
    assert again == whole
    assert await redis.pttl(names.aggregate_cache(None)) > 0


async def test_a_latest_value_no_ingester_wrote_fails_no_query(
    redis: Redis, names: RedisNames
) -> None:
    """Redis holds, for one node, a latest value that is no reading (another writer's,
    or another version's ingest): its state has no reading, the aggregate leaves its
    figures out, and the other node is read as ever. The same for a cached aggregate."""
    now = datetime.now(UTC)
    good = orjson.loads(reading("lv-good", 1, now, power_kw=3.0, soc=60.0, freq=50.0))
    live = [
        LiveReading("lv-good", epoch_ms(now), orjson.dumps({**good, "received_at": now})),
        LiveReading("lv-odd", epoch_ms(now), b'{"power_w": 3000}'),
    ]
    await LiveStateWriter(redis, names).publish_batch(live, epoch_ms(now))
    states = await read_live_states(redis, names, ["lv-good", "lv-odd"], offline_after_s=30)
    assert [(s.dc_id, s.online, s.reading is not None) for s in states] == [
        ("lv-good", True, True),
        ("lv-odd", True, False),
    ]
    whole = await get_aggregate(redis, names, None, offline_after_s=30, cache_s=1.0)
    assert (whole.node_count, whole.online_nodes, whole.total_power_kw) == (2, 2, 3.0)
    # Nor does a newest timestamp that is no number keep the silence check (and with it
    # the batch's live state) from going on: that node is left out of it.
    await redis.hset(names.latest_ts, "lv-odd", "yesterday")
    heard = await LiveStateWriter(redis, names).heard(["lv-good", "lv-odd"])
    assert heard == {"lv-good": Heard(epoch_ms(now), epoch_ms(now))}
    # A cached aggregate of another shape (another version's, during an upgrade) is
    # computed again rather than failing every reader until it expires.
    await redis.set(names.aggregate_cache(None), b'{"total_power_w": 3000}', px=60_000)
    again = await get_aggregate(redis, names, None, offline_after_s=30, cache_s=1.0)
    assert (again.node_count, again.total_power_kw) == (2, 3.0)
    cached = await redis.get(names.aggregate_cache(None))
    assert cached is not None
    assert Aggregate.model_validate_json(cached).total_power_kw == 3.0  # re-cached


async def test_duplicates_go_to_dead_letters_and_a_restarted_seq_does_not(
    settings: Settings, ingester: Ingester, db: Database, redis: Redis, names: RedisNames
) -> None:
    node = REGISTERED[7]
    first = (datetime.now(UTC) - timedelta(seconds=20)).replace(microsecond=0)
    payload = reading(node, 5, first)
    # Another reading stamped as the first (a node's clock too coarse for its rate).
    taken = reading(node, 6, first, power_kw=1.0)
    async with publishers(settings, node) as (pub,):
        pub.publish(payload)
        await asyncio.wait_for(ingester.acknowledged.reached(1), 10)
        pub.publish(payload)  # redelivered, or replayed by an edge buffer
        # The node restarts: its seq starts again at 0, with later timestamps.
        pub.publish(reading(node, 0, first + timedelta(seconds=5)))
        pub.publish(reading(node, 5, first + timedelta(seconds=10)))
        await asyncio.wait_for(ingester.acknowledged.reached(4), 10)
        pub.publish(taken)
        await asyncio.wait_for(ingester.acknowledged.reached(5), 10)

    rows = await stored(db, [node])
    assert [(r["seq"], r["timestamp"]) for r in rows] == [
        (5, first),
        (0, first + timedelta(seconds=5)),
        (5, first + timedelta(seconds=10)),
    ]
    letters = await dead_letters(db, dc_id=node)
    # The same reading again is a duplicate; a different one under its key is kept here
    # with what holds the key, not taken for a redelivery.
    refused = sorted((x["reason"], orjson.loads(x["payload"])["seq"]) for x in letters)
    assert refused == [
        (DeadLetterReason.DUPLICATE.value, 5),
        (DeadLetterReason.TIMESTAMP_TAKEN.value, 6),
    ]
    [conflict] = [x for x in letters if x["reason"] == DeadLetterReason.TIMESTAMP_TAKEN.value]
    assert orjson.loads(conflict["payload"]) == orjson.loads(taken)
    assert "(seq 5)" in conflict["detail"]
    assert "this one is seq 6" in conflict["detail"]
    assert ingester.metrics.dead_letters.labels(reason="duplicate")._value.get() == 1
    assert ingester.metrics.dead_letters.labels(reason="timestamp_taken")._value.get() == 1


async def test_unknown_nodes_and_bad_payloads_go_to_dead_letters(
    settings: Settings, ingester: Ingester, db: Database
) -> None:
    node = REGISTERED[8]
    async with publishers(settings, node, UNREGISTERED) as (known, unknown):
        unknown.publish(reading(UNREGISTERED, 1))
        known.publish(b"{not json")
        known.publish(reading(node, 1, soc=140.0))
        known.publish(reading(REGISTERED[9], 1))  # another node's id on this node's topic
        known.publish(b"sleeping", NodeChannel.STATUS)
        await asyncio.wait_for(ingester.acknowledged.reached(5), 10)

    letters = await dead_letters(db, dc_id={"$in": [node, UNREGISTERED]})
    assert sorted(letter["reason"] for letter in letters) == sorted(
        [
            DeadLetterReason.UNKNOWN_NODE,
            DeadLetterReason.BAD_JSON,
            DeadLetterReason.SCHEMA,
            DeadLetterReason.ID_MISMATCH,
            DeadLetterReason.BAD_STATUS,
        ]
    )
    assert await stored(db, [node, UNREGISTERED]) == []
    for reason in ("unknown_node", "bad_json", "schema", "id_mismatch", "bad_status"):
        assert ingester.metrics.dead_letters.labels(reason=reason)._value.get() == 1


async def test_ingesters_in_one_group_share_the_load_without_overlap(
    settings: Settings, db: Database, redis: Redis, names: RedisNames
) -> None:
    shared = with_ingest(settings, flush_interval_s=0.05)
    nodes = REGISTERED[:4]
    base = datetime.now(UTC) - timedelta(minutes=2)
    async with (
        running_ingester(shared, db, redis, names) as one,
        running_ingester(shared, db, redis, names) as two,
        LiveListener(redis, names) as live,
        publishers(settings, *nodes) as pubs,
    ):
        for seq in range(50):
            for pub in pubs:
                pub.publish(reading(pub.node_id, 1000 + seq, base + timedelta(seconds=seq)))
        got = await live.collect(200)
        for each in (one, two):
            await asyncio.wait_for(each.acknowledged.reached(each.received.count), 10)
        assert one.acknowledged.count + two.acknowledged.count == 200
        assert one.acknowledged.count > 0
        assert two.acknowledged.count > 0
    assert len({(r["dc_id"], r["seq"]) for r in got}) == 200
    rows = await db[TELEMETRY].count_documents({"dc_id": {"$in": nodes}, "seq": {"$gte": 1000}})
    assert rows == 200


# -- hostile input ---------------------------------------------------------------------

GOOD_NODE = REGISTERED[10]
TOPIC = f"vpp/v1/nodes/{GOOD_NODE}/telemetry"
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = ["dc_id", "seq", "timestamp", "soc", "power_kw", "freq", "cpu_usage", "pv_kw"]


def _valid() -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(reading(GOOD_NODE, 1))
    return body


@st.composite
def hostile(draw: st.DrawFn) -> tuple[str | bytes, bytes, set[DeadLetterReason]]:
    kind = draw(st.sampled_from(["bytes", "huge", "nan", "wrong_type", "junk", "topic", "other"]))
    bad_body = {DeadLetterReason.BAD_JSON, DeadLetterReason.SCHEMA}
    if kind == "bytes":
        return TOPIC, draw(st.binary(max_size=300)), bad_body | {DeadLetterReason.ID_MISMATCH}
    if kind == "huge":
        size = draw(st.integers(min_value=16 * 1024 + 1, max_value=200_000))
        return TOPIC, orjson.dumps(_valid() | {"dc_id": "x" * size}), {DeadLetterReason.TOO_LARGE}
    if kind == "nan":
        field = draw(st.sampled_from(["soc", "power_kw", "freq"]))
        literal = draw(st.sampled_from(["NaN", "Infinity", "-Infinity"]))
        body = orjson.dumps(_valid() | {field: 1.5}).replace(b"1.5", literal.encode())
        return TOPIC, body, bad_body
    if kind == "wrong_type":
        field = draw(st.sampled_from(FIELDS))
        # Never a number, a string or null: each of those is right for some field.
        value = draw(
            st.booleans()
            | st.lists(json_values, max_size=3)
            | st.dictionaries(st.text(max_size=8), json_values, max_size=3)
        )
        return TOPIC, json.dumps(_valid() | {field: value}).encode(), bad_body
    if kind == "junk":
        junk = draw(json_values)  # integers beyond 64 bits included
        return TOPIC, json.dumps(junk).encode(), bad_body
    if kind == "topic":
        topic = draw(
            st.text(max_size=80).filter(lambda t: not t.startswith("vpp/v1/nodes/"))
            | st.binary(max_size=40).map(lambda b: b"vpp/v1/nodes/\xff" + b)
        )
        return topic, reading(GOOD_NODE, 1), {DeadLetterReason.BAD_TOPIC}
    other = draw(st.sampled_from(["mismatch", "unknown", "old"]))
    if other == "mismatch":
        return TOPIC, reading(REGISTERED[0], 1), {DeadLetterReason.ID_MISMATCH}
    if other == "unknown":
        topic = f"vpp/v1/nodes/{UNREGISTERED}/telemetry"
        return topic, reading(UNREGISTERED, 1), {DeadLetterReason.UNKNOWN_NODE}
    return (
        TOPIC,
        reading(GOOD_NODE, 1, datetime(1999, 1, 1, tzinfo=UTC)),
        {DeadLetterReason.TIMESTAMP_OUT_OF_RANGE},
    )


@pytest.fixture
async def quick_ingester(
    settings: Settings, db: Database, redis: Redis, names: RedisNames
) -> AsyncIterator[Ingester]:
    async with running_ingester(
        with_ingest(settings, flush_interval_s=0.005), db, redis, names
    ) as running:
        yield running


@hypothesis_settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(message=hostile())
async def test_hostile_messages_never_crash_and_land_in_dead_letters(
    quick_ingester: Ingester,
    db: Database,
    message: tuple[str | bytes, bytes, set[DeadLetterReason]],
) -> None:
    topic, payload, reasons = message
    before = await db[DEAD_LETTERS].count_documents({})
    code = await quick_ingester.handle_message(None, topic, payload, 1, {})
    assert code == PUBACK_SUCCESS
    assert await db[DEAD_LETTERS].count_documents({}) == before + 1
    letter = await db[DEAD_LETTERS].find_one({}, sort=[("_id", -1)])
    assert letter is not None
    assert DeadLetterReason(letter["reason"]) in reasons
    assert len(letter["payload"]) <= 4096
    assert letter["payload_size"] == len(payload)


async def test_a_full_ingester_stops_reading_until_it_has_room(
    settings: Settings, db: Database, redis: Redis, names: RedisNames
) -> None:
    # Room for 5 messages; a batch is written only after 2 s, so 8 messages fill it.
    small = with_ingest(settings, max_buffered=5, batch_size=100, flush_interval_s=2.0)
    node = REGISTERED[2]
    base = datetime.now(UTC) - timedelta(minutes=5)
    topic = f"vpp/v1/nodes/{node}/telemetry"
    async with running_ingester(small, db, redis, names) as ingester:
        assert ingester.receiving
        handlers = [
            asyncio.create_task(
                ingester.handle_message(None, topic, reading(node, 500 + i, base + i * STEP), 1, {})
            )
            for i in range(8)
        ]
        await asyncio.wait_for(ingester.received.reached(8), 5)
        assert not ingester.receiving
        assert await asyncio.wait_for(asyncio.gather(*handlers), 10) == [PUBACK_SUCCESS] * 8
        assert ingester.receiving


# -- MongoDB outage --------------------------------------------------------------------


async def test_mongo_outage_back_pressures_and_loses_nothing(
    settings: Settings, ingester: Ingester, db: Database, redis: Redis, names: RedisNames
) -> None:
    node = REGISTERED[11]
    mongo_only = Stack(settings, only=["mongo"])
    base = datetime.now(UTC) - timedelta(seconds=50)
    try:
        await asyncio.to_thread(mongo_only.down)
        async with LiveListener(redis, names) as live, publishers(settings, node) as (pub,):
            for seq in range(40):
                pub.publish(reading(node, seq, base + timedelta(seconds=seq)))
            await asyncio.wait_for(ingester.received.reached(40), 10)
            # Everything received, nothing stored, so nothing acknowledged to the broker.
            assert ingester.acknowledged.count == 0
            assert ingester.buffered == 40
            await asyncio.wait_for(ingester.store_failures.reached(1), 15)
            assert ingester.acknowledged.count == 0
            await mongo_only.up()
            await asyncio.wait_for(ingester.acknowledged.reached(40), 60)
            got = await live.collect(40)
    finally:
        await mongo_only.up()
    assert sorted(r["seq"] for r in got) == list(range(40))
    rows = await stored(db, [node])
    assert [r["seq"] for r in rows] == list(range(40))
    assert await dead_letters(db, dc_id=node) == []
    assert ingester.metrics.store_errors.labels(TELEMETRY)._value.get() >= 1


async def test_unacknowledged_readings_return_to_a_restarted_ingester(
    settings: Settings, db: Database, redis: Redis, names: RedisNames
) -> None:
    node = REGISTERED[11]
    shared = with_ingest(settings, flush_interval_s=0.05)
    client_id = f"test-ingest-{uuid.uuid4().hex[:8]}"
    mongo_only = Stack(settings, only=["mongo"])
    base = datetime.now(UTC) - timedelta(seconds=200)
    try:
        async with running_ingester(
            shared, db, redis, names, client_id, end_session=False, stop_timeout_s=0.5
        ) as one:
            await asyncio.to_thread(mongo_only.down)
            async with publishers(settings, node) as (pub,):
                for seq in range(100, 120):
                    pub.publish(reading(node, seq, base + timedelta(seconds=seq)))
                await asyncio.wait_for(one.received.reached(20), 10)
            # It stops with the store away (as it would crash): all 20 unacknowledged.
        assert one.acknowledged.count == 0
        await mongo_only.up()
        async with (
            LiveListener(redis, names) as live,
            running_ingester(shared, db, redis, names, client_id) as two,
        ):
            await live.collect(20, timeout_s=30)
            await asyncio.wait_for(two.acknowledged.reached(20), 10)
    finally:
        await mongo_only.up()
    rows = await db[TELEMETRY].find({"dc_id": node, "seq": {"$gte": 100}}).to_list()
    assert sorted(r["seq"] for r in rows) == list(range(100, 120))
