"""The forecasting activities: history, training, forecasting, publishing.

Methods of one class whose constructor takes the clients (MongoDB database, Redis) and
the settings; the ML worker registers the bound methods. The darts work runs in threads
(`vpp.ml.forecast.service`), so long activities keep heartbeating their progress. The
only thing kept between calls is a cache of models loaded from the registry (immutable
by name and version).

This module imports no ML or data library at import time (darts, pandas and the store
load when an activity first runs), so the workflow module and `vpp schedules apply`
stay light.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from redis.asyncio import Redis
from temporalio import activity
from temporalio.exceptions import ApplicationError

from vpp.activities.heartbeat import heartbeating
from vpp.activities.memory import release_freed_memory
from vpp.ml.forecast.messages import (
    CandidateResult,
    CycleForecasts,
    CyclePlan,
    ForecastBatchInput,
    ForecastBatchResult,
    ModelRef,
    PlanCycleInput,
    PrepareTrainingInput,
    PromoteInput,
    PublishedForecast,
    PublishInput,
    PublishResult,
    SyncHistoryInput,
    SyncHistoryResult,
    TrainCandidateInput,
    TrainingPlan,
)
from vpp.ml.forecast.settings import ForecastSettings

log = logging.getLogger(__name__)

# The error type of failures no retry can mend (too little history, unknown model).
FORECAST_REFUSED = "ForecastRefused"


def _refuse(message: str) -> ApplicationError:
    return ApplicationError(message, type=FORECAST_REFUSED, non_retryable=True)


class ForecastActivities:
    def __init__(self, db: Any, redis: Redis, settings: ForecastSettings) -> None:
        from vpp.ml.forecast.registry import ModelRegistry
        from vpp.ml.forecast.service import FittedCandidates, ModelCache

        self.db = db
        self.redis = redis
        self.settings = settings
        self.registry = ModelRegistry(db)
        self.cache = ModelCache(self.registry)
        self.fitted = FittedCandidates()

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.sync_history,
            self.prepare_training,
            self.train_candidate,
            self.promote_model,
            self.run_cycle_now,
            self.plan_cycle,
            self.forecast_batch,
            self.publish_cycle,
        ]

    # -- history -----------------------------------------------------------------------------

    @activity.defn(name="forecast.sync_history")
    async def sync_history(self, inp: SyncHistoryInput) -> SyncHistoryResult:
        """Append completed hours of live telemetry, and the site's weather, to the history;
        delete forecasts past their retention."""
        from vpp.ml.forecast import history
        from vpp.ml.forecast.documents import FORECASTS

        telemetry = await history.append_telemetry(self.db, inp.until)
        site = await history.append_site(self.db, self.settings.data_dir, inp.until)
        cutoff = inp.until - timedelta(days=self.settings.forecast_retention_days)
        pruned = await self.db[FORECASTS].delete_many({"issued_at": {"$lt": cutoff}})
        return SyncHistoryResult(
            telemetry_hours=telemetry, site_hours=site, forecasts_pruned=pruned.deleted_count
        )

    # -- training ----------------------------------------------------------------------------

    @activity.defn(name="forecast.prepare_training")
    async def prepare_training(self, inp: PrepareTrainingInput) -> TrainingPlan:
        from vpp.ml.forecast import history

        s = self.settings
        train_days = inp.train_days or s.train_days
        holdout_days = inp.holdout_days or s.holdout_days
        end = history.hour_floor(inp.end)
        start = end - timedelta(days=train_days)
        holdout_start = end - timedelta(days=holdout_days)
        lookback_days = -(-s.lookback_h // 24)
        if train_days - holdout_days < lookback_days:
            raise _refuse(
                f"{train_days} training days leave {max(train_days - holdout_days, 0)} "
                f"before the {holdout_days} held out; forecasting needs {lookback_days}, so "
                f"train on at least {holdout_days + lookback_days}"
            )
        nodes = (
            inp.node_ids or (await history.series_with_history(self.db, start))[: s.train_series]
        )
        if not nodes:
            raise _refuse("no node has history to train on; run `vpp data import citylearn`")
        return TrainingPlan(
            targets=inp.targets or s.targets,
            candidates=inp.candidates or s.candidates,
            node_ids=nodes,
            start=start,
            holdout_start=holdout_start,
            end=end,
        )

    @activity.defn(name="forecast.train_candidate")
    async def train_candidate(self, inp: TrainCandidateInput) -> CandidateResult:
        """Measure one candidate on the held-out days, refit it and store it (heartbeats
        `{"phase": ..., "done": share}`)."""
        from vpp.ml.forecast import service
        from vpp.ml.forecast.models import ForecastError, set_threads

        set_threads(self.settings.threads)
        try:
            async with heartbeating() as progress:
                return await service.train_candidate(
                    self.db,
                    self.registry,
                    self.settings,
                    plan=inp.plan,
                    target=inp.target,
                    kind=inp.kind,
                    progress=progress,
                    fitted=self.fitted,
                )
        except (ForecastError, ValueError) as exc:
            raise _refuse(f"{inp.kind.value} for {inp.target.value}: {exc}") from exc
        finally:
            # Off the event loop: trimming a heap of a GB takes a moment.
            await asyncio.to_thread(release_freed_memory)

    @activity.defn(name="forecast.promote_model")
    async def promote_model(self, inp: PromoteInput) -> None:
        record = await self.registry.record(inp.name, inp.version)
        if record is None:
            raise _refuse(f"no model {inp.name} v{inp.version} to promote")
        await self.registry.promote(record)

    @activity.defn(name="forecast.run_cycle_now")
    async def run_cycle_now(self) -> bool:
        """Have the forecast cycle's schedule start a cycle now, so the champions a training
        just promoted forecast at once rather than at the schedule's next period (on a
        platform brought up without models, the seasonal naive until then). A cycle running
        already plans with the champions it started with, so this one follows it. False
        when there is no such schedule (a training started by hand, without `vpp schedules
        apply`) or an operator paused it: a pause holds against a training too."""
        from temporalio.client import ScheduleOverlapPolicy
        from temporalio.service import RPCError, RPCStatusCode

        from vpp.schedules import FORECAST_CYCLE_SCHEDULE  # it imports the workflows

        handle = activity.client().get_schedule_handle(FORECAST_CYCLE_SCHEDULE)
        try:
            state = (await handle.describe()).schedule.state
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                log.info("no %s schedule to run now", FORECAST_CYCLE_SCHEDULE)
                return False
            raise
        if state.paused:
            log.info("%s is paused (%s): not run now", FORECAST_CYCLE_SCHEDULE, state.note)
            return False
        await handle.trigger(overlap=ScheduleOverlapPolicy.BUFFER_ONE)
        return True

    # -- the cycle ---------------------------------------------------------------------------

    @activity.defn(name="forecast.plan_cycle")
    async def plan_cycle(self, inp: PlanCycleInput) -> CyclePlan:
        """The nodes to forecast and the champion model of each target, for the whole cycle."""
        from vpp.ml.forecast import history

        since = inp.origin - timedelta(hours=self.settings.max_history_gap_h)
        nodes = inp.node_ids or await history.series_with_history(self.db, since)
        models: dict[Any, ModelRef | None] = {}
        for target in self.settings.targets:
            record = await self.registry.champion(target)
            models[target] = (
                None if record is None else ModelRef(name=record.name, version=record.version)
            )
        return CyclePlan(node_ids=nodes, models=models)

    @activity.defn(name="forecast.forecast_batch")
    async def forecast_batch(self, inp: ForecastBatchInput) -> ForecastBatchResult:
        """Forecast and store a batch of nodes (or the fleet); a missing or failing model
        falls back to the seasonal naive, recorded in each forecast."""
        from vpp.ml.forecast import service
        from vpp.ml.forecast.models import set_threads

        set_threads(self.settings.threads)
        async with heartbeating():
            return await service.forecast_batch(self.db, self.cache, self.settings, inp)

    @activity.defn(name="forecast.publish_cycle")
    async def publish_cycle(self, inp: PublishInput) -> PublishResult:
        """One message on the live channel with every forecast of the cycle."""
        from vpp.ml.forecast.documents import FORECASTS

        docs = await self.db[FORECASTS].find({"cycle_id": inp.cycle_id}, {"_id": 0}).to_list()
        if not docs:
            raise _refuse(f"cycle {inp.cycle_id} stored no forecast")
        first = docs[0]
        message = CycleForecasts(
            cycle_id=inp.cycle_id,
            issued_at=first["issued_at"],
            start=first["start"],
            step_minutes=first["step_minutes"],
            forecasts=[PublishedForecast.model_validate(d) for d in docs],
        )
        channel = self.settings.redis_channel
        subscribers = await self.redis.publish(channel, message.model_dump_json())
        return PublishResult(channel=channel, forecasts=len(docs), subscribers=int(subscribers))
