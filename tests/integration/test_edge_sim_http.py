"""The simulator's HTTP fallback against the real API and Keycloak: with MQTT off, each
reading is POSTed with the automation client's service token and stored like an MQTT one;
without a valid token nothing is stored and nothing is lost (the readings wait)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from vpp.api.state import ApiState
from vpp.config import Settings
from vpp.edge_sim.fleet import Fleet
from vpp.store.documents import NODES, TELEMETRY
from vpp.store.nodes import register_nodes, seed_node_specs

# Node numbers no other suite uses.
FIRST = 1631
COUNT = 4
READINGS = 3


def http_fleet(settings: Settings, **keycloak: object) -> Fleet:
    sim = settings.edge_sim.model_copy(
        update={
            "nodes": COUNT,
            "first_node": FIRST,
            "mqtt_enabled": False,
            "http_fallback_url": f"http://{settings.api.host}:{settings.api.port}/api/telemetry",
        }
    )
    kc = settings.keycloak.model_copy(update=keycloak)
    return Fleet(settings.model_copy(update={"edge_sim": sim, "keycloak": kc}))


@pytest.fixture
async def nodes(api: FastAPI, api_settings: Settings) -> AsyncIterator[list[str]]:
    state: ApiState = api.state.vpp
    specs = seed_node_specs(api_settings.mqtt, FIRST + COUNT - 1)[FIRST - 1 :]
    ids = [s.dc_id for s in specs]
    await register_nodes(state.db, specs)
    await state.db[TELEMETRY].delete_many({"dc_id": {"$in": ids}})
    yield ids
    await state.db[TELEMETRY].delete_many({"dc_id": {"$in": ids}})
    await state.db[NODES].delete_many({"dc_id": {"$in": ids}})


async def test_readings_over_http_carry_a_service_token_and_are_stored(
    api: FastAPI, api_settings: Settings, nodes: list[str]
) -> None:
    state: ApiState = api.state.vpp
    fleet = http_fleet(api_settings)
    fleet.start(sampling=False)
    try:
        for _ in range(READINGS):
            for n in nodes:
                fleet.sample(n)
            # A reading is keyed by node and millisecond: a reading a moment later is new.
            await asyncio.sleep(0.05)
        deadline = time.monotonic() + 30
        while sum(fleet.link(n).stats.sent for n in nodes) < COUNT * READINGS:
            assert time.monotonic() < deadline, "the readings were not all accepted"
            await asyncio.sleep(0.1)
    finally:
        await fleet.stop(drain_timeout_s=5)
    assert sum(fleet.link(n).stats.refused for n in nodes) == 0
    assert await state.db[TELEMETRY].count_documents({"dc_id": {"$in": nodes}}) == COUNT * READINGS


async def test_without_a_valid_token_nothing_is_stored_and_nothing_is_dropped(
    api: FastAPI, api_settings: Settings, nodes: list[str]
) -> None:
    state: ApiState = api.state.vpp
    fleet = http_fleet(api_settings, automation_client_secret=SecretStr("not-the-secret"))
    fleet.start(sampling=False)
    try:
        for n in nodes:
            fleet.sample(n)
        await asyncio.sleep(2.0)  # several attempts, each refused by Keycloak
        assert all(fleet.link(n).pending == 1 for n in nodes)
        assert sum(fleet.link(n).stats.refused for n in nodes) == 0
    finally:
        await fleet.stop(drain_timeout_s=0.5)
    assert await state.db[TELEMETRY].count_documents({"dc_id": {"$in": nodes}}) == 0
