"""Mutations: the node registry and the automation (admin), dispatches (operator)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from vpp.graphql.context import Context
from vpp.graphql.permissions import IsAdmin, IsOperator
from vpp.graphql.types.automation import Automation
from vpp.graphql.types.dispatch import Dispatch, DispatchInput, DispatchStarted
from vpp.graphql.types.inputs import NodeInput, NodePatch
from vpp.graphql.types.node import Node
from vpp.services import automation as automation_service
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


async def _automation(info: Info[Context, None]) -> Automation:
    state = info.context.state
    view = await automation_service.automation_status(
        state.db, state.temporal.client, state.settings
    )
    return Automation.from_view(view)


async def resolve_set_automation(
    info: Info[Context, None], enabled: bool | None = None, dry_run: bool | None = None
) -> Automation:
    principal = info.context.principal
    assert principal is not None  # IsAdmin ran
    state = info.context.state
    await automation_service.set_automation(
        state.db, state.settings, by=principal.name, enabled=enabled, dry_run=dry_run
    )
    return await _automation(info)


async def resolve_pause_schedule(
    info: Info[Context, None], schedule_id: strawberry.ID, paused: bool
) -> Automation:
    principal = info.context.principal
    assert principal is not None  # IsAdmin ran
    state = info.context.state
    await automation_service.set_schedule_paused(
        state.temporal.require(), state.settings, str(schedule_id), paused=paused, by=principal.name
    )
    return await _automation(info)


async def resolve_run_schedule(info: Info[Context, None], schedule_id: strawberry.ID) -> Automation:
    state = info.context.state
    await automation_service.run_schedule_now(
        state.temporal.require(), state.settings, str(schedule_id)
    )
    return await _automation(info)


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
    set_automation: Automation = strawberry.mutation(
        resolver=resolve_set_automation,
        permission_classes=[IsAdmin],
        description="Switch the automation on or off, or to dry run (decide, dispatch nothing)",
    )
    pause_schedule: Automation = strawberry.mutation(
        resolver=resolve_pause_schedule,
        permission_classes=[IsAdmin],
        description="Pause or resume one of the platform's schedules",
    )
    run_schedule: Automation = strawberry.mutation(
        resolver=resolve_run_schedule,
        permission_classes=[IsAdmin],
        description="Start one run of a schedule now",
    )
