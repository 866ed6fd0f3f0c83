"""Local subscribers by key (a dispatch id, a series id), each with a queue that keeps the
newest items: a subscriber that falls behind loses the oldest, never blocks the feed.
Dispatch progress and forecasts carry state, so the newest says enough."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class NewestQueue(Generic[T]):
    """A bounded queue that drops its oldest item to take a new one."""

    def __init__(self, maxsize: int) -> None:
        self._queue: asyncio.Queue[T] = asyncio.Queue(maxsize)

    def put(self, item: T) -> None:
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(item)

    async def get(self) -> T:
        return await self._queue.get()


class KeyedSubscribers(Generic[T]):
    def __init__(self, queue_size: int) -> None:
        self._queue_size = queue_size
        self._queues: dict[str, set[NewestQueue[T]]] = {}

    def __contains__(self, key: str) -> bool:
        return key in self._queues

    def __bool__(self) -> bool:
        return bool(self._queues)

    def __len__(self) -> int:
        """Subscribers, over every key."""
        return sum(len(queues) for queues in self._queues.values())

    @contextlib.contextmanager
    def subscribe(self, key: str) -> Iterator[NewestQueue[T]]:
        queue: NewestQueue[T] = NewestQueue(self._queue_size)
        self._queues.setdefault(key, set()).add(queue)
        try:
            yield queue
        finally:
            queues = self._queues.get(key)
            if queues is not None:
                queues.discard(queue)
                if not queues:
                    del self._queues[key]

    def put(self, key: str, item: T) -> None:
        """`item` to every subscriber of `key` (none: dropped)."""
        for queue in list(self._queues.get(key, ())):
            queue.put(item)
