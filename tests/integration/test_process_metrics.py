"""`/metrics` of the API, an ingester, a simulator and an ack relay after real traffic:
the ingester, simulator and relay run as the processes `vpp platform up` starts
(`python -m vpp ...`), the API as the session's served app. Each scrape goes through
prometheus_client's text parser and must carry the series the dashboards and alerts use.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
import pytest
from gmqtt import Client as MqttClient

from tests.conftest import ROOT
from tests.integration.api_support import Tokens
from tests.integration.metrics_support import Scrape, scrape
from tests.integration.telemetry_helpers import publishers
from vpp.bus.topics import NodeChannel
from vpp.config import Settings
from vpp.store.database import init_store, mongo_client
from vpp.store.nodes import register_nodes, seed_node_specs

pytestmark = pytest.mark.slow

# A node range no other test module uses.
FIRST_NODE = 1701
NODES = 5


def node_id(n: int) -> str:
    return f"node-{n:05d}"


START_TIMEOUT_S = 60


@asynccontextmanager
async def vpp_process(env: dict[str, str], *args: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python -m vpp <args>`, stopped by SIGTERM as `vpp platform down` stops it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "vpp",
        *args,
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 30)


async def until_scrape(
    url: str, ready: Callable[[Scrape], bool], what: str, process: asyncio.subprocess.Process
) -> Scrape:
    """Scrape until `ready` holds: a process reports by its counters, so poll, bounded."""
    deadline = time.monotonic() + START_TIMEOUT_S
    last: Scrape | None = None
    while time.monotonic() < deadline:
        assert process.returncode is None, f"the process behind {url} exited"
        try:
            last = await scrape(url)
            if ready(last):
                return last
        except (httpx.HTTPError, AssertionError):
            pass
        await asyncio.sleep(0.25)
    pytest.fail(f"timed out waiting for {what} at {url}; last scrape: {last and last.names()}")


def has(
    name: str, labels: dict[str, str] | None = None, above: float = 0
) -> Callable[[Scrape], bool]:
    def check(s: Scrape) -> bool:
        try:
            return s.value(name, labels) > above
        except AssertionError:
            return False

    return check


async def end_mqtt_session(settings: Settings, client_id: str) -> None:
    """Drop a persistent session the ingester left, so it queues nothing for later tests."""
    client = MqttClient(client_id, clean_session=True, session_expiry_interval=0)
    mqtt = settings.mqtt
    client.set_auth_credentials(mqtt.service_username, mqtt.service_password.get_secret_value())
    await client.connect(mqtt.host, mqtt.port)
    await client.disconnect()


@pytest.fixture(scope="module")
async def database(settings: Settings) -> AsyncIterator[str]:
    name = f"vpp_test_metrics_{uuid.uuid4().hex[:8]}"
    client = mongo_client(settings.mongo)
    db = client[name]
    await init_store(db, settings.mongo)
    specs = seed_node_specs(settings.mqtt, FIRST_NODE + NODES - 1)[FIRST_NODE - 1 :]
    await register_nodes(db, specs)
    yield name
    await client.drop_database(name)
    await client.close()


async def test_ingest_and_simulator_metrics_after_telemetry(
    settings: Settings, database: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    env = {"VPP_MONGO__DATABASE": database, "VPP_INGEST__SHARE_GROUP": f"metrics-{tag}"}
    ingest_url = f"http://127.0.0.1:{settings.ingest.metrics_port}/metrics"
    sim_url = f"http://127.0.0.1:{settings.edge_sim.status_port}/metrics"
    sim_args = ("--nodes", str(NODES), "--first-node", str(FIRST_NODE), "--interval", "0.2")
    try:
        async with vpp_process(env, "ingest", "--instance", f"metrics-{tag}") as ingest:
            await until_scrape(
                ingest_url, has("vpp_ingest_mqtt_connected"), "the MQTT session", ingest
            )
            async with vpp_process(env, "edge-sim", *sim_args) as sim:
                stored = await until_scrape(
                    ingest_url,
                    has("vpp_ingest_readings_stored_total", above=20),
                    "20 readings",
                    ingest,
                )
                simulated = await until_scrape(
                    sim_url,
                    has("vpp_edge_sim_messages_published_total", above=20),
                    "20 publishes",
                    sim,
                )
    finally:
        await end_mqtt_session(settings, f"vpp-ingest-metrics-{tag}")

    assert stored.value("vpp_ingest_messages_received_total") >= 20
    assert stored.value("vpp_ingest_messages_acknowledged_total") >= 20
    assert stored.value("vpp_ingest_batches_total") >= 1
    assert stored.value("vpp_ingest_batch_size_count") == stored.value("vpp_ingest_batches_total")
    assert stored.value("vpp_ingest_batch_size_sum") == stored.value(
        "vpp_ingest_readings_stored_total"
    )
    assert stored.value("vpp_ingest_flush_seconds_count") >= 1
    assert stored.value("vpp_ingest_mqtt_connected") == 1
    assert stored.value("vpp_ingest_dead_letters_total", {"reason": "bad_json"}) == 0
    assert stored.value("vpp_ingest_store_errors_total", {"collection": "telemetry"}) == 0
    assert stored.value("vpp_ingest_redis_errors_total") == 0
    assert "vpp_ingest_buffered" in stored.names()

    assert simulated.value("vpp_edge_sim_nodes") == NODES
    assert simulated.value("vpp_edge_sim_nodes_connected") == NODES
    assert simulated.value("vpp_edge_sim_buffer_dropped_total") == 0
    for name in ("vpp_edge_sim_buffered", "vpp_edge_sim_commands_applied_total"):
        assert name in simulated.names()


async def test_ack_relay_counts_what_it_reads(settings: Settings) -> None:
    tag = uuid.uuid4().hex[:8]
    env = {
        "VPP_DISPATCH__ACK_SHARE_GROUP": f"metrics-{tag}",
        "VPP_DISPATCH__ACK_SESSION_EXPIRY_S": "0",
    }
    url = f"http://127.0.0.1:{settings.metrics.ack_relay_port}/metrics"
    async with vpp_process(env, "ack-relay", "--instance", f"metrics-{tag}") as relay:
        await until_scrape(url, has("vpp_ack_relay_acks_received_total", above=-1), "it", relay)
        # A node's ack that is not an ack: read, counted invalid, dropped.
        async with publishers(settings, node_id(FIRST_NODE)) as (node,):
            await asyncio.sleep(0.5)  # the relay's subscription is up before it serves
            node.publish(b"not an ack", NodeChannel.ACK)
            relayed = await until_scrape(
                url, has("vpp_ack_relay_acks_invalid_total"), "the invalid ack", relay
            )
    assert relayed.value("vpp_ack_relay_acks_received_total") == 1
    assert relayed.value("vpp_ack_relay_acks_forwarded_total") == 0
    assert relayed.value("vpp_ack_relay_signals_total") == 0
    assert relayed.value("vpp_ack_relay_signal_errors_total") == 0


async def test_api_metrics_time_graphql_operations(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    headers = await tokens.headers("viewer")
    for _ in range(3):
        answer = await client.post(
            "/graphql", json={"query": "{ aggregate { nodeCount } }"}, headers=headers
        )
        assert answer.status_code == 200, answer.text
    metrics = Scrape((await client.get("/metrics")).text)
    assert (
        metrics.value("vpp_api_graphql_operations_total", {"type": "query", "outcome": "ok"}) >= 3
    )
    assert metrics.value("vpp_api_graphql_operation_seconds_count", {"type": "query"}) >= 3
    assert metrics.value("vpp_api_requests_total", {"route": "/graphql", "status": "200"}) >= 3
    assert "vpp_api_websocket_connections" in metrics.names()
    # The fleet gauges, read from the aggregate at scrape time.
    assert metrics.value("vpp_fleet_aggregate_up") == 1
    assert metrics.value("vpp_fleet_nodes") >= metrics.value("vpp_fleet_nodes_online") >= 0
