"""The fleet's recorded history (`vpp.store.fleet_history`) for the API: the range and
bucket checked, then the store's points."""

from __future__ import annotations

import math
from datetime import datetime

from vpp.services.errors import InvalidInputError
from vpp.services.telemetry import check_range
from vpp.store.database import Database
from vpp.store.fleet_history import FleetPoint, read_points
from vpp.store.telemetry_queries import Bucket

# A week of minutes; a month in hours.
MAX_FLEET_POINTS = 10_080


async def fleet_points(
    db: Database,
    start: datetime,
    end: datetime,
    bucket: Bucket = Bucket.MINUTE,
    fields: tuple[str, str] = ("from", "to"),
) -> list[FleetPoint]:
    """The fleet's aggregate per bucket in `[start, end)`, oldest first; `fields` name
    start and end in errors (GraphQL's from/to, REST's start/end)."""
    check_range(start, end, *fields)
    count = math.ceil((end - start) / bucket.width)
    if count > MAX_FLEET_POINTS:
        raise InvalidInputError.for_field(
            "bucket",
            f"{fields[0]}-{fields[1]} spans {count} buckets of {bucket.value}; at most "
            f"{MAX_FLEET_POINTS}: choose a wider bucket or a shorter range",
        )
    return await read_points(db, start, end, bucket)
