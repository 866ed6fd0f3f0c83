"""Prometheus metrics of the API, on a registry of the app (not the global one), served
at `/metrics`: requests and their latency by route, live subscriptions by kind, the
WebSocket connections, and the live broadcaster's messages and drops."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vpp.store.aggregate import Aggregate

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ApiMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "vpp_api_requests",
            "HTTP requests answered, by method, route template and status",
            ["method", "route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "vpp_api_request_seconds",
            "Time to answer an HTTP request, by method and route template",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.graphql_operations = Counter(
            "vpp_api_graphql_operations",
            "GraphQL operations, by type and outcome (ok, error)",
            ["type", "outcome"],
            registry=r,
        )
        self.graphql_seconds = Histogram(
            "vpp_api_graphql_operation_seconds",
            "Time to execute a GraphQL query or mutation, by type",
            ["type"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.subscriptions = Gauge(
            "vpp_api_subscriptions",
            "Active GraphQL subscriptions, by field",
            ["field"],
            registry=r,
        )
        self.websockets = Gauge(
            "vpp_api_websocket_connections", "Open WebSocket connections", registry=r
        )
        self.live_messages = Counter(
            "vpp_api_live_messages",
            "Messages received on the Redis live channel (one per stored batch)",
            registry=r,
        )
        self.live_dropped = Counter(
            "vpp_api_live_dropped",
            "Live batches dropped for a subscriber too slow to keep up",
            registry=r,
        )
        self.live_connected = Gauge(
            "vpp_api_live_connected",
            "1 while the process's Redis subscription to the live channel is up",
            registry=r,
        )
        self.fleet = FleetGauges(r)
        self.auth_failures = Counter(
            "vpp_api_auth_failures",
            "Requests refused for their credentials, by status (401, 403)",
            ["status"],
            registry=r,
        )


class FleetGauges:
    """The fleet as the aggregate sees it, set at each scrape (see `refresh_fleet`): every
    API replica reports the same numbers, so alerts and dashboards take their max."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.nodes = Gauge("vpp_fleet_nodes", "Nodes in the registry", registry=r)
        self.online = Gauge(
            "vpp_fleet_nodes_online", "Nodes heard from within the offline window", registry=r
        )
        self.power = Gauge(
            "vpp_fleet_power_watts", "Net grid exchange of the online nodes", registry=r
        )
        self.soc = Gauge(
            "vpp_fleet_soc_percent", "Mean state of charge of the online nodes", registry=r
        )
        self.freq = Gauge(
            "vpp_fleet_frequency_hertz", "Mean grid frequency the nodes see", registry=r
        )
        self.up = Gauge(
            "vpp_fleet_aggregate_up", "1 if the last scrape could read the aggregate", registry=r
        )

    def set(self, aggregate: Aggregate | None) -> None:
        self.up.set(aggregate is not None)
        if aggregate is None:
            return
        self.nodes.set(aggregate.node_count)
        self.online.set(aggregate.online_nodes)
        self.power.set(aggregate.total_power_kw * 1000.0)
        self.soc.set(aggregate.avg_soc if aggregate.avg_soc is not None else float("nan"))
        self.freq.set(aggregate.avg_freq if aggregate.avg_freq is not None else float("nan"))


class MetricsMiddleware:
    """Counts and times every HTTP request by its route template (bounded labels);
    counts open WebSocket connections."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            self.metrics.websockets.inc()
            try:
                await self.app(scope, receive, send)
            finally:
                self.metrics.websockets.dec()
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = _route_of(scope)
            method = scope.get("method", "?")
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)


def _route_of(scope: Mapping[str, Any]) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"
