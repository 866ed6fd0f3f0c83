"""`/api/aggregate`: the virtual plant's totals, cached in Redis (see
`vpp.services.aggregate`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from vpp.api.deps import StateDep, Viewer
from vpp.api.routes.envelopes import ERRORS, Envelope
from vpp.store.aggregate import Aggregate

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
