"""`vpp schedules apply` against the real Temporal dev server: twice leaves one schedule per
cycle (forecast, training, optimisation), with the definition it was given; applying the
forecast cycle's starts a run at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio.client import (
    Client,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
)
from typer.testing import CliRunner, Result

from vpp.config import Settings, get_settings
from vpp.ml.forecast.settings import Target
from vpp.schedules import (
    FORECAST_CYCLE_SCHEDULE,
    FORECAST_TRAIN_SCHEDULE,
    OPTIMIZE_CYCLE_SCHEDULE,
    Applied,
    all_definitions,
    apply,
    describe,
    untrained_targets,
)
from vpp.schedules_command import schedules_app
from vpp.store.database import Database
from vpp.temporal_client import connect

IDS = [FORECAST_CYCLE_SCHEDULE, FORECAST_TRAIN_SCHEDULE, OPTIMIZE_CYCLE_SCHEDULE]


@pytest.fixture
async def temporal(settings: Settings) -> AsyncIterator[Client]:
    client = await connect(settings.temporal)
    yield client
    # The schedules would start cycles on a queue no test worker polls; a run one started
    # would wait there for the next test's worker.
    listed = [s.id async for s in await client.list_schedules()]
    for schedule_id in IDS:
        if schedule_id not in listed:
            continue
        handle = client.get_schedule_handle(schedule_id)
        for run in (await handle.describe()).info.running_actions:
            if isinstance(run, ScheduleActionExecutionStartWorkflow):
                await client.get_workflow_handle(run.workflow_id).terminate("test cleanup")
        await handle.delete()


async def _ids(client: Client) -> list[str]:
    return [s.id async for s in await client.list_schedules() if s.id in IDS]


async def _runs(client: Client, schedule_id: str, at_least: int, within_s: float = 10.0) -> int:
    """The runs the schedule has started, once `at_least` are seen or `within_s` has passed:
    the server starts a triggered run shortly after it answers."""
    handle = client.get_schedule_handle(schedule_id)
    for _ in range(int(within_s * 10)):
        runs = (await handle.describe()).info.num_actions
        if runs >= at_least:
            return runs
        await asyncio.sleep(0.1)
    return runs


async def test_apply_twice_leaves_one_schedule_per_cycle(
    temporal: Client, settings: Settings
) -> None:
    definitions = all_definitions(settings)
    first = await apply(temporal, definitions)
    assert set(first.values()) == {Applied.CREATED}
    # The forecast cycle runs now, not 15 minutes from now; the others wait for their clock.
    assert await _runs(temporal, FORECAST_CYCLE_SCHEDULE, at_least=1) == 1
    cycle = await temporal.get_schedule_handle(FORECAST_CYCLE_SCHEDULE).describe()
    (run,) = cycle.info.running_actions
    assert isinstance(run, ScheduleActionExecutionStartWorkflow)
    assert run.workflow_id.startswith("forecast-cycle")
    second = await apply(temporal, definitions)
    assert set(first) == set(second) == set(IDS)
    assert set(second.values()) == {Applied.UPDATED}
    assert sorted(await _ids(temporal)) == sorted(IDS)
    # Applied again while its run waits (no worker polls here): skipped, not a second run.
    assert await _runs(temporal, FORECAST_CYCLE_SCHEDULE, at_least=2, within_s=2) == 1
    skipped = await temporal.get_schedule_handle(FORECAST_CYCLE_SCHEDULE).describe()
    assert skipped.info.num_actions_skipped_overlap == 1
    assert await _runs(temporal, FORECAST_TRAIN_SCHEDULE, at_least=1, within_s=1) == 0
    assert await _runs(temporal, OPTIMIZE_CYCLE_SCHEDULE, at_least=1, within_s=1) == 0

    cycle = await temporal.get_schedule_handle(FORECAST_CYCLE_SCHEDULE).describe()
    action = cycle.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert action.workflow == "ForecastCycleWorkflow"
    assert action.task_queue == settings.temporal.ml_task_queue
    assert [i.every for i in cycle.schedule.spec.intervals] == [timedelta(minutes=15)]
    train = await temporal.get_schedule_handle(FORECAST_TRAIN_SCHEDULE).describe()
    assert isinstance(train.schedule.action, ScheduleActionStartWorkflow)
    assert train.schedule.action.workflow == "TrainForecastWorkflow"
    assert train.schedule.action.task_queue == settings.temporal.ml_train_task_queue
    assert [c.hour[0].start for c in train.schedule.spec.calendars] == [2]

    optimize = await temporal.get_schedule_handle(OPTIMIZE_CYCLE_SCHEDULE).describe()
    assert isinstance(optimize.schedule.action, ScheduleActionStartWorkflow)
    assert optimize.schedule.action.workflow == "OptimizeCycleWorkflow"
    assert optimize.schedule.action.task_queue == settings.temporal.ml_task_queue
    assert [i.every for i in optimize.schedule.spec.intervals] == [timedelta(minutes=15)]

    lines = await describe(temporal, IDS)
    assert lines[0].startswith("forecast-cycle: ForecastCycleWorkflow on vpp-ml, every 0:15:00")
    assert lines[1].startswith(
        "forecast-train: TrainForecastWorkflow on vpp-ml-train, daily at 02:30"
    )
    assert lines[2].startswith("optimize-cycle: OptimizeCycleWorkflow on vpp-ml, every 0:15:00")


async def _apply_command(env: dict[str, str]) -> Result:
    """`vpp schedules apply` with `env` over the test settings; it must succeed."""
    get_settings.cache_clear()
    try:
        # The command runs its own event loop: give it a thread.
        result = await asyncio.to_thread(CliRunner().invoke, schedules_app, ["apply"], env=env)
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    return result


async def test_a_paused_schedule_is_not_run_by_applying(
    temporal: Client, settings: Settings
) -> None:
    definitions = all_definitions(settings)
    await apply(temporal, definitions)
    assert await _runs(temporal, FORECAST_CYCLE_SCHEDULE, at_least=1) == 1
    handle = temporal.get_schedule_handle(FORECAST_CYCLE_SCHEDULE)
    for run in (await handle.describe()).info.running_actions:
        assert isinstance(run, ScheduleActionExecutionStartWorkflow)
        await temporal.get_workflow_handle(run.workflow_id).terminate("test: make room")
    await handle.pause(note="an operator's pause")

    await apply(temporal, definitions, run_now={FORECAST_CYCLE_SCHEDULE})
    described = await handle.describe()
    assert described.schedule.state.paused  # kept, as an operator set it
    assert await _runs(temporal, FORECAST_CYCLE_SCHEDULE, at_least=2, within_s=2) == 1
    assert described.info.num_actions_skipped_overlap == 0


async def test_a_schedule_asked_to_run_now_starts_a_run(
    temporal: Client, settings: Settings
) -> None:
    await apply(temporal, all_definitions(settings), run_now={FORECAST_TRAIN_SCHEDULE})
    assert await _runs(temporal, FORECAST_TRAIN_SCHEDULE, at_least=1) == 1
    assert await _runs(temporal, OPTIMIZE_CYCLE_SCHEDULE, at_least=1, within_s=1) == 0


async def test_the_command_applies_and_trains_a_platform_without_models(
    temporal: Client, settings: Settings, scratch_db: Database
) -> None:
    """Against a store whose registry is empty, as on a platform's first start."""
    env = {"VPP_MONGO__DATABASE": scratch_db.name}
    untrained = await untrained_targets(
        settings.model_copy(
            update={"mongo": settings.mongo.model_copy(update={"database": scratch_db.name})}
        )
    )
    assert untrained == [Target.LOAD, Target.PV]
    result = await _apply_command(env)
    assert "forecast-cycle: " in result.output
    assert "ForecastCycleWorkflow on vpp-ml" in result.output
    assert "forecast-train: started now, no champion model for load_kw, pv_kw" in result.output
    assert sorted(await _ids(temporal)) == sorted(IDS)
    assert await _runs(temporal, FORECAST_TRAIN_SCHEDULE, at_least=1) == 1


async def test_the_command_applies_even_when_the_registry_is_unreachable(
    temporal: Client,
) -> None:
    """A store that cannot be reached (a closed port) costs the early training only."""
    env = {"VPP_MONGO__URI": "mongodb://127.0.0.1:9/"}
    result = await _apply_command(env)
    assert "forecast-train: model registry unreadable (" in result.output
    assert "started now" not in result.output
    assert sorted(await _ids(temporal)) == sorted(IDS)
    assert await _runs(temporal, FORECAST_TRAIN_SCHEDULE, at_least=1, within_s=1) == 0
