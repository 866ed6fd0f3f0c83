"""`vpp worker --queue ml`: the Temporal worker of the ML task queue
(`settings.temporal.ml_task_queue`): the forecast workflows and their CPU-heavy activities.

The process's bootstrap: it opens MongoDB (with the forecast documents) and Redis, hands
them to the activity classes and polls the queue until SIGINT or SIGTERM. At most
`max_concurrent_activities` run at once (default 2, the machine's cores); torch and
LightGBM use `forecast.threads` threads each.

Run it as `vpp worker --queue ml` (the lead wires `run`) or `python -m vpp.workers.ml`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from beanie import init_beanie
from redis.asyncio import Redis
from temporalio.client import Client
from temporalio.worker import Worker

from vpp.activities.forecast import ForecastActivities
from vpp.activities.optimize import OptimizeActivities
from vpp.activities.policy import PolicyActivities
from vpp.config import Settings, get_settings
from vpp.lifecycle import configure_logging, stop_on_signals
from vpp.ml.forecast.documents import DOCUMENT_MODELS
from vpp.ml.forecast.settings import ForecastSettings, forecast_settings
from vpp.ml.rl.settings import rl_settings
from vpp.optimize.documents import OPTIMIZE_DOCUMENT_MODELS
from vpp.store.database import Database, MongoClient, mongo_client
from vpp.temporal_client import connect
from vpp.workers.metrics import MetricsInterceptor, WorkerMetrics, sdk_runtime, serve_metrics
from vpp.workflows.forecast import ML_WORKFLOWS
from vpp.workflows.optimize import OPTIMIZE_WORKFLOWS
from vpp.workflows.policy import POLICY_WORKFLOWS

log = logging.getLogger(__name__)

READY_LINE = "ml worker polling"
MAX_CONCURRENT_ACTIVITIES = 2


@dataclass
class MlClients:
    """The clients the ML activities use, opened once per process."""

    mongo: MongoClient
    db: Database
    redis: Redis


async def init_forecast_store(db: Database) -> None:
    """Bind the forecast documents (and create their indexes)."""
    await init_beanie(database=db, document_models=[*DOCUMENT_MODELS, *OPTIMIZE_DOCUMENT_MODELS])


@contextlib.asynccontextmanager
async def open_clients(settings: Settings) -> AsyncIterator[MlClients]:
    mongo = mongo_client(settings.mongo)
    redis = Redis.from_url(settings.redis.url, socket_timeout=5.0, socket_connect_timeout=5.0)
    try:
        db = mongo[settings.mongo.database]
        await init_forecast_store(db)
        yield MlClients(mongo=mongo, db=db, redis=redis)
    finally:
        await redis.aclose()
        await mongo.close()


def ml_workflows() -> list[type]:
    return [*ML_WORKFLOWS, *OPTIMIZE_WORKFLOWS, *POLICY_WORKFLOWS]


def ml_activities(forecast: ForecastSettings, clients: MlClients) -> list[Callable[..., Any]]:
    return ForecastActivities(clients.db, clients.redis, forecast).all()


def build_ml_worker(
    client: Client,
    settings: Settings,
    clients: MlClients,
    *,
    task_queue: str | None = None,
    forecast: ForecastSettings | None = None,
    max_concurrent_activities: int = MAX_CONCURRENT_ACTIVITIES,
    metrics: WorkerMetrics | None = None,
) -> Worker:
    return Worker(
        client,
        task_queue=task_queue or settings.temporal.ml_task_queue,
        workflows=ml_workflows(),
        activities=[
            *ml_activities(forecast or forecast_settings(settings), clients),
            *OptimizeActivities(clients.db, clients.redis, settings).all(),
            *PolicyActivities(clients.db, rl_settings(settings)).all(),
        ],
        max_concurrent_activities=max_concurrent_activities,
        interceptors=[MetricsInterceptor(metrics)] if metrics else [],
    )


async def serve(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """Run the worker until `stop` is set (by default on SIGINT or SIGTERM)."""
    stop = stop or stop_on_signals()
    m = settings.metrics
    metrics = WorkerMetrics()
    serve_metrics(metrics, m.host, m.ml_worker_port)
    client = await connect(settings.temporal, runtime=sdk_runtime(m.host, m.ml_worker_sdk_port))
    async with open_clients(settings) as clients:
        worker = build_ml_worker(client, settings, clients, metrics=metrics)
        async with worker:
            log.info("%s %s", READY_LINE, settings.temporal.ml_task_queue)
            await stop.wait()


def run(settings: Settings | None = None) -> None:
    """Run the ML worker until SIGINT or SIGTERM (the `vpp worker --queue ml` command)."""
    configure_logging()
    asyncio.run(serve(settings or get_settings()))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m vpp.workers.ml", description=__doc__)
    parser.parse_args(argv)
    run()


if __name__ == "__main__":
    main()
