"""A dispatch end to end: service -> workflows -> MQTT -> simulated nodes -> acks -> relay
-> signals -> log, on the real Temporal dev server, broker, store and Redis."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from redis.asyncio import Redis
from temporalio.client import Client

from tests.integration.dispatch.conftest import edge_dcs, finished, inject, node_id
from vpp.config import Settings
from vpp.dispatch.documents import DISPATCH_LOG
from vpp.dispatch.ids import new_dispatch_id, shard_workflow_id
from vpp.dispatch.measure import NO_TELEMETRY
from vpp.dispatch.models import DispatchRequest, DispatchStatus, NodeStatus
from vpp.dispatch.progress import progress_subscription
from vpp.dispatch.service import DispatchRefused, DispatchService
from vpp.edge_sim.fleet import FaultKind, Fleet
from vpp.edge_sim.node import is_home
from vpp.models import Action, CommandParams
from vpp.store.database import Database


async def test_a_dispatch_to_50_nodes_completes_on_every_node(
    service: DispatchService, temporal: Client, fleet: Fleet
) -> None:
    nodes = [node_id(n) for n in range(1501, 1551)]
    request = DispatchRequest(
        targets=nodes, action=Action.CHARGE, params=CommandParams(kw=2.0, duration_s=2)
    )
    started = await service.start_dispatch(request, issuer="test-operator")
    assert (started.node_count, started.shard_count, started.existing) == (50, 1, False)

    result = await finished(temporal, started)

    assert result.status is DispatchStatus.COMPLETED
    assert result.counts.completed == 50
    detail = await service.get_dispatch(started.dispatch_id)
    assert detail is not None
    assert detail.dispatch.status is DispatchStatus.COMPLETED
    assert sorted(n.dc_id for n in detail.nodes) == nodes
    for entry in detail.nodes:
        assert entry.status is NodeStatus.COMPLETED, entry
        assert entry.attempts == 1
        assert entry.applied_kw is not None
        assert entry.latency_ms is not None
        assert entry.latency_ms >= 2_000  # the command lasts 2 s
        # No ingest runs for these nodes: no telemetry, and the log says so.
        assert (entry.measured_ratio, entry.measured_note) == (None, NO_TELEMETRY)
    assert all(fleet.node(n).applied_commands == 1 for n in nodes)
    # Acks arrive batched: the shard's history grows with batches, not with nodes.
    for workflow_id in (started.workflow_id, shard_workflow_id(started.dispatch_id, 0)):
        info = (await temporal.get_workflow_handle(workflow_id).describe()).raw_description
        assert info.workflow_execution_info.history_length < 100, workflow_id


async def test_a_node_that_loses_its_first_ack_is_asked_again_and_completes(
    service: DispatchService, temporal: Client, fleet: Fleet, status_api: httpx.AsyncClient
) -> None:
    node = node_id(1551)
    # The node applies the command but its first answer never leaves it.
    await inject(status_api, node, FaultKind.DROP_ACKS, count=1)
    started = await service.start_dispatch(
        DispatchRequest(
            targets=[node], action=Action.DISCHARGE, params=CommandParams(kw=1.0, duration_s=3)
        ),
        issuer="test-operator",
    )
    result = await finished(temporal, started)
    assert result.status is DispatchStatus.COMPLETED
    (entry,) = await service.dispatch_logs(node, limit=1)
    assert (entry.dispatch_id, entry.status) == (started.dispatch_id, NodeStatus.COMPLETED)
    # Sent again after the first wait (0.5 s) and answered from the node's memory.
    assert entry.attempts >= 2
    state = fleet.state(node)
    assert (state.acks_dropped, state.applied_commands) == (1, 1)


async def test_an_offline_node_expires_at_the_deadline(
    service: DispatchService, temporal: Client, fleet: Fleet, status_api: httpx.AsyncClient
) -> None:
    online, offline = node_id(1552), node_id(1553)
    await inject(status_api, offline, FaultKind.OFFLINE)
    deadline = datetime.now(UTC) + timedelta(seconds=4)
    started = await service.start_dispatch(
        DispatchRequest(
            targets=[online, offline],
            action=Action.HOLD,
            params=CommandParams(duration_s=1),
            deadline=deadline,
        ),
        issuer="test-operator",
    )
    result = await finished(temporal, started)
    assert result.status is DispatchStatus.PARTIAL
    detail = await service.get_dispatch(started.dispatch_id)
    assert detail is not None
    by_node = {n.dc_id: n for n in detail.nodes}
    assert by_node[online].status is NodeStatus.COMPLETED
    gone = by_node[offline]
    assert gone.status is NodeStatus.EXPIRED
    assert gone.finished_at is not None
    assert deadline <= gone.finished_at < deadline + timedelta(seconds=2)
    # Resent on a growing wait (0.5, 1, 2, 2 s) until the deadline.
    assert 3 <= gone.attempts <= 6
    assert fleet.node(offline).applied_commands == 0
    await inject(status_api, offline, FaultKind.ONLINE)


async def test_a_command_the_node_refuses_ends_rejected_with_its_reason(
    service: DispatchService, temporal: Client, settings: Settings, fleet: Fleet
) -> None:
    # Registered for 200 kW (the site), the simulated DC's battery takes 100 kW.
    (node,) = edge_dcs(settings, 1554, 1)
    started = await service.start_dispatch(
        DispatchRequest(targets=[node], action=Action.CHARGE, params=CommandParams(kw=150.0)),
        issuer="test-operator",
    )
    result = await finished(temporal, started)
    assert result.status is DispatchStatus.FAILED
    (entry,) = await service.dispatch_logs(node, limit=1)
    assert entry.status is NodeStatus.REJECTED
    assert entry.reason is not None
    assert entry.reason.startswith("kw_over_capacity")
    assert fleet.node(node).applied_commands == 0


async def test_an_impossible_request_is_refused_before_anything_is_sent(
    service: DispatchService, temporal: Client, settings: Settings, db: Database
) -> None:
    dc = edge_dcs(settings, 1501, 1)[0]
    home = next(node_id(n) for n in range(1501, 1580) if is_home(n, settings.edge_sim.home_share))
    request = DispatchRequest(
        targets=[dc, home, "node-99999"],
        action=Action.DEFER_LOAD,
        params=CommandParams(kw=250.0),
        request_id=f"refused-{uuid.uuid4().hex[:8]}",
    )
    with pytest.raises(DispatchRefused) as refused:
        await service.start_dispatch(request, issuer="test-operator")
    problems = refused.value.problems
    assert any(p.startswith(f"{dc}: 250 kW is over") for p in problems), problems
    assert f"{home}: a home_der node cannot defer_load" in problems
    assert "node-99999: unknown node" in problems
    # Recorded as refused; nothing in the log.
    dispatch_id = new_dispatch_id("test-operator", request.request_id)
    summary = (await service.list_dispatches(status=DispatchStatus.REFUSED, limit=5))[0]
    assert (summary.dispatch_id, summary.problems) == (dispatch_id, problems)
    assert await db[DISPATCH_LOG].count_documents({"dispatch_id": dispatch_id}) == 0
    # The same request again finds the same refusal, and starts nothing new.
    with pytest.raises(DispatchRefused):
        await service.start_dispatch(request, issuer="test-operator")


async def test_a_retried_request_finds_the_same_dispatch(
    service: DispatchService, temporal: Client
) -> None:
    request = DispatchRequest(
        targets=[node_id(1558)],
        action=Action.HOLD,
        params=CommandParams(duration_s=1),
        request_id=f"retry-{uuid.uuid4().hex[:8]}",
    )
    first = await service.start_dispatch(request, issuer="test-operator")
    again = await service.start_dispatch(request, issuer="test-operator")
    assert (again.dispatch_id, again.existing) == (first.dispatch_id, True)
    await finished(temporal, first)
    after = await service.start_dispatch(request, issuer="test-operator")
    assert (after.dispatch_id, after.existing, after.node_count) == (first.dispatch_id, True, 1)


async def test_cancel_stops_sending_and_cancels_the_nodes_that_have_not_answered(
    service: DispatchService,
    temporal: Client,
    fleet: Fleet,
    status_api: httpx.AsyncClient,
    redis: Redis,
) -> None:
    online, offline = node_id(1555), node_id(1556)
    await inject(status_api, offline, FaultKind.OFFLINE)
    request = DispatchRequest(
        targets=[online, offline],
        action=Action.HOLD,
        params=CommandParams(duration_s=2),
        request_id=f"cancel-{uuid.uuid4().hex[:8]}",
    )
    dispatch_id = new_dispatch_id("test-operator", request.request_id)
    async with progress_subscription(redis, dispatch_id) as progress:
        started = await service.start_dispatch(request, issuer="test-operator")
        # Cancel once the online node has taken the command (it cannot be recalled).
        async with asyncio.timeout(20):
            async for message in progress:
                if any(
                    n.dc_id == online and n.status is NodeStatus.ACCEPTED for n in message.nodes
                ):
                    break
    summary = await service.cancel_dispatch(dispatch_id, "test-supervisor", "changed plan")
    assert summary.dispatch_id == dispatch_id
    result = await finished(temporal, started)
    assert result.status is DispatchStatus.CANCELLED
    detail = await service.get_dispatch(dispatch_id)
    assert detail is not None
    by_node = {n.dc_id: n for n in detail.nodes}
    assert by_node[offline].status is NodeStatus.CANCELLED
    assert by_node[offline].reason == "cancelled by test-supervisor: changed plan"
    # Taken before the cancel, the online node's command ran to its end.
    assert by_node[online].status is NodeStatus.COMPLETED
    assert detail.dispatch.cancelled_by == "test-supervisor"
    assert fleet.node(offline).applied_commands == 0
    await inject(status_api, offline, FaultKind.ONLINE)
