"""The platform behind the dashboard's browser tests, on the session's real servers.

The API is the session's (`api`, served by uvicorn on the test API port, with its own
Redis prefix and dispatch task queue); around it this package runs what `make run` runs as
processes: simulated nodes publishing telemetry over MQTT (node-01701 ... node-01706,
registered here), an ingester writing them to the store and pushing them live under the
API's Redis prefix, an I/O worker on the API's dispatch queue and an ack relay. Chromium
is Debian's (`/usr/bin/chromium`, or VPP_TEST_CHROMIUM), driven headless by Playwright.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from playwright.async_api import Browser, async_playwright
from redis.asyncio import Redis

from tests.conftest import ROOT
from tests.integration.api_support import DISPATCH_QUEUE
from tests.integration.dispatch.conftest import node_spec, register, wait_connected
from tests.integration.telemetry_helpers import running_ingester, with_ingest
from vpp.api.state import ApiState
from vpp.bus.channels import RedisNames
from vpp.config import Settings
from vpp.dispatch.relay import AckRelay, TemporalAckSignaller
from vpp.edge_sim.fleet import Fleet
from vpp.temporal_client import connect as temporal_connect
from vpp.workers.io import build_io_worker, open_clients

FLEET_FIRST = 1701  # a node range no other test module uses
FLEET_SIZE = 6
SCREENSHOTS = ROOT / ".vpp-test" / "screenshots"


def fleet_ids() -> list[str]:
    return [f"node-{n:05d}" for n in range(FLEET_FIRST, FLEET_FIRST + FLEET_SIZE)]


@pytest.fixture(scope="package")
def web_dist() -> Path:
    """The built dashboard (built here if `make test` has not done it)."""
    subprocess.run([str(ROOT / "scripts" / "build-web.sh")], check=True, timeout=600)
    dist = ROOT / "web" / "dist"
    assert (dist / "index.html").is_file()
    return dist


@pytest.fixture(scope="package")
def base_url(api_settings: Settings) -> str:
    return api_settings.api.url


@pytest.fixture(scope="package")
async def dashboard_origin(api_settings: Settings, base_url: str) -> str:
    """The realm lets the dashboard's client log in from any loopback port (RFC 8252), but
    Keycloak's CORS check wants each web origin listed: add this suite's (shifted) one."""
    keycloak = api_settings.keycloak
    async with httpx.AsyncClient(base_url=keycloak.url, timeout=10) as http:
        token = await http.post(
            "/realms/master/protocol/openid-connect/token",
            data={
                "grant_type": "password",
                "client_id": "admin-cli",
                "username": keycloak.admin_username,
                "password": keycloak.admin_password.get_secret_value(),
            },
        )
        token.raise_for_status()
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        realm = f"/admin/realms/{keycloak.realm}/clients"
        found = await http.get(
            realm, params={"clientId": keycloak.dashboard_client_id}, headers=headers
        )
        found.raise_for_status()
        client = found.json()[0]
        if base_url not in client["webOrigins"]:
            client["webOrigins"].append(base_url)
            updated = await http.put(f"{realm}/{client['id']}", json=client, headers=headers)
            updated.raise_for_status()
    return base_url


async def fresh_fleet_aggregate(state: ApiState, names: RedisNames) -> None:
    """The session API caches the fleet's aggregate for 120 s (`api_support.py`): a value an
    earlier module computed before these nodes were live would show "0 / 0" online for that
    long. Drop it, as its expiry would, until the fleet's value counts them."""
    async with asyncio.timeout(30):
        while True:
            await state.redis.delete(names.aggregate_cache(None))
            if (await state.aggregates.read(None)).online_nodes >= FLEET_SIZE:
                return
            await asyncio.sleep(0.2)


@pytest.fixture(scope="package")
async def platform(api: FastAPI, api_settings: Settings, names: RedisNames) -> AsyncIterator[Fleet]:
    """Simulated nodes -> ingest -> store + live push; a dispatch worker and the ack relay."""
    state: ApiState = api.state.vpp
    settings = api_settings
    await register(
        state.db,
        [node_spec(settings, n) for n in range(FLEET_FIRST, FLEET_FIRST + FLEET_SIZE)],
    )
    sim = settings.edge_sim.model_copy(
        update={"nodes": FLEET_SIZE, "first_node": FLEET_FIRST, "interval_s": 1.0}
    )
    fleet = Fleet(settings.model_copy(update={"edge_sim": sim}))
    ingest_settings = with_ingest(settings, flush_interval_s=0.1)
    redis = Redis.from_url(settings.redis.url)
    temporal = await temporal_connect(settings.temporal)
    tag = uuid.uuid4().hex[:8]
    relay = AckRelay(
        settings,
        TemporalAckSignaller(temporal),
        client_id=f"test-dashboard-relay-{tag}",
        share_group=f"test-dashboard-acks-{tag}",
        session_expiry_s=0,
    )
    async with (
        running_ingester(ingest_settings, state.db, redis, names),
        open_clients(settings, instance=f"dashboard-{tag}") as clients,
        build_io_worker(temporal, settings, clients, task_queue=DISPATCH_QUEUE),
    ):
        await relay.start()
        fleet.start()
        try:
            await wait_connected(fleet)
            await fresh_fleet_aggregate(state, names)
            yield fleet
        finally:
            await fleet.stop(drain_timeout_s=5)
            await relay.stop()
    await redis.aclose()


def chromium_path() -> str:
    path = os.environ.get("VPP_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail(
            "the browser tests need Debian's Chromium: apt-get install chromium "
            "(scripts/install-system.sh does it), or set VPP_TEST_CHROMIUM"
        )
    return path


@pytest.fixture(scope="package")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), headless=True)
        yield browser
        await browser.close()


@pytest.fixture(scope="package")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
