"""`/api/aggregate`: the virtual plant's totals, cached in Redis (see
`vpp.services.aggregate`), and `/api/aggregate/history`, the fleet's totals as recorded
each minute (`vpp.store.fleet_history`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from vpp.api.deps import StateDep, Viewer
from vpp.api.routes.envelopes import ERRORS, Envelope
from vpp.services.fleet_history import MAX_FLEET_POINTS, fleet_points
from vpp.store.aggregate import Aggregate
from vpp.store.fleet_history import FleetPoint
from vpp.store.telemetry_queries import Bucket

router = APIRouter(prefix="/api/aggregate", tags=["aggregate"], responses=ERRORS)


@router.get("", response_model=Envelope[Aggregate])
async def get_aggregate(
    _: Viewer,
    state: StateDep,
    node_ids: Annotated[
        str | None,
        Query(
            alias="nodeIds",
            description="Comma-separated node ids (the seed's form); the whole fleet if absent",
            max_length=70_000,
        ),
    ] = None,
) -> Envelope[Aggregate]:
    ids = None if node_ids is None else [i.strip() for i in node_ids.split(",") if i.strip()]
    return Envelope(data=await state.aggregates.read(ids))


@router.get(
    "/history",
    response_model=Envelope[list[FleetPoint]],
    description="The fleet's aggregate as recorded each minute, averaged per bucket, oldest "
    f"first; buckets with no recorded minute are left out. At most {MAX_FLEET_POINTS} buckets.",
)
async def fleet_history(
    _: Viewer,
    state: StateDep,
    start: Annotated[datetime, Query(description="ISO 8601 with a time zone; inclusive")],
    end: Annotated[datetime, Query(description="ISO 8601 with a time zone; exclusive")],
    bucket: Annotated[Bucket, Query(description="Average the minutes per bucket")] = Bucket.MINUTE,
) -> Envelope[list[FleetPoint]]:
    return Envelope(data=await fleet_points(state.db, start, end, bucket, ("start", "end")))
