"""The optimisation cycle on the real Temporal server, with simulated home batteries whose
telemetry goes through the broker and an ingester into Redis, and whose commands go out
through the dispatch workflows, the broker and back as acks.

The policy is fixed here (a constant action) so that what the guard and the dispatches
must do is known; the policy's own quality is `vpp rl evaluate`'s business. One test runs
the registry's champion (or the rule-based controller when none is trained).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import numpy as np
import pytest
from redis.asyncio import Redis
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from tests.integration.dispatch.conftest import node_id, wait_connected
from tests.integration.hour_turn import clear_of_the_hour_turn
from tests.integration.telemetry_helpers import running_ingester, with_ingest
from vpp.activities.optimize import OptimizeActivities, PolicyLoader, champion_policy
from vpp.bus.channels import RedisNames
from vpp.config import Settings
from vpp.dispatch.documents import DISPATCH_LOG, DISPATCHES
from vpp.dispatch.models import DispatchRequest
from vpp.dispatch.relay import AckRelay
from vpp.dispatch.service import DispatchService
from vpp.edge_sim.fleet import Fleet
from vpp.edge_sim.node import is_home
from vpp.ml.forecast.history import day_documents, hour_floor, replace_days
from vpp.ml.rl.hyperparams import ResidualPPOParams
from vpp.ml.rl.observation import Float32Array, ObservationInput, build_observation
from vpp.ml.rl.policy import Policy
from vpp.ml.rl.recent import RECENT_H, RECENT_HISTORY_H
from vpp.ml.rl.residual import RESIDUAL_OBS_SIZE, ResidualPolicy
from vpp.ml.rl.settings import RLSettings
from vpp.ml.rl.train import train
from vpp.models import Action, CommandParams
from vpp.optimize.documents import AUTOMATION, DECISIONS, SWITCH_ID
from vpp.optimize.models import (
    AUTOMATION_ISSUER,
    GuardRule,
    OptimizeCycleInput,
    OptimizeCycleResult,
)
from vpp.optimize.settings import OptimizeSettings
from vpp.optimize.switch import set_switch
from vpp.store.database import Database
from vpp.store.documents import NODES
from vpp.store.live_state import read_live_states
from vpp.workflows.optimize import OptimizeCycleWorkflow

# Home batteries of the package's fleet that no other dispatch test commands (the
# worker-kill test counts every application on 1561-1580).
CYCLE_RANGE = range(1581, 1591)
ACTION = 0.3  # of each node's rated kW: 3 kW on the 10 kW test homes


class RunCycle(Protocol):
    async def __call__(
        self, inp: OptimizeCycleInput, loader: PolicyLoader = ...
    ) -> OptimizeCycleResult: ...


class ConstantPolicy:
    """Asks every battery for the same share of its power: a known input to the guard."""

    name = "constant-0.3"
    reads_recent = False

    def act(self, obs_input: ObservationInput) -> float:
        return ACTION

    def observe(self, obs_input: ObservationInput) -> Float32Array:
        return build_observation(obs_input)


async def constant_policy(_: Database) -> Policy:
    return ConstantPolicy()


def homes(settings: Settings) -> list[str]:
    return [node_id(n) for n in CYCLE_RANGE if is_home(n, settings.edge_sim.home_share)]


@pytest.fixture(scope="module")
def names() -> RedisNames:
    return RedisNames(prefix=f"test-optimize-{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="module")
def cycle_settings(settings: Settings, task_queue: str) -> Settings:
    """Dispatches on the package's I/O queue; one-minute cycles, so commands are short."""
    return settings.model_copy(
        update={
            "temporal": settings.temporal.model_copy(update={"io_task_queue": task_queue}),
            "optimize": OptimizeSettings(cycle_minutes=1, kw_step=1.0, min_kw=0.5),
        }
    )


@pytest.fixture(scope="module")
async def live(
    settings: Settings, db: Database, redis: Redis, names: RedisNames, fleet: Fleet
) -> AsyncIterator[list[str]]:
    """The home nodes' readings, published by the simulator and taken in by an ingester,
    so their live state in Redis is what the cycle reads."""
    ids = homes(settings)
    assert len(ids) >= 4
    ingest = with_ingest(settings, share_group=f"opt-{uuid.uuid4().hex[:8]}", flush_interval_s=0.05)
    async with running_ingester(ingest, db, redis, names):
        await wait_connected(fleet, ids)
        stop = asyncio.Event()

        async def keep_sampling() -> None:
            while not stop.is_set():
                for n in ids:
                    fleet.sample(n)
                await asyncio.sleep(1.0)

        sampler = asyncio.create_task(keep_sampling())
        deadline = time.monotonic() + 30
        while True:
            states = await read_live_states(redis, names, ids, 30.0)
            if len(states) == len(ids) and all(s.online and s.reading for s in states):
                break
            assert time.monotonic() < deadline, "the home nodes never reached Redis"
            await asyncio.sleep(0.2)
        yield ids
        stop.set()
        await sampler


@pytest.fixture
async def run_cycle(
    *,
    temporal: Client,
    db: Database,
    redis: Redis,
    names: RedisNames,
    cycle_settings: Settings,
    worker: None,
    relay: AckRelay,
) -> AsyncIterator[RunCycle]:
    """Runs one cycle on an ML worker of its own; returns its result."""
    queue = f"test-optimize-{uuid.uuid4().hex[:8]}"

    async def run(
        inp: OptimizeCycleInput, loader: PolicyLoader = constant_policy
    ) -> OptimizeCycleResult:
        activities = OptimizeActivities(
            db,
            redis,
            cycle_settings,
            names=names,
            policy_loader=loader,
        )
        async with Worker(
            temporal,
            task_queue=queue,
            workflows=[OptimizeCycleWorkflow],
            activities=activities.all(),
        ):
            return await temporal.execute_workflow(
                OptimizeCycleWorkflow.run,
                inp,
                id=f"test-optimize-cycle-{uuid.uuid4().hex[:8]}",
                task_queue=queue,
            )

    yield run
    await db[AUTOMATION].delete_one({"_id": SWITCH_ID})


async def switch(db: Database, *, enabled: bool, dry_run: bool) -> None:
    await set_switch(
        db, OptimizeSettings(), by="test", now=datetime.now(UTC), enabled=enabled, dry_run=dry_run
    )


async def decisions_of(db: Database, cycle_id: str) -> dict[str, dict[str, Any]]:
    return {d["dc_id"]: d async for d in db[DECISIONS].find({"cycle_id": cycle_id})}


async def dispatch_record(db: Database, dispatch_id: str) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while True:
            record = await db[DISPATCHES].find_one({"_id": dispatch_id})
            if record is not None:
                return record
            await asyncio.sleep(0.1)  # the store sends no event


async def wait_accepted(db: Database, dispatch_id: str, nodes: list[str]) -> None:
    deadline = time.monotonic() + 30
    while True:
        rows = await db[DISPATCH_LOG].find({"dispatch_id": dispatch_id}).to_list()
        if {r["dc_id"] for r in rows if r["status"] in ("accepted", "completed")} == set(nodes):
            return
        assert time.monotonic() < deadline, f"not every node took {dispatch_id}: {rows}"
        await asyncio.sleep(0.2)


async def test_a_cycle_stores_decisions_and_dispatches_through_the_guard(
    db: Database, live: list[str], run_cycle: RunCycle, service: DispatchService, temporal: Client
) -> None:
    await switch(db, enabled=True, dry_run=False)
    # An operator holds one node: the automation must leave it alone.
    held = live[0]
    manual = await service.start_dispatch(
        DispatchRequest(
            targets=[held], action=Action.HOLD, params=CommandParams(kw=0, duration_s=120)
        ),
        "operator-test",
    )
    await wait_accepted(db, manual.dispatch_id, [held])

    result = await run_cycle(OptimizeCycleInput(node_ids=live))

    assert result.status == "dispatched"
    assert result.policy == ConstantPolicy.name
    assert result.decisions == len(live)
    acting = live[1:]
    assert result.acting == len(acting)
    (started,) = result.dispatches  # every node asked for the same: one dispatch
    assert started.action is Action.CHARGE
    assert started.kw == 3.0
    assert started.node_ids == sorted(acting)

    found = await decisions_of(db, result.cycle_id)
    assert set(found) == set(live)
    held_decision = found[held]
    assert held_decision["action"] is None
    assert held_decision["raw_action"] == ACTION  # asked, then withheld
    assert [c["rule"] for c in held_decision["changes"]] == [GuardRule.MANUAL.value]
    assert manual.dispatch_id in held_decision["changes"][0]["reason"]
    for n in acting:
        d = found[n]
        assert d["raw_action"] == ACTION
        assert d["requested_kw"] == pytest.approx(3.0)
        assert d["kw"] == 3.0
        assert d["action"] == "charge"
        assert d["dispatch_id"] == started.dispatch_id
        assert len(d["observation"]) > 0
        assert d["inputs"]["forecast"] == "persistence"

    # The dispatch is a real one, issued by the automation, and the nodes take it. The
    # cycle starts its workflow and goes on, so the record follows within moments.
    record = await dispatch_record(db, started.dispatch_id)
    assert record["issued_by"] == AUTOMATION_ISSUER
    await wait_accepted(db, started.dispatch_id, acting)
    desc = await temporal.get_workflow_handle(started.workflow_id).describe()
    assert desc.status in (WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.COMPLETED)


async def test_a_dry_run_decides_and_dispatches_nothing(
    db: Database, live: list[str], run_cycle: RunCycle, temporal: Client
) -> None:
    await switch(db, enabled=True, dry_run=True)
    result = await run_cycle(OptimizeCycleInput(node_ids=live))
    assert result.status == "dry_run"
    assert result.dispatches == []
    found = await decisions_of(db, result.cycle_id)
    assert set(found) == set(live)
    assert all(d["dry_run"] is True and d["dispatch_id"] is None for d in found.values())
    # Decided as for real: the same kW would have gone out.
    assert {d["kw"] for d in found.values() if d["action"]} == {3.0}
    # ...but no dispatch workflow was started for it.
    from vpp.workflows.optimize import automation_dispatch_id

    with pytest.raises(RPCError) as err:
        await temporal.get_workflow_handle(
            f"dispatch-{automation_dispatch_id(result.cycle_id, 0)}"
        ).describe()
    assert err.value.status == RPCStatusCode.NOT_FOUND


async def test_a_rehearsal_overrides_the_switch_for_one_run(
    db: Database, live: list[str], run_cycle: RunCycle
) -> None:
    await switch(db, enabled=True, dry_run=False)
    result = await run_cycle(OptimizeCycleInput(node_ids=live, dry_run=True))
    assert result.status == "dry_run"
    assert result.dispatches == []


async def test_automation_off_starts_nothing(
    db: Database, live: list[str], run_cycle: RunCycle
) -> None:
    await switch(db, enabled=False, dry_run=False)
    result = await run_cycle(OptimizeCycleInput(node_ids=live))
    assert result.status == "off"
    assert result.decisions == 0
    assert result.dispatches == []
    assert await db[DECISIONS].count_documents({"cycle_id": result.cycle_id}) == 0


async def test_the_champion_policy_decides_for_every_node(
    db: Database, live: list[str], run_cycle: RunCycle, cycle_settings: Settings
) -> None:
    await switch(db, enabled=True, dry_run=True)
    result = await run_cycle(
        OptimizeCycleInput(node_ids=live), loader=champion_policy(cycle_settings)
    )
    assert result.status == "dry_run"
    found = await decisions_of(db, result.cycle_id)
    assert set(found) == set(live)
    for d in found.values():
        assert d["policy"] == result.policy
        raw = d["raw_action"]
        assert raw is None or -1.0 <= raw <= 1.0


async def test_a_residual_policy_reads_how_the_last_hours_went_from_the_history(
    db: Database, live: list[str], run_cycle: RunCycle, settings: Settings
) -> None:
    """A busy, cloudy afternoon in the nodes' hourly history reaches the residual agents'
    observation, stored with each decision; the policy answers for every node."""
    params = ResidualPPOParams(
        total_timesteps=256, n_steps=128, batch_size=64, n_epochs=1, net_arch=[8]
    )
    policy = train(RLSettings(episode_hours=48, data_dir=settings.rl.data_dir), params).policy
    assert isinstance(policy, ResidualPolicy)

    await clear_of_the_hour_turn(margin_s=120)  # the cycle reads up to its own hour
    end = hour_floor(datetime.now(UTC))
    load = np.full(RECENT_HISTORY_H, 1.0)
    load[-RECENT_H:] = 3.0  # 2 kW above a typical afternoon
    pv = np.full(RECENT_HISTORY_H, 2.0)
    pv[-RECENT_H:] = 0.5  # 1.5 kW below it
    start = end - timedelta(hours=RECENT_HISTORY_H)
    for n in live:
        await replace_days(db, day_documents(n, start, {"load_kw": load, "pv_kw": pv}, "test"))

    async def residual(_: Database) -> Policy:
        return policy

    await switch(db, enabled=True, dry_run=True)
    result = await run_cycle(OptimizeCycleInput(node_ids=live), loader=residual)
    found = await decisions_of(db, result.cycle_id)
    assert set(found) == set(live)
    nodes = {doc["dc_id"]: doc async for doc in db[NODES].find({"dc_id": {"$in": live}})}
    for n, d in found.items():
        obs = d["observation"]
        assert len(obs) == RESIDUAL_OBS_SIZE
        power = float(nodes[n]["capacity_kw"])
        recent = obs[-2 * RECENT_H :]
        assert recent[:RECENT_H] == pytest.approx([2.0 / power] * RECENT_H, abs=1e-4)
        assert recent[RECENT_H:] == pytest.approx([-1.5 / power] * RECENT_H, abs=1e-4)
        assert -1.0 <= d["raw_action"] <= 1.0
