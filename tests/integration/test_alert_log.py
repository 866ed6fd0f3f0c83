"""Stored alerts on the real store and Redis: two API processes watching the same fleet
store each alert once, at the time of what showed it; GraphQL pages them newest first, by
node and by kind, and refuses bad input."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from tests.integration.api_support import Tokens, publish_live, reading
from tests.integration.telemetry_helpers import running_ingester, with_ingest
from tests.integration.test_api_graphql import gql
from tests.integration.test_edge_sim import free_port
from vpp.api.live import alerts as alerts_module
from vpp.api.live.alerts import Alert, AlertMonitor, AlertMonitorCollector
from vpp.api.live.broadcaster import Broadcaster
from vpp.api.metrics import ApiMetrics
from vpp.api.state import ApiState
from vpp.bus.channels import RedisNames
from vpp.config import IngestSettings, Settings
from vpp.edge_sim.command import serve
from vpp.edge_sim.fleet import Fleet
from vpp.models import NodeStatus
from vpp.stack import Stack
from vpp.store.aggregate import FreqStatus
from vpp.store.alert_log import store_alerts
from vpp.store.database import Database, init_store
from vpp.store.documents import (
    ALERTS,
    NODE_STATUS_LOG,
    TELEMETRY,
    AlertKind,
    AlertRecord,
    StoredAlert,
)
from vpp.store.live_state import (
    LiveStateWriter,
    StatusUpdate,
    epoch_ms,
    from_epoch_ms,
    read_live_states,
)
from vpp.store.nodes import register_nodes, seed_node_specs
from vpp.store.status_log import StatusLogReader, log_changes

HISTORY = """query($first: Int!, $after: String, $dcId: ID, $kind: AlertKind) {
  alertHistory(first: $first, after: $after, dcId: $dcId, kind: $kind) {
    edges { node { id kind at dcId freqStatus message } } pageInfo { hasNextPage endCursor } } }"""


def monitor(
    redis: Redis, names: RedisNames, db: Database, scan_s: float = 0.1
) -> tuple[AlertMonitor, Broadcaster]:
    """What one API process runs: a broadcaster of the live batches, and the monitor."""
    broadcaster = Broadcaster(names.telemetry_live, ApiMetrics(CollectorRegistry()))
    ingest = IngestSettings(offline_after_s=30.0)
    return AlertMonitor(redis, names, broadcaster, ingest, scan_s=scan_s, db=db), broadcaster


@contextlib.asynccontextmanager
async def watching(
    redis: Redis, names: RedisNames, db: Database, scan_s: float = 0.1
) -> AsyncIterator[tuple[AlertMonitor, Broadcaster]]:
    """A monitor started and past its baseline scan, stopped at the end."""
    watcher, feed = monitor(redis, names, db, scan_s)
    watcher.start()
    try:
        async with asyncio.timeout(10):
            await watcher.ready.wait()
        yield watcher, feed
    finally:
        await watcher.stop()


async def stored(db: Database, count: int, timeout_s: float = 10) -> list[dict[str, Any]]:
    async with asyncio.timeout(timeout_s):
        while await db[ALERTS].count_documents({}) < count:  # noqa: ASYNC110 - a store, no event
            await asyncio.sleep(0.05)
    return await db[ALERTS].find({}).sort("at", 1).to_list()


async def test_two_processes_store_each_alert_once_at_its_own_time(
    scratch_db: Database, scratch_redis: Redis, scratch_names: RedisNames
) -> None:
    db = scratch_db
    await db[ALERTS].create_indexes(StoredAlert.Settings.indexes)
    node = "al-1"
    await publish_live(scratch_redis, scratch_names, [reading(node)])
    first, first_feed = monitor(scratch_redis, scratch_names, db)
    second, second_feed = monitor(scratch_redis, scratch_names, db)
    for m in (first, second):
        m.start()
    try:
        async with asyncio.timeout(10):
            await first.ready.wait()
            await second.ready.wait()
        # Both processes receive the same batch from Redis (the listener's part here).
        low = datetime.now(UTC).replace(microsecond=123_000)
        batch = [reading(node, freq=49.65, timestamp=low.isoformat())]
        for feed in (first_feed, second_feed):
            feed.publish_local(orjson.dumps(batch))
        offline_ms = epoch_ms(datetime.now(UTC)) + 500
        await LiveStateWriter(scratch_redis, scratch_names).set_statuses(
            [StatusUpdate(node, NodeStatus.OFFLINE, offline_ms)]
        )
        docs = await stored(db, 2)
        await asyncio.sleep(0.5)  # the other process's copies arrive, and change nothing
        assert await db[ALERTS].count_documents({}) == 2
    finally:
        for m in (first, second):
            await m.stop()

    grid, gone = docs
    assert (grid["kind"], grid["dc_id"], grid["freq_status"]) == (
        AlertKind.FREQUENCY_OUT_OF_BAND.value,
        None,
        "critical",
    )
    assert grid["at"] == low  # the reading's time, to the millisecond
    assert grid["_id"] == f"frequency_out_of_band:grid:{epoch_ms(low)}"
    assert (gone["kind"], gone["dc_id"]) == (AlertKind.NODE_OFFLINE.value, node)
    assert epoch_ms(gone["at"]) == offline_ms  # the status's time, not the scan's
    assert first.stored + second.stored == 2


async def test_two_processes_store_a_return_once_whenever_each_scans(
    scratch_db: Database, scratch_redis: Redis, scratch_names: RedisNames
) -> None:
    """Two processes scan at their own moments while the node, back from its last will,
    reports every 30 ms: each sees another newest reading, and both name the return by
    the offline it ends, so the store holds it once."""
    db = scratch_db
    await db[ALERTS].create_indexes(StoredAlert.Settings.indexes)
    node = "al-back"
    await publish_live(scratch_redis, scratch_names, [reading(node)])
    # Periods of their own, so their scans part within a few of them.
    first, _ = monitor(scratch_redis, scratch_names, db, scan_s=0.2)
    second, _ = monitor(scratch_redis, scratch_names, db, scan_s=0.33)
    first.start()
    second.start()
    try:
        async with asyncio.timeout(10):
            await first.ready.wait()
            await second.ready.wait()
        went_ms = epoch_ms(datetime.now(UTC)) + 10
        await LiveStateWriter(scratch_redis, scratch_names).set_statuses(
            [StatusUpdate(node, NodeStatus.OFFLINE, went_ms)]
        )
        await stored(db, 1)
        # Both have seen it offline (two scans each since): neither missed the going.
        first_seen, second_seen = first.scans + 2, second.scans + 2
        async with asyncio.timeout(10):
            while first.scans < first_seen or second.scans < second_seen:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        for _ in range(40):
            await asyncio.sleep(0.03)
            await publish_live(scratch_redis, scratch_names, [reading(node)])
        docs = await stored(db, 2)
        await asyncio.sleep(0.5)  # the other process's copy arrives, and changes nothing
        assert await db[ALERTS].count_documents({}) == 2
    finally:
        for m in (first, second):
            await m.stop()
    gone, back = docs
    assert (gone["kind"], epoch_ms(gone["at"])) == (AlertKind.NODE_OFFLINE.value, went_ms)
    assert back["kind"] == AlertKind.NODE_ONLINE.value
    assert back["_id"] == f"node_online:{node}:{went_ms}"
    assert back["at"] > gone["at"]


async def test_alerts_raised_while_the_store_is_away_are_stored_when_it_returns(
    settings: Settings, scratch_db: Database, scratch_redis: Redis, scratch_names: RedisNames
) -> None:
    """The store is taken down for real (the suite's SecantusDB stopped, then started
    again on its data): the grid's frequency leaves its band and comes back three times
    meanwhile; the six alerts wait in the process and are stored, once each, when the
    store returns."""
    db = scratch_db
    await db[ALERTS].create_indexes(StoredAlert.Settings.indexes)
    watcher, feed = monitor(scratch_redis, scratch_names, db)
    mongo_only = Stack(settings, only=["mongo"])
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    watcher.start()
    try:
        async with asyncio.timeout(10):
            await watcher.ready.wait()
        await asyncio.to_thread(mongo_only.down)
        for k in range(6):
            freq = 49.65 if k % 2 == 0 else 50.0
            at = (base + timedelta(seconds=k)).isoformat()
            feed.publish_local(orjson.dumps([reading("al-away", freq=freq, timestamp=at)]))
        async with asyncio.timeout(30):
            while watcher.store_failures < 1:  # noqa: ASYNC110 - a count, with no event
                await asyncio.sleep(0.1)
        assert watcher.stored == 0
        await mongo_only.up()
        docs = await stored(db, 6, timeout_s=30)
        await asyncio.sleep(0.5)  # nothing is stored twice
        assert await db[ALERTS].count_documents({}) == 6
    finally:
        await mongo_only.up()
        await watcher.stop()
    assert [d["kind"] for d in docs] == [
        AlertKind.FREQUENCY_OUT_OF_BAND.value,
        AlertKind.FREQUENCY_RESTORED.value,
    ] * 3
    assert [d["at"] for d in docs] == [base + timedelta(seconds=k) for k in range(6)]
    assert watcher.stored == 6


async def test_a_restarted_process_raises_what_changed_while_none_watched(
    scratch_db: Database, scratch_redis: Redis, scratch_names: RedisNames
) -> None:
    """The store's last word, ten minutes ago: rs-a online, rs-b offline, the grid
    critical. Since then, with no process watching, rs-a fell silent, rs-b came back and
    rs-c (never mentioned) fell silent; rs-d reports. A process starting now stores rs-a's
    and rs-c's going offline and rs-b's return, each at the time that showed it, and the
    grid's return at its first normal batch. Another start stores nothing more."""
    db = scratch_db
    await db[ALERTS].create_indexes(StoredAlert.Settings.indexes)
    then = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    await store_alerts(
        db,
        [
            AlertRecord(kind=AlertKind.NODE_ONLINE, at=then, message="back", dc_id="rs-a"),
            AlertRecord(kind=AlertKind.NODE_OFFLINE, at=then, message="gone", dc_id="rs-b"),
            AlertRecord(
                kind=AlertKind.FREQUENCY_OUT_OF_BAND,
                at=then,
                message="49.650 Hz",
                freq=49.65,
                freq_status="critical",
            ),
        ],
    )
    now_ms = epoch_ms(datetime.now(UTC))
    heard = {"rs-a": now_ms - 300_000, "rs-b": now_ms, "rs-c": now_ms - 120_000, "rs-d": now_ms}
    await scratch_redis.hset(scratch_names.last_seen, mapping=heard)  # type: ignore[arg-type]

    async with watching(scratch_redis, scratch_names, db) as (_, feed):
        normal = datetime.now(UTC).replace(microsecond=456_000)
        feed.publish_local(orjson.dumps([reading("rs-d", freq=50.0, timestamp=normal.isoformat())]))
        docs = await stored(db, 3 + 4)
    new = {(d["kind"], d["dc_id"]): d["at"] for d in docs if d["at"] > then}
    silence_ms = 30_000  # the monitor's offline_after_s
    assert new == {
        (AlertKind.NODE_OFFLINE.value, "rs-a"): from_epoch_ms(heard["rs-a"] + silence_ms),
        (AlertKind.NODE_ONLINE.value, "rs-b"): from_epoch_ms(heard["rs-b"]),
        (AlertKind.NODE_OFFLINE.value, "rs-c"): from_epoch_ms(heard["rs-c"] + silence_ms),
        (AlertKind.FREQUENCY_RESTORED.value, None): normal,
    }

    again, _ = monitor(scratch_redis, scratch_names, db)
    again.start()
    try:
        async with asyncio.timeout(10):
            await again.ready.wait()
        await asyncio.sleep(0.5)  # its scans find nothing the store does not know
    finally:
        await again.stop()
    assert await db[ALERTS].count_documents({}) == 7
    assert again.stored == 0


async def logged(db: Database, node_id: str, count: int) -> list[tuple[str, datetime]]:
    """The node's logged status changes, once there are `count` (polled: a store)."""
    async with asyncio.timeout(20):
        while True:
            rows = [
                (c.status.value, from_epoch_ms(c.at_ms))
                for c in await StatusLogReader(db, datetime.now(UTC) - timedelta(hours=1)).read()
                if c.dc_id == node_id
            ]
            if len(rows) >= count:
                return rows
            await asyncio.sleep(0.1)


async def stored_at_start(
    redis: Redis, names: RedisNames, db: Database, node: str, *, online_at: datetime, count: int
) -> list[dict[str, Any]]:
    """The alerts stored once a process starts, `count` of them, when the store's last word
    on the node was that it came online at `online_at` (before what the test did to it)."""
    await store_alerts(
        db, [AlertRecord(kind=AlertKind.NODE_ONLINE, at=online_at, message="on", dc_id=node)]
    )
    watcher, _ = monitor(redis, names, db)
    watcher.start()
    try:
        return await stored(db, count)
    finally:
        await watcher.stop()


async def test_a_node_offline_and_back_while_no_api_ran_is_alerted_at_the_next_start(
    settings: Settings, scratch_db: Database, scratch_redis: Redis, scratch_names: RedisNames
) -> None:
    """Real broker, ingest and simulator, no API process: the simulated node is taken
    offline (the broker publishes its last will) and back, ingest restarts (the broker
    hands the new session the node's retained `online` again, which changes nothing and
    is not logged), and the node is taken offline once more. A process starting then
    stores all three changes, at the times ingest received them; Redis alone would only
    have shown the node offline now."""
    db = scratch_db
    await init_store(db, settings.mongo)
    node = "node-01461"
    (spec,) = seed_node_specs(settings.mqtt, 1461)[-1:]
    await register_nodes(db, [spec])
    port = free_port()
    sim = settings.edge_sim.model_copy(
        update={"nodes": 1, "first_node": 1461, "interval_s": 0.2, "status_port": port}
    )
    stop = asyncio.Event()
    fleet = asyncio.create_task(serve(settings.model_copy(update={"edge_sim": sim}), stop))
    ingest = with_ingest(settings, flush_interval_s=0.05)

    async def online() -> bool:
        states = await read_live_states(scratch_redis, scratch_names, [node], 30)
        return bool(states) and states[0].online

    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as sim_api:
            async with running_ingester(ingest, db, scratch_redis, scratch_names):
                async with asyncio.timeout(20):
                    while not await online():  # noqa: ASYNC110 - Redis, polled
                        await asyncio.sleep(0.1)
                await logged(db, node, 1)  # its `online` as it connected
                await sim_api.post("/faults", json={"node_id": node, "kind": "offline"})
                await logged(db, node, 2)
                await sim_api.post("/faults", json={"node_id": node, "kind": "online"})
                await logged(db, node, 3)
            async with running_ingester(ingest, db, scratch_redis, scratch_names):
                await sim_api.post("/faults", json={"node_id": node, "kind": "offline"})
                changes = await logged(db, node, 4)
    finally:
        stop.set()
        await asyncio.gather(fleet, return_exceptions=True)
    assert [status for status, _ in changes] == ["online", "offline", "online", "offline"]

    docs = await stored_at_start(
        scratch_redis, scratch_names, db, node, online_at=changes[0][1], count=4
    )
    assert [(d["kind"], d["at"]) for d in docs[1:]] == [
        (AlertKind.NODE_OFFLINE.value, changes[1][1]),
        (AlertKind.NODE_ONLINE.value, changes[2][1]),
        (AlertKind.NODE_OFFLINE.value, changes[3][1]),
    ]
    assert docs[1]["message"] == f"{node} went offline: it disconnected"  # its last will
    assert all(d["dc_id"] == node for d in docs)


class HandReadNode:
    """A simulated node on its own MQTT session (so its retained status and last will are
    real) whose readings the test takes, with the timestamp of each one sent."""

    def __init__(self, settings: Settings, n: int, live: LiveStateWriter) -> None:
        sim = settings.edge_sim.model_copy(update={"nodes": 1, "first_node": n})
        self.fleet = Fleet(settings.model_copy(update={"edge_sim": sim}))
        (self.node_id,) = self.fleet.node_ids
        self.live = live
        self.sent: list[int] = []

    def sample(self) -> int:
        payload = self.fleet.sample(self.node_id).payload
        self.sent.append(epoch_ms(datetime.fromisoformat(orjson.loads(payload)["timestamp"])))
        return self.sent[-1]

    async def report_every(self, seconds: float) -> None:
        while True:
            self.sample()
            await asyncio.sleep(seconds)

    async def in_redis(self, ts: int) -> None:
        """Wait until ingest has put the reading stamped `ts` in Redis (after the store)."""
        async with asyncio.timeout(20):
            while True:
                heard = (await self.live.heard([self.node_id])).get(self.node_id)
                if heard is not None and heard.timestamp_ms == ts:
                    return
                await asyncio.sleep(0.05)


async def test_a_node_silent_and_back_while_no_api_ran_is_alerted_and_late_readings_are_not(
    settings: Settings, scratch_db: Database, scratch_redis: Redis, scratch_names: RedisNames
) -> None:
    """Real broker and ingest, a simulated node, no API process. The node stays connected
    (no last will) and sends nothing for 2.5 s, more than the 1 s of silence that makes a
    node offline: ingest logs the silence when the next reading arrives. Then the node
    reports every 0.2 s while the ingester is away for 2 s (the broker queues for its
    session): those readings arrive late but without a gap, and nothing more is logged.
    A process starting then stores the silence: offline when it began, online at the
    reading that ended it."""
    db = scratch_db
    await init_store(db, settings.mongo)
    await register_nodes(db, seed_node_specs(settings.mqtt, 1462)[-1:])
    node = HandReadNode(settings, 1462, LiveStateWriter(scratch_redis, scratch_names))
    ingest = with_ingest(settings, flush_interval_s=0.05, offline_after_s=1.0)
    client_id = f"test-silence-{uuid.uuid4().hex[:8]}"
    node.fleet.start(sampling=False)
    try:
        async with running_ingester(
            ingest, db, scratch_redis, scratch_names, client_id, end_session=False
        ):
            await logged(db, node.node_id, 1)  # its retained `online`
            before = node.sample()
            await node.in_redis(before)
            await asyncio.sleep(2.5)
            after = node.sample()
            changes = await logged(db, node.node_id, 3)
            await node.in_redis(after)
            reporting = asyncio.create_task(node.report_every(0.2))
            await asyncio.sleep(0.5)
        await asyncio.sleep(2.0)  # the ingester away; the broker queues the readings
        async with running_ingester(ingest, db, scratch_redis, scratch_names, client_id):
            await asyncio.sleep(0.5)
            reporting.cancel()
            await asyncio.gather(reporting, return_exceptions=True)
            await node.in_redis(node.sent[-1])
            stored_count = await db[TELEMETRY].count_documents({"dc_id": node.node_id})
    finally:
        await node.fleet.stop(drain_timeout_s=5.0)
    assert stored_count == len(node.sent) > 10  # every reading in, the late ones too
    assert [status for status, _ in changes] == ["online", "offline", "online"]
    assert [epoch_ms(at) for _, at in changes[1:]] == [before + 1_000, after]
    assert len(await logged(db, node.node_id, 3)) == 3  # the late readings logged nothing

    docs = await stored_at_start(
        scratch_redis, scratch_names, db, node.node_id, online_at=changes[0][1], count=3
    )
    assert [(d["kind"], epoch_ms(d["at"]), d.get("offline_since")) for d in docs[1:]] == [
        (AlertKind.NODE_OFFLINE.value, before + 1_000, None),
        (AlertKind.NODE_ONLINE.value, after, from_epoch_ms(before + 1_000)),
    ]
    assert docs[1]["message"] == f"{node.node_id} went offline: its readings stopped"


async def test_a_node_offline_and_back_between_two_scans_is_alerted_at_both_times(
    settings: Settings, scratch_db: Database, scratch_redis: Redis, scratch_names: RedisNames
) -> None:
    """A watching process scans Redis every second; the node's last will and its
    reconnect arrive 200 ms apart, written as ingest writes them (the log, then Redis).
    Redis shows the node online before and after; the log shows what happened between."""
    db = scratch_db
    await init_store(db, settings.mongo)
    node = "flap-1"
    live = LiveStateWriter(scratch_redis, scratch_names)
    await publish_live(scratch_redis, scratch_names, [reading(node)])
    async with watching(scratch_redis, scratch_names, db, scan_s=1.0) as (watcher, _):
        went = epoch_ms(datetime.now(UTC))
        for change in (
            StatusUpdate(node, NodeStatus.OFFLINE, went),
            StatusUpdate(node, NodeStatus.ONLINE, went + 200),
        ):
            await log_changes(db, [change])
            await live.set_statuses([change])
        docs = await stored(db, 2)
        scans = watcher.scans
        async with asyncio.timeout(10):
            while watcher.scans < scans + 2:  # noqa: ASYNC110 - a count, with no event
                await asyncio.sleep(0.1)
    assert [(d["kind"], d["dc_id"], epoch_ms(d["at"])) for d in docs] == [
        (AlertKind.NODE_OFFLINE.value, node, went),
        (AlertKind.NODE_ONLINE.value, node, went + 200),
    ]
    assert await db[ALERTS].count_documents({}) == 2  # later scans add nothing


async def test_the_log_reader_returns_each_change_once_late_ones_too(
    settings: Settings, scratch_db: Database
) -> None:
    db = scratch_db
    await init_store(db, settings.mongo)
    t = epoch_ms(datetime.now(UTC))
    reader = StatusLogReader(db, from_epoch_ms(t - 600_000))
    first = StatusUpdate("lr-1", NodeStatus.OFFLINE, t)
    await log_changes(db, [StatusUpdate("lr-0", NodeStatus.OFFLINE, t - 660_000), first])
    assert await reader.read() == [first]  # not what was received before `since`
    assert await reader.read() == []  # nor twice, though logged within the overlap
    # Received minutes before the reads, logged after them (its batch was retried while
    # the store was away): read when it is logged, with what came in meanwhile, in the
    # order ingest received them.
    late = StatusUpdate("lr-2", NodeStatus.ONLINE, t - 300_000)
    meanwhile = StatusUpdate("lr-3", NodeStatus.ONLINE, t + 1_000)
    await log_changes(db, [meanwhile])
    await log_changes(db, [late])
    assert await reader.read() == [late, meanwhile]
    assert await reader.read() == []


async def test_the_log_reader_reads_changes_logged_before_logged_at_and_skips_bad_ones(
    settings: Settings, scratch_db: Database
) -> None:
    """A change stored by a version of ingest that did not record when it logged it, and
    documents that are no status change at all: the first is read as logged on receipt,
    the others are skipped, and the changes after them are read all the same."""
    db = scratch_db
    await init_store(db, settings.mongo)
    t = epoch_ms(datetime.now(UTC))
    reader = StatusLogReader(db, from_epoch_ms(t - 60_000))
    old = {"_id": f"lo-1:offline:{t}", "dc_id": "lo-1", "status": "offline"}
    await db[NODE_STATUS_LOG].insert_many(
        [
            {**old, "at": from_epoch_ms(t)},
            {"_id": "bad-status", "dc_id": "lo-2", "status": "asleep", "at": from_epoch_ms(t)},
            {"_id": "bad-time", "dc_id": "lo-3", "status": "online", "at": "noon"},
            {"_id": "no-node", "status": "online", "at": from_epoch_ms(t + 1)},
        ]
    )
    after = StatusUpdate("lo-1", NodeStatus.ONLINE, t + 2)
    await log_changes(db, [after])
    assert await reader.read() == [StatusUpdate("lo-1", NodeStatus.OFFLINE, t), after]


async def test_a_scan_that_fails_on_bad_data_leaves_the_monitor_watching(
    scratch_db: Database, scratch_redis: Redis, scratch_names: RedisNames
) -> None:
    """A value in Redis that no ingester wrote fails every scan while it is there; the
    monitor goes on scanning, and once it is gone, alerts again."""
    db = scratch_db
    await db[ALERTS].create_indexes(StoredAlert.Settings.indexes)
    await scratch_redis.hset(scratch_names.last_seen, "garbled", "not-a-time")
    await publish_live(scratch_redis, scratch_names, [reading("bd-1")])
    watcher, _ = monitor(scratch_redis, scratch_names, db)
    registry = CollectorRegistry()
    registry.register(AlertMonitorCollector(watcher))
    watcher.start()
    try:
        await asyncio.sleep(0.5)  # five periods of failed scans
        assert not watcher.ready.is_set()
        # What an operator sees: scans failing, none ended well.
        assert (registry.get_sample_value("vpp_api_alert_scan_failures_total") or 0) >= 3
        assert registry.get_sample_value("vpp_api_alert_scans_total") == 0
        assert registry.get_sample_value("vpp_api_alert_last_scan_seconds") is None
        await scratch_redis.hdel(scratch_names.last_seen, "garbled")
        async with asyncio.timeout(10):
            await watcher.ready.wait()
        last_scan = registry.get_sample_value("vpp_api_alert_last_scan_seconds")
        assert last_scan is not None
        assert abs(last_scan - time.time()) < 5
        went = epoch_ms(datetime.now(UTC))
        await LiveStateWriter(scratch_redis, scratch_names).set_statuses(
            [StatusUpdate("bd-1", NodeStatus.OFFLINE, went)]
        )
        docs = await stored(db, 1)
    finally:
        await watcher.stop()
    assert [(d["kind"], d["dc_id"], epoch_ms(d["at"])) for d in docs] == [
        (AlertKind.NODE_OFFLINE.value, "bd-1", went)
    ]


async def test_an_alert_the_store_refuses_costs_only_itself(
    scratch_db: Database, scratch_redis: Redis, scratch_names: RedisNames
) -> None:
    """Two nodes fall silent at once: one real, one whose id (17 MB, which no ingester
    writes, but Redis holds) makes its alert too large for a document. The store refuses
    that alert, which is logged, counted and left out; the other is stored, and so is each
    later alert."""
    db = scratch_db
    await db[ALERTS].create_indexes(StoredAlert.Settings.indexes)
    huge = "h" * (17 * 1024 * 1024)
    silent_ms = epoch_ms(datetime.now(UTC)) - 60_000  # twice the 30 s that make it offline
    await scratch_redis.hset(scratch_names.last_seen, mapping={huge: silent_ms, "ur-1": silent_ms})
    watcher, feed = monitor(scratch_redis, scratch_names, db)
    registry = CollectorRegistry()
    registry.register(AlertMonitorCollector(watcher))
    watcher.start()
    try:
        (gone,) = await stored(db, 1)
        async with asyncio.timeout(10):
            while watcher.unstorable < 1:  # noqa: ASYNC110 - a count, with no event
                await asyncio.sleep(0.05)
        assert registry.get_sample_value("vpp_api_alerts_unstorable_total") == 1
        at = datetime.now(UTC).replace(microsecond=0)
        feed.publish_local(orjson.dumps([reading("ur-1", freq=49.65, timestamp=at.isoformat())]))
        later = await stored(db, 2)
    finally:
        await watcher.stop()
    assert (gone["kind"], gone["dc_id"]) == (AlertKind.NODE_OFFLINE.value, "ur-1")
    assert later[-1]["kind"] == AlertKind.FREQUENCY_OUT_OF_BAND.value
    assert watcher.unstorable == 1


async def test_readings_without_a_time_raise_the_grids_alert_at_their_arrival(
    scratch_db: Database, scratch_redis: Redis, scratch_names: RedisNames
) -> None:
    """A publisher that is not an ingester sends readings with a frequency and no time:
    the grid's alert is raised at their arrival, and the monitor goes on judging."""
    db = scratch_db
    await db[ALERTS].create_indexes(StoredAlert.Settings.indexes)
    async with watching(scratch_redis, scratch_names, db) as (_, feed):
        before = datetime.now(UTC)
        feed.publish_local(orjson.dumps([{"dc_id": "nt-1", "freq": 49.65}]))
        (out,) = await stored(db, 1)
        # The next whole second: later than the first alert's time, which has fractions.
        back = (datetime.now(UTC) + timedelta(seconds=1)).replace(microsecond=0)
        feed.publish_local(orjson.dumps([reading("nt-1", freq=50.0, timestamp=back.isoformat())]))
        docs = await stored(db, 2)
    assert out["kind"] == AlertKind.FREQUENCY_OUT_OF_BAND.value
    assert before - timedelta(seconds=1) <= out["at"] <= back
    assert [d["kind"] for d in docs] == [
        AlertKind.FREQUENCY_OUT_OF_BAND.value,
        AlertKind.FREQUENCY_RESTORED.value,
    ]


async def test_the_grids_alerts_outlive_a_batch_that_fails_to_be_judged(
    scratch_db: Database,
    scratch_redis: Redis,
    scratch_names: RedisNames,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Judging one batch fails in a way no data here produces (a stand-in `frequency_alert`
    raises once: a mock, for a fault that cannot be made real); the next batch out of band
    is alerted and stored all the same."""
    db = scratch_db
    await db[ALERTS].create_indexes(StoredAlert.Settings.indexes)
    real = alerts_module.frequency_alert
    calls = 0

    def fails_once(band: FreqStatus, freq: float, now: datetime) -> tuple[Alert | None, FreqStatus]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("a fault no reading here can cause")
        return real(band, freq, now)

    monkeypatch.setattr(alerts_module, "frequency_alert", fails_once)
    async with watching(scratch_redis, scratch_names, db) as (_, feed):
        at = datetime.now(UTC).replace(microsecond=0)
        for k in range(2):
            stamp = (at + timedelta(seconds=k)).isoformat()
            feed.publish_local(orjson.dumps([reading("jf-1", freq=49.65, timestamp=stamp)]))
        (out,) = await stored(db, 1)
    assert calls == 2
    assert (out["kind"], out["at"]) == (
        AlertKind.FREQUENCY_OUT_OF_BAND.value,
        at + timedelta(seconds=1),
    )


async def test_a_viewer_pages_the_stored_alerts_by_node_and_kind(
    client: httpx.AsyncClient, tokens: Tokens, api: FastAPI
) -> None:
    state: ApiState = api.state.vpp
    base = datetime(2020, 3, 4, 5, 0, tzinfo=UTC)  # a time no other test's alerts have
    rows = [
        (0, AlertKind.FREQUENCY_OUT_OF_BAND, None),
        (1, AlertKind.NODE_OFFLINE, "al-g1"),
        (2, AlertKind.NODE_OFFLINE, "al-g2"),
        (3, AlertKind.NODE_ONLINE, "al-g1"),
        (4, AlertKind.FREQUENCY_RESTORED, None),
    ]
    docs = [
        {
            "_id": f"{kind.value}:{dc_id or 'grid'}:{epoch_ms(base + timedelta(minutes=m))}",
            "kind": kind.value,
            "at": base + timedelta(minutes=m),
            "message": f"alert {m}",
            "dc_id": dc_id,
            "freq": None,
            "freq_status": None,
        }
        for m, kind, dc_id in rows
    ]
    await state.db[ALERTS].insert_many(docs)
    viewer = await tokens.headers("viewer")
    try:
        node = (await gql(client, HISTORY, {"first": 10, "dcId": "al-g1"}, viewer)).json()
        page = node["data"]["alertHistory"]
        assert [e["node"]["kind"] for e in page["edges"]] == ["NODE_ONLINE", "NODE_OFFLINE"]
        assert page["edges"][0]["node"]["id"] == docs[3]["_id"]
        assert page["edges"][0]["node"]["at"] == (base + timedelta(minutes=3)).isoformat()

        kind = {"first": 10, "kind": "NODE_OFFLINE", "dcId": "al-g2"}
        offline = (await gql(client, HISTORY, kind, viewer)).json()["data"]["alertHistory"]
        assert [e["node"]["message"] for e in offline["edges"]] == ["alert 2"]

        # Newest first, two at a time, through the cursors: every alert once.
        seen, after = [], None
        while True:
            variables = {"first": 2, "after": after, "dcId": "al-g1"}
            body = (await gql(client, HISTORY, variables, viewer)).json()["data"]["alertHistory"]
            seen += [e["node"]["message"] for e in body["edges"]]
            if not body["pageInfo"]["hasNextPage"]:
                break
            after = body["pageInfo"]["endCursor"]
        assert seen == ["alert 3", "alert 1"]

        bad_id = (await gql(client, HISTORY, {"first": 5, "dcId": "no such node!"}, viewer)).json()
        assert bad_id["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert bad_id["errors"][0]["message"].startswith("dcId: ")
        bad_cursor = (await gql(client, HISTORY, {"first": 5, "after": "nope"}, viewer)).json()
        assert bad_cursor["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        too_many = (await gql(client, HISTORY, {"first": 5_000}, viewer)).json()
        assert too_many["errors"][0]["message"] == "first: must be between 1 and 500"
        anonymous = (await gql(client, HISTORY, {"first": 5})).json()
        assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    finally:
        await state.db[ALERTS].delete_many({"_id": {"$in": [d["_id"] for d in docs]}})
