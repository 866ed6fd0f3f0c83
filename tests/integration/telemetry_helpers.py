"""Helpers for the telemetry tests: node publishers, a live-channel listener, an ingester."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
from gmqtt import Client as MqttClient
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from vpp.bus.channels import RedisNames
from vpp.bus.credentials import node_ids, node_password
from vpp.bus.topics import NodeChannel, node_topic
from vpp.config import Settings
from vpp.ingest.consumer import Ingester
from vpp.ingest.metrics import IngestMetrics
from vpp.store.database import Database


def reading(node_id: str, seq: int, timestamp: datetime | None = None, **values: Any) -> bytes:
    body: dict[str, Any] = {
        "dc_id": node_id,
        "seq": seq,
        "timestamp": (timestamp or datetime.now(UTC)).isoformat(),
        "soc": 50.0,
        "power_kw": 1.0,
        "freq": 50.0,
    }
    body.update(values)
    return orjson.dumps(body)


class NodePublisher:
    """One node's MQTT connection, publishing under its own id with its own account."""

    def __init__(self, settings: Settings, node_id: str) -> None:
        self.settings = settings
        self.node_id = node_id
        self.client = MqttClient(f"test-{node_id}-{uuid.uuid4().hex[:6]}")
        self.client.set_auth_credentials(node_id, node_password(settings.mqtt, node_id))

    async def connect(self) -> None:
        await self.client.connect(self.settings.mqtt.host, self.settings.mqtt.port)

    def publish(self, payload: bytes, channel: NodeChannel = NodeChannel.TELEMETRY) -> None:
        topic = node_topic(self.settings.mqtt.topic_prefix, self.node_id, channel)
        self.client.publish(topic, payload, qos=1)

    async def disconnect(self) -> None:
        await self.client.disconnect()


@asynccontextmanager
async def publishers(settings: Settings, *node_ids: str) -> AsyncIterator[list[NodePublisher]]:
    nodes = [NodePublisher(settings, node_id) for node_id in node_ids]
    await asyncio.gather(*(node.connect() for node in nodes))
    try:
        yield nodes
    finally:
        await asyncio.gather(*(node.disconnect() for node in nodes))


class LiveListener:
    """Everything published on the live channel, as batches of readings."""

    def __init__(self, redis: Redis, names: RedisNames) -> None:
        self._pubsub = redis.pubsub()
        self._channel = names.telemetry_live
        self.batches: list[list[dict[str, Any]]] = []

    async def __aenter__(self) -> LiveListener:
        await self._pubsub.subscribe(self._channel)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._pubsub.unsubscribe(self._channel)
        await self._pubsub.aclose()  # type: ignore[no-untyped-call]

    @property
    def readings(self) -> list[dict[str, Any]]:
        return [r for batch in self.batches for r in batch]

    async def collect(self, count: int, timeout_s: float = 20.0) -> list[dict[str, Any]]:
        """Wait until `count` readings in all have arrived."""
        async with asyncio.timeout(timeout_s):
            while len(self.readings) < count:
                message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
                if message is not None:
                    self.batches.append(orjson.loads(message["data"]))
        return self.readings


def with_ingest(settings: Settings, **changes: Any) -> Settings:
    """The settings with a share group of its own (and other ingest changes)."""
    ingest = settings.ingest.model_copy(
        update={"share_group": f"test-{uuid.uuid4().hex[:8]}", **changes}
    )
    return settings.model_copy(update={"ingest": ingest})


@asynccontextmanager
async def running_ingester(
    settings: Settings,
    db: Database,
    redis: Redis,
    names: RedisNames,
    client_id: str | None = None,
    *,
    end_session: bool = True,
    stop_timeout_s: float = 5.0,
) -> AsyncIterator[Ingester]:
    ingester = Ingester(
        settings,
        db,
        redis,
        IngestMetrics(CollectorRegistry()),
        client_id=client_id or f"test-ingest-{uuid.uuid4().hex[:8]}",
        names=names,
        session_expiry_s=120,
    )
    await ingester.start()
    try:
        yield ingester
    finally:
        await ingester.stop(timeout_s=stop_timeout_s, end_session=end_session)


async def clear_retained_statuses(settings: Settings) -> None:
    """Other tests' simulated nodes leave retained online/offline statuses on the shared
    test broker, and an ingester's plain status subscription receives every one of them.
    Clear them, so a test counts only its own messages."""
    mqtt = settings.mqtt
    client = MqttClient(f"test-clear-{uuid.uuid4().hex[:8]}")
    client.set_auth_credentials(mqtt.service_username, mqtt.service_password.get_secret_value())
    synced = asyncio.Event()

    def on_subscribe(*_: Any) -> None:
        synced.set()

    client.on_subscribe = on_subscribe
    await client.connect(mqtt.host, mqtt.port)
    for node_id in node_ids(mqtt):
        client.publish(node_topic(mqtt.topic_prefix, node_id, NodeChannel.STATUS), b"", retain=True)
    # The broker handles one client's packets in order: once this SUBACK is back, every
    # clearing publish sent before it has been applied.
    client.subscribe(f"{mqtt.topic_prefix}/test-sync/{uuid.uuid4().hex}", qos=0)
    await asyncio.wait_for(synced.wait(), timeout=10)
    await client.disconnect()
