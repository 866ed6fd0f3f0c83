"""The fleet's aggregate minute by minute (collection `fleet_history`).

The live aggregate says how the fleet stands now; this keeps how it stood at each
minute, so the dashboard can draw the last hours of a fleet of any size from one small
read instead of every node's readings (20,000 nodes reporting every 5 s store 14 million
readings an hour).

One document per minute (`FleetMinute`), its `_id` the minute's start, read by ranges of
its `at` index. Each API process writes it (`vpp.api.live.fleet_recorder`): replicas
writing the same minute write the same figures over one another, so the history holds
one point per minute however many there are.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from pydantic import AwareDatetime, BaseModel

from vpp.store.aggregate import Aggregate
from vpp.store.database import Database
from vpp.store.documents import FLEET_HISTORY, FleetMinuteRecord
from vpp.store.telemetry_queries import Bucket

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def minute_of(t: datetime) -> datetime:
    """The start of the minute `t` falls in (UTC)."""
    return t.astimezone(UTC).replace(second=0, microsecond=0)


class FleetPoint(BaseModel):
    """The fleet over `[start, start + width)`: the mean of its minutes' aggregates
    (`minutes` of them were recorded), and the fewest nodes online in any of them."""

    start: AwareDatetime
    minutes: int
    total_power_kw: float
    avg_soc: float | None
    avg_freq: float | None
    node_count: int
    online_nodes: int


async def record_minute(db: Database, minute: datetime, aggregate: Aggregate) -> None:
    """Store the fleet's aggregate as the minute starting at `minute`."""
    await db[FLEET_HISTORY].replace_one(
        {"_id": minute},
        {
            "at": minute,
            "total_power_kw": aggregate.total_power_kw,
            "avg_soc": aggregate.avg_soc,
            "avg_freq": aggregate.avg_freq,
            "node_count": aggregate.node_count,
            "online_nodes": aggregate.online_nodes,
        },
        upsert=True,
    )


async def prune_before(db: Database, cutoff: datetime) -> int:
    """Delete the minutes before `cutoff`; how many."""
    result = await db[FLEET_HISTORY].delete_many({"at": {"$lt": cutoff}})
    return int(result.deleted_count)


def _mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


async def read_points(
    db: Database, start: datetime, end: datetime, bucket: Bucket
) -> list[FleetPoint]:
    """The recorded minutes in `[start, end)`, averaged per bucket, oldest first; a
    bucket without a recorded minute is left out (nothing was watching then)."""
    width = bucket.width
    groups: dict[datetime, list[FleetMinuteRecord]] = {}
    cursor = db[FLEET_HISTORY].find({"at": {"$gte": start, "$lt": end}}).sort("at", 1)
    async for doc in cursor:
        minute = FleetMinuteRecord.model_validate(doc)
        key = _EPOCH + ((minute.at - _EPOCH) // width) * width
        groups.setdefault(key, []).append(minute)
    return [
        FleetPoint(
            start=key,
            minutes=len(group),
            total_power_kw=sum(m.total_power_kw for m in group) / len(group),
            avg_soc=_mean([m.avg_soc for m in group]),
            avg_freq=_mean([m.avg_freq for m in group]),
            node_count=max(m.node_count for m in group),
            online_nodes=min(m.online_nodes for m in group),
        )
        for key, group in groups.items()
    ]
