"""Inputs of the node mutations; validated by the service's pydantic models, so REST and
GraphQL refuse the same things."""

from __future__ import annotations

from typing import Any

import strawberry

from vpp.graphql.types.enums import NodeKind


@strawberry.input
class GeoPointInput:
    lat: float
    lon: float


@strawberry.input(description="A node to register")
class NodeInput:
    dc_id: strawberry.ID
    hostname: str
    location: GeoPointInput
    capacity_kw: float
    battery_kwh: float
    kind: NodeKind = NodeKind.EDGE_DC

    def as_dict(self) -> dict[str, Any]:
        return {
            "dc_id": str(self.dc_id),
            "kind": self.kind,
            "hostname": self.hostname,
            "location": {"lat": self.location.lat, "lon": self.location.lon},
            "capacity_kw": self.capacity_kw,
            "battery_kwh": self.battery_kwh,
        }


@strawberry.input(description="The fields to change; those left out (or null) stay")
class NodePatch:
    kind: NodeKind | None = None
    hostname: str | None = None
    location: GeoPointInput | None = None
    capacity_kw: float | None = None
    battery_kwh: float | None = None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": self.kind,
            "hostname": self.hostname,
            "capacity_kw": self.capacity_kw,
            "battery_kwh": self.battery_kwh,
        }
        if self.location is not None:
            data["location"] = {"lat": self.location.lat, "lon": self.location.lon}
        return {k: v for k, v in data.items() if v is not None}
