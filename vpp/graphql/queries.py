"""Queries (viewer): nodes, telemetry, aggregates, dispatches, forecasts, automation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from vpp.graphql.context import Context
from vpp.graphql.permissions import IsViewer
from vpp.graphql.types.aggregate import Aggregate, FleetPoint
from vpp.graphql.types.alert import Alert
from vpp.graphql.types.automation import Automation, Decision
from vpp.graphql.types.caller import Caller
from vpp.graphql.types.dispatch import Dispatch, DispatchCommand
from vpp.graphql.types.enums import AlertKind, Bucket, DispatchStatus, NodeKind
from vpp.graphql.types.forecast import (
    Flexibility,
    Forecast,
    ForecastAccuracy,
    ForecastMetrics,
    Horizon,
    Model,
)
from vpp.graphql.types.node import Node
from vpp.graphql.types.pagination import Connection, Edge, PageInfo
from vpp.graphql.types.telemetry import Telemetry, TelemetryBucket, TelemetryRange
from vpp.ml.forecast.documents import FLEET_SERIES
from vpp.ml.forecast.settings import Target, forecast_settings
from vpp.ml.rl.settings import rl_settings
from vpp.optimize.guard import GuardLimits
from vpp.optimize.settings import optimize_settings
from vpp.services import alerts as alert_service
from vpp.services import automation as automation_service
from vpp.services import forecast_accuracy as accuracy_service
from vpp.services import forecasts as forecast_service
from vpp.services import nodes as node_service
from vpp.services import telemetry as telemetry_service
from vpp.services.aggregate import normalise_scope
from vpp.services.dispatch import DISPATCH_CURSOR
from vpp.services.fleet_history import MAX_FLEET_POINTS, fleet_points
from vpp.services.paging import encode_cursor, encode_time_cursor
from vpp.store.telemetry_queries import MAX_POINTS

DEFAULT_RANGE_PAGE = 1_000
FLEET_ID = strawberry.ID(FLEET_SERIES)


def resolve_me(info: Info[Context, None]) -> Caller:
    principal = info.context.principal
    assert principal is not None  # IsViewer ran
    return Caller.from_principal(principal)


async def resolve_nodes(first: int = 100, after: str | None = None) -> Connection[Node]:
    page = await node_service.list_nodes(first, after)
    edges = [
        Edge(cursor=node_service.node_cursor(n.dc_id), node=Node.from_spec(n)) for n in page.items
    ]
    return Connection(
        edges=edges,
        page_info=PageInfo(has_next_page=page.has_next, end_cursor=page.end_cursor),
    )


async def resolve_node(info: Info[Context, None], dc_id: strawberry.ID) -> Node | None:
    node_service.check_node_id(str(dc_id))
    spec = await info.context.nodes.load(str(dc_id))
    return Node.from_spec(spec) if spec is not None else None


async def resolve_telemetry(
    info: Info[Context, None], dc_id: strawberry.ID, last: int = 100
) -> list[Telemetry]:
    telemetry_service.check_limit(last, "last")
    records = await telemetry_service.latest(info.context.state.db, str(dc_id), last)
    return [Telemetry.from_record(r) for r in records]


async def resolve_telemetry_range(
    info: Info[Context, None],
    *,
    dc_id: strawberry.ID,
    from_: Annotated[datetime, strawberry.argument(name="from")],
    to: datetime,
    bucket: Bucket | None = None,
    first: int = DEFAULT_RANGE_PAGE,
    after: str | None = None,
) -> TelemetryRange:
    db = info.context.state.db
    fields = ("from", "to")
    if bucket is None:
        page = await telemetry_service.readings_page(
            db, str(dc_id), from_, to, first=first, after=after, fields=fields
        )
        return TelemetryRange(
            dc_id=dc_id,
            bucket=None,
            readings=[Telemetry.from_record(r) for r in page.items],
            buckets=[],
            page_info=PageInfo(has_next_page=page.has_next, end_cursor=page.end_cursor),
        )
    buckets = await telemetry_service.buckets_page(
        db, str(dc_id), from_, to, bucket=bucket, first=first, after=after, fields=fields
    )
    return TelemetryRange(
        dc_id=dc_id,
        bucket=bucket,
        readings=[],
        buckets=[TelemetryBucket.from_bucket(b) for b in buckets.items],
        page_info=PageInfo(has_next_page=buckets.has_next, end_cursor=buckets.end_cursor),
    )


async def resolve_aggregate(
    info: Info[Context, None], node_ids: list[strawberry.ID] | None = None
) -> Aggregate:
    scope = normalise_scope(None if node_ids is None else [str(i) for i in node_ids])
    return Aggregate.from_aggregate(await info.context.state.aggregates.read(scope))


async def resolve_fleet_history(
    info: Info[Context, None],
    *,
    from_: Annotated[datetime, strawberry.argument(name="from")],
    to: datetime,
    bucket: Bucket = Bucket.MINUTE,
) -> list[FleetPoint]:
    points = await fleet_points(info.context.state.db, from_, to, bucket)
    return [FleetPoint.from_point(p) for p in points]


async def resolve_dispatches(
    info: Info[Context, None],
    first: int = 50,
    after: str | None = None,
    status: DispatchStatus | None = None,
    issued_by: str | None = None,
) -> Connection[Dispatch]:
    page = await info.context.state.dispatches.page(
        first=first, after=after, status=status, issued_by=issued_by
    )
    edges = [
        Edge(
            cursor=encode_cursor(DISPATCH_CURSOR, d.created_at.isoformat()),
            node=Dispatch.from_summary(d),
        )
        for d in page.items
    ]
    return Connection(
        edges=edges, page_info=PageInfo(has_next_page=page.has_next, end_cursor=page.end_cursor)
    )


async def resolve_dispatch(
    info: Info[Context, None], dispatch_id: strawberry.ID
) -> Dispatch | None:
    summary = await info.context.state.dispatches.get(str(dispatch_id))
    return Dispatch.from_summary(summary) if summary is not None else None


async def resolve_dispatch_log(
    info: Info[Context, None], dc_id: strawberry.ID | None = None, last: int = 50
) -> list[DispatchCommand]:
    if dc_id is not None:
        node_service.check_node_id(str(dc_id))
    entries = await info.context.state.dispatches.logs(None if dc_id is None else str(dc_id), last)
    return [DispatchCommand.from_entry(e) for e in entries]


async def resolve_forecasts(
    info: Info[Context, None],
    series_id: strawberry.ID = FLEET_ID,
    target: Target | None = None,
    horizon: Horizon = None,
) -> list[Forecast]:
    state = info.context.state
    found = await forecast_service.latest_forecasts(state.db, str(series_id), target, horizon)
    fresh_for = forecast_settings(state.settings).fresh_for
    return [Forecast.from_view(f, fresh_for) for f in found]


async def resolve_models(
    info: Info[Context, None], kind: str | None = None, last: int = 50
) -> list[Model]:
    found = await forecast_service.models(info.context.state.db, kind, last)
    return [Model.from_view(m) for m in found]


async def resolve_forecast_metrics(
    info: Info[Context, None], target: Target | None = None
) -> ForecastMetrics | None:
    found = await forecast_service.latest_backtest(info.context.state.db, target)
    return None if found is None else ForecastMetrics.from_stored(found)


async def resolve_forecast_accuracy(
    info: Info[Context, None],
    target: Target,
    series_id: strawberry.ID = FLEET_ID,
    days: Annotated[
        int, strawberry.argument(description="Forecasts whose first hour is in the last days")
    ] = 1,
) -> ForecastAccuracy:
    state = info.context.state
    found = await accuracy_service.forecast_accuracy(
        state.db,
        forecast_settings(state.settings),
        series_id=str(series_id),
        target=target,
        days=days,
        now=datetime.now(UTC),
    )
    return ForecastAccuracy.from_stored(found)


async def resolve_flexibility(
    info: Info[Context, None],
    kind: Annotated[
        NodeKind | None,
        strawberry.argument(description="Only nodes of this kind (homes, data centres)"),
    ] = None,
) -> Flexibility:
    state = info.context.state
    options = optimize_settings(state.settings)
    found = await forecast_service.flexibility(
        state.db,
        state.redis,
        state.names,
        offline_after_s=state.settings.ingest.offline_after_s,
        limits=GuardLimits.from_settings(
            options, zero_export=rl_settings(state.settings).zero_export
        ),
        forecast_max_age=forecast_settings(state.settings).fresh_for,
        now=datetime.now(UTC),
        kind=kind,
    )
    return Flexibility.from_stored(found)


async def resolve_automation(info: Info[Context, None]) -> Automation:
    state = info.context.state
    view = await automation_service.automation_status(
        state.db, state.temporal.client, state.settings
    )
    return Automation.from_view(view)


async def resolve_decisions(
    info: Info[Context, None],
    *,
    first: int = 50,
    after: str | None = None,
    dc_id: strawberry.ID | None = None,
    cycle_id: str | None = None,
    acting_only: bool = False,
) -> Connection[Decision]:
    page = await automation_service.decisions_page(
        info.context.state.db,
        first=first,
        after=after,
        dc_id=None if dc_id is None else str(dc_id),
        cycle_id=cycle_id,
        acting_only=acting_only,
    )
    edges = [
        Edge(
            cursor=encode_time_cursor(
                automation_service.DECISION_CURSOR, d.record.decided_at, d.id
            ),
            node=Decision.from_view(d),
        )
        for d in page.items
    ]
    return Connection(
        edges=edges, page_info=PageInfo(has_next_page=page.has_next, end_cursor=page.end_cursor)
    )


async def resolve_alert_history(
    info: Info[Context, None],
    first: int = 50,
    after: str | None = None,
    dc_id: strawberry.ID | None = None,
    kind: AlertKind | None = None,
) -> Connection[Alert]:
    page = await alert_service.alerts_page(
        info.context.state.db,
        first=first,
        after=after,
        dc_id=None if dc_id is None else str(dc_id),
        kind=kind,
    )
    edges = [
        Edge(
            cursor=encode_time_cursor(alert_service.ALERT_CURSOR, record.at, alert_id),
            node=Alert.from_record(alert_id, record),
        )
        for alert_id, record in page.items
    ]
    return Connection(
        edges=edges, page_info=PageInfo(has_next_page=page.has_next, end_cursor=page.end_cursor)
    )


@strawberry.type
class Query:
    me: Caller = strawberry.field(
        resolver=resolve_me, permission_classes=[IsViewer], description="The caller's identity"
    )
    nodes: Connection[Node] = strawberry.field(
        resolver=resolve_nodes,
        permission_classes=[IsViewer],
        description="Registered nodes by id, a page at a time",
    )
    node: Node | None = strawberry.field(
        resolver=resolve_node,
        permission_classes=[IsViewer],
        description="A node; null if unregistered",
    )
    telemetry: list[Telemetry] = strawberry.field(
        resolver=resolve_telemetry,
        permission_classes=[IsViewer],
        description="A node's newest readings, newest first",
    )
    telemetry_range: TelemetryRange = strawberry.field(
        resolver=resolve_telemetry_range,
        permission_classes=[IsViewer],
        description="A node's readings with from <= timestamp < to, oldest first; with "
        "`bucket`, avg/min/max per bucket. Paged: `first` readings (or buckets' width) "
        f"per page, at most {MAX_POINTS}",
    )
    fleet_history: list[FleetPoint] = strawberry.field(
        resolver=resolve_fleet_history,
        permission_classes=[IsViewer],
        description="The fleet's aggregate as recorded each minute, averaged per bucket, "
        "with from <= start < to, oldest first; buckets with no recorded minute are left "
        f"out. At most {MAX_FLEET_POINTS} buckets",
    )
    aggregate: Aggregate = strawberry.field(
        resolver=resolve_aggregate,
        permission_classes=[IsViewer],
        description="Totals of the whole fleet, or of the given nodes; cached in Redis",
    )
    dispatches: Connection[Dispatch] = strawberry.field(
        resolver=resolve_dispatches,
        permission_classes=[IsViewer],
        description="Dispatches, newest first, a page at a time",
    )
    dispatch: Dispatch | None = strawberry.field(
        resolver=resolve_dispatch,
        permission_classes=[IsViewer],
        description="A dispatch; null if unknown",
    )
    dispatch_log: list[DispatchCommand] = strawberry.field(
        resolver=resolve_dispatch_log,
        permission_classes=[IsViewer],
        description="Node commands, newest first: of one node (dcId) or of all",
    )
    forecasts: list[Forecast] = strawberry.field(
        resolver=resolve_forecasts,
        permission_classes=[IsViewer],
        description="The newest forecast of each target (or of one) for a node or the fleet",
    )
    models: list[Model] = strawberry.field(
        resolver=resolve_models,
        permission_classes=[IsViewer],
        description="Trained models (kind: forecast, policy), newest first, with their metrics",
    )
    forecast_metrics: ForecastMetrics | None = strawberry.field(
        resolver=resolve_forecast_metrics,
        permission_classes=[IsViewer],
        description=(
            "The newest backtest's table (of one target, or both) and the model it chose "
            "per target; null until `vpp forecast backtest` has stored one"
        ),
    )
    forecast_accuracy: ForecastAccuracy = strawberry.field(
        resolver=resolve_forecast_accuracy,
        permission_classes=[IsViewer],
        description=(
            "How a node's or the fleet's forecasts did against what was then measured, "
            "scored as the backtest scores, on the hours that have ended"
        ),
    )
    flexibility: Flexibility = strawberry.field(
        resolver=resolve_flexibility,
        permission_classes=[IsViewer],
        description=(
            "How much the online batteries can charge or discharge now, and for how long, "
            "and hour by hour over the next day"
        ),
    )
    automation: Automation = strawberry.field(
        resolver=resolve_automation,
        permission_classes=[IsViewer],
        description="The automation switch, and the schedules that run the cycles",
    )
    alert_history: Connection[Alert] = strawberry.field(
        resolver=resolve_alert_history,
        permission_classes=[IsViewer],
        description="The alerts as they happened, newest first: of one node (dcId; the "
        "grid's are the ones without), of one kind, or all; kept as long as telemetry",
    )
    decisions: Connection[Decision] = strawberry.field(
        resolver=resolve_decisions,
        permission_classes=[IsViewer],
        description="The optimiser's decisions, newest first: of one node, one cycle, or all",
    )
