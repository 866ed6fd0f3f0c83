"""The flush function of the telemetry batcher: MongoDB first, then Redis.

1. Raw `insert_many(ordered=False)` of the batch (FACTS.md: raw batches of 500, one at a
   time, are the store's fastest path). A duplicate-key error on the (dc_id, timestamp)
   key marks that reading a duplicate if the reading stored under the key has its seq;
   the others are stored all the same. On a retry after a failed attempt, a duplicate key
   means the failed attempt had stored it, so it counts as stored: a reading lands
   exactly once even if the store fails mid-batch. Under another seq the key is held by
   a different reading (a node stamping two readings alike): a conflict, not stored.
   Any other error (store unreachable...) raises, and the batcher retries the batch.
2. With a `SilenceLog`, the silences the batch ends are logged (`vpp.store.status_log`):
   one Redis read of when the nodes were last heard of, and a MongoDB insert when there
   are any. Then one pipelined Redis round trip: the latest state of the batch's nodes and one
   live message (a JSON list of the stored readings). With `publish_in_background` (the
   ingester) it runs beside the next batch's insert, in batch order: the store is the
   bottleneck and should not wait for Redis; otherwise `write` returns after it. A Redis
   failure is logged and counted, not retried: the readings are durable in MongoDB, the
   next batch refreshes the state. A failure to log the silences leaves Redis as it was,
   so each node's next reading finds its silence again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, PyMongoError
from redis.exceptions import RedisError

from vpp.ingest.metrics import IngestMetrics
from vpp.store.documents import NODE_STATUS_LOG
from vpp.store.live_state import LiveReading, LiveStateWriter
from vpp.store.status_log import SilenceLog
from vpp.store.write_errors import DUPLICATE_KEY

log = logging.getLogger(__name__)


class WriteStatus(StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"  # another reading (another seq) holds its (dc_id, timestamp)
    REJECTED = "rejected"


@dataclass(frozen=True)
class WriteOutcome:
    status: WriteStatus
    detail: str | None = None


STORED = WriteOutcome(WriteStatus.STORED)
DUPLICATE = WriteOutcome(WriteStatus.DUPLICATE)


@dataclass(frozen=True)
class PendingReading:
    doc: dict[str, Any]  # the MongoDB document (pymongo adds its `_id` on insert)
    live: LiveReading


class TelemetryWriter:
    def __init__(
        self,
        collection: AsyncCollection[dict[str, Any]],
        live: LiveStateWriter,
        metrics: IngestMetrics,
        *,
        publish_in_background: bool = False,
        silences: SilenceLog | None = None,
    ) -> None:
        self._collection = collection
        self._silences = silences
        self._background = publish_in_background
        self._live = live
        self._metrics = metrics
        self._publishing: asyncio.Task[None] | None = None

    async def write(self, readings: Sequence[PendingReading], attempt: int) -> list[WriteOutcome]:
        started = time.perf_counter()
        outcomes = [STORED] * len(readings)
        try:
            await self._collection.insert_many([r.doc for r in readings], ordered=False)
        except BulkWriteError as exc:
            for error in exc.details.get("writeErrors", []):
                index = error["index"]
                if error.get("code") == DUPLICATE_KEY:
                    outcomes[index] = await self._key_taken(readings[index].doc, attempt)
                else:
                    outcomes[index] = WriteOutcome(
                        WriteStatus.REJECTED, str(error.get("errmsg", "?"))[:300]
                    )
        stored = [r.live for r, o in zip(readings, outcomes, strict=True) if o is STORED]
        self._metrics.stored.inc(len(stored))
        self._metrics.batches.inc()
        self._metrics.batch_size.observe(len(readings))
        self._metrics.flush_seconds.observe(time.perf_counter() - started)
        publish = self._publish(self._publishing, stored, int(time.time() * 1000))
        if self._background:
            self._publishing = asyncio.create_task(publish)
        else:
            await publish
        return outcomes

    async def _key_taken(self, doc: dict[str, Any], attempt: int) -> WriteOutcome:
        """The outcome of a reading whose (dc_id, timestamp) is already stored: the same
        reading again (its seq), or a different one under the same key."""
        held = await self._collection.find_one(
            {"dc_id": doc["dc_id"], "timestamp": doc["timestamp"]}, {"seq": 1}
        )
        # Gone meanwhile (pruned): nothing tells them apart, so take it for the same.
        if held is None or held.get("seq") == doc.get("seq"):
            return STORED if attempt else DUPLICATE
        return WriteOutcome(WriteStatus.CONFLICT, f"seq {held.get('seq')}")

    async def drain(self) -> None:
        """Wait until every stored batch is in Redis."""
        if self._publishing is not None:
            await self._publishing

    async def _publish(
        self, previous: asyncio.Task[None] | None, stored: list[LiveReading], received_ms: int
    ) -> None:
        if previous is not None:
            await previous  # batches reach Redis in the order they were stored
        try:
            if self._silences is not None:
                self._metrics.silences.inc(await self._silences.log(stored, received_ms))
            await self._live.publish_batch(stored, received_ms)
        except PyMongoError as exc:
            self._metrics.store_errors.labels(NODE_STATUS_LOG).inc()
            log.warning(
                "silences not logged, so live state not updated for %d readings: %s",
                len(stored),
                exc,
            )
        except (RedisError, OSError) as exc:
            self._metrics.redis_errors.inc()
            log.warning("live state not updated for %d readings: %s", len(stored), exc)
        except Exception:  # never break the chain of later batches
            self._metrics.redis_errors.inc()
            log.exception("live state not updated for %d readings", len(stored))
