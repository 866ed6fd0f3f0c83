"""The domain models every process shares: what travels on the bus and what the API shows.

Payloads are validated strictly (unknown fields, non-finite numbers and out-of-range values
are refused) because they come from devices; the seed's field names are kept (`dc_id`
is the node's id, whatever its kind).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

NodeId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
Percent = Annotated[float, Field(ge=0.0, le=100.0, allow_inf_nan=False)]
Kilowatts = Annotated[float, Field(ge=-100_000.0, le=100_000.0, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0.0, le=1e9, allow_inf_nan=False)]


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NodeKind(StrEnum):
    EDGE_DC = "edge_dc"  # the seed's edge data centre: battery + flexible compute load
    HOME_DER = "home_der"  # a home with battery, PV and household load


class Telemetry(Payload):
    """One reading, published by a node on `.../nodes/{dc_id}/telemetry`."""

    dc_id: NodeId
    seq: Annotated[int, Field(ge=0)]
    timestamp: AwareDatetime
    soc: Percent
    power_kw: Kilowatts  # net exchange with the grid: positive imports, negative exports
    freq: Annotated[float, Field(ge=40.0, le=70.0, allow_inf_nan=False)]
    cpu_usage: Percent | None = None
    network_mb_sent: NonNegative | None = None
    network_mb_recv: NonNegative | None = None
    load_factor: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)] | None = None
    load_kw: NonNegative | None = None
    pv_kw: NonNegative | None = None
    battery_kw: Kilowatts | None = None  # positive charges the battery


class Action(StrEnum):
    CHARGE = "charge"
    DISCHARGE = "discharge"
    DEFER_LOAD = "defer_load"
    HOLD = "hold"


class CommandParams(Payload):
    kw: Annotated[float, Field(ge=0.0, le=100_000.0, allow_inf_nan=False)] = 0.0
    duration_s: Annotated[int, Field(ge=1, le=86_400)] = 900


class Command(Payload):
    """A dispatch command to one node, on `.../nodes/{node_id}/cmd`."""

    command_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    dispatch_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    action: Action
    params: CommandParams = CommandParams()
    expires_at: AwareDatetime


class AckStatus(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    COMPLETED = "completed"


class Ack(Payload):
    """A node's answer to a command, on `.../nodes/{node_id}/ack`."""

    command_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    status: AckStatus
    reason: str | None = None
    applied_kw: float | None = None
    at: AwareDatetime


class NodeStatus(StrEnum):
    """The retained payload (and last will) on `.../nodes/{node_id}/status`."""

    ONLINE = "online"
    OFFLINE = "offline"
