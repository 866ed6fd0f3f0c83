"""The MQTT session's bookkeeping against a stand-in for gmqtt's client: what counts as
sent, the in-flight window, a lost session, dropped acks, going offline. The real broker
is in tests/integration/test_edge_sim.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, ClassVar

import orjson
import pytest

from vpp.config import Settings
from vpp.edge_sim import session
from vpp.edge_sim.buffer import Reading
from vpp.edge_sim.session import MqttNodeLink
from vpp.models import Ack, AckStatus

NODE = "node-00001"
RECEIVE_MAXIMUM = 5  # the broker's; the session keeps 2 ids spare, so 3 in flight


class FakeClient:
    """Publishes into a list and stores QoS 1 packets in the session's storage, as gmqtt
    does; the test plays the broker (PUBACKs, a lost session)."""

    instances: ClassVar[list[FakeClient]] = []
    on_connect: Callable[[FakeClient, int, int, dict[str, Any]], None]

    def __init__(self, client_id: str, backoff: object, **kwargs: Any) -> None:
        self.client_id = client_id
        self.kwargs = kwargs
        self.storage = kwargs["persistent_storage"]
        self.published: list[tuple[int, str, bytes, bool]] = []
        self.subscribed: list[str] = []
        self.freed: list[int] = []
        self.is_connected = False
        self.disconnect_reason: int | None = None
        self.abandoned = False
        self._mid = 0
        self._package_handler = SimpleNamespace(
            id_generator=SimpleNamespace(free_id=self.freed.append)
        )
        FakeClient.instances.append(self)

    def set_auth_credentials(self, username: str, password: str) -> None:
        self.username = username

    async def connect(self, host: str, port: int, keepalive: int = 60) -> None:
        self.is_connected = True
        self.on_connect(self, 0, 0, {"receive_maximum": [RECEIVE_MAXIMUM]})

    async def disconnect(self, reason_code: int = 0) -> None:
        self.is_connected = False
        self.disconnect_reason = reason_code

    def subscribe(self, topic: str, qos: int = 0) -> None:
        self.subscribed.append(topic)

    def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> None:
        self._mid += 1
        self.published.append((self._mid, topic, payload, retain))
        if qos:
            self.storage.push_message(self._mid, b"packet")

    def puback(self, mid: int) -> None:
        self.storage.remove_message_by_mid(mid)

    def in_flight(self) -> list[int]:
        return [mid for mid, _ in self.storage.get_all()]


@pytest.fixture
async def link(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[MqttNodeLink]:
    FakeClient.instances = []
    monkeypatch.setattr(session, "_Client", FakeClient)
    commands: list[bytes] = []
    link = MqttNodeLink(NODE, settings.mqtt, buffer_size=100, on_command=commands.append)
    link.commands = commands  # type: ignore[attr-defined]
    yield link
    await link.stop()


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def reading(seq: int) -> Reading:
    return Reading(seq, orjson.dumps({"seq": seq}))


def telemetry_seqs(client: FakeClient) -> list[int]:
    return [orjson.loads(p)["seq"] for _, t, p, _ in client.published if t.endswith("/telemetry")]


async def connected(link: MqttNodeLink) -> FakeClient:
    link.start()
    await settle()
    assert link.connected
    return FakeClient.instances[-1]


async def test_a_reading_counts_as_sent_only_when_its_puback_arrives(link: MqttNodeLink) -> None:
    for seq in range(6):
        link.submit(reading(seq))
    client = await connected(link)
    assert client.username == NODE
    assert client.kwargs["will_message"].retain
    # Status first, then readings up to the window of 3 packets in flight.
    assert client.published[0][1:] == (f"vpp/v1/nodes/{NODE}/status", b"online", True)
    assert telemetry_seqs(client) == [0, 1]
    assert link.stats.sent == 0
    client.puback(1)  # the status
    client.puback(2)  # reading 0
    await settle()
    assert link.stats.sent == 1
    assert telemetry_seqs(client) == [0, 1, 2, 3]
    assert len(client.in_flight()) == 3
    for mid in client.in_flight():
        client.puback(mid)
    await settle()
    for mid in client.in_flight():
        client.puback(mid)
    await settle()
    assert telemetry_seqs(client) == list(range(6))
    assert (link.stats.sent, link.pending) == (6, 0)
    assert await link.drain(0.1)


async def test_in_flight_readings_of_a_lost_session_are_sent_again_in_order(
    link: MqttNodeLink,
) -> None:
    for seq in range(4):
        link.submit(reading(seq))
    client = await connected(link)
    in_flight = client.in_flight()
    assert telemetry_seqs(client) == [0, 1]
    # The broker came back without our session: gmqtt clears its store (and not its ids).
    client.storage.clear()
    assert sorted(client.freed) == sorted(in_flight)
    assert link.stats.resent == 2
    await settle()
    assert telemetry_seqs(client)[2:] == [0, 1, 2]
    for _ in range(3):
        for mid in client.in_flight():
            client.puback(mid)
        await settle()
    assert (link.stats.sent, link.pending) == (4, 0)


async def test_the_next_acks_can_be_dropped(link: MqttNodeLink) -> None:
    client = await connected(link)
    link.drop_next_acks(2)
    for i in range(3):
        link.send_ack(Ack(command_id=f"c{i}", status=AckStatus.ACCEPTED, at=datetime.now(UTC)))
    await settle()
    acks = [orjson.loads(p) for _, t, p, _ in client.published if t.endswith("/ack")]
    assert [a["command_id"] for a in acks] == ["c2"]
    assert link.stats.acks_dropped == 2


async def test_offline_leaves_with_the_will_and_buffers_until_back(link: MqttNodeLink) -> None:
    first = await connected(link)
    link.set_online(False)
    await settle()
    assert not link.connected
    assert first.disconnect_reason == 4  # the broker publishes the "offline" will
    link.submit(reading(0))
    link.submit(reading(1))
    await settle()
    assert telemetry_seqs(first) == []
    link.set_online(True)
    await settle()
    second = FakeClient.instances[-1]
    assert second is not first
    assert second.kwargs["clean_session"] is False  # resume the session the broker kept
    assert telemetry_seqs(second) == [0, 1]


async def test_commands_reach_the_node_and_are_acknowledged_after(link: MqttNodeLink) -> None:
    client = await connected(link)
    assert client.subscribed == [f"vpp/v1/nodes/{NODE}/cmd"]
    assert client.kwargs["optimistic_acknowledgement"] is False
    gmqtt_client: Any = client  # the stand-in, where the session expects gmqtt's
    assert await link._on_message(gmqtt_client, f"vpp/v1/nodes/{NODE}/cmd", b"{}", 1, {}) == 0
    assert await link._on_message(gmqtt_client, "vpp/v1/other", b"x", 1, {}) == 0
    assert link.commands == [b"{}"]  # type: ignore[attr-defined]
