"""Telemetry use cases: the latest N readings, a time range (raw or downsampled, paged),
and accepting one reading over HTTP (the simulator's fallback when MQTT is off).

An HTTP reading takes the ingester's own path after validation: the same strict
`Telemetry` schema, the same timestamp window, the same registry check, and the same
`TelemetryWriter` (MongoDB insert on the (dc_id, timestamp) key, then the Redis latest
state and live channel), so live subscribers see it like any MQTT reading. Unlike MQTT,
a bad reading is answered at once with the reason and leaves no dead letter: the
sender is told, and nothing changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import orjson
from pydantic import ValidationError

from vpp.ingest.telemetry_writer import PendingReading, TelemetryWriter, WriteStatus
from vpp.ingest.validation import FUTURE_TOLERANCE, MAX_PAYLOAD_BYTES
from vpp.models import Telemetry
from vpp.services.errors import FieldProblem, InvalidInputError, ServiceError
from vpp.services.nodes import problems_of, require_registered
from vpp.services.paging import Page, decode_cursor, encode_cursor
from vpp.store.database import Database
from vpp.store.documents import TelemetryRecord
from vpp.store.live_state import LiveReading, epoch_ms
from vpp.store.telemetry_queries import (
    MAX_POINTS,
    Bucket,
    TelemetryBucket,
    downsampled_range,
    latest_readings,
    readings_in_range,
)

READING_CURSOR = "reading"
BUCKET_CURSOR = "bucket"
_ONE_MS = timedelta(milliseconds=1)


class PayloadTooLargeError(ServiceError):
    code = "PAYLOAD_TOO_LARGE"
    status = 413


class Accepted(StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"  # already stored (a retried POST): nothing written


@dataclass(frozen=True)
class AcceptResult:
    reading: Telemetry
    outcome: Accepted


def check_limit(limit: int, field: str = "limit") -> None:
    if not 1 <= limit <= MAX_POINTS:
        raise InvalidInputError.for_field(field, f"must be between 1 and {MAX_POINTS}")


def check_range(start: datetime, end: datetime, start_field: str, end_field: str) -> None:
    for value, field in ((start, start_field), (end, end_field)):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidInputError.for_field(field, "must carry a time zone (e.g. Z or +01:00)")
    if start >= end:
        raise InvalidInputError.for_field(end_field, f"must be after {start_field}")


async def latest(db: Database, dc_id: str, limit: int = 100) -> list[TelemetryRecord]:
    """The node's newest `limit` readings, newest first; `NotFoundError` if unregistered."""
    check_limit(limit)
    await require_registered(dc_id, "dc_id")
    return await latest_readings(db, dc_id, limit)


async def readings_page(
    db: Database,
    dc_id: str,
    start: datetime,
    end: datetime,
    *,
    first: int = MAX_POINTS,
    after: str | None = None,
    fields: tuple[str, str] = ("start", "end"),
) -> Page[TelemetryRecord]:
    """Raw readings with `start <= timestamp < end`, oldest first, `first` at a time.

    The cursor is the last reading's timestamp: readings of a node have distinct
    millisecond timestamps (the store's unique key), so the next page starts 1 ms later.
    """
    check_range(start, end, *fields)
    check_limit(first, "first")
    await require_registered(dc_id, "dc_id")
    if after is not None:
        start = max(start, _after_cursor(READING_CURSOR, after) + _ONE_MS)
    if start >= end:
        return Page([], False, None)
    found = await readings_in_range(db, dc_id, start, end, limit=min(first + 1, MAX_POINTS))
    items = found[:first]
    has_next = len(found) > first or (len(found) == first == MAX_POINTS)
    end_cursor = _cursor(READING_CURSOR, items[-1].timestamp) if items else None
    return Page(items, has_next, end_cursor)


async def buckets_page(
    db: Database,
    dc_id: str,
    start: datetime,
    end: datetime,
    *,
    bucket: Bucket,
    first: int = MAX_POINTS,
    after: str | None = None,
    fields: tuple[str, str] = ("start", "end"),
) -> Page[TelemetryBucket]:
    """Downsampled buckets (aligned to UTC) in `[start, end)`, `first` buckets' worth of
    time per page; empty buckets are left out, so a page may hold fewer."""
    check_range(start, end, *fields)
    check_limit(first, "first")
    await require_registered(dc_id, "dc_id")
    if after is not None:
        start = max(start, _after_cursor(BUCKET_CURSOR, after) + bucket.width)
    if start >= end:
        return Page([], False, None)
    # Whole buckets only: a page ends on a bucket boundary, so no bucket is split in two.
    page_end = min(end, _floor(start, bucket) + bucket.width * first)
    items = await downsampled_range(db, dc_id, start, page_end, bucket)
    has_next = page_end < end
    if has_next:
        last_start = page_end - bucket.width
        end_cursor: str | None = _cursor(BUCKET_CURSOR, last_start)
    else:
        end_cursor = _cursor(BUCKET_CURSOR, items[-1].start) if items else None
    return Page(items, has_next, end_cursor)


def _floor(when: datetime, bucket: Bucket) -> datetime:
    width_s = int(bucket.width.total_seconds())
    epoch_s = int(when.timestamp())
    return datetime.fromtimestamp(epoch_s - epoch_s % width_s, tz=UTC)


def _cursor(kind: str, when: datetime) -> str:
    return encode_cursor(kind, str(epoch_ms(when)))


def _after_cursor(kind: str, cursor: str) -> datetime:
    position = decode_cursor(kind, cursor)
    try:
        return datetime.fromtimestamp(int(position) / 1000, tz=UTC)
    except (ValueError, OverflowError, OSError):
        raise InvalidInputError.for_field("after", "not a cursor this API issued") from None


def parse_reading(body: bytes) -> Telemetry:
    """A reading from a JSON body, validated like MQTT telemetry (strict types)."""
    if len(body) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLargeError(f"{len(body)} bytes > {MAX_PAYLOAD_BYTES}")
    try:
        return Telemetry.model_validate_json(body, strict=True)
    except ValidationError as exc:
        problems = problems_of(exc)
        if any(e["type"] == "json_invalid" for e in exc.errors(include_url=False)):
            problems = [FieldProblem("body", "not valid JSON")]
        summary = "; ".join(f"{p.field}: {p.message}" for p in problems[:5])
        raise InvalidInputError(f"invalid reading: {summary}", problems) from None


async def accept_reading(
    db: Database,
    writer: TelemetryWriter,
    reading: Telemetry,
    retention: timedelta,
    now: datetime | None = None,
) -> AcceptResult:
    """Store one reading through the ingester's writer (MongoDB, then Redis live state)."""
    received_at = now or datetime.now(UTC)
    if not received_at - retention <= reading.timestamp <= received_at + FUTURE_TOLERANCE:
        raise InvalidInputError.for_field(
            "timestamp",
            f"outside the retention window or more than {FUTURE_TOLERANCE} ahead",
        )
    await require_registered(reading.dc_id, "dc_id")
    timestamp = reading.timestamp.astimezone(UTC)
    # The document exactly as the ingester builds it, so MQTT and HTTP readings match.
    doc = reading.model_dump(exclude_none=True)
    doc["timestamp"] = timestamp
    doc["received_at"] = received_at
    live = LiveReading(reading.dc_id, epoch_ms(timestamp), orjson.dumps(doc))
    (outcome,) = await writer.write([PendingReading(doc, live)], 0)
    if outcome.status is WriteStatus.STORED:
        return AcceptResult(reading, Accepted.STORED)
    if outcome.status is WriteStatus.DUPLICATE:
        return AcceptResult(reading, Accepted.DUPLICATE)
    if outcome.status is WriteStatus.CONFLICT:
        raise InvalidInputError.for_field(
            "timestamp",
            f"another reading of {reading.dc_id} ({outcome.detail}) is stored at "
            f"{timestamp.isoformat()}: each reading of a node needs a timestamp of its own, "
            "to the millisecond",
        )
    raise InvalidInputError(f"the store refused the reading: {outcome.detail or '?'}", [])


def readings_json(readings: Sequence[TelemetryRecord]) -> list[dict[str, object]]:
    return [r.model_dump(mode="json", exclude_none=True) for r in readings]
