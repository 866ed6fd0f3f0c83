"""A dispatch, its node commands, its start and its live progress."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from vpp.dispatch.models import DispatchLogEntry, DispatchSummary
from vpp.dispatch.models import DispatchProgress as StoredProgress
from vpp.dispatch.models import DispatchStarted as StoredStarted
from vpp.dispatch.models import StatusCounts as StoredCounts
from vpp.graphql.context import Context
from vpp.graphql.types.enums import Action, CommandStatus, DispatchStatus
from vpp.graphql.types.pagination import Connection, Edge, PageInfo
from vpp.models import CommandParams as StoredParams
from vpp.services.dispatch import COMMAND_CURSOR
from vpp.services.paging import encode_cursor

if TYPE_CHECKING:
    from vpp.graphql.types.node import Node


@strawberry.type
class CommandParams:
    kw: float
    duration_s: int

    @classmethod
    def from_params(cls, p: StoredParams) -> CommandParams:
        return cls(kw=p.kw, duration_s=p.duration_s)


@strawberry.type(description="Nodes per command status")
class StatusCounts:
    pending: int
    sent: int
    accepted: int
    completed: int
    rejected: int
    expired: int
    cancelled: int
    total: int

    @classmethod
    def from_counts(cls, c: StoredCounts) -> StatusCounts:
        return cls(**c.model_dump(), total=c.total)


async def resolve_command_node(
    root: DispatchCommand, info: Info[Context, None]
) -> Annotated[Node, strawberry.lazy("vpp.graphql.types.node")] | None:
    from vpp.graphql.types.node import Node

    spec = await info.context.nodes.load(str(root.dc_id))
    return Node.from_spec(spec) if spec is not None else None


@strawberry.type(description="One node's command of a dispatch (the seed's dispatch_log)")
class DispatchCommand:
    command_id: strawberry.ID
    dispatch_id: strawberry.ID
    dc_id: strawberry.ID
    action: Action
    params: CommandParams
    issued_by: str
    timestamp: datetime = strawberry.field(description="When the dispatch was issued")
    status: CommandStatus
    attempts: int
    latency_ms: int | None
    ack_latency_ms: int | None
    reason: str | None
    applied_kw: float | None
    measured_kw: float | None
    measured_ratio: float | None
    measured_note: str | None
    sent_at: datetime | None
    accepted_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime | None
    node: Annotated[Node, strawberry.lazy("vpp.graphql.types.node")] | None = strawberry.field(
        resolver=resolve_command_node, description="The node (batched per request)"
    )

    @classmethod
    def from_entry(cls, e: DispatchLogEntry) -> DispatchCommand:
        return cls(
            command_id=strawberry.ID(e.command_id),
            dispatch_id=strawberry.ID(e.dispatch_id),
            dc_id=strawberry.ID(e.dc_id),
            action=e.action,
            params=CommandParams.from_params(e.params),
            issued_by=e.issued_by,
            timestamp=e.timestamp,
            status=e.status,
            attempts=e.attempts,
            latency_ms=e.latency_ms,
            ack_latency_ms=e.ack_latency_ms,
            reason=e.reason,
            applied_kw=e.applied_kw,
            measured_kw=e.measured_kw,
            measured_ratio=e.measured_ratio,
            measured_note=e.measured_note,
            sent_at=e.sent_at,
            accepted_at=e.accepted_at,
            finished_at=e.finished_at,
            updated_at=e.updated_at,
        )


async def resolve_commands(
    root: Dispatch,
    info: Info[Context, None],
    first: int = 100,
    after: str | None = None,
    status: CommandStatus | None = None,
) -> Connection[DispatchCommand]:
    page = await info.context.state.dispatches.commands(
        str(root.dispatch_id), first=first, after=after, status=status
    )
    start = 0
    edges = []
    if after is not None:
        from vpp.services.paging import decode_cursor

        start = int(decode_cursor(COMMAND_CURSOR, after))
    for n, entry in enumerate(page.items, start=start + 1):
        edges.append(
            Edge(
                cursor=encode_cursor(COMMAND_CURSOR, str(n)), node=DispatchCommand.from_entry(entry)
            )
        )
    return Connection(
        edges=edges, page_info=PageInfo(has_next_page=page.has_next, end_cursor=page.end_cursor)
    )


@strawberry.type(description="A dispatch: one request to many nodes, run as a workflow")
class Dispatch:
    dispatch_id: strawberry.ID
    workflow_id: str = strawberry.field(description="Find it in the Temporal UI")
    action: Action
    params: CommandParams
    targets: list[strawberry.ID] | None = strawberry.field(description="Null for all nodes")
    all_nodes: bool
    issued_by: str
    created_at: datetime
    deadline: datetime
    status: DispatchStatus
    node_count: int | None
    counts: StatusCounts
    reason: str | None
    problems: list[str]
    notes: list[str]
    cancelled_by: str | None
    finished_at: datetime | None
    updated_at: datetime | None
    commands: Connection[DispatchCommand] = strawberry.field(
        resolver=resolve_commands, description="Its node commands by node id, a page at a time"
    )

    @classmethod
    def from_summary(cls, s: DispatchSummary) -> Dispatch:
        all_nodes = s.targets == "all"
        return cls(
            dispatch_id=strawberry.ID(s.dispatch_id),
            workflow_id=s.workflow_id,
            action=s.action,
            params=CommandParams.from_params(s.params),
            targets=None if all_nodes else [strawberry.ID(t) for t in s.targets],
            all_nodes=all_nodes,
            issued_by=s.issued_by,
            created_at=s.created_at,
            deadline=s.deadline,
            status=s.status,
            node_count=s.node_count,
            counts=StatusCounts.from_counts(s.counts),
            reason=s.reason,
            problems=list(s.problems),
            notes=list(s.notes),
            cancelled_by=s.cancelled_by,
            finished_at=s.finished_at,
            updated_at=s.updated_at,
        )


@strawberry.type(description="A dispatch just started (or found again, for a retried request)")
class DispatchStarted:
    dispatch_id: strawberry.ID
    workflow_id: str
    node_count: int
    shard_count: int
    deadline: datetime
    existing: bool = strawberry.field(description="A retried request: it had already started")

    @classmethod
    def from_started(cls, s: StoredStarted) -> DispatchStarted:
        return cls(
            dispatch_id=strawberry.ID(s.dispatch_id),
            workflow_id=s.workflow_id,
            node_count=s.node_count,
            shard_count=s.shard_count,
            deadline=s.deadline,
            existing=s.existing,
        )


@strawberry.type
class NodeProgress:
    dc_id: strawberry.ID
    status: CommandStatus
    attempts: int
    reason: str | None
    latency_ms: int | None


@strawberry.type(
    description="A dispatch's progress: a shard's node changes, or (shard null) its status"
)
class DispatchProgress:
    dispatch_id: strawberry.ID
    at: datetime
    status: DispatchStatus | None
    shard: int | None
    counts: StatusCounts
    nodes: list[NodeProgress]

    @classmethod
    def from_progress(cls, p: StoredProgress) -> DispatchProgress:
        return cls(
            dispatch_id=strawberry.ID(p.dispatch_id),
            at=p.at,
            status=p.status,
            shard=p.shard,
            counts=StatusCounts.from_counts(p.counts),
            nodes=[
                NodeProgress(
                    dc_id=strawberry.ID(n.dc_id),
                    status=n.status,
                    attempts=n.attempts,
                    reason=n.reason,
                    latency_ms=n.latency_ms,
                )
                for n in p.nodes
            ],
        )


@strawberry.input(description="A dispatch: `targets` or `allNodes`, an action, its kW")
class DispatchInput:
    action: Action
    targets: list[strawberry.ID] | None = None
    all_nodes: bool = False
    kw: float = 0.0
    duration_s: int = 900
    deadline: datetime | None = strawberry.field(
        default=None, description="The latest a node may take it; default: a short window"
    )
    request_id: str | None = strawberry.field(
        default=None, description="An idempotency key: a retry finds the same dispatch"
    )

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "action": self.action,
            "params": {"kw": self.kw, "duration_s": self.duration_s},
        }
        if self.deadline is not None:
            data["deadline"] = self.deadline
        if self.request_id is not None:
            data["request_id"] = self.request_id
        if self.all_nodes:
            data["targets"] = "all"
        elif self.targets is not None:
            data["targets"] = [str(t) for t in self.targets]
        return data
