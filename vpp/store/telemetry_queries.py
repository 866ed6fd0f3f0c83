"""Telemetry reads for the API: the latest N readings of a node, a time range, and a time
range downsampled into buckets (1 min ... 1 h) with avg/min/max of power, SoC and
frequency. All of them walk the (dc_id, timestamp) index.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel

from vpp.store.database import Database
from vpp.store.documents import TELEMETRY, TelemetryRecord

MAX_POINTS = 10_000
_PROJECTION = {"_id": 0}
# Readings arrive at least every 10 s; the latest N are searched in a window of N x 10 s
# first, then widened (SecantusDB sorts in memory above the index scan, so a node's whole
# history is read only when the recent windows hold fewer than N readings).
_ASSUMED_INTERVAL = timedelta(seconds=10)
_WIDEN = 24


class Bucket(StrEnum):
    """A downsampling bucket width."""

    MINUTE = "1m"
    FIVE_MINUTES = "5m"
    FIFTEEN_MINUTES = "15m"
    THIRTY_MINUTES = "30m"
    HOUR = "1h"

    @property
    def date_trunc(self) -> dict[str, Any]:
        """The `unit` and `binSize` of `$dateTrunc` for this width."""
        if self is Bucket.HOUR:
            return {"unit": "hour", "binSize": 1}
        return {"unit": "minute", "binSize": int(self.value.removesuffix("m"))}

    @property
    def width(self) -> timedelta:
        if self is Bucket.HOUR:
            return timedelta(hours=1)
        return timedelta(minutes=int(self.value.removesuffix("m")))


class Stats(BaseModel):
    avg: float
    min: float
    max: float


class TelemetryBucket(BaseModel):
    """The readings of one bucket `[start, start + width)`."""

    start: AwareDatetime
    count: int
    power_kw: Stats
    soc: Stats
    freq: Stats


def _check_range(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must carry a time zone")
    if start >= end:
        raise ValueError("start must be before end")


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_POINTS:
        raise ValueError(f"limit must be between 1 and {MAX_POINTS}")


async def latest_readings(db: Database, dc_id: str, limit: int = 100) -> list[TelemetryRecord]:
    """The node's newest `limit` readings, newest first."""
    _check_limit(limit)
    coll = db[TELEMETRY]
    window: timedelta | None = max(_ASSUMED_INTERVAL * limit, timedelta(minutes=5))
    now = datetime.now(UTC)
    while True:
        query: dict[str, Any] = {"dc_id": dc_id}
        if window is not None:
            query["timestamp"] = {"$gte": now - window}
        cursor = coll.find(query, _PROJECTION).sort("timestamp", -1).limit(limit)
        docs = await cursor.to_list()
        if len(docs) >= limit or window is None:
            return [TelemetryRecord.model_validate(doc) for doc in docs]
        window = window * _WIDEN if window < timedelta(days=1) else None


async def readings_in_range(
    db: Database, dc_id: str, start: datetime, end: datetime, limit: int = MAX_POINTS
) -> list[TelemetryRecord]:
    """The node's readings with `start <= timestamp < end`, oldest first, at most `limit`."""
    _check_range(start, end)
    _check_limit(limit)
    cursor = (
        db[TELEMETRY]
        .find({"dc_id": dc_id, "timestamp": {"$gte": start, "$lt": end}}, _PROJECTION)
        .sort("timestamp", 1)
        .limit(limit)
    )
    return [TelemetryRecord.model_validate(doc) for doc in await cursor.to_list()]


async def downsampled_range(
    db: Database, dc_id: str, start: datetime, end: datetime, bucket: Bucket
) -> list[TelemetryBucket]:
    """The node's readings with `start <= timestamp < end` in buckets aligned to UTC
    (`$dateTrunc` with `binSize`), oldest first; empty buckets are left out."""
    _check_range(start, end)
    if (end - start) / bucket.width > MAX_POINTS:
        raise ValueError(f"more than {MAX_POINTS} buckets; choose a wider bucket")
    truncated = {"$dateTrunc": {"date": "$timestamp", **bucket.date_trunc, "timezone": "UTC"}}
    group: dict[str, Any] = {"_id": truncated, "count": {"$sum": 1}}
    for field in ("power_kw", "soc", "freq"):
        group[f"{field}_avg"] = {"$avg": f"${field}"}
        group[f"{field}_min"] = {"$min": f"${field}"}
        group[f"{field}_max"] = {"$max": f"${field}"}
    pipeline: list[dict[str, Any]] = [
        {"$match": {"dc_id": dc_id, "timestamp": {"$gte": start, "$lt": end}}},
        {"$group": group},
        {"$sort": {"_id": 1}},
    ]
    cursor = await db[TELEMETRY].aggregate(pipeline)
    buckets = []
    async for row in cursor:
        buckets.append(
            TelemetryBucket(
                start=row["_id"],
                count=row["count"],
                power_kw=_stats(row, "power_kw"),
                soc=_stats(row, "soc"),
                freq=_stats(row, "freq"),
            )
        )
    return buckets


def _stats(row: dict[str, Any], field: str) -> Stats:
    return Stats(avg=row[f"{field}_avg"], min=row[f"{field}_min"], max=row[f"{field}_max"])
