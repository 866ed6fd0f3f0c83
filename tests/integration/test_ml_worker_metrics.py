"""The ML worker's two `/metrics` endpoints after a real forecast cycle: ours (activity
counts and durations) and the Temporal SDK's, which carries the cycle's own metrics
(`vpp_cycles_total`, `vpp_cycle_duration_seconds`: recorded through the SDK's replay-safe
meter) beside Temporal's worker metrics."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from tests.integration.forecast_support import fdb, forecast, homes, redis
from tests.integration.metrics_support import scrape
from vpp.config import Settings
from vpp.ml.forecast.messages import ForecastCycleInput, ForecastCycleResult
from vpp.ml.forecast.settings import ForecastSettings
from vpp.store.database import Database
from vpp.temporal_client import connect
from vpp.workers.metrics import WorkerMetrics, sdk_runtime, serve_metrics
from vpp.workers.ml import MlClients, build_ml_worker
from vpp.workflows.forecast import ForecastCycleWorkflow

__all__ = ["fdb", "forecast", "homes", "redis"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
async def metered_ml(
    settings: Settings, fdb: Database, redis: Redis, forecast: ForecastSettings
) -> AsyncIterator[str]:
    """An ML worker wired as `vpp worker --queue ml` wires it (both endpoints)."""
    m = settings.metrics
    metrics = WorkerMetrics()
    serve_metrics(metrics, m.host, m.ml_worker_port)
    client = await connect(settings.temporal, runtime=sdk_runtime(m.host, m.ml_worker_sdk_port))
    queue = f"test-ml-metrics-{uuid.uuid4().hex[:8]}"
    clients = MlClients(mongo=fdb.client, db=fdb, redis=redis)
    worker = build_ml_worker(
        client, settings, clients, task_queue=queue, forecast=forecast, metrics=metrics
    )
    async with worker:
        yield queue


async def test_ml_worker_metrics_carry_the_forecast_cycle(
    settings: Settings, metered_ml: str, homes: list[str]
) -> None:
    queue = metered_ml
    temporal = await connect(settings.temporal)
    result: ForecastCycleResult = await temporal.execute_workflow(
        ForecastCycleWorkflow.run,
        ForecastCycleInput(node_ids=homes, batch_size=2),
        id=f"test-cycle-metrics-{uuid.uuid4().hex[:8]}",
        task_queue=queue,
    )
    assert result.written > 0

    m = settings.metrics
    ours = await scrape(f"http://{m.host}:{m.ml_worker_port}/metrics")
    batch = {"activity": "forecast.forecast_batch", "outcome": "ok"}
    assert ours.value("vpp_worker_activities_total", batch) >= 2  # 3 homes in batches of 2
    assert ours.value("vpp_worker_activity_seconds_count", {"activity": "forecast.plan_cycle"}) == 1
    assert ours.value("vpp_dispatches_total") == 0  # no dispatch runs here

    sdk = await scrape(f"http://{m.host}:{m.ml_worker_sdk_port}/metrics")
    cycle = {"cycle": "forecast", "task_queue": queue}
    assert sdk.value("vpp_cycles_total", {**cycle, "outcome": "completed"}) == 1
    assert sdk.value("vpp_cycle_duration_seconds_count", cycle) == 1
    assert sdk.value("vpp_cycle_duration_seconds_sum", cycle) > 0
    assert sdk.value("temporal_workflow_completed_total", {"task_queue": queue}) >= 1
