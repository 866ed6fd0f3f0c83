"""An alert derived from the live data (see `vpp.api.live.alerts`)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from vpp.api.live.alerts import Alert as LiveAlert
from vpp.graphql.types.enums import AlertKind, FreqStatus
from vpp.store.documents import AlertRecord


@strawberry.type
class Alert:
    id: strawberry.ID = strawberry.field(
        description="What happened, to what, when: the same live and stored"
    )
    kind: AlertKind
    at: datetime
    message: str
    dc_id: strawberry.ID | None = strawberry.field(description="The node; null for the grid")
    freq: float | None
    freq_status: FreqStatus | None
    offline_since: datetime | None = strawberry.field(
        description="A node's return: since when it was offline; null for other alerts"
    )

    @classmethod
    def from_alert(cls, a: LiveAlert) -> Alert:
        return cls(
            id=strawberry.ID(a.id),
            kind=a.kind,
            at=a.at,
            message=a.message,
            dc_id=strawberry.ID(a.dc_id) if a.dc_id is not None else None,
            freq=a.freq,
            freq_status=a.freq_status,
            offline_since=a.offline_since,
        )

    @classmethod
    def from_record(cls, alert_id: str, r: AlertRecord) -> Alert:
        return cls(
            id=strawberry.ID(alert_id),
            kind=r.kind,
            at=r.at,
            message=r.message,
            dc_id=strawberry.ID(r.dc_id) if r.dc_id is not None else None,
            freq=r.freq,
            freq_status=None if r.freq_status is None else FreqStatus(r.freq_status),
            offline_since=r.offline_since,
        )
