"""`/healthz`, `/readyz` against the real servers (and with two of them unreachable), and
`/metrics`."""

from __future__ import annotations

import asyncio
import dataclasses

import httpx
from fastapi import FastAPI
from redis.asyncio import Redis

from vpp.api.state import ApiState
from vpp.config import Settings


async def test_healthz_answers_without_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "alive"}


async def test_readyz_checks_every_server(api: FastAPI, client: httpx.AsyncClient) -> None:
    state: ApiState = api.state.vpp
    await asyncio.wait_for(state.temporal.connected.wait(), 30)
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "ready",
        "checks": {"mongo": True, "redis": True, "temporal": True, "mqtt": True},
    }


async def test_readyz_names_the_servers_it_cannot_reach(
    api: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    state: ApiState = api.state.vpp
    unreachable = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1.0)
    broken = settings.model_copy(update={"mqtt": settings.mqtt.model_copy(update={"port": 1})})
    # The same app with two of its servers gone (one app per process: Beanie's documents
    # are bound process-wide, so a second app's lifespan would rebind them).
    api.state.vpp = dataclasses.replace(state, redis=unreachable, settings=broken)
    try:
        response = await client.get("/readyz")
    finally:
        api.state.vpp = state
        await unreachable.aclose()
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert (checks["mongo"], checks["redis"], checks["mqtt"]) == (True, False, False)


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/api/nodes/someone")  # 401, counted under its template
    text = (await client.get("/metrics")).text
    assert 'vpp_api_requests_total{method="GET",route="/api/nodes/{dc_id}",status="401"}' in text
    assert "vpp_api_request_seconds_bucket" in text
    assert 'vpp_api_auth_failures_total{status="401"}' in text
    assert "vpp_api_live_connected 1.0" in text
    # The app's alert monitor, scanning from the start (a test's app scans every 5 s).
    assert "vpp_api_alert_scans_total" in text
    assert "vpp_api_alert_scan_failures_total 0.0" in text
