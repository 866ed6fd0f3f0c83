"""The store's hot queries are answered from an index, on the real SecantusDB.

The collections below grow with the fleet and with time: telemetry (30 days of every
node), the hourly history (a year of every home), forecasts (a week of cycles), the
dispatch log, the optimiser's decisions, the fleet's minutes and the alerts. A query that
scans one of them costs the cycle that makes it more every day: with 1,000 homes a
cycle's history read took 28 s and each forecast write scanned every forecast kept.

SecantusDB uses an index only for a query whose every field the index holds, and a `$in`
only when it is the query's sole condition. So each test records the commands the
platform's own code sends (a pymongo command listener), asks the server to explain each
query it made of these collections, and fails naming any that scans the collection.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import numpy as np
import pytest
from pymongo import AsyncMongoClient
from pymongo.monitoring import CommandListener, CommandStartedEvent
from redis.asyncio import Redis
from temporalio.client import Client

from vpp.activities.optimize import OptimizeActivities
from vpp.config import Settings
from vpp.dispatch.documents import DISPATCH_LOG, DISPATCHES, Dispatch, DispatchLog
from vpp.dispatch.models import DispatchStatus, NodeStatus
from vpp.dispatch.repository import MongoDispatchStore
from vpp.dispatch.service import DispatchService
from vpp.ml.forecast import history
from vpp.ml.forecast.documents import FORECASTS, HISTORY, SITE_SERIES, ForecastRecord, HistoryDay
from vpp.ml.forecast.service import store_forecasts
from vpp.ml.forecast.settings import ForecastSettings, ModelKind, Target
from vpp.models import Action, NodeKind
from vpp.models import NodeStatus as NodeLinkStatus
from vpp.optimize.documents import DECISIONS, Decision
from vpp.optimize.fleet import held_nodes
from vpp.optimize.fleet import latest_forecasts as optimiser_forecasts
from vpp.optimize.models import AttachInput, StartedDispatch
from vpp.services.alerts import alerts_page
from vpp.services.automation import decisions_page
from vpp.services.forecast_accuracy import forecast_accuracy
from vpp.services.forecasts import latest_forecasts
from vpp.store.aggregate import Aggregate, FreqStatus
from vpp.store.alert_log import newest_grid_alert, prune_alerts, store_alerts
from vpp.store.database import Database, ensure_telemetry_collection
from vpp.store.documents import (
    ALERTS,
    FLEET_HISTORY,
    NODE_STATUS_LOG,
    NODES,
    TELEMETRY,
    AlertKind,
    AlertRecord,
    FleetMinute,
    Node,
    StoredAlert,
    StoredStatusChange,
)
from vpp.store.fleet_history import prune_before, read_points, record_minute
from vpp.store.live_state import StatusUpdate, epoch_ms
from vpp.store.retention import prune_telemetry
from vpp.store.status_log import (
    StatusLogReader,
    log_changes,
    prune_changes,
)
from vpp.store.telemetry_queries import (
    Bucket,
    downsampled_range,
    latest_readings,
    readings_in_range,
)

GROWING = (
    TELEMETRY,
    HISTORY,
    FORECASTS,
    DISPATCHES,
    DISPATCH_LOG,
    DECISIONS,
    FLEET_HISTORY,
    ALERTS,
    NODE_STATUS_LOG,
)
NODE_IDS = [f"plan-{n}" for n in range(3)]
NOW = history.hour_floor(datetime.now(UTC))
RETENTION_S = 30 * 86_400


class Recorder(CommandListener):
    """The filters of every query made of a growing collection, with its command."""

    def __init__(self) -> None:
        self.queries: list[tuple[str, str, dict[str, Any]]] = []

    def started(self, event: CommandStartedEvent) -> None:
        name, cmd = event.command_name, event.command
        collection = cmd.get(name)
        if collection not in GROWING:
            return
        filters: list[dict[str, Any]] = []
        if name == "find":
            filters = [cmd.get("filter", {})]
        elif name in {"count", "distinct"}:
            filters = [cmd.get("query", {})]
        elif name == "update":
            filters = [u["q"] for u in cmd["updates"]]
        elif name == "delete":
            filters = [d["q"] for d in cmd["deletes"]]
        elif name == "findAndModify":
            filters = [cmd.get("query", {})]
        elif name == "aggregate":
            first = cmd["pipeline"][0] if cmd["pipeline"] else {}
            filters = [first.get("$match", {})]
        self.queries += [(name, collection, dict(f)) for f in filters]

    def succeeded(self, event: Any) -> None:
        return None

    def failed(self, event: Any) -> None:
        return None


@pytest.fixture(scope="module")
async def store(settings: Settings) -> AsyncIterator[tuple[Database, Recorder]]:
    """A database with the platform's indexes and a little of everything, on a client
    whose commands are recorded."""
    recorder = Recorder()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.mongo.effective_uri, tz_aware=True, event_listeners=[recorder]
    )
    db = client[f"vpp_test_plans_{uuid.uuid4().hex[:8]}"]
    try:
        await seed(db, settings)
        recorder.queries.clear()
        yield db, recorder
    finally:
        await client.drop_database(db.name)
        await client.close()


async def seed(db: Database, settings: Settings) -> None:
    # The indexes as the platform declares them (not through Beanie, whose models other
    # tests bind to their own databases).
    await ensure_telemetry_collection(db, RETENTION_S)
    models = (Node, HistoryDay, ForecastRecord, Dispatch, DispatchLog, Decision, FleetMinute)
    for model in (*models, StoredAlert, StoredStatusChange):
        await db[model.Settings.name].create_indexes(model.Settings.indexes)
    await db[NODES].insert_many(
        [
            {"dc_id": n, "kind": NodeKind.HOME_DER.value, "capacity_kw": 5.0, "battery_kwh": 13.5}
            for n in NODE_IDS
        ]
    )
    await db[TELEMETRY].insert_many(
        [
            {
                "dc_id": n,
                "seq": m,
                "timestamp": NOW - timedelta(minutes=m),
                "received_at": NOW - timedelta(minutes=m),
                "power_kw": 1.0,
                "soc": 50.0,
                "freq": 50.0,
                "load_kw": 1.0,
                "pv_kw": 0.5,
                "battery_kw": 0.0,
            }
            for n in NODE_IDS
            for m in range(5, 125, 5)
        ]
    )
    start = NOW - timedelta(days=3)
    days = [
        doc
        for n in [*NODE_IDS, SITE_SERIES]
        for doc in history.day_documents(n, start, {"load_kw": np.ones(72)}, "test")
    ]
    await history.replace_days(db, days)
    await db[DISPATCH_LOG].insert_one(
        {
            "_id": "cmd-1",
            "dispatch_id": "d-1",
            "dc_id": NODE_IDS[0],
            "status": "sent",
            "issued_by": "operator",
            "timestamp": NOW,
            "action": "discharge",
            "params": {"kw": 1.0, "duration_s": 900},
            "shard": 0,
            "attempts": 1,
        }
    )
    await db[DISPATCHES].insert_one(
        {
            "_id": "d-1",
            "workflow_id": "w-1",
            "action": "discharge",
            "params": {"kw": 1.0, "duration_s": 900},
            "targets": NODE_IDS[:1],
            "status": "running",
            "issued_by": "operator",
            "created_at": NOW,
            "deadline": NOW + timedelta(minutes=15),
            "node_count": 1,
        }
    )
    await db[DECISIONS].insert_one(
        {
            "_id": f"c-1:{NODE_IDS[0]}",
            "cycle_id": "c-1",
            "dc_id": NODE_IDS[0],
            "decided_at": NOW,
            "policy": "rule",
        }
    )


def forecast_record(series_id: str, target: Target) -> ForecastRecord:
    # Constructed without validation: Beanie refuses to build a document whose model is
    # not bound to a database, and this module binds none (see `seed`).
    record = ForecastRecord.model_construct(
        cycle_id="plan-cycle",
        series_id=series_id,
        target=target,
        issued_at=NOW,
        start=NOW,
        step_minutes=60,
        q10=[0.0] * 24,
        q50=[1.0] * 24,
        q90=[2.0] * 24,
        model_name="seasonal_naive",
        model_version=None,
        model_kind=ModelKind.SEASONAL_NAIVE,
        fallback=True,
        fallback_reason="test",
        history_end=NOW,
        filled_hours=0,
    )
    return cast(ForecastRecord, record)


async def scans(db: Database, recorder: Recorder) -> list[str]:
    """The recorded queries the server answers by scanning the whole collection."""
    assert recorder.queries, "no query of a growing collection was recorded"
    out = []
    for command, collection, query in recorder.queries:
        explained = await db.command("explain", {"find": collection, "filter": query})
        if "COLLSCAN" in str(explained["queryPlanner"]["winningPlan"]):
            out.append(f"{command} {collection} {query}")
    recorder.queries.clear()
    return out


Exercise = Callable[[Database, Settings], Awaitable[object]]


async def forecast_cycle_reads_and_writes(db: Database, settings: Settings) -> None:
    await history.append_telemetry(db, NOW)
    await history.read_series(db, NODE_IDS, ["load_kw", "pv_kw"], NOW - timedelta(days=2), NOW)
    await history.read_series(db, None, ["load_kw"], NOW - timedelta(days=2), NOW)
    await history.read_series(db, [SITE_SERIES], ["load_kw"], NOW - timedelta(days=2), NOW)
    await history.series_with_history(db, NOW - timedelta(days=1))
    records = [forecast_record(n, t) for n in [*NODE_IDS, "fleet"] for t in Target]
    await store_forecasts(db, records)
    await store_forecasts(db, records)  # a retried batch replaces its forecasts
    await db[FORECASTS].find({"cycle_id": "plan-cycle"}).to_list()  # the live message
    await db[FORECASTS].delete_many({"issued_at": {"$lt": NOW - timedelta(days=7)}})


async def forecast_api_reads(db: Database, settings: Settings) -> None:
    fs = ForecastSettings()
    for series in (NODE_IDS[0], "fleet"):
        await latest_forecasts(db, series, horizon_h=24)
        await forecast_accuracy(db, fs, series_id=series, target=Target.LOAD, days=1, now=NOW)


async def optimiser_reads_and_writes(db: Database, settings: Settings) -> None:
    await held_nodes(db, NOW)
    await optimiser_forecasts(db, set(NODE_IDS), NOW)
    activities = OptimizeActivities(db, Redis.from_url(settings.redis.url), settings)
    started = StartedDispatch(
        dispatch_id="d-1", workflow_id="w-1", action=Action.DISCHARGE, kw=1.0, node_ids=NODE_IDS
    )
    await activities.attach_dispatches(AttachInput(cycle_id="c-1", dispatches=[started]))
    page = await decisions_page(db, first=1)
    await decisions_page(db, first=1, after=page.end_cursor, acting_only=True)
    await decisions_page(db, first=10, dc_id=NODE_IDS[0])
    await decisions_page(db, first=10, cycle_id="c-1", acting_only=True)


async def telemetry_reads(db: Database, settings: Settings) -> None:
    await MongoDispatchStore(db).telemetry(NODE_IDS, NOW - timedelta(hours=1), NOW)
    await latest_readings(db, NODE_IDS[0], limit=10)
    await readings_in_range(db, NODE_IDS[0], NOW - timedelta(hours=1), NOW)
    await downsampled_range(db, NODE_IDS[0], NOW - timedelta(hours=2), NOW, Bucket.FIFTEEN_MINUTES)
    await prune_telemetry(db, NODE_IDS, RETENTION_S)


async def fleet_history_reads_and_writes(db: Database, settings: Settings) -> None:
    aggregate = Aggregate(
        total_power_kw=3.0,
        avg_soc=50.0,
        avg_freq=50.0,
        node_count=3,
        online_nodes=3,
        freq_status=FreqStatus.NORMAL,
        computed_at=NOW,
    )
    for minutes in range(3):
        await record_minute(db, NOW + timedelta(minutes=minutes), aggregate)
    await record_minute(db, NOW, aggregate)  # the same minute again, from a replica
    await read_points(db, NOW - timedelta(hours=1), NOW + timedelta(hours=1), Bucket.MINUTE)
    await prune_before(db, NOW - timedelta(days=30))


async def alert_reads_and_writes(db: Database, settings: Settings) -> None:
    alerts = [
        AlertRecord(kind=AlertKind.NODE_OFFLINE, at=NOW, message="gone", dc_id=NODE_IDS[0]),
        AlertRecord(kind=AlertKind.FREQUENCY_RESTORED, at=NOW, message="back"),
    ]
    await store_alerts(db, alerts)
    await store_alerts(db, alerts)  # another API process's copies
    page = await alerts_page(db, first=1)
    await alerts_page(db, first=1, after=page.end_cursor, kind=AlertKind.FREQUENCY_RESTORED)
    await alerts_page(db, first=10, dc_id=NODE_IDS[0])
    # (`newest_node_alerts` scans: it is read once as a process starts, not per request.)
    assert (await newest_grid_alert(db)) is not None
    await prune_alerts(db, NOW - timedelta(days=30))


async def status_log_reads_and_writes(db: Database, settings: Settings) -> None:
    went = StatusUpdate(NODE_IDS[0], NodeLinkStatus.OFFLINE, epoch_ms(NOW))
    await log_changes(db, [went])
    await log_changes(db, [went])  # a batch written again after a failure
    reader = StatusLogReader(db, NOW - timedelta(hours=1))
    assert await reader.read() == [went]  # by when received
    assert await reader.read() == []  # then by when logged
    await prune_changes(db, NOW - timedelta(days=30))


async def dispatch_reads(db: Database, settings: Settings) -> None:
    # The reads need no Temporal client: only starting and cancelling do.
    service = DispatchService(cast(Client, None), db, settings)
    assert await service.get_dispatch("d-1") is not None
    await service.get_dispatch("d-1", node_status=NodeStatus.SENT, node_limit=10, node_offset=1)
    await service.list_dispatches(limit=10)
    await service.list_dispatches(limit=10, status=DispatchStatus.RUNNING, issued_by="operator")
    await service.list_dispatches(limit=10, before=NOW)
    await service.dispatch_logs(limit=10)
    await service.dispatch_logs(NODE_IDS[0], limit=10)


@pytest.mark.parametrize(
    "exercise",
    [
        alert_reads_and_writes,
        dispatch_reads,
        fleet_history_reads_and_writes,
        forecast_cycle_reads_and_writes,
        forecast_api_reads,
        optimiser_reads_and_writes,
        status_log_reads_and_writes,
        telemetry_reads,
    ],
    ids=lambda f: f.__name__,
)
async def test_queries_of_growing_collections_use_an_index(
    store: tuple[Database, Recorder], settings: Settings, exercise: Exercise
) -> None:
    db, recorder = store
    recorder.queries.clear()
    await exercise(db, settings)
    found = await scans(db, recorder)
    assert found == [], "\n".join(found)
