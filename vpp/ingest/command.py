"""`vpp ingest`: one ingester process, until SIGINT or SIGTERM.

The process's bootstrap: it builds the MongoDB and Redis clients, waits for the store,
serves Prometheus metrics on `settings.ingest.metrics_port`, and runs an `Ingester`
under the client id `vpp-ingest-<instance>` (default: the host name). Give each
ingester on one host its own `instance`, and keep it across restarts: the broker keeps
the session of that client id, with what arrived while it was down.

Run it as `vpp ingest` (the lead wires `run`) or `python -m vpp.ingest.command`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import socket
from typing import Any

from prometheus_client import REGISTRY, start_http_server
from pymongo.errors import PyMongoError
from redis.asyncio import Redis

from vpp.bus.channels import RedisNames
from vpp.config import LOOPBACK, Settings, get_settings
from vpp.ingest.batcher import Backoff, BatcherClosed
from vpp.ingest.consumer import Ingester
from vpp.ingest.metrics import IngestMetrics
from vpp.lifecycle import configure_logging, stop_on_signals
from vpp.store.database import MongoClient, StoreInfo, init_store, mongo_client

log = logging.getLogger(__name__)

_STORE_BACKOFF = Backoff(initial_s=0.5, max_s=5.0)


def client_id(instance: str | None) -> str:
    return f"vpp-ingest-{instance or socket.gethostname()}"


def run(
    settings: Settings | None = None,
    *,
    instance: str | None = None,
    metrics_host: str = LOOPBACK,
) -> None:
    """Run one ingester until SIGINT or SIGTERM (the `vpp ingest` command)."""
    configure_logging()
    asyncio.run(serve(settings or get_settings(), instance=instance, metrics_host=metrics_host))


async def serve(
    settings: Settings,
    *,
    instance: str | None = None,
    metrics_host: str = LOOPBACK,
    stop: asyncio.Event | None = None,
) -> None:
    """The process: clients, metrics endpoint, the ingester; returns once `stop` is set
    (by default on SIGINT or SIGTERM) and the buffered readings are written."""
    stop = stop or stop_on_signals()
    asyncio.get_running_loop().set_exception_handler(_quiet_unacknowledged)
    start_http_server(settings.ingest.metrics_port, addr=metrics_host, registry=REGISTRY)
    mongo = mongo_client(settings.mongo)
    redis = Redis.from_url(settings.redis.url, socket_timeout=5.0, socket_connect_timeout=5.0)
    try:
        store = await _wait_for_store(mongo, settings)
        ingester = Ingester(
            settings,
            mongo[settings.mongo.database],
            redis,
            IngestMetrics(REGISTRY),
            client_id=client_id(instance or settings.ingest.instance),
            names=RedisNames(),
            store=store,
        )
        await ingester.start()
        # What exists now (modules, schemas, clients) lives as long as the process: keep
        # it out of the collector's full passes. Measured at 4,000 msg/s: the longest GC
        # pause fell from 115 ms to 10 ms, the event loop's p99 lag from 76 ms to 11 ms.
        gc.collect()
        gc.freeze()
        log.info(
            "ingesting; metrics on http://%s:%d/metrics", metrics_host, settings.ingest.metrics_port
        )
        await stop.wait()
        log.info("stopping: writing %d buffered readings", ingester.buffered)
        await ingester.stop()
        left = ingester.received.count - ingester.acknowledged.count
        if left:
            log.warning("%d messages left unacknowledged; the broker keeps them", left)
    finally:
        await redis.aclose()
        await mongo.close()


async def _wait_for_store(mongo: MongoClient, settings: Settings) -> StoreInfo:
    attempt = 0
    while True:
        try:
            return await init_store(mongo[settings.mongo.database], settings.mongo)
        except PyMongoError as exc:
            delay = _STORE_BACKOFF.delay(attempt)
            log.warning("store not ready (retrying in %.1f s): %s", delay, exc)
            attempt += 1
            await asyncio.sleep(delay)


def _quiet_unacknowledged(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """A message still unwritten at stop makes its handler raise, so gmqtt sends no PUBACK
    and the broker keeps it; that is the intent, not an error worth a traceback each."""
    if isinstance(context.get("exception"), BatcherClosed):
        return
    loop.default_exception_handler(context)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m vpp.ingest.command", description=__doc__)
    parser.add_argument("--instance", help="this ingester's stable name (default: host name)")
    parser.add_argument("--metrics-host", default=LOOPBACK, help="address of /metrics")
    args = parser.parse_args(argv)
    run(instance=args.instance, metrics_host=args.metrics_host)


if __name__ == "__main__":
    main()
