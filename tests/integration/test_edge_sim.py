"""The edge simulator against the session's real Mosquitto: telemetry with consecutive seq,
commands applied and acked once, and no reading lost across a broker restart."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from gmqtt import Client as MqttClient

from vpp.bus.credentials import node_ids
from vpp.bus.topics import NodeChannel, fleet_filter, node_topic
from vpp.config import Settings
from vpp.edge_sim.command import serve
from vpp.edge_sim.fleet import Fleet
from vpp.models import Ack, AckStatus, NodeKind, Telemetry
from vpp.stack import Stack


class Subscriber:
    """The service account on every node's telemetry and ack topics, with a persistent
    session (QoS 1, kept by the broker across a restart), acknowledging each message only
    after it is recorded."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.seqs: dict[str, list[int]] = defaultdict(list)
        self.acks: dict[str, list[Ack]] = defaultdict(list)
        self.status: dict[str, list[str]] = defaultdict(list)
        self._changed = asyncio.Event()
        # Clean start off even on the first connect, with a fresh client id: Mosquitto
        # 2.0.11 does not restore after a restart a session whose CONNECT had clean start.
        self.client = MqttClient(
            f"test-edge-sim-{uuid.uuid4().hex[:8]}",
            clean_session=False,
            optimistic_acknowledgement=False,
            session_expiry_interval=300,
        )
        self.client.set_auth_credentials(
            settings.mqtt.service_username, settings.mqtt.service_password.get_secret_value()
        )
        self.client.on_message = self._on_message
        self.client.reconnect_delay = 0.5

    async def _on_message(
        self, client: Any, topic: str, payload: bytes, qos: int, props: Any
    ) -> int:
        node_id, channel = topic.split("/")[-2:]
        if channel == NodeChannel.TELEMETRY:
            self.seqs[node_id].append(Telemetry.model_validate_json(payload).seq)
        elif channel == NodeChannel.ACK:
            self.acks[node_id].append(Ack.model_validate_json(payload))
        elif channel == NodeChannel.STATUS:
            self.status[node_id].append(payload.decode())
        self._changed.set()
        return 0

    async def connect(self) -> None:
        subscribed = asyncio.Event()
        self.client.on_subscribe = lambda *args: subscribed.set()
        await self.client.connect(self.settings.mqtt.host, self.settings.mqtt.port)
        prefix = self.settings.mqtt.topic_prefix
        self.client.subscribe(fleet_filter(prefix, NodeChannel.TELEMETRY), qos=1)
        self.client.subscribe(fleet_filter(prefix, NodeChannel.ACK), qos=1)
        self.client.subscribe(fleet_filter(prefix, NodeChannel.STATUS), qos=1)
        await asyncio.wait_for(subscribed.wait(), timeout=5)

    async def close(self) -> None:
        # Expire the session now rather than let the broker queue for it after the test.
        await self.client.disconnect(session_expiry_interval=0)

    async def wait_until(self, condition: Callable[[], bool], timeout_s: float = 20.0) -> None:
        """Wake on every message until `condition` holds."""
        async with asyncio.timeout(timeout_s):
            while not condition():
                await self._changed.wait()
                self._changed.clear()

    def distinct(self, node_id: str) -> set[int]:
        return set(self.seqs[node_id])


@pytest.fixture
async def subscriber(settings: Settings) -> AsyncIterator[Subscriber]:
    subscriber = Subscriber(settings)
    await subscriber.connect()
    yield subscriber
    await subscriber.close()


@asynccontextmanager
async def running_fleet(settings: Settings, **edge_sim: Any) -> AsyncIterator[Fleet]:
    sim = settings.edge_sim.model_copy(update=edge_sim)
    fleet = Fleet(settings.model_copy(update={"edge_sim": sim}))
    assert set(fleet.node_ids) <= set(node_ids(settings.mqtt))
    fleet.start()
    try:
        yield fleet
    finally:
        await fleet.stop(drain_timeout_s=10)


def received_everything(subscriber: Subscriber, fleet: Fleet) -> Callable[[], bool]:
    def check() -> bool:
        return all(
            subscriber.distinct(node_id) >= set(range(fleet.node(node_id).seq))
            for node_id in fleet.node_ids
        )

    return check


def assert_complete(subscriber: Subscriber, fleet: Fleet) -> None:
    """Every reading taken arrived (no gap in seq), and what a node counts as sent (its
    PUBACKs) equals what arrived, counted by distinct (node, seq)."""
    for node_id in fleet.node_ids:
        taken = fleet.node(node_id).seq
        assert subscriber.distinct(node_id) == set(range(taken)), node_id
        state = fleet.state(node_id)
        assert (state.sent, state.dropped, state.pending) == (taken, 0, 0), state


def command(node_id: str, command_id: str, action: str, kw: float, duration_s: int) -> bytes:
    return orjson.dumps(
        {
            "command_id": command_id,
            "dispatch_id": f"dispatch-{command_id}",
            "action": action,
            "params": {"kw": kw, "duration_s": duration_s},
            "expires_at": (datetime.now(UTC) + timedelta(minutes=5)).isoformat(),
        }
    )


def send(subscriber: Subscriber, node_id: str, payload: bytes) -> None:
    topic = node_topic(subscriber.settings.mqtt.topic_prefix, node_id, NodeChannel.CMD)
    subscriber.client.publish(topic, payload, qos=1)


def statuses(subscriber: Subscriber, node_id: str, command_id: str) -> list[AckStatus]:
    return [a.status for a in subscriber.acks[node_id] if a.command_id == command_id]


async def test_nodes_publish_consecutive_readings(
    settings: Settings, subscriber: Subscriber
) -> None:
    async with running_fleet(settings, nodes=40, first_node=1001, interval_s=0.1) as fleet:
        await subscriber.wait_until(
            lambda: all(len(subscriber.seqs[n]) >= 10 for n in fleet.node_ids)
        )
    await subscriber.wait_until(received_everything(subscriber, fleet))
    assert_complete(subscriber, fleet)
    for node_id in fleet.node_ids:
        seqs = subscriber.seqs[node_id]
        assert seqs == sorted(seqs), f"{node_id} out of order"
        assert len(seqs) == len(set(seqs)), f"{node_id} duplicated readings with no outage"


async def test_a_command_is_applied_within_limits_and_acked(
    settings: Settings, subscriber: Subscriber
) -> None:
    # 60x: a 60 s command completes after a second of wall time.
    async with running_fleet(
        settings, nodes=2, first_node=1101, interval_s=0.2, speed=60.0
    ) as fleet:
        dc, home = fleet.node_ids
        assert (fleet.node(dc).kind, fleet.node(home).kind) == (NodeKind.EDGE_DC, NodeKind.HOME_DER)
        await subscriber.wait_until(lambda: all(fleet.link(n).connected for n in fleet.node_ids))
        energy_before = fleet.node(dc).battery.energy_kwh
        send(subscriber, dc, command(dc, "charge-1", "charge", kw=50.0, duration_s=60))
        send(subscriber, dc, command(dc, "too-much", "discharge", kw=150.0, duration_s=60))
        send(subscriber, home, command(home, "defer-1", "defer_load", kw=1.0, duration_s=60))
        await subscriber.wait_until(
            lambda: AckStatus.COMPLETED in statuses(subscriber, dc, "charge-1")
        )
        await subscriber.wait_until(lambda: bool(statuses(subscriber, home, "defer-1")))
        acks = {a.command_id: a for a in subscriber.acks[dc]}
        assert statuses(subscriber, dc, "charge-1") == [AckStatus.ACCEPTED, AckStatus.COMPLETED]
        assert acks["charge-1"].applied_kw == pytest.approx(50.0, rel=0.01)
        # 50 kW for 60 s of simulated time, less the charging loss, went into the battery
        # (the DC's own reserve charging may add a little after the command ends).
        stored = fleet.node(dc).battery.energy_kwh - energy_before
        assert stored >= 50.0 / 60.0 * 0.95 - 1e-6
        assert statuses(subscriber, dc, "too-much") == [AckStatus.REJECTED]
        assert (acks["too-much"].reason or "").startswith("kw_over_capacity")
        home_ack = subscriber.acks[home][-1]
        assert (home_ack.status, (home_ack.reason or "").split(":")[0]) == (
            AckStatus.REJECTED,
            "unsupported",
        )
        assert fleet.node(dc).applied_commands == 1
        assert fleet.node(home).applied_commands == 0


async def test_a_command_sent_twice_is_applied_once_and_acked_twice(
    settings: Settings, subscriber: Subscriber
) -> None:
    async with running_fleet(
        settings, nodes=1, first_node=1201, interval_s=0.2, speed=60.0
    ) as fleet:
        (node_id,) = fleet.node_ids
        await subscriber.wait_until(lambda: fleet.link(node_id).connected)
        payload = command(node_id, "twice", "discharge", kw=20.0, duration_s=60)
        send(subscriber, node_id, payload)
        send(subscriber, node_id, payload)
        await subscriber.wait_until(
            lambda: AckStatus.COMPLETED in statuses(subscriber, node_id, "twice")
        )
        assert statuses(subscriber, node_id, "twice") == [
            AckStatus.ACCEPTED,
            AckStatus.ACCEPTED,
            AckStatus.COMPLETED,
        ]
        # Sent again after it finished: the final answer again, still applied once.
        send(subscriber, node_id, payload)
        await subscriber.wait_until(lambda: len(statuses(subscriber, node_id, "twice")) == 4)
        assert statuses(subscriber, node_id, "twice")[-1] is AckStatus.COMPLETED
        assert fleet.node(node_id).applied_commands == 1


async def test_a_broker_restart_loses_no_reading(
    settings: Settings, subscriber: Subscriber
) -> None:
    stack = Stack(settings, only=["mqtt"])
    try:
        async with running_fleet(settings, nodes=30, first_node=1301, interval_s=0.05) as fleet:
            await subscriber.wait_until(
                lambda: all(len(subscriber.seqs[n]) >= 5 for n in fleet.node_ids)
            )
            await asyncio.to_thread(stack.down)
            # While the broker is away, every node keeps taking readings into its buffer.
            # Nothing signals a reading buffered, so this polls, bounded.
            async with asyncio.timeout(20):
                while min(len(fleet.link(n).buffer) for n in fleet.node_ids) < 10:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            taken_during_outage = {n: fleet.node(n).seq for n in fleet.node_ids}
            await stack.up()
            await subscriber.wait_until(
                lambda: all(
                    max(subscriber.seqs[n], default=-1) >= taken_during_outage[n] + 5
                    for n in fleet.node_ids
                ),
                timeout_s=60,
            )
        await subscriber.wait_until(received_everything(subscriber, fleet))
        assert_complete(subscriber, fleet)
    finally:
        await stack.up()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_the_status_api_takes_a_node_offline_and_back(
    settings: Settings, subscriber: Subscriber
) -> None:
    """The simulator process as `vpp edge-sim` runs it: its status API lists the nodes, and
    a node taken offline publishes its will, buffers, and on return sends what it kept."""
    port = free_port()
    sim = settings.edge_sim.model_copy(
        update={"nodes": 2, "first_node": 1401, "interval_s": 0.05, "status_port": port}
    )
    stop = asyncio.Event()
    process = asyncio.create_task(serve(settings.model_copy(update={"edge_sim": sim}), stop))
    node_id = "node-01401"
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as api:
            await subscriber.wait_until(lambda: len(subscriber.seqs[node_id]) >= 3)
            nodes = (await api.get("/nodes")).json()
            assert [n["node_id"] for n in nodes] == ["node-01401", "node-01402"]
            seen = len(subscriber.status[node_id])
            answer = await api.post("/faults", json={"node_id": node_id, "kind": "offline"})
            assert answer.status_code == 200
            await subscriber.wait_until(lambda: "offline" in subscriber.status[node_id][seen:])
            # Readings pile up in the node's buffer while it is away (polled: no event).
            async with asyncio.timeout(10):
                while (await api.get(f"/nodes/{node_id}")).json()["buffered"] < 10:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            seen = len(subscriber.status[node_id])
            await api.post("/faults", json={"node_id": node_id, "kind": "online"})
            await subscriber.wait_until(lambda: "online" in subscriber.status[node_id][seen:])
            state = (await api.get(f"/nodes/{node_id}")).json()
            assert state["connected"]
            # Everything taken before, during and after the outage arrives.
            taken = set(range(state["next_seq"]))
            await subscriber.wait_until(lambda: subscriber.distinct(node_id) >= taken)
        stop.set()
        await asyncio.wait_for(process, timeout=30)
        # On leaving, the broker publishes the node's will.
        await subscriber.wait_until(lambda: subscriber.status[node_id][-1:] == ["offline"])
        assert subscriber.distinct(node_id) == set(range(max(subscriber.seqs[node_id]) + 1))
    finally:
        stop.set()
        await asyncio.gather(process, return_exceptions=True)
