from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from gmqtt import Client as MqttClient

from vpp.bus.credentials import node_password
from vpp.bus.topics import NodeChannel, fleet_filter, node_topic
from vpp.config import Settings
from vpp.stack.probes import mqtt_connects


async def _connect(settings: Settings, username: str, password: str) -> MqttClient:
    client = MqttClient(f"test-{uuid.uuid4().hex[:8]}")
    client.set_auth_credentials(username, password)
    await client.connect(settings.mqtt.host, settings.mqtt.port)
    return client


@pytest.fixture
async def received(settings: Settings) -> AsyncIterator[asyncio.Queue[tuple[str, bytes]]]:
    """Everything the service account sees on the fleet's telemetry topics."""
    queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    subscribed = asyncio.Event()
    service = await _connect(
        settings, settings.mqtt.service_username, settings.mqtt.service_password.get_secret_value()
    )

    def on_message(client: Any, topic: str, payload: bytes, qos: int, props: Any) -> int:
        queue.put_nowait((topic, payload))
        return 0

    def on_subscribe(client: Any, mid: int, qos: Any, props: Any) -> None:
        subscribed.set()

    service.on_message = on_message
    service.on_subscribe = on_subscribe
    service.subscribe(fleet_filter(settings.mqtt.topic_prefix, NodeChannel.TELEMETRY), qos=1)
    await asyncio.wait_for(subscribed.wait(), timeout=5)
    yield queue
    await service.disconnect()


async def test_node_publishes_only_under_its_own_id(
    settings: Settings, received: asyncio.Queue[tuple[str, bytes]]
) -> None:
    prefix = settings.mqtt.topic_prefix
    node = await _connect(settings, "node-00001", node_password(settings.mqtt, "node-00001"))
    # Denied first, allowed second: the broker keeps one client's order, so once the
    # allowed message arrives the denied one would already have arrived had it passed.
    node.publish(node_topic(prefix, "node-00002", NodeChannel.TELEMETRY), b"forged", qos=1)
    node.publish(node_topic(prefix, "node-00001", NodeChannel.TELEMETRY), b"own", qos=1)
    topic, payload = await asyncio.wait_for(received.get(), timeout=5)
    assert (topic, payload) == (node_topic(prefix, "node-00001", NodeChannel.TELEMETRY), b"own")
    assert received.empty()
    await node.disconnect()


async def test_broker_refuses_wrong_or_missing_credentials(settings: Settings) -> None:
    host, port = settings.mqtt.host, settings.mqtt.port
    assert await mqtt_connects(host, port, "node-00001", node_password(settings.mqtt, "node-00001"))
    assert not await mqtt_connects(host, port, "node-00001", "wrong-password")
    assert not await mqtt_connects(host, port, "node-99999", "anything")
    assert not await mqtt_connects(host, port, "", "")
