"""Live progress of a dispatch over Redis pub/sub: one channel per dispatch.

Channel: `vpp:dispatch:<dispatch_id>:progress`; each message is a `DispatchProgress` as
JSON. Shards publish their node changes (with the shard's counts); the parent publishes
the dispatch's status. Messages carry state, not increments, so a repeated one (an
activity that ran twice) changes nothing for a subscriber. Pub/sub keeps nothing: a
subscriber that joins late reads the current state with `DispatchService.get_dispatch`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from redis.asyncio import Redis

from vpp.bus.channels import DEFAULT_PREFIX
from vpp.dispatch.models import DispatchProgress


def progress_channel(dispatch_id: str, prefix: str = DEFAULT_PREFIX) -> str:
    return f"{prefix}:dispatch:{dispatch_id}:progress"


class RedisProgressSink:
    def __init__(self, redis: Redis, prefix: str = DEFAULT_PREFIX) -> None:
        self._redis = redis
        self._prefix = prefix

    async def publish(self, progress: DispatchProgress) -> None:
        await self._redis.publish(
            progress_channel(progress.dispatch_id, self._prefix), progress.model_dump_json()
        )


@contextlib.asynccontextmanager
async def progress_subscription(
    redis: Redis, dispatch_id: str, prefix: str = DEFAULT_PREFIX
) -> AsyncIterator[AsyncIterator[DispatchProgress]]:
    """Subscribe to one dispatch's progress; inside the block, iterate its messages.

    Subscribed on entry, so a caller can subscribe, then read the current state (or start
    the dispatch), then iterate, and miss nothing in between."""
    pubsub = redis.pubsub()
    await pubsub.subscribe(progress_channel(dispatch_id, prefix))

    async def messages() -> AsyncIterator[DispatchProgress]:
        async for message in pubsub.listen():
            if message.get("type") == "message":
                yield DispatchProgress.model_validate_json(message["data"])

    try:
        yield messages()
    finally:
        await pubsub.unsubscribe()
        await pubsub.aclose()  # type: ignore[no-untyped-call]
