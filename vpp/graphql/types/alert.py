"""An alert derived from the live data (see `vpp.api.live.alerts`)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from vpp.api.live.alerts import Alert as LiveAlert
from vpp.graphql.types.enums import AlertKind, FreqStatus


@strawberry.type
class Alert:
    kind: AlertKind
    at: datetime
    message: str
    dc_id: strawberry.ID | None = strawberry.field(description="The node; null for the grid")
    freq: float | None
    freq_status: FreqStatus | None

    @classmethod
    def from_alert(cls, a: LiveAlert) -> Alert:
        return cls(
            kind=a.kind,
            at=a.at,
            message=a.message,
            dc_id=strawberry.ID(a.dc_id) if a.dc_id is not None else None,
            freq=a.freq,
            freq_status=a.freq_status,
        )
