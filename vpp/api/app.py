"""The API app: `create_app(settings)` and its lifespan.

The lifespan opens what every request shares: MongoDB (waiting for the store and binding
the Beanie documents), Redis (one client for commands, one for the single pub/sub
subscription of the process), the Temporal client (in the background: reads need no
Temporal), the token verifier, the live feeds of the subscriptions, and the recorder of
the fleet's history.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta

from fastapi import FastAPI
from pymongo.errors import PyMongoError
from redis.asyncio import Redis

from vpp.api import errors
from vpp.api.auth import KeycloakKeySource, KeySource, TokenVerifier
from vpp.api.graphql_app import graphql_router
from vpp.api.live.fleet_recorder import FleetRecorder
from vpp.api.live.hub import LiveHub, LiveOptions
from vpp.api.metrics import ApiMetrics, MetricsMiddleware
from vpp.api.routes import routers
from vpp.api.state import ApiState
from vpp.api.temporal import TemporalConnection
from vpp.api.web import mount_dashboard
from vpp.bus.channels import RedisNames
from vpp.config import Settings, get_settings
from vpp.dispatch.documents import init_dispatch_store
from vpp.ingest.metrics import IngestMetrics
from vpp.ingest.telemetry_writer import TelemetryWriter
from vpp.lifecycle import configure_logging
from vpp.services.aggregate import AggregateReader
from vpp.services.dispatch import Dispatches
from vpp.store.database import Database, init_store, mongo_client
from vpp.store.documents import TELEMETRY
from vpp.store.live_state import LiveStateWriter
from vpp.store.status_log import SilenceLog

log = logging.getLogger(__name__)

DESCRIPTION = """\
The Virtual Power Plant's API: GraphQL at `/graphql` (queries, mutations, subscriptions
over graphql-transport-ws) and the seed's REST endpoints under `/api`, on the same
services. Every request carries a bearer token of Keycloak realm `vpp`: viewer reads,
operator also dispatches, admin also manages nodes and automation.
"""


async def _wait_for_store(db: Database, settings: Settings) -> None:
    attempt = 0
    while True:
        try:
            await init_store(db, settings.mongo)
            return
        except PyMongoError as exc:
            delay = min(5.0, 0.5 * 2**attempt)
            attempt += 1
            log.warning("store not ready (retrying in %.1f s): %s", delay, exc)
            await asyncio.sleep(delay)  # a back-off: the store sends no event when back


def create_app(
    settings: Settings | None = None,
    *,
    key_source: KeySource | None = None,
    names: RedisNames | None = None,
    live: LiveOptions | None = None,
    dispatch_task_queue: str | None = None,
) -> FastAPI:
    """The app; `key_source` replaces Keycloak's JWKS endpoint, `names` the Redis prefix
    and `dispatch_task_queue` the dispatch workflows' queue (tests), `live` the live
    feeds' timings."""
    settings = settings or get_settings()
    names = names or RedisNames()
    metrics = ApiMetrics()
    ingest_metrics = IngestMetrics(metrics.registry)  # readings stored over HTTP

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            mongo = mongo_client(settings.mongo)
            stack.push_async_callback(mongo.close)
            db = mongo[settings.mongo.database]
            await _wait_for_store(db, settings)
            await init_dispatch_store(db)
            redis = Redis.from_url(
                settings.redis.url, socket_timeout=5.0, socket_connect_timeout=5.0
            )
            stack.push_async_callback(redis.aclose)
            pubsub_redis = Redis.from_url(
                settings.redis.url, socket_connect_timeout=5.0, health_check_interval=30
            )
            stack.push_async_callback(pubsub_redis.aclose)
            verifier = TokenVerifier(
                key_source or KeycloakKeySource(settings.keycloak),
                issuer=settings.keycloak.issuer,
                audience=settings.keycloak.audience,
            )
            stack.push_async_callback(verifier.close)
            temporal = TemporalConnection(settings.temporal)
            temporal.start()
            stack.push_async_callback(temporal.close)
            # One worker process computes fleet-wide aggregates off the event loop.
            pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn")
            )
            stack.callback(pool.shutdown, wait=False, cancel_futures=True)
            aggregates = AggregateReader(
                redis, names, settings.ingest, redis_url=settings.redis.url, executor=pool
            )
            hub = LiveHub(
                redis,
                pubsub_redis,
                names,
                settings.ingest,
                metrics,
                aggregates=aggregates,
                forecast_channel=settings.forecast.redis_channel,
                options=live or LiveOptions(),
                db=db,
                alert_retention=timedelta(days=settings.mongo.telemetry_retention_days),
            )
            hub.start()
            stack.push_async_callback(hub.stop)
            record_s = (live or LiveOptions()).fleet_record_s
            if record_s is not None:
                recorder = FleetRecorder(
                    db,
                    aggregates,
                    retention=timedelta(days=settings.mongo.telemetry_retention_days),
                    every_s=record_s,
                )
                recorder.start()
                stack.push_async_callback(recorder.stop)
            # Readings POSTed by nodes without MQTT: stored and logged as ingest does.
            live_state = LiveStateWriter(redis, names)
            writer = TelemetryWriter(
                db[TELEMETRY],
                live_state,
                ingest_metrics,
                silences=SilenceLog(db, live_state, settings.ingest.offline_after_s),
            )
            app.state.vpp = ApiState(
                settings=settings,
                names=names,
                mongo=mongo,
                db=db,
                redis=redis,
                verifier=verifier,
                metrics=metrics,
                live=hub,
                temporal=temporal,
                telemetry_writer=writer,
                dispatches=Dispatches(
                    temporal.require, db, settings, task_queue=dispatch_task_queue
                ),
                aggregates=aggregates,
            )
            log.info("API ready on %s", settings.api.url)
            yield
            app.state.vpp = None

    app = FastAPI(
        title="VPP API",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    errors.install(app)
    for router in routers:
        app.include_router(router)
    app.include_router(graphql_router(settings.api.graphiql))
    mount_dashboard(app, settings)  # last: the dashboard at / never shadows an API route
    return app


def run(settings: Settings | None = None) -> None:
    """`vpp api`: serve the app with uvicorn on `settings.api.host:port`."""
    import uvicorn

    settings = settings or get_settings()
    configure_logging()
    uvicorn.run(
        create_app(settings),
        host=settings.api.host,
        port=settings.api.port,
        log_level="info",
        proxy_headers=True,
        ws="websockets-sansio",
    )
