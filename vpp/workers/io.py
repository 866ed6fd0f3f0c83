"""`vpp worker`: the Temporal worker of the I/O task queue (`settings.temporal.io_task_queue`).

The process's bootstrap: it opens the clients the activities need (MongoDB, Redis, an
MQTT publisher with the service account), hands them to the activity classes, and polls
the queue until SIGINT or SIGTERM. Other I/O workflows and activities join through
`io_workflows()` and `io_activities()`.

Run it as `vpp worker` (the lead wires `run`) or `python -m vpp.workers.io`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from redis.asyncio import Redis
from temporalio.client import Client
from temporalio.worker import Worker

from vpp.activities.dispatch import DispatchActivities
from vpp.config import Settings, get_settings
from vpp.dispatch.documents import init_dispatch_store
from vpp.dispatch.progress import RedisProgressSink
from vpp.dispatch.publisher import MqttCommandPublisher
from vpp.dispatch.ready import temporal_when_ready, until_ready
from vpp.dispatch.repository import MongoDispatchStore
from vpp.dispatch.settings import dispatch_settings
from vpp.lifecycle import configure_logging, stop_on_signals
from vpp.store.database import Database, MongoClient, mongo_client
from vpp.workers.metrics import MetricsInterceptor, WorkerMetrics, sdk_runtime, serve_metrics
from vpp.workflows.dispatch import IO_WORKFLOWS

log = logging.getLogger(__name__)

# A worker killed mid-task is noticed this fast: its sticky queue's tasks go back to the
# shared queue after this long.
STICKY_TO_START = timedelta(seconds=3)
READY_LINE = "io worker polling"


@dataclass
class IoClients:
    """The clients the I/O activities use, opened once per process."""

    mongo: MongoClient
    db: Database
    redis: Redis
    publisher: MqttCommandPublisher


@contextlib.asynccontextmanager
async def open_clients(
    settings: Settings, *, instance: str | None = None
) -> AsyncIterator[IoClients]:
    mongo = mongo_client(settings.mongo)
    redis = Redis.from_url(settings.redis.url, socket_timeout=5.0, socket_connect_timeout=5.0)
    publisher = MqttCommandPublisher(
        settings.mqtt,
        client_id=f"vpp-worker-{instance or socket.gethostname()}-{os.getpid()}",
        window=dispatch_settings(settings).publish_window,
    )
    try:
        db = mongo[settings.mongo.database]
        await until_ready("the store", lambda: init_dispatch_store(db))
        await until_ready("the broker", publisher.start)
        yield IoClients(mongo=mongo, db=db, redis=redis, publisher=publisher)
    finally:
        await publisher.stop()
        await redis.aclose()
        await mongo.close()


def io_workflows() -> list[type]:
    return list(IO_WORKFLOWS)


def io_activities(settings: Settings, clients: IoClients) -> list[Callable[..., Any]]:
    dispatch = DispatchActivities(
        clients.publisher,
        MongoDispatchStore(clients.db),
        RedisProgressSink(clients.redis),
        topic_prefix=settings.mqtt.topic_prefix,
    )
    return dispatch.all()


def build_io_worker(
    client: Client,
    settings: Settings,
    clients: IoClients,
    *,
    task_queue: str | None = None,
    metrics: WorkerMetrics | None = None,
) -> Worker:
    return Worker(
        client,
        task_queue=task_queue or settings.temporal.io_task_queue,
        workflows=io_workflows(),
        activities=io_activities(settings, clients),
        sticky_queue_schedule_to_start_timeout=STICKY_TO_START,
        interceptors=[MetricsInterceptor(metrics)] if metrics else [],
    )


async def serve(
    settings: Settings, *, instance: str | None = None, stop: asyncio.Event | None = None
) -> None:
    """Run the worker until `stop` is set (by default on SIGINT or SIGTERM)."""
    stop = stop or stop_on_signals()
    m = settings.metrics
    metrics = WorkerMetrics()
    serve_metrics(metrics, m.host, m.io_worker_port)
    runtime = sdk_runtime(m.host, m.io_worker_sdk_port)
    client = await temporal_when_ready(settings.temporal, runtime=runtime)
    async with open_clients(settings, instance=instance) as clients:
        worker = build_io_worker(client, settings, clients, metrics=metrics)
        async with worker:
            log.info("%s %s", READY_LINE, settings.temporal.io_task_queue)
            await stop.wait()


def run(settings: Settings | None = None, *, instance: str | None = None) -> None:
    """Run the I/O worker until SIGINT or SIGTERM (the `vpp worker` command)."""
    configure_logging()
    asyncio.run(serve(settings or get_settings(), instance=instance))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m vpp.workers.io", description=__doc__)
    parser.add_argument("--instance", help="this worker's name (default: host name)")
    args = parser.parse_args(argv)
    run(instance=args.instance)


if __name__ == "__main__":
    main()
