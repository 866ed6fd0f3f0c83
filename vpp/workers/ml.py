"""`vpp worker --queue ml`: the Temporal workers of the ML task queues: the cycles'
(`settings.temporal.ml_task_queue`: forecast and optimisation cycles) and the trainings'
(`ml_train_task_queue`: forecast models and policies), with their CPU-heavy activities.

The process's bootstrap: it opens MongoDB (with the forecast documents) and Redis, hands
them to the activity classes and polls its queues until SIGINT or SIGTERM. The cycles'
queue runs at most `max_concurrent_activities` activities at once (default 2, the
machine's cores), the trainings' queue one at a time: a training's activities run for
minutes to hours, and on a shared queue two trainings (the daily one and one started by
hand) would take every slot and hold the 15-minute cycles back until they ended. Torch and
LightGBM use `forecast.threads` threads each.

`--queue ml` polls both queues in one process (one machine). `--queue ml-cycles` and
`--queue ml-train` poll one each, so a deployment runs the cycles on as many replicas as
its nodes need and the daily training in a process of its own: a training's peak memory
(about 1.6 GB for the 17 CityLearn series, which the process keeps once it has it) and its
cores then never come out of a cycle replica's.

Run it as `vpp worker --queue ml` or `python -m vpp.workers.ml [--only cycles|training]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from enum import StrEnum
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
from vpp.workflows.forecast import ML_WORKFLOWS, TrainForecastWorkflow
from vpp.workflows.optimize import OPTIMIZE_WORKFLOWS
from vpp.workflows.policy import POLICY_WORKFLOWS, TrainPolicyWorkflow

log = logging.getLogger(__name__)

READY_LINE = "ml worker polling"
MAX_CONCURRENT_ACTIVITIES = 2
# Trainings run one activity at a time, beside the cycles' slots.
MAX_CONCURRENT_TRAINING_ACTIVITIES = 1
TRAINING_WORKFLOWS: tuple[type, ...] = (TrainForecastWorkflow, TrainPolicyWorkflow)


class MlRole(StrEnum):
    """The queues an ML worker process polls (`serve`)."""

    CYCLES = "cycles"
    TRAINING = "training"


ALL_ROLES = frozenset(MlRole)


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


def build_ml_workers(
    client: Client,
    settings: Settings,
    clients: MlClients,
    *,
    task_queue: str | None = None,
    training_queue: str | None = None,
    forecast: ForecastSettings | None = None,
    max_concurrent_activities: int = MAX_CONCURRENT_ACTIVITIES,
    metrics: WorkerMetrics | None = None,
) -> tuple[Worker, Worker]:
    """The cycles' worker and the trainings' worker, sharing one set of activity objects
    (one model cache, one registry). The cycles' worker also runs the training workflows,
    so a training started on the cycles' queue (by a schedule applied before the trainings
    had a queue of their own) still ends."""
    activities = [
        *ml_activities(forecast or forecast_settings(settings), clients),
        *OptimizeActivities(clients.db, clients.redis, settings).all(),
        *PolicyActivities(clients.db, rl_settings(settings)).all(),
    ]
    interceptors = [MetricsInterceptor(metrics)] if metrics else []
    cycles = Worker(
        client,
        task_queue=task_queue or settings.temporal.ml_task_queue,
        workflows=ml_workflows(),
        activities=activities,
        max_concurrent_activities=max_concurrent_activities,
        interceptors=interceptors,
    )
    training = Worker(
        client,
        task_queue=training_queue or settings.temporal.ml_train_task_queue,
        workflows=list(TRAINING_WORKFLOWS),
        activities=activities,
        max_concurrent_activities=MAX_CONCURRENT_TRAINING_ACTIVITIES,
        interceptors=interceptors,
    )
    return cycles, training


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
    """The cycles' worker alone, which runs every ML workflow on one queue (tests)."""
    cycles, _ = build_ml_workers(
        client,
        settings,
        clients,
        task_queue=task_queue,
        forecast=forecast,
        max_concurrent_activities=max_concurrent_activities,
        metrics=metrics,
    )
    return cycles


async def serve(
    settings: Settings,
    *,
    roles: frozenset[MlRole] = ALL_ROLES,
    stop: asyncio.Event | None = None,
) -> None:
    """Poll the queues of `roles` until `stop` is set (by default on SIGINT or SIGTERM)."""
    if not roles:
        raise ValueError("an ML worker polls the cycles' queue, the trainings' or both")
    stop = stop or stop_on_signals()
    m = settings.metrics
    metrics = WorkerMetrics()
    serve_metrics(metrics, m.host, m.ml_worker_port)
    client = await connect(settings.temporal, runtime=sdk_runtime(m.host, m.ml_worker_sdk_port))
    async with open_clients(settings) as clients:
        cycles, training = build_ml_workers(client, settings, clients, metrics=metrics)
        polled = {MlRole.CYCLES: cycles, MlRole.TRAINING: training}
        async with contextlib.AsyncExitStack() as workers:
            for role in MlRole:
                if role in roles:
                    await workers.enter_async_context(polled[role])
            queues = [polled[role].task_queue for role in MlRole if role in roles]
            log.info("%s %s", READY_LINE, " and ".join(queues))
            await stop.wait()


def run(settings: Settings | None = None, roles: frozenset[MlRole] = ALL_ROLES) -> None:
    """Run the ML worker until SIGINT or SIGTERM (the `vpp worker --queue ml*` commands)."""
    configure_logging()
    asyncio.run(serve(settings or get_settings(), roles=roles))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m vpp.workers.ml", description=__doc__)
    parser.add_argument(
        "--only", choices=[r.value for r in MlRole], help="Poll this one queue (default both)."
    )
    args = parser.parse_args(argv)
    run(roles=frozenset({MlRole(args.only)}) if args.only else ALL_ROLES)


if __name__ == "__main__":
    main()
