"""The virtual plant's totals (the seed's `/api/aggregate`)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from vpp.graphql.types.enums import FreqStatus
from vpp.store.aggregate import Aggregate as StoredAggregate
from vpp.store.fleet_history import FleetPoint as StoredFleetPoint


@strawberry.type(description="Totals over the online nodes of a scope")
class Aggregate:
    total_power_kw: float
    avg_soc: float | None
    avg_freq: float | None
    node_count: int = strawberry.field(description="Nodes in scope that Redis knows of")
    online_nodes: int
    freq_status: FreqStatus
    computed_at: datetime

    @classmethod
    def from_aggregate(cls, a: StoredAggregate) -> Aggregate:
        return cls(
            total_power_kw=a.total_power_kw,
            avg_soc=a.avg_soc,
            avg_freq=a.avg_freq,
            node_count=a.node_count,
            online_nodes=a.online_nodes,
            freq_status=a.freq_status,
            computed_at=a.computed_at,
        )


@strawberry.type(
    description="The fleet over one bucket of its recorded history: the mean of the "
    "aggregates recorded at its minutes"
)
class FleetPoint:
    start: datetime
    minutes: int = strawberry.field(description="Minutes recorded in the bucket")
    total_power_kw: float
    avg_soc: float | None
    avg_freq: float | None
    node_count: int = strawberry.field(description="The most nodes known in any of its minutes")
    online_nodes: int = strawberry.field(description="The fewest online in any of its minutes")

    @classmethod
    def from_point(cls, p: StoredFleetPoint) -> FleetPoint:
        return cls(
            start=p.start,
            minutes=p.minutes,
            total_power_kw=p.total_power_kw,
            avg_soc=p.avg_soc,
            avg_freq=p.avg_freq,
            node_count=p.node_count,
            online_nodes=p.online_nodes,
        )
