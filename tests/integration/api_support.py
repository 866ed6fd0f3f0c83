"""Fixtures of the API tests: the app served by a real uvicorn (for WebSockets) and
driven in-process through ASGITransport (for HTTP), real Keycloak tokens by password
grant, and a Redis prefix and node ids of their own so nothing collides with other
suites or a running ingester.

tests/integration/conftest.py imports the fixtures, so each is one instance per session;
the helpers are imported by the test modules.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
import uvicorn
from fastapi import FastAPI
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from vpp.api.app import create_app
from vpp.api.live.hub import LiveOptions
from vpp.api.state import ApiState
from vpp.bus.channels import RedisNames
from vpp.config import Settings
from vpp.store.database import init_store
from vpp.store.documents import TELEMETRY, Node
from vpp.store.live_state import LiveReading, LiveStateWriter, epoch_ms

RUN = f"apit{uuid.uuid4().hex[:6]}"
# The dispatch workflows the API starts go to a queue of this run (test_api_dispatch.py
# runs a worker on it).
DISPATCH_QUEUE = f"{RUN}-dispatch"
USERS = {
    "admin": ("vpp-admin", "vpp-admin-dev"),
    "operator": ("vpp-operator", "vpp-operator-dev"),
    "viewer": ("vpp-viewer", "vpp-viewer-dev"),
}


def reading(dc_id: str, **fields: Any) -> dict[str, Any]:
    """A valid reading as JSON-ready data (timestamp now unless given)."""
    data: dict[str, Any] = {
        "dc_id": dc_id,
        "seq": 1,
        "timestamp": datetime.now(UTC).isoformat(),
        "soc": 60.0,
        "power_kw": 10.0,
        "freq": 50.0,
    }
    data.update(fields)
    return data


async def publish_live(redis: Redis, names: RedisNames, readings: list[dict[str, Any]]) -> None:
    """What the ingester does once a batch is stored: latest state + one live message."""
    import orjson

    live = []
    for r in readings:
        doc = dict(r)
        ts = datetime.fromisoformat(doc["timestamp"])
        doc["received_at"] = datetime.now(UTC).isoformat()
        live.append(LiveReading(doc["dc_id"], epoch_ms(ts), orjson.dumps(doc)))
    await LiveStateWriter(redis, names).publish_batch(live, epoch_ms(datetime.now(UTC)))


@dataclass
class Tokens:
    settings: Settings
    _cache: dict[str, tuple[str, float]] = field(default_factory=dict)

    async def get(self, role: str) -> str:
        token, expires = self._cache.get(role, ("", 0.0))
        if time.time() < expires - 60:
            return token
        username, password = USERS[role]
        keycloak = self.settings.keycloak
        async with httpx.AsyncClient() as http:
            response = await http.post(
                f"{keycloak.issuer}/protocol/openid-connect/token",
                data={
                    "grant_type": "password",
                    "client_id": keycloak.automation_client_id,
                    "client_secret": keycloak.automation_client_secret.get_secret_value(),
                    "username": username,
                    "password": password,
                    "scope": "openid",
                },
            )
        response.raise_for_status()
        body = response.json()
        self._cache[role] = (body["access_token"], time.time() + body["expires_in"])
        return str(body["access_token"])

    async def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.get(role)}"}


@pytest.fixture(scope="session")
def tokens(settings: Settings) -> Tokens:
    return Tokens(settings)


@pytest.fixture(scope="session")
def names() -> RedisNames:
    return RedisNames(prefix=RUN)


@pytest.fixture(scope="session")
def api_settings(settings: Settings) -> Settings:
    # A long aggregate cache, so "still cached" never races the expiry; tests that need
    # a fresh value delete the cache key, as its expiry would.
    ingest = settings.ingest.model_copy(update={"aggregate_cache_s": 120.0})
    # A forecast channel of this run's own, as the telemetry channels are (`names`).
    forecast = settings.forecast.model_copy(update={"redis_channel": f"{RUN}:forecasts"})
    return settings.model_copy(update={"ingest": ingest, "forecast": forecast})


@pytest_asyncio.fixture(scope="session")
async def api(api_settings: Settings, names: RedisNames) -> AsyncIterator[FastAPI]:
    """The app, served by uvicorn on the test API port (its lifespan runs there)."""
    app = create_app(
        api_settings,
        names=names,
        # No fleet history: this API caches the aggregate for 120 s, and a recorder
        # reading it at a minute's start could fix what every test then sees for two
        # minutes (test_fleet_history.py runs recorders of its own).
        live=LiveOptions(aggregate_poll_s=0.1, node_scan_s=0.2, fleet_record_s=None),
        dispatch_task_queue=DISPATCH_QUEUE,
    )
    config = uvicorn.Config(
        app,
        host=api_settings.api.host,
        port=api_settings.api.port,
        log_level="warning",
        ws="websockets-sansio",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("uvicorn stopped before it started")
        await asyncio.sleep(0.05)  # uvicorn offers no event for "started"
    state: ApiState = app.state.vpp
    await asyncio.wait_for(state.live.connected.wait(), 10)
    _served.append(state)
    try:
        yield app
    finally:
        await _cleanup(state)
        server.should_exit = True
        await asyncio.wait_for(task, 15)


# The served API's state, for `api_store_bound` below (one per session).
_served: list[ApiState] = []


async def _bind_to_the_api_store() -> None:
    """Beanie binds its documents once per process, to the last database given to
    `init_beanie`. Each of the platform's processes has one store; a test session has
    several (suites with a database of their own, clients closed when their suite ends),
    and the served API's node registry would read through whichever came last."""
    if _served and Node.get_pymongo_collection().database is not _served[-1].db:
        await init_store(_served[-1].db, _served[-1].settings.mongo)


@pytest_asyncio.fixture(autouse=True, scope="module")
async def api_store_bound_per_module() -> None:
    """Before each module's own fixtures (which may call the API as they set up)."""
    await _bind_to_the_api_store()


@pytest_asyncio.fixture(autouse=True)
async def api_store_bound(request: pytest.FixtureRequest) -> None:
    """Before each test that uses the API (a suite's fixture may have bound its own)."""
    if {"api", "client"} & set(request.fixturenames):
        await _bind_to_the_api_store()


async def _cleanup(state: ApiState) -> None:
    with contextlib.suppress(Exception):
        prefix = {"$regex": f"^{RUN}"}
        await state.db["nodes"].delete_many({"dc_id": prefix})
        await state.db[TELEMETRY].delete_many({"dc_id": prefix})
        keys = [k async for k in state.redis.scan_iter(match=f"*{RUN}*")]
        if keys:
            await state.redis.delete(*keys)


@pytest_asyncio.fixture(scope="session")
async def client(api: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=api)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as http:
        yield http


def minutes_ago(n: float) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=n)


PROTOCOL = Subprotocol("graphql-transport-ws")
TIMEOUT_S = 10.0


def ws_url(settings: Settings) -> str:
    return f"ws://{settings.api.host}:{settings.api.port}/graphql"


class GraphQLWs:
    """A graphql-transport-ws client: messages are kept per operation id until asked for."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._pending: dict[str, list[dict[str, Any]]] = {}

    async def subscribe(self, op: str, query: str, variables: dict[str, Any] | None = None) -> None:
        payload = {"query": query, "variables": variables or {}}
        await self.ws.send(json.dumps({"id": op, "type": "subscribe", "payload": payload}))

    async def complete(self, op: str) -> None:
        await self.ws.send(json.dumps({"id": op, "type": "complete"}))

    async def receive(self, op: str) -> dict[str, Any]:
        async with asyncio.timeout(TIMEOUT_S):
            while not self._pending.get(op):
                message = json.loads(await self.ws.recv())
                self._pending.setdefault(str(message.get("id")), []).append(message)
        return self._pending[op].pop(0)


@contextlib.asynccontextmanager
async def graphql_ws(settings: Settings, token: str) -> AsyncIterator[GraphQLWs]:
    async with connect(ws_url(settings), subprotocols=[PROTOCOL]) as ws:
        init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
        await ws.send(json.dumps(init))
        ack = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT_S))
        assert ack["type"] == "connection_ack", ack
        yield GraphQLWs(ws)
