from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from vpp.config import Settings


async def test_pubsub_delivers(settings: Settings) -> None:
    redis = Redis.from_url(settings.redis.url)
    pubsub = redis.pubsub()
    await pubsub.subscribe("test:telemetry")
    # The subscription confirmation comes first; after it, published messages arrive.
    confirm = await pubsub.get_message(timeout=5)
    assert confirm is not None
    assert confirm["type"] == "subscribe"
    receivers = await redis.publish("test:telemetry", b'{"node_id": "node-00001"}')
    assert receivers == 1
    message = await asyncio.wait_for(
        pubsub.get_message(ignore_subscribe_messages=True, timeout=5), timeout=6
    )
    assert message is not None
    assert message["data"] == b'{"node_id": "node-00001"}'
    await pubsub.aclose()  # type: ignore[no-untyped-call]
    await redis.aclose()
