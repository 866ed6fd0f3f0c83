"""The optimisation cycle's activities (ML task queue): the switch, deciding, linking
decisions to their dispatches.

`decide` does the cycle's work in one activity, so a fleet's state, the policy's answers
and the guard's changes are read and stored together: it reads the fleet
(`vpp.optimize.fleet`), builds each node's observation exactly as the policy was trained
on (`vpp.ml.rl.observation`), asks the policy, passes the actions through the guard,
stores one decision per node and returns the dispatch groups. The policy and torch load
when the first cycle runs, not at import (the workflow module imports this one).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis
from temporalio import activity

from vpp.bus.channels import RedisNames
from vpp.config import Settings
from vpp.dispatch.models import DispatchTiming
from vpp.dispatch.settings import dispatch_settings
from vpp.optimize.documents import DECISIONS, DecisionInputs, DecisionRecord
from vpp.optimize.fleet import FleetView, ahead, read_fleet
from vpp.optimize.guard import GuardLimits, guard
from vpp.optimize.models import (
    AttachInput,
    AutomationSwitch,
    DecideInput,
    DecideResult,
    DispatchPlan,
    NodeState,
)
from vpp.optimize.plan import action_of, group_actions
from vpp.optimize.settings import optimize_settings
from vpp.optimize.switch import read_switch
from vpp.optimize.value import expected_saving
from vpp.store.database import Database

if TYPE_CHECKING:
    from vpp.ml.rl.policy import Policy

log = logging.getLogger(__name__)

PolicyLoader = Callable[[Database], Awaitable["Policy"]]


def champion_policy(settings: Settings) -> PolicyLoader:
    """The registry's champion policy, or the rule-based controller (with the configured
    cost model and SOC limits) while none is trained."""

    async def load(db: Database) -> Policy:
        from vpp.ml.rl.policy import load_policy
        from vpp.ml.rl.settings import rl_settings

        return await load_policy(db, rl_settings(settings))

    return load


class OptimizeActivities:
    def __init__(
        self,
        db: Database,
        redis: Redis,
        settings: Settings,
        *,
        names: RedisNames | None = None,
        policy_loader: PolicyLoader | None = None,
    ) -> None:
        self.db = db
        self.redis = redis
        self.settings = settings
        self.options = optimize_settings(settings)
        self.names = names or RedisNames()
        self.load_policy = policy_loader or champion_policy(settings)

    def all(self) -> list[Callable[..., Any]]:
        return [self.read_switch, self.decide, self.attach_dispatches]

    @activity.defn(name="optimize.read_switch")
    async def read_switch(self) -> AutomationSwitch:
        return await read_switch(self.db, self.options)

    @activity.defn(name="optimize.decide")
    async def decide(self, inp: DecideInput) -> DecideResult:
        from vpp.ml.rl.observation import HORIZON
        from vpp.ml.rl.settings import rl_settings
        from vpp.ml.rl.signals import site_signals

        o = self.options
        now = inp.decided_at
        hours = o.cycle_minutes / 60.0
        policy = await self.load_policy(self.db)
        fleet = await read_fleet(
            self.db,
            self.redis,
            now=now,
            node_ids=inp.node_ids,
            offline_after_s=self.settings.ingest.offline_after_s,
            max_state_age_s=o.max_state_age_s,
            names=self.names,
            recent=policy.reads_recent,
        )
        activity.heartbeat("fleet read")
        rl = rl_settings(self.settings)
        signals = site_signals(now, HORIZON, rl.resolved_data_dir())
        prices, carbon = signals.prices_per_kwh, signals.carbon_kg_per_kwh
        records: list[DecisionRecord] = []
        requested: list[float] = []
        for k, node in enumerate(fleet.nodes):
            record = DecisionRecord(
                cycle_id=inp.cycle_id,
                dc_id=node.dc_id,
                decided_at=now,
                policy=policy.name,
                dry_run=inp.dry_run,
            )
            kw = 0.0
            # A held node is asked too: its decision shows what the guard withheld.
            if node.problem is None:
                obs_input, inputs = _observation_input(
                    node, fleet, now, HORIZON, prices=prices, carbon=carbon
                )
                raw = float(policy.act(obs_input)) + 0.0  # no -0.0 in the record
                kw = raw * node.capacity_kw
                record = record.model_copy(
                    update={
                        "observation": [float(x) for x in policy.observe(obs_input)],
                        "inputs": inputs,
                        "raw_action": raw,
                        "requested_kw": kw,
                    }
                )
            records.append(record)
            requested.append(kw)
            if k % 200 == 199:
                activity.heartbeat(f"{k + 1} nodes decided")
        limits = GuardLimits.from_settings(o, zero_export=rl.zero_export)
        guarded = guard(fleet.nodes, requested, limits, fleet.grid)
        total_saving = 0.0
        for i, g in enumerate(guarded):
            action = action_of(g.kw)
            saving = expected_saving(
                g.kw,
                hours,
                prices,
                carbon,
                carbon_price=rl.carbon_price_per_kg,
                efficiency=limits.efficiency,
            )
            total_saving += saving
            records[i] = records[i].model_copy(
                update={
                    "kw": g.kw,
                    "action": action.value if action else None,
                    "changes": g.changes,
                    "expected_saving": saving,
                }
            )
        await self._store(records)
        activity.heartbeat("decisions stored")
        await self._prune(now)
        d = dispatch_settings(self.settings)
        plan = DispatchPlan(
            groups=group_actions(guarded),
            task_queue=self.settings.temporal.io_task_queue,
            duration_s=o.cycle_minutes * 60,
            ack_window_s=o.ack_window_s,
            timing=DispatchTiming.from_settings(d),
            shard_size=d.shard_size,
            max_shard_events=d.max_shard_events,
        )
        return DecideResult(
            policy=policy.name,
            decisions=len(records),
            acting=sum(1 for g in guarded if g.kw != 0),
            guarded=sum(1 for g in guarded if g.changes),
            expected_saving=total_saving,
            plan=plan,
            notes=fleet.notes,
        )

    @activity.defn(name="optimize.attach_dispatches")
    async def attach_dispatches(self, inp: AttachInput) -> int:
        """Link each acting node's decision to the dispatch that carries its command."""
        linked = 0
        for started in inp.dispatches:
            # By the decisions' ids (`_store`), which the _id index answers; the cycle and
            # node fields together would scan every decision kept.
            ids = [f"{inp.cycle_id}:{n}" for n in started.node_ids]
            result = await self.db[DECISIONS].update_many(
                {"_id": {"$in": ids}}, {"$set": {"dispatch_id": started.dispatch_id}}
            )
            linked += result.modified_count
        return linked

    async def _store(self, records: list[DecisionRecord]) -> None:
        from pymongo import ReplaceOne

        if not records:
            return
        await self.db[DECISIONS].bulk_write(
            [
                ReplaceOne(
                    {"_id": f"{r.cycle_id}:{r.dc_id}"},
                    {"_id": f"{r.cycle_id}:{r.dc_id}", **r.model_dump(mode="python")},
                    upsert=True,
                )
                for r in records
            ],
            ordered=False,
        )

    async def _prune(self, now: datetime) -> None:
        cutoff = now - timedelta(days=self.options.decision_retention_days)
        await self.db[DECISIONS].delete_many({"decided_at": {"$lt": cutoff}})


def _observation_input(
    node: NodeState,
    fleet: FleetView,
    now: datetime,
    hours: int,
    *,
    prices: list[float],
    carbon: list[float],
) -> tuple[Any, DecisionInputs]:
    """The policy's input for one node: forecasts where the forecast cycle made them, the
    current reading held flat where it did not (persistence); the last hours' deviations
    where the hourly history has them (none: 0, as usual)."""
    from vpp.ml.rl.observation import ObservationInput

    forecast = fleet.forecasts.get(node.dc_id)
    recent = fleet.recent.get(node.dc_id)
    load_now = node.load_kw or 0.0
    pv_now = node.pv_kw or 0.0
    if forecast is not None:
        load = ahead(forecast.load_kw, forecast.start, now, hours, load_now)
        pv = ahead(forecast.pv_kw, forecast.start, now, hours, pv_now)
        source = f"forecast {forecast.cycle_id}"
    else:
        load, pv = [load_now] * hours, [pv_now] * hours
        source = "persistence"
    obs_input = ObservationInput(
        soc=min(max(node.soc or 0.0, 0.0), 1.0),
        at=now.astimezone(UTC),
        prices_ahead=prices,
        carbon_ahead=carbon,
        load_forecast_kw=load,
        pv_forecast_kw=pv,
        capacity_kwh=node.battery_kwh,
        max_power_kw=node.capacity_kw,
        **(
            {"load_recent_dev_kw": recent.load_kw, "pv_recent_dev_kw": recent.pv_kw}
            if recent is not None
            else {}
        ),
    )
    inputs = DecisionInputs(
        soc=node.soc,
        price_now=prices[0] if prices else None,
        carbon_now=carbon[0] if carbon else None,
        load_kw_next_h=load[0] if load else None,
        pv_kw_next_h=pv[0] if pv else None,
        forecast=source,
    )
    return obs_input, inputs
