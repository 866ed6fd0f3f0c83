"""A reading, a downsampled bucket, and a page of a time range."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from vpp.graphql.context import Context
from vpp.graphql.types.enums import Bucket
from vpp.graphql.types.pagination import PageInfo
from vpp.store.documents import TelemetryRecord
from vpp.store.telemetry_queries import Stats as StoredStats
from vpp.store.telemetry_queries import TelemetryBucket as StoredBucket

if TYPE_CHECKING:
    from vpp.graphql.types.node import Node


async def resolve_node(
    root: Telemetry, info: Info[Context, None]
) -> Annotated[Node, strawberry.lazy("vpp.graphql.types.node")] | None:
    from vpp.graphql.types.node import Node

    spec = await info.context.nodes.load(str(root.dc_id))
    return Node.from_spec(spec) if spec is not None else None


@strawberry.type(description="One reading of a node (the seed's fields plus seq)")
class Telemetry:
    dc_id: strawberry.ID
    seq: int
    timestamp: datetime
    soc: float = strawberry.field(description="Battery state of charge, %")
    power_kw: float = strawberry.field(
        description="Net exchange with the grid, kW: positive imports, negative exports"
    )
    freq: float = strawberry.field(description="Grid frequency, Hz")
    cpu_usage: float | None
    network_mb_sent: float | None
    network_mb_recv: float | None
    load_factor: float | None
    load_kw: float | None
    pv_kw: float | None
    battery_kw: float | None = strawberry.field(description="Positive charges the battery")
    received_at: datetime | None
    node: Annotated[Node, strawberry.lazy("vpp.graphql.types.node")] | None = strawberry.field(
        resolver=resolve_node, description="The node that sent it (batched per request)"
    )

    @classmethod
    def from_record(cls, r: TelemetryRecord) -> Telemetry:
        return cls(
            dc_id=strawberry.ID(r.dc_id),
            seq=r.seq,
            timestamp=r.timestamp,
            soc=r.soc,
            power_kw=r.power_kw,
            freq=r.freq,
            cpu_usage=r.cpu_usage,
            network_mb_sent=r.network_mb_sent,
            network_mb_recv=r.network_mb_recv,
            load_factor=r.load_factor,
            load_kw=r.load_kw,
            pv_kw=r.pv_kw,
            battery_kw=r.battery_kw,
            received_at=r.received_at,
        )

    @classmethod
    def from_live(cls, reading: dict[str, Any]) -> Telemetry:
        """From a reading as the ingester published it on the live channel."""
        return cls.from_record(TelemetryRecord.model_validate(reading))


@strawberry.type
class Stats:
    avg: float
    min: float
    max: float

    @classmethod
    def from_stats(cls, s: StoredStats) -> Stats:
        return cls(avg=s.avg, min=s.min, max=s.max)


@strawberry.type(description="The readings of one bucket [start, start + width)")
class TelemetryBucket:
    start: datetime
    count: int
    power_kw: Stats
    soc: Stats
    freq: Stats

    @classmethod
    def from_bucket(cls, b: StoredBucket) -> TelemetryBucket:
        return cls(
            start=b.start,
            count=b.count,
            power_kw=Stats.from_stats(b.power_kw),
            soc=Stats.from_stats(b.soc),
            freq=Stats.from_stats(b.freq),
        )


@strawberry.type(
    description="A page of a node's time range: raw `readings` without a bucket, `buckets` with one"
)
class TelemetryRange:
    dc_id: strawberry.ID
    bucket: Bucket | None
    readings: list[Telemetry]
    buckets: list[TelemetryBucket]
    page_info: PageInfo
