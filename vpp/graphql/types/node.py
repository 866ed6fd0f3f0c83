"""A registered node, with its live state batched per request by a DataLoader."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from vpp.graphql.context import Context
from vpp.graphql.types.enums import NodeKind, NodeStatus
from vpp.graphql.types.telemetry import Telemetry
from vpp.store.documents import GeoPoint as StoredGeoPoint
from vpp.store.documents import NodeSpec
from vpp.store.live_state import NodeLiveState


@strawberry.type
class GeoPoint:
    lat: float
    lon: float

    @classmethod
    def from_point(cls, p: StoredGeoPoint) -> GeoPoint:
        return cls(lat=p.lat, lon=p.lon)


@strawberry.type(description="What Redis knows of a node right now")
class NodeLive:
    online: bool = strawberry.field(
        description="Heard from within offline_after_s, and no offline status since"
    )
    last_seen: datetime | None
    status: NodeStatus | None
    status_at: datetime | None
    reading: Telemetry | None = strawberry.field(description="Its newest reading")

    @classmethod
    def from_state(cls, s: NodeLiveState) -> NodeLive:
        return cls(
            online=s.online,
            last_seen=s.last_seen,
            status=s.status,
            status_at=s.status_at,
            reading=Telemetry.from_record(s.reading) if s.reading is not None else None,
        )


async def resolve_live(root: Node, info: Info[Context, None]) -> NodeLive | None:
    state = await info.context.live_states.load(str(root.dc_id))
    return NodeLive.from_state(state) if state is not None else None


@strawberry.type(description="A registered distributed energy resource")
class Node:
    dc_id: strawberry.ID
    kind: NodeKind
    hostname: str
    location: GeoPoint
    capacity_kw: float
    battery_kwh: float
    created_at: datetime

    @classmethod
    def from_spec(cls, n: NodeSpec) -> Node:
        return cls(
            dc_id=strawberry.ID(n.dc_id),
            kind=n.kind,
            hostname=n.hostname,
            location=GeoPoint.from_point(n.location),
            capacity_kw=n.capacity_kw,
            battery_kwh=n.battery_kwh,
            created_at=n.created_at,
        )

    live: NodeLive | None = strawberry.field(
        resolver=resolve_live, description="Its live state; null if it never reported"
    )
