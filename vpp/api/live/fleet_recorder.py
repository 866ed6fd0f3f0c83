"""Keeps the fleet's history (`vpp.store.fleet_history`): at the start of every minute
it reads the fleet's aggregate through the process's `AggregateReader` (the store's
cache, or a computation in the reader's worker process, off the event loop) and stores
it as that minute; once an hour it deletes the minutes older than the telemetry's
retention. A failed minute is logged and left out (the chart shows a hole), never
retried late under a wrong time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime, timedelta

from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from vpp.api.live.cancellation import raise_if_cancelled
from vpp.services.aggregate import AggregateReader
from vpp.store.database import Database
from vpp.store.fleet_history import minute_of, prune_before, record_minute

log = logging.getLogger(__name__)

PRUNE_EVERY = timedelta(hours=1)
# Past the minute's start, so the minute the point is filed under is never in doubt.
_AFTER_BOUNDARY_S = 1.0


class FleetRecorder:
    def __init__(
        self,
        db: Database,
        aggregates: AggregateReader,
        *,
        retention: timedelta,
        every_s: float = 60.0,
    ) -> None:
        self._db = db
        self._aggregates = aggregates
        self._retention = retention
        self._every_s = every_s
        self._task: asyncio.Task[None] | None = None
        self._pruned_at: datetime | None = None
        self.recorded = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="fleet-recorder")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def record(self, now: datetime | None = None) -> datetime:
        """Store the fleet's aggregate as the minute `now` (default: the clock) is in;
        that minute. Deletes what is past the retention if the last sweep is an hour old."""
        now = now or datetime.now(UTC)
        aggregate = await self._aggregates.read(None)
        minute = minute_of(now)
        await record_minute(self._db, minute, aggregate)
        self.recorded += 1
        if self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY:
            deleted = await prune_before(self._db, minute - self._retention)
            self._pruned_at = now
            if deleted:
                log.info("fleet history: deleted %d minutes past the retention", deleted)
        return minute

    async def _run(self) -> None:
        while True:
            # Sleep to just after the next boundary of the period (a minute by default).
            await asyncio.sleep(self._every_s - time.time() % self._every_s + _AFTER_BOUNDARY_S)
            try:
                await self.record()
            except (PyMongoError, RedisError, OSError) as exc:
                log.warning("fleet history: this minute is not recorded: %s", exc)
            except Exception:
                # Whatever the minute held, the next minute is recorded: a dead task would
                # end the fleet's history without a word while the API serves on.
                log.exception("fleet history: this minute is not recorded")
            raise_if_cancelled()
