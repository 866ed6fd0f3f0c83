"""The I/O worker's two `/metrics` endpoints after a real dispatch: ours (activities,
dispatches by final status, node ack latency) and the Temporal SDK's (its core's worker
metrics), both served on the ports the `vpp worker` process uses."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.client import Client

from tests.integration.dispatch.conftest import finished, node_id
from tests.integration.metrics_support import scrape
from vpp.config import Settings
from vpp.dispatch.models import DispatchRequest, DispatchStatus
from vpp.dispatch.relay import AckRelay
from vpp.dispatch.service import DispatchService
from vpp.dispatch.settings import DispatchSettings
from vpp.edge_sim.fleet import Fleet
from vpp.models import Action, CommandParams
from vpp.store.database import Database
from vpp.temporal_client import connect
from vpp.workers.io import build_io_worker, open_clients
from vpp.workers.metrics import WorkerMetrics, sdk_runtime, serve_metrics

# Nodes the other dispatch tests of the package are done with (this module runs last).
NODES = [node_id(1552), node_id(1555)]


@pytest.fixture(scope="module")
async def metered_queue(settings: Settings, db: Database) -> AsyncIterator[str]:
    """An I/O worker wired as `vpp worker` wires it: our registry served on its port, a
    client on a runtime that serves the SDK's metrics on the other."""
    m = settings.metrics
    metrics = WorkerMetrics()
    serve_metrics(metrics, m.host, m.io_worker_port)
    client = await connect(settings.temporal, runtime=sdk_runtime(m.host, m.io_worker_sdk_port))
    queue = f"test-metrics-{uuid.uuid4().hex[:8]}"
    async with (
        open_clients(settings, instance="metrics-test") as clients,
        build_io_worker(client, settings, clients, task_queue=queue, metrics=metrics),
    ):
        yield queue


async def test_worker_metrics_carry_the_dispatch_after_one_ran(
    *,
    settings: Settings,
    temporal: Client,
    db: Database,
    options: DispatchSettings,
    metered_queue: str,
    relay: AckRelay,
    fleet: Fleet,
) -> None:
    service = DispatchService(temporal, db, settings, task_queue=metered_queue, options=options)
    started = await service.start_dispatch(
        DispatchRequest(
            targets=NODES, action=Action.HOLD, params=CommandParams(kw=0.0, duration_s=1)
        ),
        issuer="test-operator",
    )
    result = await finished(temporal, started)
    assert result.status is DispatchStatus.COMPLETED

    m = settings.metrics
    ours = await scrape(f"http://{m.host}:{m.io_worker_port}/metrics")
    assert ours.value("vpp_dispatches_total", {"status": "completed"}) == 1
    assert ours.value("vpp_dispatches_total", {"status": "failed"}) == 0
    assert ours.value("vpp_dispatch_duration_seconds_count") == 1
    assert ours.value("vpp_dispatch_nodes_total", {"status": "completed"}) == len(NODES)
    assert ours.value("vpp_dispatch_node_ack_seconds_count") == len(NODES)
    assert ours.value("vpp_dispatch_node_ack_seconds_sum") > 0
    for activity in ("dispatch.resolve_targets", "dispatch.send_commands"):
        assert ours.value("vpp_worker_activities_total", {"activity": activity}) >= 1
        assert ours.value("vpp_worker_activity_seconds_count", {"activity": activity}) >= 1

    sdk = await scrape(f"http://{m.host}:{m.io_worker_sdk_port}/metrics")
    queue = {"task_queue": metered_queue}
    assert sdk.value("temporal_workflow_completed_total", queue) >= 2  # dispatch + shard
    assert sdk.value("temporal_activity_execution_latency_seconds_count", queue) >= 3
    assert "temporal_worker_task_slots_available" in sdk.names()
