"""The REST routers, one per resource, gathered in `routers`.

Each router carries its whole path prefix (`/api/nodes` ...) and the app includes it
directly, so a route's template (the metrics' `route` label) is its full path.
"""

from __future__ import annotations

from fastapi import APIRouter

from vpp.api.routes import aggregate, dispatch, health, nodes, telemetry

routers: list[APIRouter] = [
    health.router,
    telemetry.router,
    nodes.router,
    aggregate.router,
    dispatch.router,
]
