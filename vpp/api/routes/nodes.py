"""`/api/nodes`: the node registry (reads for viewers, changes for admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from vpp.api.deps import Admin, Viewer
from vpp.api.routes.envelopes import ERRORS, NOT_FOUND, Envelope, ErrorBody, PagedEnvelope
from vpp.services import nodes as service
from vpp.services.paging import MAX_PAGE
from vpp.store.documents import NodeSpec

router = APIRouter(prefix="/api/nodes", tags=["nodes"], responses=ERRORS)

NodeIdPath = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="The node's id (dc_id)")
]


class Deleted(Envelope[dict[str, str]]):
    pass


@router.get("", response_model=PagedEnvelope[NodeSpec])
async def list_nodes(
    _: Viewer,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Nodes per page")] = 100,
    after: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
) -> PagedEnvelope[NodeSpec]:
    """Registered nodes ordered by id, a page at a time."""
    page = await service.list_nodes(limit, after)
    return PagedEnvelope(data=page.items, next_cursor=page.end_cursor if page.has_next else None)


@router.get("/{dc_id}", response_model=Envelope[NodeSpec], responses=NOT_FOUND)
async def get_node(_: Viewer, dc_id: NodeIdPath) -> Envelope[NodeSpec]:
    return Envelope(data=await service.get_node(dc_id))


@router.post(
    "",
    response_model=Envelope[NodeSpec],
    status_code=status.HTTP_201_CREATED,
    responses={409: {"model": ErrorBody, "description": "A node with this id exists"}},
)
async def create_node(_: Admin, node: service.NodeCreate) -> Envelope[NodeSpec]:
    """Register a node (admin)."""
    return Envelope(data=await service.create_node(node))


@router.put("/{dc_id}", response_model=Envelope[NodeSpec], responses=NOT_FOUND)
async def update_node(_: Admin, dc_id: NodeIdPath, patch: service.NodeUpdate) -> Envelope[NodeSpec]:
    """Change the given fields of a node (admin); its id never changes."""
    return Envelope(data=await service.update_node(dc_id, patch))


@router.delete("/{dc_id}", response_model=Deleted, responses=NOT_FOUND)
async def delete_node(_: Admin, dc_id: NodeIdPath) -> Deleted:
    """Remove a node from the registry (admin); its stored telemetry stays."""
    await service.delete_node(dc_id)
    return Deleted(data={"dc_id": dc_id})
