"""The live telemetry channel fanned out to every local subscriber (a GraphQL
subscription, the alert monitor) through its own bounded queue.

The process's one Redis subscription (`RedisListener`) hands each message here. Each
message (one stored batch: a JSON list of readings) is parsed once, only when someone
listens, and shared read-only by every subscriber. A subscriber too slow to keep up
loses its oldest batches (counted in `vpp_api_live_dropped`), never blocks the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import orjson
from pydantic import ValidationError

from vpp.api.metrics import ApiMetrics
from vpp.store.documents import TelemetryRecord

log = logging.getLogger(__name__)


class LiveBatch:
    """The readings of one stored batch, as the ingester published them (read-only,
    shared by every subscriber); `records()` validates them once for all of them."""

    __slots__ = ("_records", "node_ids", "readings")

    def __init__(self, readings: list[dict[str, Any]]) -> None:
        self.readings = readings
        self.node_ids = frozenset(str(r["dc_id"]) for r in readings)
        self._records: list[TelemetryRecord] | None = None

    def records(self) -> list[TelemetryRecord]:
        if self._records is None:
            records = []
            for reading in self.readings:
                try:
                    records.append(TelemetryRecord.model_validate(reading))
                except ValidationError as exc:
                    log.warning("live reading of %s skipped: %s", reading.get("dc_id"), exc)
            self._records = records
        return self._records


class Subscriber:
    """One listener's queue of batches."""

    def __init__(self, maxsize: int, metrics: ApiMetrics) -> None:
        self._queue: asyncio.Queue[LiveBatch] = asyncio.Queue(maxsize)
        self._metrics = metrics

    def put(self, batch: LiveBatch) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self._metrics.live_dropped.inc()
        self._queue.put_nowait(batch)

    async def get(self) -> LiveBatch:
        return await self._queue.get()

    def __aiter__(self) -> AsyncIterator[LiveBatch]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[LiveBatch]:
        while True:
            yield await self._queue.get()


class Broadcaster:
    """The telemetry channel's local fan-out (fed by the process's `RedisListener`)."""

    def __init__(self, channel: str, metrics: ApiMetrics, *, queue_size: int = 256) -> None:
        self.channel = channel
        self._metrics = metrics
        self._queue_size = queue_size
        self._subscribers: set[Subscriber] = set()
        self._changed = asyncio.Condition()

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[Subscriber]:
        subscriber = Subscriber(self._queue_size, self._metrics)
        self._subscribers.add(subscriber)
        self._notify()
        try:
            yield subscriber
        finally:
            self._subscribers.discard(subscriber)
            self._notify()

    async def wait_for_subscribers(self, count: int) -> None:
        """Until at least `count` local subscribers listen (tests, benchmarks)."""
        await self.wait_for_count(lambda n: n >= count)

    async def wait_for_count(self, predicate: Callable[[int], bool]) -> None:
        """Until the number of local subscribers satisfies `predicate`."""
        async with self._changed:
            await self._changed.wait_for(lambda: predicate(len(self._subscribers)))

    def _notify(self) -> None:
        async def notify() -> None:
            async with self._changed:
                self._changed.notify_all()

        with contextlib.suppress(RuntimeError):  # no running loop: nobody can be waiting
            asyncio.get_running_loop().create_task(notify())

    def on_message(self, channel: str, data: bytes) -> None:
        """The listener's handler: one message of the live channel."""
        self.publish_local(data)

    def publish_local(self, data: bytes) -> None:
        """Fan one raw message (a JSON list of readings) out to the local subscribers."""
        self._metrics.live_messages.inc()
        if not self._subscribers:
            return
        try:
            readings = orjson.loads(data)
        except orjson.JSONDecodeError:
            log.warning("live channel %s: a message that is not JSON, skipped", self.channel)
            return
        if not isinstance(readings, list):
            readings = [readings]
        readings = [r for r in readings if isinstance(r, dict) and "dc_id" in r]
        if not readings:
            return
        batch = LiveBatch(readings)
        for subscriber in list(self._subscribers):
            subscriber.put(batch)
