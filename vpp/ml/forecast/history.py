"""The hourly history the forecasts read: day documents in `history_hourly`.

Written three ways, all idempotent:
- `import_citylearn` back-fills every simulated home with its building's year (and the
  site's weather, tariff and carbon), see `vpp.ml.forecast.citylearn_import`;
- `append_telemetry` averages live telemetry over each completed hour (the same
  resolution) and writes it over whatever the hour held;
- `append_site` continues the site's measured weather from the CityLearn year on the
  simulator's calendar: the stand-in for a weather service, which the platform has not.

Read with `read_series`, which returns NaN for unknown hours; `fill_gaps` completes them.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pymongo import ReplaceOne

from vpp.ml.forecast.citylearn import SITE_CHANNELS, load_site, profile_row
from vpp.ml.forecast.documents import (
    FORECAST_STATE,
    HISTORY,
    HOURS_PER_DAY,
    SITE_SERIES,
)
from vpp.ml.forecast.settings import Target

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
Database = Any  # pymongo AsyncDatabase[dict[str, Any]]; kept loose to share any client

TELEMETRY_COLLECTION = "telemetry"  # vpp.store.documents.TELEMETRY
NODES_COLLECTION = "nodes"  # vpp.store.documents.NODES
TELEMETRY_CURSOR = "telemetry"
SITE_CURSOR = "site"
NODE_CHANNELS = tuple(t.value for t in Target)
_WRITE_CHUNK = 1_000


def hour_floor(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def day_floor(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def hours_between(a: datetime, b: datetime) -> int:
    return int((b - a).total_seconds() // 3600)


def day_documents(
    series_id: str, start: datetime, channels: Mapping[str, FloatArray], source: str
) -> list[dict[str, Any]]:
    """Hourly arrays from `start` (a whole hour) cut into UTC-day documents; hours of the
    first and last day outside the arrays are None."""
    if start != hour_floor(start):
        raise ValueError("start must be a whole hour")
    hours = {len(v) for v in channels.values()}
    if len(hours) != 1:
        raise ValueError("channels differ in length")
    total = hours.pop()
    first_day = day_floor(start)
    offset = hours_between(first_day, start)
    days = -(-(offset + total) // HOURS_PER_DAY)
    now = datetime.now(UTC)
    docs = []
    for d in range(days):
        day = first_day + timedelta(days=d)
        values: dict[str, list[float | None]] = {}
        for name, array in channels.items():
            row: list[float | None] = [None] * HOURS_PER_DAY
            for h in range(HOURS_PER_DAY):
                i = d * HOURS_PER_DAY + h - offset
                if 0 <= i < total and np.isfinite(array[i]):
                    row[h] = round(float(array[i]), 5)
            values[name] = row
        docs.append(
            {
                "series_id": series_id,
                "day": day,
                "channels": values,
                "source": source,
                "updated_at": now,
            }
        )
    return docs


async def replace_days(db: Database, docs: Sequence[dict[str, Any]]) -> int:
    """Write day documents, replacing any held for the same series and day."""
    coll = db[HISTORY]
    written = 0
    for i in range(0, len(docs), _WRITE_CHUNK):
        chunk = docs[i : i + _WRITE_CHUNK]
        ops = [
            ReplaceOne({"series_id": d["series_id"], "day": d["day"]}, d, upsert=True)
            for d in chunk
        ]
        result = await coll.bulk_write(ops, ordered=False)
        written += result.upserted_count + result.modified_count
    return written


async def merge_hours(
    db: Database, values: Mapping[tuple[str, datetime], Mapping[str, float]], source: str
) -> int:
    """Set single hours, keyed by (series, hour start), keeping the other hours of their
    days. Returns the number of day documents written."""
    by_day: dict[tuple[str, datetime], list[tuple[int, Mapping[str, float]]]] = defaultdict(list)
    for (series_id, hour), channels in values.items():
        by_day[(series_id, day_floor(hour))].append((hour.astimezone(UTC).hour, channels))
    if not by_day:
        return 0
    coll = db[HISTORY]
    existing: dict[tuple[str, datetime], dict[str, Any]] = {}
    days = sorted({d for _, d in by_day})
    for series_id in sorted({s for s, _ in by_day}):
        async for doc in coll.find(_series_days(series_id, {"$gte": days[0], "$lte": days[-1]})):
            existing[(series_id, _aware(doc["day"]))] = doc
    now = datetime.now(UTC)
    docs = []
    for (series_id, day), hours in by_day.items():
        doc = existing.get((series_id, day)) or {
            "series_id": series_id,
            "day": day,
            "channels": {},
            "source": source,
        }
        doc.pop("_id", None)
        for h, channels in hours:
            for name, value in channels.items():
                row = doc["channels"].setdefault(name, [None] * HOURS_PER_DAY)
                row[h] = round(float(value), 5)
        doc["source"] = source
        doc["updated_at"] = now
        docs.append(doc)
    await replace_days(db, docs)
    return len(docs)


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


async def read_series(
    db: Database,
    series_ids: Iterable[str] | None,
    channels: Sequence[str],
    start: datetime,
    end: datetime,
) -> dict[str, dict[str, FloatArray]]:
    """Hourly values of [start, end) per series and channel, NaN where unknown; of every
    node (the site excluded) when `series_ids` is None. A series with no document in the
    range is left out."""
    hours = hours_between(start, end)
    out: dict[str, dict[str, FloatArray]] = {}
    days = {"$gte": day_floor(start), "$lt": end}
    projection = {"_id": 0, "series_id": 1, "day": 1, **{f"channels.{c}": 1 for c in channels}}
    if series_ids is None:
        # The window's days of every series, through the day index; the site is dropped here
        # because a `$ne` beside the day would leave the index unused (`_series_days`).
        cursor = db[HISTORY].find({"day": days}, projection)
        await _read_days(cursor, out, channels, start, hours, skip=SITE_SERIES)
        return out
    for series_id in dict.fromkeys(series_ids):
        cursor = db[HISTORY].find(_series_days(series_id, days), projection)
        await _read_days(cursor, out, channels, start, hours)
    return out


def _series_days(series_id: str, days: dict[str, datetime]) -> dict[str, Any]:
    """The query of one series' days. One query per series, not one `$in` of them all:
    SecantusDB answers a query from an index only when every field it names is in that
    index and a `$in` is its only condition, so `$in` beside the day range scanned the
    whole collection (a year of 1,000 homes: 28 s for their last 28 days, against 1.5 s
    for one query per home)."""
    return {"series_id": series_id, "day": days}


async def _read_days(
    cursor: Any,
    out: dict[str, dict[str, FloatArray]],
    channels: Sequence[str],
    start: datetime,
    hours: int,
    *,
    skip: str | None = None,
) -> None:
    async for doc in cursor:
        if doc["series_id"] == skip:
            continue
        arrays = out.setdefault(doc["series_id"], {c: np.full(hours, np.nan) for c in channels})
        offset = hours_between(start, _aware(doc["day"]))
        for name in channels:
            row = doc.get("channels", {}).get(name)
            if row is None:
                continue
            for h, value in enumerate(row):
                i = offset + h
                if value is not None and 0 <= i < hours:
                    arrays[name][i] = value


async def series_with_history(db: Database, since: datetime) -> list[str]:
    """Every node id with history on or after `since`'s day (the site excluded), sorted."""
    ids = await db[HISTORY].distinct("series_id", {"day": {"$gte": day_floor(since)}})
    return sorted(str(i) for i in ids if i != SITE_SERIES)


def fill_gaps(values: FloatArray) -> tuple[FloatArray, int]:
    """Missing hours filled from the same hour a day earlier (or later), then linearly;
    the number of hours filled. All-missing stays all-NaN."""
    out = values.copy()
    missing = ~np.isfinite(out)
    count = int(missing.sum())
    if count == 0 or count == len(out):
        return out, count
    for shift in (24, -24, 48, -48, 168, -168):
        holes = np.flatnonzero(~np.isfinite(out))
        if holes.size == 0:
            break
        src = holes - shift
        ok = (src >= 0) & (src < len(out))
        holes, src = holes[ok], src[ok]
        good = np.isfinite(out[src])
        out[holes[good]] = out[src[good]]
    holes = ~np.isfinite(out)
    if holes.any():
        known = np.flatnonzero(~holes)
        out[holes] = np.interp(np.flatnonzero(holes), known, out[known])
    return out, count


# -- live appends ------------------------------------------------------------------------------


async def read_cursor(db: Database, name: str) -> datetime | None:
    doc = await db[FORECAST_STATE].find_one({"name": name})
    return None if doc is None else _aware(doc["hour"])


async def write_cursor(db: Database, name: str, hour: datetime) -> None:
    await db[FORECAST_STATE].update_one({"name": name}, {"$set": {"hour": hour}}, upsert=True)


async def append_telemetry(db: Database, until: datetime, max_catch_up_h: int = 24) -> int:
    """Average the telemetry of every completed hour before `until` not yet appended
    (at most the last `max_catch_up_h`), per node, into the history. Returns the hours
    appended; the cursor moves to `until`'s hour."""
    end = hour_floor(until)
    cursor = await read_cursor(db, TELEMETRY_CURSOR)
    start = max(cursor or end - timedelta(hours=1), end - timedelta(hours=max_catch_up_h))
    if start >= end:
        return 0
    values: dict[tuple[str, datetime], dict[str, float]] = {}
    # Node by node, through the telemetry's (dc_id, timestamp) index: a match on the time
    # alone would scan every reading kept (30 days of every node) on each cycle.
    # Ingest stores readings of registered nodes only, so the registry names them all.
    nodes = db[NODES_COLLECTION].find({}, {"_id": 0, "dc_id": 1})
    for node in sorted([doc["dc_id"] async for doc in nodes]):
        async for row in await db[TELEMETRY_COLLECTION].aggregate(_hourly_means(node, start, end)):
            channels = {k: float(row[k]) for k in NODE_CHANNELS if row.get(k) is not None}
            if channels:
                values[(node, _aware(row["_id"]))] = channels
    await merge_hours(db, values, "telemetry")
    await write_cursor(db, TELEMETRY_CURSOR, end)
    return len({hour for _, hour in values})


def _hourly_means(node: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The pipeline of one node's mean load and PV per UTC hour of [start, end)."""
    hour = {"$dateTrunc": {"date": "$timestamp", "unit": "hour", "timezone": "UTC"}}
    return [
        {"$match": {"dc_id": node, "timestamp": {"$gte": start, "$lt": end}}},
        {"$group": {"_id": hour, **{name: {"$avg": f"${name}"} for name in NODE_CHANNELS}}},
    ]


async def append_site(
    db: Database, data_dir: Path, until: datetime, max_catch_up_h: int = 24 * 400
) -> int:
    """Continue the site series up to `until`'s hour from the CityLearn year placed on the
    calendar like the simulator (`profile_row`). Returns the hours written."""
    end = hour_floor(until)
    cursor = await read_cursor(db, SITE_CURSOR)
    start = max(
        cursor or end - timedelta(hours=max_catch_up_h), end - timedelta(hours=max_catch_up_h)
    )
    if start >= end:
        return 0
    await write_site(db, data_dir, start, end)
    return hours_between(start, end)


async def write_site(db: Database, data_dir: Path, start: datetime, end: datetime) -> int:
    """The site's weather, tariff and carbon for [start, end), merged hour by hour."""
    site = load_site(await asyncio.to_thread(lambda: data_dir.expanduser().resolve()))
    hours = hours_between(start, end)
    values: dict[tuple[str, datetime], dict[str, float]] = {}
    for k in range(hours):
        hour = start + timedelta(hours=k)
        row = profile_row(hour)
        values[(SITE_SERIES, hour)] = {c: float(site.channels[c][row]) for c in SITE_CHANNELS}
    written = await merge_hours(db, values, "citylearn")
    cursor = await read_cursor(db, SITE_CURSOR)
    if cursor is None or cursor < end:
        await write_cursor(db, SITE_CURSOR, end)
    return written
