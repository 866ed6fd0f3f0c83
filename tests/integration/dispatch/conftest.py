"""The dispatch against the session's real servers: Temporal dev server, Mosquitto,
SecantusDB, Redis, with simulated nodes from `vpp.edge_sim`.

One fleet of simulated nodes (node-01501 ... node-01590, registered with the kinds the
simulator gives them), an I/O worker and an ack relay run for the whole session; each test
dispatches to nodes of its own so that no two tests share a node's command memory.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis
from temporalio.client import Client

from vpp.config import Settings
from vpp.dispatch.documents import init_dispatch_store
from vpp.dispatch.models import DispatchResult, DispatchStarted
from vpp.dispatch.relay import AckRelay, TemporalAckSignaller
from vpp.dispatch.service import DispatchService
from vpp.dispatch.settings import DispatchSettings
from vpp.edge_sim.fleet import Fault, FaultKind, Fleet
from vpp.edge_sim.node import is_home
from vpp.edge_sim.status_api import create_app
from vpp.models import NodeKind
from vpp.store.database import Database, init_store, mongo_client
from vpp.store.documents import NODES, GeoPoint, NodeSpec
from vpp.temporal_client import connect
from vpp.workers.io import build_io_worker, open_clients

FLEET_FIRST = 1501
FLEET_SIZE = 90
# Registered capacities: an edge DC's battery takes 100 kW in the simulator, its site 200.
EDGE_KW = 200.0
HOME_KW = 10.0


def node_id(n: int) -> str:
    return f"node-{n:05d}"


def node_spec(settings: Settings, n: int) -> NodeSpec:
    home = is_home(n, settings.edge_sim.home_share)
    return NodeSpec(
        dc_id=node_id(n),
        kind=NodeKind.HOME_DER if home else NodeKind.EDGE_DC,
        hostname=f"test-{n}",
        location=GeoPoint(lat=34.1, lon=-117.4),
        capacity_kw=HOME_KW if home else EDGE_KW,
        battery_kwh=13.5 if home else 200.0,
    )


async def register(db: Database, specs: list[NodeSpec]) -> None:
    """Register these nodes as the simulator has them, whatever was registered before."""
    for spec in specs:
        await db[NODES].replace_one({"dc_id": spec.dc_id}, spec.model_dump(), upsert=True)


def edge_dcs(settings: Settings, first: int, count: int) -> list[str]:
    """`count` edge DC node ids from `first` on."""
    ids: list[str] = []
    n = first
    while len(ids) < count:
        if not is_home(n, settings.edge_sim.home_share):
            ids.append(node_id(n))
        n += 1
    return ids


async def wait_connected(fleet: Fleet, node_ids: list[str] | None = None) -> None:
    """Until every node is connected; the simulator has no event for it, so this polls,
    bounded."""
    ids = node_ids or fleet.node_ids
    async with asyncio.timeout(30):
        while not all(fleet.link(n).connected for n in ids):  # noqa: ASYNC110
            await asyncio.sleep(0.05)


@pytest.fixture(scope="package")
def options() -> DispatchSettings:
    """Quick paces, so a test sees resends and expiries in seconds."""
    return DispatchSettings(
        default_ack_window_s=30.0,
        resend_initial_s=0.5,
        resend_max_s=2.0,
        completion_slack_s=1.0,
        completion_grace_s=10.0,
        measure_settle_s=0.5,
    )


@pytest.fixture(scope="package")
def task_queue() -> str:
    return f"test-dispatch-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="package")
async def temporal(settings: Settings) -> Client:
    return await connect(settings.temporal)


@pytest.fixture(scope="package")
async def db(settings: Settings) -> AsyncIterator[Database]:
    client = mongo_client(settings.mongo)
    database = client[settings.mongo.database]
    await init_store(database, settings.mongo)
    await init_dispatch_store(database)
    yield database
    await client.close()


@pytest.fixture(scope="package")
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = Redis.from_url(settings.redis.url)
    yield client
    await client.aclose()


@pytest.fixture(scope="package")
async def fleet(settings: Settings, db: Database) -> AsyncIterator[Fleet]:
    """The simulated nodes; no telemetry (no sampling), commands and acks only."""
    await register(
        db, [node_spec(settings, n) for n in range(FLEET_FIRST, FLEET_FIRST + FLEET_SIZE)]
    )
    sim = settings.edge_sim.model_copy(update={"nodes": FLEET_SIZE, "first_node": FLEET_FIRST})
    fleet = Fleet(settings.model_copy(update={"edge_sim": sim}))
    fleet.start(sampling=False)
    await wait_connected(fleet)
    yield fleet
    await fleet.stop(drain_timeout_s=5)


@pytest.fixture(scope="package")
async def worker(
    settings: Settings, temporal: Client, task_queue: str, db: Database
) -> AsyncIterator[None]:
    async with (
        open_clients(settings, instance="test") as clients,
        build_io_worker(temporal, settings, clients, task_queue=task_queue),
    ):
        yield


@pytest.fixture(scope="package")
async def relay(settings: Settings, temporal: Client) -> AsyncIterator[AckRelay]:
    tag = uuid.uuid4().hex[:8]
    relay = AckRelay(
        settings,
        TemporalAckSignaller(temporal),
        client_id=f"test-ack-relay-{tag}",
        share_group=f"test-acks-{tag}",
        session_expiry_s=0,
    )
    await relay.start()
    yield relay
    await relay.stop()


@pytest.fixture(scope="package")
def service(
    *,
    settings: Settings,
    temporal: Client,
    db: Database,
    task_queue: str,
    options: DispatchSettings,
    worker: None,
    relay: AckRelay,
    fleet: Fleet,
) -> DispatchService:
    return DispatchService(temporal, db, settings, task_queue=task_queue, options=options)


@pytest.fixture
async def status_api(fleet: Fleet) -> AsyncIterator[httpx.AsyncClient]:
    """The simulator's status API (fault injection), served in-process."""
    transport = httpx.ASGITransport(app=create_app(fleet))
    async with httpx.AsyncClient(transport=transport, base_url="http://edge-sim") as client:
        yield client


async def inject(api: httpx.AsyncClient, node: str, kind: FaultKind, count: int = 1) -> None:
    answer = await api.post(
        "/faults", json=Fault(node_id=node, kind=kind, count=count).model_dump()
    )
    assert answer.status_code == 200, answer.text


async def finished(temporal: Client, started: DispatchStarted) -> DispatchResult:
    handle = temporal.get_workflow_handle(started.workflow_id, result_type=DispatchResult)
    async with asyncio.timeout(90):
        result: DispatchResult = await handle.result()
    return result


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:12]
