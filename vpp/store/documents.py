"""The stored shapes of the telemetry path: node registry, telemetry readings, dead letters,
the fleet's minute-by-minute history, the nodes' status changes and the alerts derived
from them.

Each collection has a plain pydantic model of its fields (usable without a database, e.g.
to build a document on the ingest hot path, which writes with the raw pymongo collection)
and a Beanie `Document` on top of it for everything that is not a hot path.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from beanie import Document, TimeSeriesConfig
from beanie.odm.settings.timeseries import Granularity
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from vpp.models import NodeId, NodeKind, NodeStatus, Telemetry

NODES = "nodes"
TELEMETRY = "telemetry"
DEAD_LETTERS = "dead_letters"
FLEET_HISTORY = "fleet_history"
ALERTS = "alerts"
NODE_STATUS_LOG = "node_status_log"

# The one index of the telemetry collection, and its duplicate guard: a node cannot
# measure twice in the same millisecond, so (dc_id, timestamp) identifies a reading. Not
# (dc_id, seq): seq restarts when a node (or the simulator) restarts, and a unique
# (dc_id, seq) would refuse every reading of a restarted node for the whole retention
# window. A redelivered message (QoS 1 after a lost PUBACK, an edge buffer replaying)
# carries the same timestamp and is caught for as long as the first copy is kept.
TELEMETRY_KEY_INDEX = "dc_id_timestamp"
TELEMETRY_KEY = [("dc_id", ASCENDING), ("timestamp", ASCENDING)]


def _now() -> datetime:
    return datetime.now(UTC)


class GeoPoint(BaseModel):
    model_config = ConfigDict(frozen=True)

    lat: Annotated[float, Field(ge=-90.0, le=90.0, allow_inf_nan=False)]
    lon: Annotated[float, Field(ge=-180.0, le=180.0, allow_inf_nan=False)]


class NodeSpec(BaseModel):
    """A node as registered: the seed's fields plus its kind."""

    dc_id: NodeId
    kind: NodeKind = NodeKind.EDGE_DC
    hostname: str
    location: GeoPoint
    capacity_kw: Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
    battery_kwh: Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
    created_at: AwareDatetime = Field(default_factory=_now)


class Node(NodeSpec, Document):
    """The `nodes` registry; ingest accepts telemetry only from nodes registered here."""

    class Settings:
        name = NODES
        indexes = [  # noqa: RUF012 - Beanie reads a plain class attribute
            IndexModel([("dc_id", ASCENDING)], name="dc_id_unique", unique=True),
        ]


class TelemetryRecord(Telemetry):
    """A stored reading: the payload as the node sent it, plus when ingest received it."""

    # Not frozen: the Beanie document below sets `id` after an insert.
    model_config = ConfigDict(extra="ignore", frozen=False)

    received_at: AwareDatetime


class StoredTelemetry(TelemetryRecord, Document):
    """The `telemetry` collection, for reads through Beanie.

    The collection itself is created by `vpp.store.database.ensure_telemetry_collection`
    (a time series where the server allows a unique key on one, else a plain collection),
    before `init_beanie` sees it, with the retention and the (dc_id, timestamp) key.
    """

    class Settings:
        name = TELEMETRY
        timeseries = TimeSeriesConfig(
            time_field="timestamp", meta_field="dc_id", granularity=Granularity.seconds
        )


class DeadLetterReason(StrEnum):
    """Why a message was refused; also the `reason` label of the dead-letter counter."""

    BAD_TOPIC = "bad_topic"  # not .../nodes/<valid id>/telemetry|status
    TOO_LARGE = "too_large"  # payload above the size bound, not parsed
    BAD_JSON = "bad_json"  # not UTF-8 JSON (NaN and Infinity literals included)
    SCHEMA = "schema"  # JSON, but not a valid Telemetry (types, ranges, unknown fields)
    ID_MISMATCH = "id_mismatch"  # payload dc_id differs from the topic's node id
    TIMESTAMP_OUT_OF_RANGE = "timestamp_out_of_range"  # beyond retention, or in the future
    UNKNOWN_NODE = "unknown_node"  # not in the `nodes` registry
    DUPLICATE = "duplicate"  # a reading with this (dc_id, timestamp) is already stored
    # Another reading of the node (another seq) holds this (dc_id, timestamp): a node
    # stamping two readings within one millisecond; this one is kept here only.
    TIMESTAMP_TAKEN = "timestamp_taken"
    BAD_STATUS = "bad_status"  # a status payload other than online / offline
    STORE_REJECTED = "store_rejected"  # the database refused the document itself
    INTERNAL_ERROR = "internal_error"  # a bug in ingest; the message is kept, not lost


class DeadLetterRecord(BaseModel):
    """A refused message, kept for inspection: the raw payload (bounded) and the reason."""

    received_at: AwareDatetime
    topic: str
    payload: str  # the raw bytes as text (undecodable bytes escaped), truncated
    payload_size: int  # the original size in bytes
    truncated: bool
    reason: DeadLetterReason
    detail: str | None = None
    dc_id: str | None = None


class DeadLetter(DeadLetterRecord, Document):
    class Settings:
        name = DEAD_LETTERS
        indexes = [  # noqa: RUF012 - Beanie reads a plain class attribute
            IndexModel([("received_at", DESCENDING)], name="received_at"),
        ]


class FleetMinuteRecord(BaseModel):
    """The fleet's aggregate as it stood at the start of a minute (`vpp.store.fleet_history`)."""

    at: AwareDatetime  # the minute's start
    total_power_kw: float
    avg_soc: float | None
    avg_freq: float | None
    node_count: int
    online_nodes: int


class FleetMinute(FleetMinuteRecord, Document):
    # The minute's start again: one document per minute, whoever writes it.
    id: AwareDatetime  # type: ignore[assignment]

    class Settings:
        name = FLEET_HISTORY
        indexes = [  # noqa: RUF012 - Beanie reads a plain class attribute
            # SecantusDB serves a range from a declared index, not from `_id`'s.
            IndexModel([("at", ASCENDING)], name="at"),
        ]


class AlertKind(StrEnum):
    NODE_OFFLINE = "node_offline"
    NODE_ONLINE = "node_online"
    FREQUENCY_OUT_OF_BAND = "frequency_out_of_band"
    FREQUENCY_RESTORED = "frequency_restored"


class AlertRecord(BaseModel):
    """An alert as stored (`vpp.store.alert_log`); its id says what happened when, so the
    API processes that each derive it store it once."""

    kind: AlertKind
    at: AwareDatetime  # when it happened (a reading's or a status's time), not when seen
    message: str
    dc_id: str | None = None  # None: the grid's
    freq: float | None = None
    freq_status: str | None = None
    # A node's return: since when it was offline (the time of the going offline it ends).
    offline_since: AwareDatetime | None = None


class StoredAlert(AlertRecord, Document):
    # "<kind>:<node id or grid>:<epoch ms of at>", a return's of its `offline_since`
    id: str  # type: ignore[assignment]

    class Settings:
        name = ALERTS
        indexes = [  # noqa: RUF012 - Beanie reads a plain class attribute
            IndexModel([("at", DESCENDING)], name="at"),
            IndexModel([("dc_id", ASCENDING), ("at", DESCENDING)], name="dc_id_at"),
        ]


class StatusChangeRecord(BaseModel):
    """A node's status message that changed what ingest knew of it, or a silence between
    its readings (`vpp.store.status_log`)."""

    dc_id: str
    status: NodeStatus
    # When ingest received the message; for a silence, when it began (`offline`) and the
    # reading that ended it (`online`).
    at: AwareDatetime
    logged_at: AwareDatetime  # when ingest wrote it here (after `at`; later on retries)
    silent: bool = False  # an `offline` inferred from a silence, not said by the node


class StoredStatusChange(StatusChangeRecord, Document):
    id: str  # type: ignore[assignment]  # "<node id>:<status>:<epoch ms of at>"

    class Settings:
        name = NODE_STATUS_LOG
        indexes = [  # noqa: RUF012 - Beanie reads a plain class attribute
            IndexModel([("at", ASCENDING)], name="at"),
            IndexModel([("logged_at", ASCENDING)], name="logged_at"),
        ]


DOCUMENT_MODELS: list[type[Document]] = [
    Node,
    StoredTelemetry,
    DeadLetter,
    FleetMinute,
    StoredAlert,
    StoredStatusChange,
]
