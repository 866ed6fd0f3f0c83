"""Subscriptions (graphql-transport-ws), fed by the process's shared live feeds:
telemetry (one node, a list, or the fleet; one message per stored batch), aggregate
(pushed when it changes), alerts (grid frequency out of band, nodes going offline),
dispatch progress, and forecasts (the stored ones, then each cycle's as it is published).

A subscription ends with UNAUTHENTICATED once the token it was opened with has expired;
the client reconnects with a fresh one.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from datetime import timedelta

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from vpp.graphql.context import Context
from vpp.graphql.permissions import IsViewer
from vpp.graphql.types.aggregate import Aggregate
from vpp.graphql.types.alert import Alert
from vpp.graphql.types.dispatch import DispatchProgress
from vpp.graphql.types.forecast import Forecast, Horizon
from vpp.graphql.types.telemetry import Telemetry
from vpp.ml.forecast.documents import FLEET_SERIES
from vpp.ml.forecast.settings import Target, forecast_settings
from vpp.services import forecasts as forecast_service
from vpp.services.aggregate import normalise_scope
from vpp.services.dispatch import check_dispatch_id
from vpp.services.errors import InvalidInputError
from vpp.services.forecasts import ForecastView

FLEET_ID = strawberry.ID(FLEET_SERIES)


def _node_scope(
    dc_id: strawberry.ID | None, dc_ids: list[strawberry.ID] | None
) -> frozenset[str] | None:
    if dc_id is not None and dc_ids is not None:
        raise InvalidInputError.for_field("dcIds", "give dcId or dcIds, not both")
    ids = [str(dc_id)] if dc_id is not None else None
    if dc_ids is not None:
        ids = [str(i) for i in dc_ids]
    scope = normalise_scope(ids, "dcIds" if dc_ids is not None else "dcId")
    return None if scope is None else frozenset(scope)


def _check_token(info: Info[Context, None]) -> None:
    principal = info.context.principal
    leeway = info.context.state.verifier.leeway_s
    if principal is not None and time.time() >= principal.expires_at + leeway:
        raise GraphQLError(
            "the token this subscription was opened with has expired; reconnect",
            extensions={"code": "UNAUTHENTICATED"},
        )


async def subscribe_telemetry(
    info: Info[Context, None],
    dc_id: strawberry.ID | None = None,
    dc_ids: list[strawberry.ID] | None = None,
) -> AsyncGenerator[list[Telemetry], None]:
    scope = _node_scope(dc_id, dc_ids)
    state = info.context.state
    gauge = state.metrics.subscriptions.labels("telemetry")
    gauge.inc()
    try:
        with state.live.telemetry.subscribe() as batches:
            async for batch in batches:
                if scope is not None and scope.isdisjoint(batch.node_ids):
                    continue
                _check_token(info)
                info.context.nodes.clear_all()  # node details as of this batch
                yield [
                    Telemetry.from_record(r)
                    for r in batch.records()
                    if scope is None or r.dc_id in scope
                ]
    finally:
        gauge.dec()


async def subscribe_aggregate(
    info: Info[Context, None], node_ids: list[strawberry.ID] | None = None
) -> AsyncGenerator[Aggregate, None]:
    scope = normalise_scope(None if node_ids is None else [str(i) for i in node_ids])
    state = info.context.state
    gauge = state.metrics.subscriptions.labels("aggregate")
    gauge.inc()
    try:
        key = None if scope is None else tuple(scope)
        async with state.live.aggregates.subscribe(key) as latest:
            while True:
                value = await latest.get()
                _check_token(info)
                yield Aggregate.from_aggregate(value)
    finally:
        gauge.dec()


async def subscribe_alerts(
    info: Info[Context, None], dc_ids: list[strawberry.ID] | None = None
) -> AsyncGenerator[Alert, None]:
    scope = _node_scope(None, dc_ids)
    state = info.context.state
    gauge = state.metrics.subscriptions.labels("alerts")
    gauge.inc()
    try:
        with state.live.alerts.subscribe() as queue:
            while True:
                alert = await queue.get()
                if scope is not None and alert.dc_id is not None and alert.dc_id not in scope:
                    continue
                _check_token(info)
                yield Alert.from_alert(alert)
    finally:
        gauge.dec()


async def subscribe_dispatch_progress(
    info: Info[Context, None], dispatch_id: strawberry.ID
) -> AsyncGenerator[DispatchProgress, None]:
    check_dispatch_id(str(dispatch_id))
    state = info.context.state
    gauge = state.metrics.subscriptions.labels("dispatchProgress")
    gauge.inc()
    try:
        with state.live.progress.subscribe(str(dispatch_id)) as queue:
            while True:
                progress = await queue.get()
                _check_token(info)
                yield DispatchProgress.from_progress(progress)
    finally:
        gauge.dec()


async def subscribe_forecasts(
    info: Info[Context, None],
    series_id: strawberry.ID = FLEET_ID,
    target: Target | None = None,
    horizon: Horizon = None,
) -> AsyncGenerator[list[Forecast], None]:
    series = str(series_id)
    forecast_service.check_forecast_request(series, horizon)
    state = info.context.state
    gauge = state.metrics.subscriptions.labels("forecasts")
    gauge.inc()
    try:
        # Listening before reading: a cycle published in between is not missed.
        with state.live.forecasts.subscribe(series) as queue:
            stored = await forecast_service.latest_forecasts(state.db, series, target)
            newest = {v.target: v for v in stored}
            fresh_for = forecast_settings(state.settings).fresh_for
            yield _forecasts(newest, horizon, fresh_for)
            while True:
                fresh = [
                    v
                    for v in await queue.get()
                    if (target is None or v.target is target)
                    and (v.target not in newest or v.issued_at > newest[v.target].issued_at)
                ]
                if not fresh:
                    continue
                _check_token(info)
                newest.update((v.target, v) for v in fresh)
                yield _forecasts(newest, horizon, fresh_for)
    finally:
        gauge.dec()


def _forecasts(
    newest: dict[Target, ForecastView], horizon: int | None, fresh_for: timedelta
) -> list[Forecast]:
    """Every target's newest forecast, in the order the `forecasts` query gives them."""
    views = [newest[t] for t in Target if t in newest]
    return [
        Forecast.from_view(v if horizon is None else v.within(horizon), fresh_for) for v in views
    ]


@strawberry.type
class Subscription:
    telemetry: AsyncGenerator[list[Telemetry], None] = strawberry.subscription(
        resolver=subscribe_telemetry,
        permission_classes=[IsViewer],
        description="Readings as they are stored: of one node (dcId), a list (dcIds) or "
        "the fleet (neither); one message per stored batch",
    )
    aggregate: AsyncGenerator[Aggregate, None] = strawberry.subscription(
        resolver=subscribe_aggregate,
        permission_classes=[IsViewer],
        description="The aggregate of the fleet or of the given nodes: the current value, "
        "then each change (as fresh as the aggregate cache)",
    )
    dispatch_progress: AsyncGenerator[DispatchProgress, None] = strawberry.subscription(
        resolver=subscribe_dispatch_progress,
        permission_classes=[IsViewer],
        description="A dispatch's progress as its workflows report it (node changes per "
        "shard, then its status); read `dispatch` first for the state so far",
    )
    forecasts: AsyncGenerator[list[Forecast], None] = strawberry.subscription(
        resolver=subscribe_forecasts,
        permission_classes=[IsViewer],
        description="The newest forecast of each target (or of one) for a node or the fleet: "
        "those stored (none: an empty list), then all of them again each time a forecast "
        "cycle publishes a newer one",
    )
    alerts: AsyncGenerator[Alert, None] = strawberry.subscription(
        resolver=subscribe_alerts,
        permission_classes=[IsViewer],
        description="Alerts: grid frequency out of band (and restored), nodes going offline "
        "(and back). With dcIds, node alerts of those nodes only (grid alerts always)",
    )
