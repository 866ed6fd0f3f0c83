"""`/healthz` (the process answers), `/readyz` (the servers it needs answer), `/metrics`.

These three carry no token: orchestrators' probes and Prometheus scrape them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import JSONResponse, Response

from vpp.api.deps import StateDep
from vpp.stack.probes import mqtt_connects

router = APIRouter(tags=["health"])

CHECK_TIMEOUT_S = 3.0


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "alive"}


@router.get(
    "/readyz",
    responses={503: {"description": "At least one server is not reachable"}},
)
async def readyz(state: StateDep) -> JSONResponse:
    """MongoDB, Redis, Temporal and the MQTT broker, each checked with a real request."""
    settings = state.settings
    mqtt = settings.mqtt

    async def mongo() -> bool:
        reply = await state.db.command("ping")
        return bool(reply.get("ok"))

    async def redis() -> bool:
        return bool(await state.redis.ping())

    async def temporal() -> bool:
        client = state.temporal.client
        if client is None:
            return False
        return await client.service_client.check_health(timeout=timedelta(seconds=2))

    async def broker() -> bool:
        password = mqtt.service_password.get_secret_value()
        return await mqtt_connects(mqtt.host, mqtt.port, mqtt.service_username, password)

    names = ["mongo", "redis", "temporal", "mqtt"]
    results = await asyncio.gather(*(_check(c()) for c in (mongo, redis, temporal, broker)))
    checks = dict(zip(names, results, strict=True))
    ready = all(checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )


async def _check(probe: Awaitable[bool]) -> bool:
    try:
        return await asyncio.wait_for(probe, CHECK_TIMEOUT_S)
    except Exception:
        return False


@router.get("/metrics", response_class=Response)
async def metrics(state: StateDep) -> Response:
    # The fleet gauges, from the aggregate (cached in Redis): read at scrape time, so they
    # cost nothing between scrapes; a scrape still answers while Redis is away.
    try:
        fleet = await asyncio.wait_for(state.aggregates.read(None), CHECK_TIMEOUT_S)
    except Exception:
        fleet = None
    state.metrics.fleet.set(fleet)
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
