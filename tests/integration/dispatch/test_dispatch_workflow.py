"""The workflows' own promises: measured response from real telemetry, continue-as-new,
replay of recorded histories, search attributes and memo for the Temporal UI."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.integration.dispatch.conftest import (
    edge_dcs,
    finished,
    inject,
    node_id,
    node_spec,
    register,
)
from vpp.config import Settings
from vpp.dispatch.ids import dispatch_workflow_id, shard_workflow_id
from vpp.dispatch.models import (
    DispatchInput,
    DispatchRequest,
    DispatchSpec,
    DispatchStatus,
    DispatchTiming,
    NodeStatus,
    ShardResult,
)
from vpp.dispatch.service import DispatchService
from vpp.edge_sim.fleet import FaultKind, Fleet
from vpp.ingest.consumer import Ingester
from vpp.ingest.metrics import IngestMetrics
from vpp.models import Action, CommandParams
from vpp.store.database import Database
from vpp.workflows.dispatch import IO_WORKFLOWS, DispatchWorkflow

MEASURE_FIRST = 1591
MEASURE_NODES = 4


@pytest.fixture
async def reporting_fleet(
    settings: Settings, db: Database, redis: Redis
) -> AsyncIterator[list[str]]:
    """Four nodes that report telemetry every 0.25 s, and an ingester storing it."""
    specs = [node_spec(settings, n) for n in range(MEASURE_FIRST, MEASURE_FIRST + MEASURE_NODES)]
    await register(db, specs)
    tag = uuid.uuid4().hex[:8]
    ingest = settings.ingest.model_copy(update={"share_group": f"test-ingest-{tag}"})
    ingester = Ingester(
        settings.model_copy(update={"ingest": ingest}),
        db,
        redis,
        IngestMetrics(CollectorRegistry()),
        client_id=f"test-ingest-{tag}",
        session_expiry_s=0,
    )
    await ingester.start()
    sim = settings.edge_sim.model_copy(
        update={"nodes": MEASURE_NODES, "first_node": MEASURE_FIRST, "interval_s": 0.25}
    )
    fleet = Fleet(settings.model_copy(update={"edge_sim": sim}))
    fleet.start()
    try:
        yield fleet.node_ids
    finally:
        await fleet.stop(drain_timeout_s=5)
        await ingester.stop(end_session=True)


async def test_the_measured_response_compares_telemetry_with_the_command(
    service: DispatchService, temporal: Client, settings: Settings, reporting_fleet: list[str]
) -> None:
    dcs = edge_dcs(settings, MEASURE_FIRST, 2)
    assert set(dcs) <= set(reporting_fleet)
    started = await service.start_dispatch(
        DispatchRequest(
            targets=dcs, action=Action.CHARGE, params=CommandParams(kw=20.0, duration_s=4)
        ),
        issuer="test-operator",
    )
    result = await finished(temporal, started)
    assert result.status is DispatchStatus.COMPLETED
    detail = await service.get_dispatch(started.dispatch_id)
    assert detail is not None
    for entry in detail.nodes:
        # 20 kW into the battery for 4 s, read back from the node's stored readings.
        assert entry.measured_note is None, entry
        assert entry.measured_kw == pytest.approx(20.0, rel=0.05)
        assert entry.measured_ratio == pytest.approx(1.0, abs=0.05)


async def test_a_long_shard_continues_as_new_and_finishes(
    temporal: Client,
    task_queue: str,
    fleet: Fleet,
    status_api: httpx.AsyncClient,
    service: DispatchService,
) -> None:
    quiet, talkative = node_id(1559), node_id(1560)
    # The quiet node loses its first three answers: the shard resends, and its history
    # passes the (tiny) limit of 50 events.
    await inject(status_api, quiet, FaultKind.DROP_ACKS, count=3)
    now = datetime.now(UTC)
    dispatch_id = uuid.uuid4().hex[:24]
    spec = DispatchSpec(
        dispatch_id=dispatch_id,
        action=Action.HOLD,
        params=CommandParams(duration_s=3),
        issued_by="test-operator",
        created_at=now,
        deadline=now + timedelta(seconds=30),
    )
    result = await temporal.execute_workflow(
        DispatchWorkflow.run,
        DispatchInput(
            spec=spec,
            targets=[quiet, talkative],
            timing=DispatchTiming(resend_initial_s=0.3, resend_max_s=0.6, completion_slack_s=0.5),
            max_shard_events=50,
        ),
        id=dispatch_workflow_id(dispatch_id),
        task_queue=task_queue,
    )
    assert (result.status, result.counts.completed) == (DispatchStatus.COMPLETED, 2)
    shard = temporal.get_workflow_handle(shard_workflow_id(dispatch_id, 0), result_type=ShardResult)
    assert (await shard.result()).runs >= 2
    assert fleet.node(quiet).applied_commands == 1


async def test_recorded_histories_replay_without_nondeterminism(
    service: DispatchService, temporal: Client, status_api: httpx.AsyncClient
) -> None:
    nodes = [node_id(1557), node_id(1558)]
    # The first node's acceptance is lost: the shard resends before the command ends.
    await inject(status_api, nodes[0], FaultKind.DROP_ACKS, count=1)
    started = await service.start_dispatch(
        DispatchRequest(
            targets=nodes, action=Action.DISCHARGE, params=CommandParams(kw=1.0, duration_s=3)
        ),
        issuer="test-operator",
    )
    await finished(temporal, started)
    histories = [
        await temporal.get_workflow_handle(wid).fetch_history()
        for wid in (started.workflow_id, shard_workflow_id(started.dispatch_id, 0))
    ]
    replayer = Replayer(workflows=IO_WORKFLOWS, data_converter=pydantic_data_converter)
    for history in histories:
        # Raises on any nondeterminism between the code and what the server recorded.
        await replayer.replay_workflow(history)
    # VPP_RECORD_DISPATCH_HISTORY=<dir> keeps them as fixtures for the unit replay test.
    target = os.environ.get("VPP_RECORD_DISPATCH_HISTORY")
    if target:
        for name, history in zip(("dispatch", "shard"), histories, strict=True):
            path = Path(target, f"{name}_history.json")
            await asyncio.to_thread(path.write_text, _pretty(history))


def _pretty(history: WorkflowHistory) -> str:
    return json.dumps(json.loads(history.to_json()), indent=1) + "\n"


async def test_a_dispatch_is_found_in_temporal_by_its_search_attributes(
    service: DispatchService, temporal: Client
) -> None:
    issuer = f"sa-{uuid.uuid4().hex[:8]}"
    node = node_id(1558)
    started = await service.start_dispatch(
        DispatchRequest(targets=[node], action=Action.HOLD, params=CommandParams(duration_s=1)),
        issuer=issuer,
    )
    await finished(temporal, started)
    query = (
        f"WorkflowType = 'DispatchWorkflow' AND VppIssuer = '{issuer}' AND VppAction = 'hold'"
        f" AND VppStatus = 'completed' AND VppNodes = '{node}' AND VppNodeCount = 1"
    )
    found = [w.id async for w in temporal.list_workflows(query)]
    assert found == [started.workflow_id]
    description = await temporal.get_workflow_handle(started.workflow_id).describe()
    summary = await description.memo_value("summary")
    assert summary == f"hold for 1 s to 1 nodes by {issuer}: completed (1 completed)"
    assert [s.status for s in await service.list_dispatches(issued_by=issuer)] == [
        DispatchStatus.COMPLETED
    ]
    logs = await service.dispatch_logs(node, limit=1)
    assert (logs[0].dispatch_id, logs[0].issued_by, logs[0].status) == (
        started.dispatch_id,
        issuer,
        NodeStatus.COMPLETED,
    )
