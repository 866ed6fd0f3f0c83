"""`/api/dispatch`: the seed's dispatch (operator) and dispatch logs, plus reading and
cancelling a dispatch. A dispatch is always a Temporal workflow; the answer comes once
its targets are checked, long before the nodes answer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from vpp.api.deps import Operator, StateDep, Viewer
from vpp.api.routes.envelopes import ERRORS, Envelope, ErrorBody, PagedEnvelope
from vpp.dispatch.models import (
    DispatchLogEntry,
    DispatchRequest,
    DispatchStarted,
    DispatchStatus,
    DispatchSummary,
)
from vpp.services.dispatch import MAX_DISPATCH_PAGE, MAX_LOG
from vpp.services.errors import NotFoundError

router = APIRouter(prefix="/api/dispatch", tags=["dispatch"], responses=ERRORS)

DispatchIdPath = Annotated[str, Path(pattern=r"^[a-z0-9]{1,48}$", description="The dispatch id")]
UNAVAILABLE: dict[int | str, dict[str, object]] = {
    503: {"model": ErrorBody, "description": "Temporal is not reachable"}
}


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Envelope[DispatchStarted],
    responses=UNAVAILABLE,
)
async def start_dispatch(
    principal: Operator, state: StateDep, request: DispatchRequest
) -> Envelope[DispatchStarted]:
    """Send `action` with `params` to `targets` (node ids, or "all"); the issuer is the
    caller. An impossible request (an unknown node, kW over a node's capacity...) is 422
    with the reasons, and nothing is sent. A retry with the same `request_id` finds the
    same dispatch."""
    return Envelope(data=await state.dispatches.start(request, principal.name))


@router.get("/logs", response_model=Envelope[list[DispatchLogEntry]], responses=UNAVAILABLE)
async def dispatch_logs(
    _: Viewer,
    state: StateDep,
    dc_id: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LOG)] = 50,
) -> Envelope[list[DispatchLogEntry]]:
    """Node commands, newest first (the seed's dispatch log)."""
    return Envelope(data=await state.dispatches.logs(dc_id, limit))


@router.get("", response_model=PagedEnvelope[DispatchSummary], responses=UNAVAILABLE)
async def list_dispatches(
    _: Viewer,
    state: StateDep,
    limit: Annotated[int, Query(ge=1, le=MAX_DISPATCH_PAGE)] = 50,
    after: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
    dispatch_status: Annotated[DispatchStatus | None, Query(alias="status")] = None,
) -> PagedEnvelope[DispatchSummary]:
    """Dispatches, newest first, a page at a time."""
    page = await state.dispatches.page(first=limit, after=after, status=dispatch_status)
    return PagedEnvelope(data=page.items, next_cursor=page.end_cursor if page.has_next else None)


@router.get("/{dispatch_id}", response_model=Envelope[DispatchSummary], responses=UNAVAILABLE)
async def get_dispatch(
    _: Viewer, state: StateDep, dispatch_id: DispatchIdPath
) -> Envelope[DispatchSummary]:
    summary = await state.dispatches.get(dispatch_id)
    if summary is None:
        raise NotFoundError(f"no dispatch {dispatch_id!r}")
    return Envelope(data=summary)


@router.post(
    "/{dispatch_id}/cancel", response_model=Envelope[DispatchSummary], responses=UNAVAILABLE
)
async def cancel_dispatch(
    principal: Operator,
    state: StateDep,
    dispatch_id: DispatchIdPath,
    reason: Annotated[str | None, Query(max_length=500)] = None,
) -> Envelope[DispatchSummary]:
    """Stop further sends; nodes that have not answered end cancelled."""
    return Envelope(data=await state.dispatches.cancel(dispatch_id, principal.name, reason))
