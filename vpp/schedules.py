"""The platform's Temporal Schedules, created or updated idempotently by `vpp schedules apply`.

Each part of the platform that runs on a clock contributes a factory of
`ScheduleDefinition`s to `SCHEDULE_FACTORIES` (the forecast's is here; the optimisation
cycle adds its own). `apply` makes the server hold exactly that definition under each
id: created when missing, replaced when present, so running it twice leaves one schedule
per cycle. The `vpp schedules ...` commands are in `vpp.schedules_command`.

- `forecast-cycle` starts `ForecastCycleWorkflow` (workflow ids `forecast-cycle-<time>`)
  every `forecast.cycle_minutes` (15), and once whenever it is applied;
- `forecast-train` starts `TrainForecastWorkflow` (workflow ids `forecast-train-<time>`)
  daily at `forecast.train_hour_utc`:30 UTC (02:30), and once when `vpp schedules apply`
  finds a target without a champion model (`untrained_targets`), so a new platform does not
  forecast with the seasonal naive until the next night.

- `optimize-cycle` starts `OptimizeCycleWorkflow` (workflow ids `optimize-cycle-<time>`)
  every `optimize.cycle_minutes` (15); the stored automation switch decides, each run,
  whether it acts, rehearses (dry run) or does nothing.

All skip a tick while the previous run is still going (overlap SKIP).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import RetryPolicy
from temporalio.service import RPCError, RPCStatusCode

from vpp.activities.forecast import FORECAST_REFUSED
from vpp.config import Settings
from vpp.ml.forecast.messages import ForecastCycleInput, TrainForecastInput
from vpp.ml.forecast.registry import targets_without_champion
from vpp.ml.forecast.settings import Target, forecast_settings
from vpp.optimize.models import OptimizeCycleInput
from vpp.optimize.settings import optimize_settings
from vpp.store.database import mongo_client
from vpp.workflows.forecast import ForecastCycleWorkflow, TrainForecastWorkflow
from vpp.workflows.optimize import OptimizeCycleWorkflow

FORECAST_CYCLE_SCHEDULE = "forecast-cycle"
FORECAST_TRAIN_SCHEDULE = "forecast-train"
OPTIMIZE_CYCLE_SCHEDULE = "optimize-cycle"

# A cycle that failed after its activities' own retries runs again soon; a cycle that
# cannot end within this long is abandoned (the next tick starts afresh).
CYCLE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=30),
    maximum_attempts=3,
    non_retryable_error_types=[FORECAST_REFUSED],
)
CYCLE_RUN_TIMEOUT = timedelta(minutes=30)
TRAIN_RETRY = RetryPolicy(
    initial_interval=timedelta(minutes=5),
    maximum_attempts=2,
    non_retryable_error_types=[FORECAST_REFUSED],
)
TRAIN_RUN_TIMEOUT = timedelta(hours=6)
TRAIN_MINUTE = 30


@dataclass(frozen=True)
class ScheduleDefinition:
    schedule_id: str
    schedule: Schedule
    # Start one run whenever the schedule is applied rather than up to an interval later, so
    # a platform just brought up (`make run` applies) has fresh forecasts within seconds;
    # the overlap policy skips it while a run is still going.
    run_on_apply: bool = False


ScheduleFactory = Callable[[Settings], list[ScheduleDefinition]]


def forecast_schedules(settings: Settings) -> list[ScheduleDefinition]:
    fs = forecast_settings(settings)
    queue = settings.temporal.ml_task_queue
    cycle = Schedule(
        action=ScheduleActionStartWorkflow(
            ForecastCycleWorkflow.run,
            ForecastCycleInput(batch_size=fs.batch_size),
            id=FORECAST_CYCLE_SCHEDULE,
            task_queue=queue,
            run_timeout=CYCLE_RUN_TIMEOUT,
            retry_policy=CYCLE_RETRY,
        ),
        spec=ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=timedelta(minutes=fs.cycle_minutes))]
        ),
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.SKIP,
            catchup_window=timedelta(minutes=fs.cycle_minutes),
        ),
        state=ScheduleState(
            note=f"24 h forecasts of every node and the fleet, every {fs.cycle_minutes} min"
        ),
    )
    train = Schedule(
        action=ScheduleActionStartWorkflow(
            TrainForecastWorkflow.run,
            TrainForecastInput(),
            id=FORECAST_TRAIN_SCHEDULE,
            task_queue=settings.temporal.ml_train_task_queue,
            run_timeout=TRAIN_RUN_TIMEOUT,
            retry_policy=TRAIN_RETRY,
        ),
        spec=ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    hour=[ScheduleRange(fs.train_hour_utc)],
                    minute=[ScheduleRange(TRAIN_MINUTE)],
                )
            ],
            time_zone_name="UTC",
        ),
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(hours=1)
        ),
        state=ScheduleState(note="train, measure and promote the forecast models, daily"),
    )
    return [
        ScheduleDefinition(FORECAST_CYCLE_SCHEDULE, cycle, run_on_apply=True),
        ScheduleDefinition(FORECAST_TRAIN_SCHEDULE, train),
    ]


def optimize_schedules(settings: Settings) -> list[ScheduleDefinition]:
    minutes = optimize_settings(settings).cycle_minutes
    cycle = Schedule(
        action=ScheduleActionStartWorkflow(
            OptimizeCycleWorkflow.run,
            OptimizeCycleInput(),
            id=OPTIMIZE_CYCLE_SCHEDULE,
            task_queue=settings.temporal.ml_task_queue,
            # A decision is worth nothing after its cycle: a failed one is not run late.
            run_timeout=timedelta(minutes=minutes),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=30), maximum_attempts=2),
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(minutes=minutes))]),
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(minutes=minutes)
        ),
        state=ScheduleState(
            note=f"battery setpoints from the policy, through the safety guard, every {minutes} min"
        ),
    )
    return [ScheduleDefinition(OPTIMIZE_CYCLE_SCHEDULE, cycle)]


# Every part of the platform that runs on a clock adds its factory here.
SCHEDULE_FACTORIES: list[ScheduleFactory] = [forecast_schedules, optimize_schedules]


def all_definitions(settings: Settings) -> list[ScheduleDefinition]:
    return [d for factory in SCHEDULE_FACTORIES for d in factory(settings)]


async def untrained_targets(settings: Settings) -> list[Target]:
    """The forecast targets with no champion model in the registry yet."""
    mongo = mongo_client(settings.mongo)
    try:
        db = mongo[settings.mongo.database]
        return await targets_without_champion(db, forecast_settings(settings).targets)
    finally:
        await mongo.close()


class Applied(StrEnum):
    CREATED = "created"
    UPDATED = "updated"


async def apply(
    client: Client, definitions: Sequence[ScheduleDefinition], run_now: Collection[str] = ()
) -> dict[str, Applied]:
    """Create each schedule, or replace the one already under its id; then start a run of
    those that ask for one on every apply, and of those in `run_now`, unless paused."""
    outcome: dict[str, Applied] = {}
    for d in definitions:
        if await _exists(client, d.schedule_id):
            await _replace(client, d)
            outcome[d.schedule_id] = Applied.UPDATED
        else:
            try:
                await client.create_schedule(d.schedule_id, d.schedule)
                outcome[d.schedule_id] = Applied.CREATED
            except ScheduleAlreadyRunningError:  # created concurrently
                await _replace(client, d)
                outcome[d.schedule_id] = Applied.UPDATED
        if d.run_on_apply or d.schedule_id in run_now:
            handle = client.get_schedule_handle(d.schedule_id)
            # A schedule an operator paused stays quiet: the server would run a trigger.
            if not (await handle.describe()).schedule.state.paused:
                await handle.trigger()
    return outcome


async def _exists(client: Client, schedule_id: str) -> bool:
    try:
        await client.get_schedule_handle(schedule_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def _replace(client: Client, d: ScheduleDefinition) -> None:
    def updater(current: ScheduleUpdateInput) -> ScheduleUpdate:
        # Keep a pause an operator set by hand; everything else is ours.
        schedule = d.schedule
        schedule.state.paused = current.description.schedule.state.paused
        return ScheduleUpdate(schedule=schedule)

    await client.get_schedule_handle(d.schedule_id).update(updater)


async def describe(client: Client, schedule_ids: Sequence[str]) -> list[str]:
    """One line per schedule: what it starts, when, and its next runs."""
    lines = []
    for schedule_id in schedule_ids:
        try:
            desc = await client.get_schedule_handle(schedule_id).describe()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            lines.append(f"{schedule_id}: missing")
            continue
        action = desc.schedule.action
        workflow = action.workflow if isinstance(action, ScheduleActionStartWorkflow) else "?"
        queue = action.task_queue if isinstance(action, ScheduleActionStartWorkflow) else "?"
        spec = desc.schedule.spec
        when = (
            ", ".join(f"every {i.every}" for i in spec.intervals)
            or ", ".join(_calendar(c) for c in spec.calendars)
            or ", ".join(spec.cron_expressions)
        )
        upcoming = ", ".join(
            t.strftime("%Y-%m-%d %H:%M:%S UTC") for t in desc.info.next_action_times[:2]
        )
        paused = " (paused)" if desc.schedule.state.paused else ""
        lines.append(
            f"{schedule_id}{paused}: {workflow} on {queue}, {when}; "
            f"runs so far {desc.info.num_actions}; next {upcoming or '-'}"
        )
    return lines


def _calendar(c: ScheduleCalendarSpec) -> str:
    hours = ",".join(f"{r.start:02d}" for r in c.hour)
    minutes = ",".join(f"{r.start:02d}" for r in c.minute)
    return f"daily at {hours}:{minutes} UTC"
