"""Mutations: the node registry (admin), dispatches (operator)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from vpp.graphql.context import Context
from vpp.graphql.permissions import IsAdmin, IsOperator
from vpp.graphql.types.dispatch import Dispatch, DispatchInput, DispatchStarted
from vpp.graphql.types.inputs import NodeInput, NodePatch
from vpp.graphql.types.node import Node
from vpp.services import nodes as node_service
from vpp.services.dispatch import parse_request
from vpp.services.errors import InvalidInputError


async def resolve_create_node(input: NodeInput) -> Node:
    data = node_service.parse_create(input.as_dict())
    return Node.from_spec(await node_service.create_node(data))


async def resolve_update_node(dc_id: strawberry.ID, input: NodePatch) -> Node:
    node_service.check_node_id(str(dc_id))
    patch = node_service.parse_update(input.as_dict())
    return Node.from_spec(await node_service.update_node(str(dc_id), patch))


async def resolve_delete_node(dc_id: strawberry.ID) -> strawberry.ID:
    node_service.check_node_id(str(dc_id))
    await node_service.delete_node(str(dc_id))
    return dc_id


async def resolve_dispatch(info: Info[Context, None], input: DispatchInput) -> DispatchStarted:
    principal = info.context.principal
    assert principal is not None  # IsOperator ran
    data = input.as_dict()
    if input.all_nodes and input.targets is not None:
        raise InvalidInputError.for_field("input.targets", "give targets or allNodes, not both")
    if "targets" not in data:
        raise InvalidInputError.for_field("input.targets", "give targets or allNodes: true")
    request = parse_request(data, "input")
    started = await info.context.state.dispatches.start(request, principal.name)
    return DispatchStarted.from_started(started)


async def resolve_cancel_dispatch(
    info: Info[Context, None], dispatch_id: strawberry.ID, reason: str | None = None
) -> Dispatch:
    principal = info.context.principal
    assert principal is not None  # IsOperator ran
    summary = await info.context.state.dispatches.cancel(str(dispatch_id), principal.name, reason)
    return Dispatch.from_summary(summary)


@strawberry.type
class Mutation:
    create_node: Node = strawberry.mutation(
        resolver=resolve_create_node, permission_classes=[IsAdmin], description="Register a node"
    )
    update_node: Node = strawberry.mutation(
        resolver=resolve_update_node,
        permission_classes=[IsAdmin],
        description="Change the given fields of a node",
    )
    delete_node: strawberry.ID = strawberry.mutation(
        resolver=resolve_delete_node,
        permission_classes=[IsAdmin],
        description="Remove a node from the registry (its telemetry stays); its id",
    )
    dispatch: DispatchStarted = strawberry.mutation(
        resolver=resolve_dispatch,
        permission_classes=[IsOperator],
        description="Start a dispatch (a workflow); returns once its targets are checked",
    )
    cancel_dispatch: Dispatch = strawberry.mutation(
        resolver=resolve_cancel_dispatch,
        permission_classes=[IsOperator],
        description="Stop further sends; nodes that have not answered end cancelled",
    )
