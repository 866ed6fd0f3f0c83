"""`/api/telemetry`: readings in (the simulator's HTTP fallback) and out (latest, range)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from vpp.api.deps import Operator, StateDep, Viewer
from vpp.api.routes.envelopes import ERRORS, NOT_FOUND, Envelope, ErrorBody, PagedEnvelope
from vpp.models import Telemetry
from vpp.services import telemetry as service
from vpp.store.documents import TelemetryRecord
from vpp.store.telemetry_queries import MAX_POINTS, Bucket, TelemetryBucket

router = APIRouter(prefix="/api/telemetry", tags=["telemetry"], responses=ERRORS)

NodeIdQuery = Annotated[str, Query(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="The node's id")]


class Stored(Envelope[Telemetry]):
    duplicate: bool = False


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Stored,
    responses={
        200: {"model": Stored, "description": "Already stored (a retry): nothing written"},
        404: {"model": ErrorBody, "description": "The node is not registered"},
        413: {"model": ErrorBody, "description": "Body above 16 KiB"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": Telemetry.model_json_schema()}},
        }
    },
)
async def post_telemetry(
    _: Operator, state: StateDep, request: Request, response: Response
) -> Stored:
    """One reading, validated like MQTT telemetry (strict JSON types, a time zone on the
    timestamp, a registered node), then stored and pushed live like one."""
    reading = service.parse_reading(await request.body())
    retention = timedelta(days=state.settings.mongo.telemetry_retention_days)
    result = await service.accept_reading(state.db, state.telemetry_writer, reading, retention)
    duplicate = result.outcome is service.Accepted.DUPLICATE
    if duplicate:
        response.status_code = status.HTTP_200_OK
    return Stored(data=result.reading, duplicate=duplicate)


@router.get("", response_model=Envelope[list[TelemetryRecord]], responses=NOT_FOUND)
async def latest_telemetry(
    _: Viewer,
    state: StateDep,
    dc_id: NodeIdQuery,
    limit: Annotated[int, Query(ge=1, le=MAX_POINTS)] = 100,
) -> Envelope[list[TelemetryRecord]]:
    """The node's newest readings, newest first."""
    return Envelope(data=await service.latest(state.db, dc_id, limit))


@router.get(
    "/range",
    response_model=PagedEnvelope[TelemetryRecord] | PagedEnvelope[TelemetryBucket],
    responses=NOT_FOUND,
)
async def telemetry_range(
    *,
    _: Viewer,
    state: StateDep,
    dc_id: NodeIdQuery,
    start: Annotated[datetime, Query(description="ISO 8601 with a time zone; inclusive")],
    end: Annotated[datetime, Query(description="ISO 8601 with a time zone; exclusive")],
    bucket: Annotated[
        Bucket | None, Query(description="Downsample into buckets of this width")
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_POINTS, description="Readings (or buckets' width) per page")
    ] = MAX_POINTS,
    after: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
) -> PagedEnvelope[TelemetryRecord] | PagedEnvelope[TelemetryBucket]:
    """Readings with `start <= timestamp < end`, oldest first; with `bucket`, their
    avg/min/max of power, SoC and frequency per bucket (empty buckets left out)."""
    if bucket is None:
        page = await service.readings_page(state.db, dc_id, start, end, first=limit, after=after)
        return PagedEnvelope[TelemetryRecord](
            data=page.items, next_cursor=page.end_cursor if page.has_next else None
        )
    buckets = await service.buckets_page(
        state.db, dc_id, start, end, bucket=bucket, first=limit, after=after
    )
    return PagedEnvelope[TelemetryBucket](
        data=buckets.items, next_cursor=buckets.end_cursor if buckets.has_next else None
    )
