"""The node registry's use cases: list (paged), get, create, update, delete.

Nodes are read and written through the Beanie `Node` document; callers get the plain
`NodeSpec`, so no transport depends on Beanie. A node's id (`dc_id`) never changes.
Deleting a node leaves its stored telemetry in place (retention removes it); ingest stops
accepting its readings once it reloads the registry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from pymongo.errors import DuplicateKeyError

from vpp.models import NodeId, NodeKind
from vpp.services.errors import (
    ConflictError,
    FieldProblem,
    InvalidInputError,
    NotFoundError,
)
from vpp.services.paging import Page, check_page_size, decode_cursor, encode_cursor
from vpp.store.documents import GeoPoint, Node, NodeSpec

CURSOR_KIND = "node"

Hostname = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=253)]
Capacity = Annotated[float, Field(ge=0.0, le=1_000_000.0, allow_inf_nan=False)]


class NodeCreate(BaseModel):
    """What registering a node takes (the seed's fields plus its kind)."""

    model_config = ConfigDict(extra="forbid")

    dc_id: NodeId
    kind: NodeKind = NodeKind.EDGE_DC
    hostname: Hostname
    location: GeoPoint
    capacity_kw: Capacity
    battery_kwh: Capacity


class NodeUpdate(BaseModel):
    """A partial update: the fields given (not null) replace the stored ones."""

    model_config = ConfigDict(extra="forbid")

    kind: NodeKind | None = None
    hostname: Hostname | None = None
    location: GeoPoint | None = None
    capacity_kw: Capacity | None = None
    battery_kwh: Capacity | None = None

    def changes(self) -> dict[str, Any]:
        return self.model_dump(mode="python", exclude_none=True)


def problems_of(exc: ValidationError, prefix: str = "") -> list[FieldProblem]:
    """Pydantic errors as field problems (`location.lat: ...`)."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(part) for part in error["loc"])
        field = f"{prefix}.{loc}" if prefix and loc else (prefix or loc or "input")
        problems.append(FieldProblem(field, error["msg"]))
    return problems


def invalid_input(exc: ValidationError, prefix: str = "") -> InvalidInputError:
    problems = problems_of(exc, prefix)
    summary = "; ".join(f"{p.field}: {p.message}" for p in problems[:5])
    return InvalidInputError(f"invalid input: {summary}", problems)


def parse_create(data: Mapping[str, Any], prefix: str = "input") -> NodeCreate:
    try:
        return NodeCreate.model_validate(dict(data))
    except ValidationError as exc:
        raise invalid_input(exc, prefix) from None


def parse_update(data: Mapping[str, Any], prefix: str = "input") -> NodeUpdate:
    try:
        return NodeUpdate.model_validate(dict(data))
    except ValidationError as exc:
        raise invalid_input(exc, prefix) from None


def check_node_id(dc_id: str, field: str = "dcId") -> None:
    try:
        _NodeIdModel(dc_id=dc_id)
    except ValidationError:
        raise InvalidInputError.for_field(
            field, "a node id is 1-64 letters, digits, '_', '.' or '-'"
        ) from None


class _NodeIdModel(BaseModel):
    dc_id: NodeId


def _spec(node: Node) -> NodeSpec:
    return NodeSpec.model_validate(node.model_dump(include=set(NodeSpec.model_fields)))


async def list_nodes(first: int = 100, after: str | None = None) -> Page[NodeSpec]:
    """Nodes ordered by id, `first` of them after the cursor `after`."""
    check_page_size(first)
    query: dict[str, Any] = {}
    if after is not None:
        query["dc_id"] = {"$gt": decode_cursor(CURSOR_KIND, after)}
    found = await Node.find(query).sort("+dc_id").limit(first + 1).to_list()
    items = [_spec(n) for n in found[:first]]
    has_next = len(found) > first
    end = encode_cursor(CURSOR_KIND, items[-1].dc_id) if items else None
    return Page(items, has_next, end)


def node_cursor(dc_id: str) -> str:
    return encode_cursor(CURSOR_KIND, dc_id)


async def get_node(dc_id: str) -> NodeSpec:
    node = await Node.find_one({"dc_id": dc_id})
    if node is None:
        raise NotFoundError(f"node {dc_id!r} is not registered")
    return _spec(node)


async def find_node(dc_id: str) -> NodeSpec | None:
    node = await Node.find_one({"dc_id": dc_id})
    return None if node is None else _spec(node)


async def find_nodes(ids: Sequence[str]) -> dict[str, NodeSpec]:
    """The registered nodes among `ids`, by id (one query, for DataLoaders)."""
    unique = list(dict.fromkeys(ids))
    if not unique:
        return {}
    found = await Node.find({"dc_id": {"$in": unique}}).to_list()
    return {n.dc_id: _spec(n) for n in found}


async def require_registered(dc_id: str, field: str = "dcId") -> None:
    """`NotFoundError` unless the node is registered (after checking the id's form)."""
    check_node_id(dc_id, field)
    if await Node.find_one({"dc_id": dc_id}) is None:
        raise NotFoundError(f"node {dc_id!r} is not registered")


async def create_node(data: NodeCreate) -> NodeSpec:
    node = Node(**data.model_dump())
    try:
        await node.insert()
    except DuplicateKeyError:
        raise ConflictError(f"node {data.dc_id!r} is already registered") from None
    return _spec(node)


async def update_node(dc_id: str, patch: NodeUpdate) -> NodeSpec:
    changes = patch.changes()
    if not changes:
        raise InvalidInputError("nothing to update: give at least one field", [])
    node = await Node.find_one({"dc_id": dc_id})
    if node is None:
        raise NotFoundError(f"node {dc_id!r} is not registered")
    as_stored = {k: v.model_dump() if isinstance(v, BaseModel) else v for k, v in changes.items()}
    await node.set(as_stored)
    return _spec(node)


async def delete_node(dc_id: str) -> None:
    node = await Node.find_one({"dc_id": dc_id})
    if node is None:
        raise NotFoundError(f"node {dc_id!r} is not registered")
    await node.delete()
