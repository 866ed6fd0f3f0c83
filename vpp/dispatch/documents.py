"""The dispatch's MongoDB collections, as Beanie documents with named indexes.

- `dispatches`: one document per request, `_id` = dispatch id. Each shard writes its own
  counts under `shards.<n>` (a `$set`, so a repeated write changes nothing); the parent
  writes the totals when the dispatch ends.
- `dispatch_log`: one document per node command, `_id` = command id
  (`<dispatch>:<shard>:<node>`), so it can exist only once; rewritten on each change of
  the command's state. The seed's fields (`dc_id`, `action`, `params`, `issued_by`,
  `timestamp`, `status`) plus attempts, latency, the node's reason and the measured
  response.

The activities write with the raw collections (hot path); `init_dispatch_store` creates
the indexes.
"""

from __future__ import annotations

from typing import Literal

from beanie import Document, init_beanie
from pydantic import AwareDatetime, BaseModel, ConfigDict
from pymongo import ASCENDING, DESCENDING, IndexModel

from vpp.dispatch.models import DispatchStatus, NodeStatus, StatusCounts
from vpp.models import Action, CommandParams
from vpp.store.database import Database

DISPATCHES = "dispatches"
DISPATCH_LOG = "dispatch_log"


class DispatchRecord(BaseModel):
    """A `dispatches` document's fields (all optional but the id: shards may write their
    counts before the parent's first write lands)."""

    model_config = ConfigDict(extra="ignore")

    workflow_id: str | None = None
    action: Action | None = None
    params: CommandParams | None = None
    targets: list[str] | Literal["all"] | None = None
    issued_by: str | None = None
    created_at: AwareDatetime | None = None
    deadline: AwareDatetime | None = None
    status: DispatchStatus | None = None
    node_count: int | None = None
    shard_count: int | None = None
    counts: StatusCounts | None = None  # final totals
    shards: dict[str, StatusCounts] = {}  # live, per shard
    reason: str | None = None
    problems: list[str] = []
    notes: list[str] = []
    cancelled_by: str | None = None
    finished_at: AwareDatetime | None = None
    updated_at: AwareDatetime | None = None


class Dispatch(DispatchRecord, Document):
    id: str  # type: ignore[assignment]  # the dispatch id

    class Settings:
        name = DISPATCHES
        indexes = [  # noqa: RUF012 - Beanie reads a plain class attribute
            IndexModel([("created_at", DESCENDING)], name="created_at"),
            IndexModel(
                [("issued_by", ASCENDING), ("created_at", DESCENDING)], name="issued_by_created"
            ),
            IndexModel([("status", ASCENDING), ("created_at", DESCENDING)], name="status_created"),
        ]


class DispatchLogRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")

    dc_id: str
    action: Action
    params: CommandParams
    issued_by: str
    timestamp: AwareDatetime
    status: NodeStatus
    dispatch_id: str
    shard: int
    attempts: int
    latency_ms: int | None = None
    ack_latency_ms: int | None = None
    reason: str | None = None
    applied_kw: float | None = None
    measured_kw: float | None = None
    measured_ratio: float | None = None
    measured_note: str | None = None
    measured_samples: int | None = None
    sent_at: AwareDatetime | None = None
    accepted_at: AwareDatetime | None = None
    finished_at: AwareDatetime | None = None
    node_accepted_at: AwareDatetime | None = None
    node_completed_at: AwareDatetime | None = None
    updated_at: AwareDatetime | None = None


class DispatchLog(DispatchLogRecord, Document):
    id: str  # type: ignore[assignment]  # the command id

    class Settings:
        name = DISPATCH_LOG
        indexes = [  # noqa: RUF012 - Beanie reads a plain class attribute
            IndexModel(
                [("dispatch_id", ASCENDING), ("dc_id", ASCENDING)],
                name="dispatch_node_unique",
                unique=True,
            ),
            # A dispatch's commands in one status (the API's node filter).
            IndexModel(
                [("dispatch_id", ASCENDING), ("status", ASCENDING), ("dc_id", ASCENDING)],
                name="dispatch_status_node",
            ),
            IndexModel([("dc_id", ASCENDING), ("timestamp", DESCENDING)], name="dc_id_timestamp"),
            IndexModel([("timestamp", DESCENDING)], name="timestamp"),
            # The commands still binding (pending, sent, accepted) that the optimiser
            # leaves alone (`vpp.optimize.fleet.held_nodes`).
            IndexModel([("status", ASCENDING), ("timestamp", DESCENDING)], name="status_timestamp"),
        ]


DISPATCH_DOCUMENT_MODELS: list[type[Document]] = [Dispatch, DispatchLog]


async def init_dispatch_store(db: Database) -> None:
    """Bind the documents and create their indexes (idempotent)."""
    await init_beanie(database=db, document_models=DISPATCH_DOCUMENT_MODELS)
