"""The forecast workflows, both on the ML task queue and started by Temporal Schedules
(`vpp.schedules`):

- `TrainForecastWorkflow` (daily): plan the training window, then for each target train
  and measure every candidate on held-out days, one activity each (they heartbeat), and
  promote the one with the lowest MASE against the seasonal naive; then have the
  forecast cycle's schedule run at once, so the new champions forecast without waiting.
- `ForecastCycleWorkflow` (every `cycle_minutes`): append the completed hours of live
  telemetry to the history, fix the models for the cycle, forecast the next 24 h for
  every node in batches and for the fleet, then publish the cycle on Redis.

Deterministic, no I/O: the activities do it. Imports go through
`imports_passed_through()`; the activity module imports no ML library at import time.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from vpp.activities.forecast import FORECAST_REFUSED, ForecastActivities
    from vpp.ml.forecast.messages import (
        CandidateResult,
        ForecastBatchInput,
        ForecastBatchResult,
        ForecastCycleInput,
        ForecastCycleResult,
        PlanCycleInput,
        PrepareTrainingInput,
        PromoteInput,
        PublishInput,
        SeriesOutcome,
        SyncHistoryInput,
        TargetChoice,
        TrainCandidateInput,
        TrainForecastInput,
        TrainForecastResult,
    )
    from vpp.ml.forecast.settings import ModelKind

# -- timeouts and retry policies ------------------------------------------------------------

# Quick store reads and writes.
STORE_TIMEOUT = timedelta(minutes=1)
STORE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=5,
    non_retryable_error_types=[FORECAST_REFUSED],
)
# Appending an hour of telemetry aggregates every reading of it.
SYNC_TIMEOUT = timedelta(minutes=5)
# One candidate: a holdout backtest plus a refit; minutes on 2 cores, heartbeating.
TRAIN_TIMEOUT = timedelta(hours=1)
TRAIN_HEARTBEAT = timedelta(seconds=30)
TRAIN_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=10),
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=3,
    non_retryable_error_types=[FORECAST_REFUSED],
)
# A batch of nodes: read their history, forecast, store. Seconds.
BATCH_TIMEOUT = timedelta(minutes=3)
BATCH_HEARTBEAT = timedelta(seconds=30)
BATCH_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=20),
    maximum_attempts=4,
    non_retryable_error_types=[FORECAST_REFUSED],
)


# The patch that added starting a forecast cycle once the champions are promoted.
RUN_CYCLE_AFTER_TRAINING = "run-cycle-after-training"


@workflow.defn
class TrainForecastWorkflow:
    @workflow.run
    async def run(self, inp: TrainForecastInput) -> TrainForecastResult:
        end = inp.end or workflow.now()
        plan = await workflow.execute_activity_method(
            ForecastActivities.prepare_training,
            PrepareTrainingInput(
                end=end,
                targets=inp.targets,
                candidates=inp.candidates,
                train_days=inp.train_days,
                holdout_days=inp.holdout_days,
                node_ids=inp.node_ids,
            ),
            start_to_close_timeout=STORE_TIMEOUT,
            retry_policy=STORE_RETRY,
        )
        choices = []
        for target in plan.targets:
            results: list[CandidateResult] = []
            failed: dict[ModelKind, str] = {}
            for kind in plan.candidates:
                try:
                    result = await workflow.execute_activity_method(
                        ForecastActivities.train_candidate,
                        TrainCandidateInput(plan=plan, target=target, kind=kind),
                        start_to_close_timeout=TRAIN_TIMEOUT,
                        heartbeat_timeout=TRAIN_HEARTBEAT,
                        retry_policy=TRAIN_RETRY,
                    )
                except ActivityError as exc:
                    # One candidate failing (after its retries) leaves the others to compete.
                    cause = str(exc.cause or exc)
                    workflow.logger.warning("%s for %s failed: %s", kind, target, cause)
                    failed[kind] = cause
                    continue
                results.append(result)
            if not results:
                raise ApplicationError(
                    f"no candidate for {target.value} could be trained: {failed}",
                    type=FORECAST_REFUSED,
                    non_retryable=True,
                )
            champion = choose(results)
            await workflow.execute_activity_method(
                ForecastActivities.promote_model,
                PromoteInput(name=champion.name, version=champion.version),
                start_to_close_timeout=STORE_TIMEOUT,
                retry_policy=STORE_RETRY,
            )
            choices.append(
                TargetChoice(target=target, champion=champion, candidates=results, failed=failed)
            )
        cycle_started = False
        # Trainings recorded before this step replay without it.
        if workflow.patched(RUN_CYCLE_AFTER_TRAINING):
            try:
                cycle_started = await workflow.execute_activity_method(
                    ForecastActivities.run_cycle_now,
                    start_to_close_timeout=STORE_TIMEOUT,
                    retry_policy=STORE_RETRY,
                )
            except ActivityError as exc:
                # The champions are promoted: the schedule's next cycle uses them anyway.
                workflow.logger.warning("the forecast cycle was not started now: %s", exc.cause)
        return TrainForecastResult(plan=plan, choices=choices, cycle_started=cycle_started)


def choose(results: list[CandidateResult]) -> CandidateResult:
    """The lowest MASE; a candidate without one (the naive made no error) ranks last,
    then the lower MAE."""
    return min(results, key=lambda r: (r.mase is None, r.mase or 0.0, r.mae))


@workflow.defn
class ForecastCycleWorkflow:
    @workflow.run
    async def run(self, inp: ForecastCycleInput) -> ForecastCycleResult:
        issued_at = inp.issued_at or workflow.now()
        origin = issued_at.replace(minute=0, second=0, microsecond=0)
        cycle_id = workflow.info().workflow_id
        sync = await workflow.execute_activity_method(
            ForecastActivities.sync_history,
            SyncHistoryInput(until=issued_at),
            start_to_close_timeout=SYNC_TIMEOUT,
            retry_policy=STORE_RETRY,
        )
        plan = await workflow.execute_activity_method(
            ForecastActivities.plan_cycle,
            PlanCycleInput(origin=origin, node_ids=inp.node_ids),
            start_to_close_timeout=STORE_TIMEOUT,
            retry_policy=STORE_RETRY,
        )
        written = 0
        fallbacks: list[SeriesOutcome] = []
        skipped: dict[str, str] = {}
        batches = [
            plan.node_ids[i : i + inp.batch_size]
            for i in range(0, len(plan.node_ids), inp.batch_size)
        ]
        inputs = [
            ForecastBatchInput(
                cycle_id=cycle_id,
                issued_at=issued_at,
                origin=origin,
                node_ids=batch,
                models=plan.models,
            )
            for batch in batches
        ]
        if plan.node_ids:
            inputs.append(
                ForecastBatchInput(
                    cycle_id=cycle_id,
                    issued_at=issued_at,
                    origin=origin,
                    node_ids=plan.node_ids,
                    models=plan.models,
                    fleet=True,
                )
            )
        for batch_input in inputs:
            result: ForecastBatchResult = await workflow.execute_activity_method(
                ForecastActivities.forecast_batch,
                batch_input,
                start_to_close_timeout=BATCH_TIMEOUT,
                heartbeat_timeout=BATCH_HEARTBEAT,
                retry_policy=BATCH_RETRY,
            )
            written += result.written
            fallbacks.extend(result.fallbacks)
            skipped.update(result.skipped)
        published_to = 0
        if written:
            published = await workflow.execute_activity_method(
                ForecastActivities.publish_cycle,
                PublishInput(cycle_id=cycle_id),
                start_to_close_timeout=STORE_TIMEOUT,
                retry_policy=STORE_RETRY,
            )
            published_to = published.subscribers
        return ForecastCycleResult(
            cycle_id=cycle_id,
            origin=origin,
            nodes=len(plan.node_ids),
            written=written,
            fallbacks=fallbacks,
            skipped=skipped,
            models=plan.models,
            sync=sync,
            published_to=published_to,
        )


ML_WORKFLOWS: tuple[type, ...] = (TrainForecastWorkflow, ForecastCycleWorkflow)
