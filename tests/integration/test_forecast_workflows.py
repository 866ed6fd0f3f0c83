"""The forecast workflows on the real Temporal dev server and SecantusDB: training stores
models in the registry, a cycle writes forecasts (falling back where no model exists) and
publishes them, and both histories replay."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from redis.asyncio import Redis
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleSpec,
    WorkflowHandle,
)
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from typer.testing import CliRunner

from tests.integration.forecast_support import (
    fdb,
    forecast,
    histories_dir,
    homes,
    ml_queue,
    redis,
    temporal,
)
from vpp.config import Settings, get_settings
from vpp.ml.forecast import history
from vpp.ml.forecast.command import forecast_app
from vpp.ml.forecast.documents import FORECASTS, ForecastRecord, ModelMetrics
from vpp.ml.forecast.ensemble import Ensemble
from vpp.ml.forecast.messages import (
    ForecastCycleInput,
    ForecastCycleResult,
    TrainForecastInput,
    TrainForecastResult,
)
from vpp.ml.forecast.models import SeriesWindow, make_forecaster
from vpp.ml.forecast.registry import ModelRegistry
from vpp.ml.forecast.service import read_site
from vpp.ml.forecast.settings import ForecastSettings, ModelKind, Target
from vpp.models import NodeKind
from vpp.schedules import FORECAST_CYCLE_SCHEDULE
from vpp.store.database import Database
from vpp.store.documents import GeoPoint, NodeSpec
from vpp.store.nodes import register_nodes
from vpp.workers.ml import MlClients, build_ml_workers
from vpp.workflows.forecast import ForecastCycleWorkflow, TrainForecastWorkflow

__all__ = ["fdb", "forecast", "homes", "ml_queue", "redis", "temporal"]

pytestmark = pytest.mark.slow


async def _replay(handle: WorkflowHandle[Any, Any], name: str) -> None:
    """Replay the workflow's history with the current code; keep it for the unit replay
    test when VPP_RECORD_HISTORIES=1."""
    recorded = await handle.fetch_history()
    replayer = Replayer(
        workflows=[TrainForecastWorkflow, ForecastCycleWorkflow],
        data_converter=pydantic_data_converter,
    )
    await replayer.replay_workflow(recorded)
    if os.environ.get("VPP_RECORD_HISTORIES") == "1":
        folder = histories_dir()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.json").write_text(recorded.to_json())


async def test_training_stores_every_candidate_and_promotes_the_best(
    temporal: Client, ml_queue: str, fdb: Database, homes: list[str]
) -> None:
    handle = await temporal.start_workflow(
        TrainForecastWorkflow.run,
        TrainForecastInput(targets=[Target.LOAD], node_ids=homes),
        id=f"test-forecast-train-{uuid.uuid4().hex[:8]}",
        task_queue=ml_queue,
    )
    result: TrainForecastResult = await handle.result()
    [choice] = result.choices
    assert choice.target is Target.LOAD
    assert {c.kind for c in choice.candidates} == set(ModelKind)
    naive = next(c for c in choice.candidates if c.kind is ModelKind.SEASONAL_NAIVE)
    assert naive.mase == pytest.approx(1.0)
    best = min(choice.candidates, key=lambda c: c.mase if c.mase is not None else 9.0)
    assert choice.champion == best

    registry = ModelRegistry(fdb)
    champion = await registry.champion(Target.LOAD)
    assert champion is not None
    assert (champion.name, champion.version) == (choice.champion.name, choice.champion.version)
    # Every candidate is loadable by name and version, with its metrics and data range.
    for c in choice.candidates:
        record, forecaster = await registry.load(c.name, c.version)
        assert forecaster.kind is c.kind
        assert record.metrics.origins > 0
        assert record.metrics.mase == pytest.approx(c.mase)
        assert record.data_end == result.plan.end
        assert record.data_start == result.plan.end - timedelta(days=20)
        assert record.darts_version
        assert set(homes) <= set(record.series_ids)
    assert await registry.champion(Target.PV) is None

    # The ensemble took the LightGBM candidate trained just before it (one fit, not two):
    # its member forecasts what the stored LightGBM forecasts, and its fit time counts it.
    by_kind = {c.kind: c for c in choice.candidates}
    ensemble, lgbm = by_kind[ModelKind.ENSEMBLE], by_kind[ModelKind.LIGHTGBM]
    assert ensemble.adopted == [ModelKind.LIGHTGBM]
    assert [c.kind for c in choice.candidates if c.adopted] == [ModelKind.ENSEMBLE]
    assert ensemble.fit_s >= lgbm.fit_s
    _, stored_ensemble = await registry.load(ensemble.name, ensemble.version)
    _, stored_lgbm = await registry.load(lgbm.name, lgbm.version)
    assert isinstance(stored_ensemble, Ensemble)
    member = stored_ensemble.members[1]
    assert member.kind is ModelKind.LIGHTGBM
    end = result.plan.end
    raw = await history.read_series(fdb, homes, [Target.LOAD.value], end - timedelta(days=17), end)
    windows = [
        SeriesWindow(h, end - timedelta(days=17), history.fill_gaps(raw[h]["load_kw"])[0])
        for h in homes
    ]
    site = await read_site(fdb, end - timedelta(days=17), end)
    for x, y in zip(
        member.predict(windows, 24, site), stored_lgbm.predict(windows, 24, site), strict=True
    ):
        np.testing.assert_allclose(x.q50, y.q50)
    await _replay(handle, "train_forecast")


async def _register_load_model(db: Database, forecast: ForecastSettings, homes: list[str]) -> None:
    """A fitted LightGBM for load_kw as champion (what training would leave)."""
    end = history.hour_floor(datetime.now(UTC))
    start = end - timedelta(days=20)
    raw = await history.read_series(db, homes, [Target.LOAD.value], start, end)
    series = [SeriesWindow(h, start, history.fill_gaps(raw[h]["load_kw"])[0]) for h in homes]
    site = await read_site(db, start, end)
    lgbm = make_forecaster(ModelKind.LIGHTGBM, Target.LOAD, forecast)
    await asyncio.to_thread(lgbm.fit, series, site)
    metrics = ModelMetrics(
        mae=0.5,
        rmse=0.7,
        mase=0.9,
        coverage_80=0.8,
        naive_mae=0.55,
        origins=1,
        series=3,
        fit_s=1.0,
        predict_s=0.1,
    )
    registry = ModelRegistry(db)
    record = await registry.save(lgbm, metrics, start, end, homes)
    await registry.promote(record)


async def test_a_cycle_forecasts_nodes_and_fleet_and_falls_back_without_a_model(
    *,
    temporal: Client,
    ml_queue: str,
    fdb: Database,
    redis: Redis,
    homes: list[str],
    forecast: ForecastSettings,
) -> None:
    await _register_load_model(fdb, forecast, homes)
    # Live telemetry of the hour before last for one home, not yet appended; ingest stores
    # readings of registered nodes only, so the home is registered first.
    await register_nodes(
        fdb,
        [
            NodeSpec(
                dc_id=homes[0],
                kind=NodeKind.HOME_DER,
                hostname=homes[0],
                location=GeoPoint(lat=34.09, lon=-117.43),
                capacity_kw=5.0,
                battery_kwh=13.5,
            )
        ],
    )
    now = datetime.now(UTC)
    hour = history.hour_floor(now) - timedelta(hours=2)
    await history.write_cursor(fdb, history.TELEMETRY_CURSOR, hour)
    await fdb["telemetry"].insert_many(
        [
            {
                "dc_id": homes[0],
                "timestamp": hour + timedelta(minutes=m),
                "load_kw": 7.0 + m / 59,
                "pv_kw": 0.25,
            }
            for m in range(0, 60, 5)
        ]
    )
    pubsub = redis.pubsub()
    await pubsub.subscribe(forecast.redis_channel)
    await pubsub.get_message(timeout=1.0)  # the subscribe confirmation

    handle = await temporal.start_workflow(
        ForecastCycleWorkflow.run,
        ForecastCycleInput(node_ids=[*homes, "fc-no-history"], batch_size=2),
        id=f"test-forecast-cycle-{uuid.uuid4().hex[:8]}",
        task_queue=ml_queue,
    )
    result: ForecastCycleResult = await handle.result()

    assert result.sync.telemetry_hours == 1
    appended = await history.read_series(
        fdb, [homes[0]], ["load_kw", "pv_kw"], hour, hour + timedelta(hours=1)
    )
    mean_load = float(np.mean([7.0 + m / 59 for m in range(0, 60, 5)]))
    assert appended[homes[0]]["load_kw"][0] == pytest.approx(mean_load, abs=1e-4)
    assert appended[homes[0]]["pv_kw"][0] == pytest.approx(0.25)

    assert result.models[Target.LOAD] is not None
    assert result.models[Target.PV] is None
    assert result.written == 2 * len(homes) + 2  # load and PV of each home and the fleet
    assert set(result.skipped) == {"fc-no-history/load_kw", "fc-no-history/pv_kw"}
    assert {(f.series_id, f.target) for f in result.fallbacks} == {
        *((h, Target.PV) for h in homes),
        ("fleet", Target.PV),
    }

    stored = await ForecastRecord.find({"cycle_id": result.cycle_id}).to_list()
    by_key = {(r.series_id, r.target): r for r in stored}
    assert len(stored) == result.written
    for series_id in [*homes, "fleet"]:
        load = by_key[(series_id, Target.LOAD)]
        assert (load.model_kind, load.fallback, load.fallback_reason) == (
            ModelKind.LIGHTGBM,
            False,
            None,
        )
        assert load.model_version == result.models[Target.LOAD].version  # type: ignore[union-attr]
        pv = by_key[(series_id, Target.PV)]
        assert pv.fallback
        assert pv.model_kind is ModelKind.SEASONAL_NAIVE
        assert pv.fallback_reason == "no champion model for pv_kw in the registry"
        for r in (load, pv):
            assert r.start == result.origin
            assert len(r.q50) == 24
            assert all(a <= b <= c for a, b, c in zip(r.q10, r.q50, r.q90, strict=True))
    # The fleet sums the homes; the node with no history is left out, and says so.
    assert {r.nodes for r in stored if r.series_id == "fleet"} == {len(homes)}
    assert {r.nodes for r in stored if r.series_id != "fleet"} == {None}
    # The naive of a sum is the sum of the naives.
    fleet_pv = np.array(by_key[("fleet", Target.PV)].q50)
    homes_pv = np.sum([by_key[(h, Target.PV)].q50 for h in homes], axis=0)
    np.testing.assert_allclose(fleet_pv, homes_pv, atol=1e-3)

    async with asyncio.timeout(10):
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is not None:
                break
    payload = json.loads(message["data"])
    assert payload["cycle_id"] == result.cycle_id
    assert len(payload["forecasts"]) == result.written
    assert {f["nodes"] for f in payload["forecasts"] if f["series_id"] == "fleet"} == {len(homes)}
    await pubsub.aclose()  # type: ignore[no-untyped-call]

    await _replay(handle, "forecast_cycle")


async def test_a_refused_training_is_one_line_from_the_command(
    ml_queue: str, homes: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`vpp forecast train` with too few days: the activity's reason, exit 1, no traceback.
    The command starts it on the training queue; here the test's worker polls that."""
    monkeypatch.setenv("VPP_TEMPORAL__ML_TRAIN_TASK_QUEUE", ml_queue)
    get_settings.cache_clear()
    try:
        # The command runs its own event loop: give it a thread.
        result = await asyncio.to_thread(
            CliRunner().invoke,
            forecast_app,
            ["train", "-t", "load_kw", "-m", "seasonal_naive", "--train-days", "3"],
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1, result.output
    assert "error: " in result.output
    assert "3 training days leave 1 before the 2 held out" in result.output
    assert "forecasting needs 17, so train on at least 19" in result.output
    assert "Traceback" not in result.output


async def test_trainings_run_on_their_own_queue_beside_the_cycles(
    *,
    settings: Settings,
    temporal: Client,
    fdb: Database,
    redis: Redis,
    homes: list[str],
    forecast: ForecastSettings,
) -> None:
    """The ML worker's cycles' worker does not take up a training, so a training never holds
    a slot a cycle needs; the trainings' worker runs it, its activities on its own queue."""
    run = uuid.uuid4().hex[:8]
    cycle_queue, training_queue = f"test-ml-{run}", f"test-ml-train-{run}"
    cycles, training = build_ml_workers(
        temporal,
        settings,
        MlClients(mongo=fdb.client, db=fdb, redis=redis),
        task_queue=cycle_queue,
        training_queue=training_queue,
        forecast=forecast,
    )
    trained = await temporal.start_workflow(
        TrainForecastWorkflow.run,
        TrainForecastInput(targets=[Target.LOAD], candidates=[ModelKind.SEASONAL_NAIVE]),
        id=f"test-forecast-train-queue-{run}",
        task_queue=training_queue,
    )
    async with cycles:
        cycle: ForecastCycleResult = await temporal.execute_workflow(
            ForecastCycleWorkflow.run,
            ForecastCycleInput(node_ids=homes),
            id=f"test-forecast-cycle-queue-{run}",
            task_queue=cycle_queue,
        )
        assert cycle.written == 2 * len(homes) + 2
        # Nothing polled the training's queue while the cycle ran: not even its first task.
        events = [e async for e in trained.fetch_history_events()]
        assert not any(e.HasField("workflow_task_started_event_attributes") for e in events)
    async with training, asyncio.timeout(120):
        result: TrainForecastResult = await trained.result()
    assert [c.kind for c in result.choices[0].candidates] == [ModelKind.SEASONAL_NAIVE]
    scheduled = [
        e.activity_task_scheduled_event_attributes
        async for e in trained.fetch_history_events()
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert scheduled
    assert {a.task_queue.name for a in scheduled} == {training_queue}


async def test_a_training_has_the_cycle_run_at_once_with_its_champions(
    temporal: Client, ml_queue: str, fdb: Database, homes: list[str]
) -> None:
    """With the forecast cycle's schedule in place (its first run a year away, so only the
    training starts one), a training of PV ends by having the schedule run a cycle, which
    forecasts PV with the new champion rather than the naive fallback. Once an operator
    pauses the schedule, a training leaves it alone. Last in the module: it gives PV a
    champion, which the cycle test above must not see."""
    run = uuid.uuid4().hex[:8]
    schedule = await temporal.create_schedule(
        FORECAST_CYCLE_SCHEDULE,
        Schedule(
            action=ScheduleActionStartWorkflow(
                ForecastCycleWorkflow.run,
                ForecastCycleInput(node_ids=homes),
                id=f"test-forecast-cycle-after-training-{run}",
                task_queue=ml_queue,
            ),
            spec=ScheduleSpec(
                intervals=[ScheduleIntervalSpec(every=timedelta(days=1))],
                start_at=datetime.now(UTC) + timedelta(days=365),
            ),
        ),
    )

    async def train(name: str) -> TrainForecastResult:
        return await temporal.execute_workflow(
            TrainForecastWorkflow.run,
            TrainForecastInput(
                targets=[Target.PV], candidates=[ModelKind.SEASONAL_NAIVE], node_ids=homes
            ),
            id=f"test-forecast-train-{name}-{run}",
            task_queue=ml_queue,
        )

    try:
        trained = await train("then-cycle")
        assert trained.cycle_started
        async with asyncio.timeout(30):
            while not (described := await schedule.describe()).info.recent_actions:  # noqa: ASYNC110 - the server sends no event
                await asyncio.sleep(0.2)
        action = described.info.recent_actions[0].action
        assert isinstance(action, ScheduleActionExecutionStartWorkflow)
        cycle = await temporal.get_workflow_handle(
            action.workflow_id, result_type=ForecastCycleResult
        ).result()

        await schedule.pause(note="maintenance")
        assert not (await train("while-paused")).cycle_started
        assert (await schedule.describe()).info.num_actions == 1
    finally:
        await schedule.delete()
    champion = trained.choices[0].champion
    pv = cycle.models[Target.PV]
    assert pv is not None
    assert (pv.name, pv.version) == (champion.name, champion.version)
    stored = await fdb[FORECASTS].find_one(
        {"cycle_id": cycle.cycle_id, "series_id": homes[0], "target": Target.PV.value}
    )
    assert stored is not None
    assert (stored["model_name"], stored["fallback"]) == (champion.name, False)
