"""The virtual plant's totals (the seed's `/api/aggregate`)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from vpp.graphql.types.enums import FreqStatus
from vpp.store.aggregate import Aggregate as StoredAggregate


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
