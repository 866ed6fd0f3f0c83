"""The dispatch's own models: what an operator asks, what the workflows carry, what the
service answers. Plain pydantic, no I/O, so workflow code can import them.

The bus contract (`Command`, `Ack`, `Action`, `CommandParams`) is `vpp.models`; these
models wrap it. Every workflow, signal, update and activity takes exactly one of them, so
fields can be added without breaking running workflows.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from vpp.dispatch.settings import DispatchSettings
from vpp.models import AckStatus, Action, CommandParams, NodeId, NodeKind

# The id of a dispatch: part of workflow ids and of every command id, so neither ':'
# nor '-' (a shard's workflow id is `dispatch-<id>-s<n>`).
DispatchId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]{1,48}$")]
RequestId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
MAX_TARGETS = 20_000


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- what an operator asks --------------------------------------------------------------


class DispatchRequest(Frozen):
    """A dispatch as the API receives it: the seed's `targets`, `action`, `params`, plus a
    deadline and an idempotency key. The issuer comes from the caller's token."""

    targets: Annotated[list[NodeId], Field(min_length=1, max_length=MAX_TARGETS)] | Literal["all"]
    action: Action
    params: CommandParams = CommandParams()
    # The latest moment a node may take the command (its `expires_at`); default: now plus
    # `DispatchSettings.default_ack_window_s`.
    deadline: AwareDatetime | None = None
    # A client that may retry sends the same key: the retry finds the same dispatch.
    request_id: RequestId | None = None


# -- statuses -------------------------------------------------------------------------------


class NodeStatus(StrEnum):
    """Where one node's command stands. The last four are final."""

    PENDING = "pending"  # not yet handed to the broker
    SENT = "sent"  # the broker has it (PUBACK), the node has not answered
    ACCEPTED = "accepted"  # the node applies it
    COMPLETED = "completed"  # the node reports it done
    REJECTED = "rejected"  # the node refused it (its reason is kept)
    EXPIRED = "expired"  # no answer (or no completion) in time
    CANCELLED = "cancelled"  # cancelled before the node took it


FINAL_NODE_STATUSES = frozenset(
    {NodeStatus.COMPLETED, NodeStatus.REJECTED, NodeStatus.EXPIRED, NodeStatus.CANCELLED}
)


class DispatchStatus(StrEnum):
    RESOLVING = "resolving"  # started; targets being checked against the registry
    RUNNING = "running"
    COMPLETED = "completed"  # every node completed
    PARTIAL = "partial"  # some completed, some not
    FAILED = "failed"  # none completed
    CANCELLED = "cancelled"
    REFUSED = "refused"  # impossible as asked; nothing was sent

    @property
    def final(self) -> bool:
        return self not in (DispatchStatus.RESOLVING, DispatchStatus.RUNNING)


class StatusCounts(BaseModel):
    """Nodes per status."""

    pending: int = 0
    sent: int = 0
    accepted: int = 0
    completed: int = 0
    rejected: int = 0
    expired: int = 0
    cancelled: int = 0

    @property
    def total(self) -> int:
        return sum(self.model_dump().values())

    @property
    def final(self) -> int:
        return self.completed + self.rejected + self.expired + self.cancelled

    def add(self, other: StatusCounts) -> StatusCounts:
        mine, theirs = self.model_dump(), other.model_dump()
        return StatusCounts(**{k: mine[k] + theirs[k] for k in mine})

    @classmethod
    def of(cls, statuses: list[NodeStatus]) -> StatusCounts:
        counts = {s.value: 0 for s in NodeStatus}
        for status in statuses:
            counts[status.value] += 1
        return cls(**counts)


def overall_status(counts: StatusCounts, *, cancel_requested: bool) -> DispatchStatus:
    """The final status of a dispatch whose nodes are all final."""
    if cancel_requested and counts.cancelled:
        return DispatchStatus.CANCELLED
    if counts.total and counts.completed == counts.total:
        return DispatchStatus.COMPLETED
    if counts.completed:
        return DispatchStatus.PARTIAL
    return DispatchStatus.FAILED


# -- what the workflows carry -------------------------------------------------------------


class DispatchTiming(Frozen):
    """How a shard paces resends and waits; copied from `DispatchSettings` at start so a
    running dispatch keeps the pace it started with."""

    resend_initial_s: float = 1.0
    resend_max_s: float = 15.0
    completion_slack_s: float = 2.0
    completion_grace_s: float = 60.0
    measure_settle_s: float = 1.0
    # The log is written at most this often per shard, so that changes close in time
    # (sent, accepted; completed and its measurement) land in one write.
    log_interval_s: float = 2.0

    @classmethod
    def from_settings(cls, options: DispatchSettings) -> DispatchTiming:
        return cls(
            resend_initial_s=options.resend_initial_s,
            resend_max_s=options.resend_max_s,
            completion_slack_s=options.completion_slack_s,
            completion_grace_s=options.completion_grace_s,
            measure_settle_s=options.measure_settle_s,
            log_interval_s=options.log_interval_s,
        )


class DispatchSpec(Frozen):
    """What every part of one dispatch needs to know about it."""

    dispatch_id: DispatchId
    action: Action
    params: CommandParams
    issued_by: str
    created_at: AwareDatetime  # when the request was accepted (the mutation)
    deadline: AwareDatetime  # the commands' `expires_at`


class CancelRequest(Frozen):
    requested_by: str
    reason: str | None = None


class DispatchInput(Frozen):
    """`DispatchWorkflow`'s input."""

    spec: DispatchSpec
    targets: list[NodeId] | Literal["all"]
    timing: DispatchTiming = DispatchTiming()
    shard_size: Annotated[int, Field(ge=1)] = 500
    max_shard_events: Annotated[int, Field(ge=50)] = 10_000


class NodeCommand(BaseModel):
    """One node's command as a shard tracks it (mutable; carried across continue-as-new).
    Times are workflow times, except `node_*_at`, which are the node's own (its acks)."""

    dc_id: str
    status: NodeStatus = NodeStatus.PENDING
    attempts: int = 0  # publishes handed to the broker, the first included
    next_send_at: AwareDatetime | None = None
    sent_at: AwareDatetime | None = None
    accepted_at: AwareDatetime | None = None
    finished_at: AwareDatetime | None = None
    node_accepted_at: AwareDatetime | None = None
    node_completed_at: AwareDatetime | None = None
    reason: str | None = None
    applied_kw: float | None = None
    # Measured response (completed nodes): from the node's telemetry, or why not.
    measured_kw: float | None = None
    measured_ratio: float | None = None
    measured_note: str | None = None
    measured_samples: int | None = None
    recorded: bool = False  # written to dispatch_log at least once

    @property
    def status_at(self) -> datetime | None:
        """When the node reached its current status."""
        if self.status in (NodeStatus.PENDING, NodeStatus.SENT):
            return self.sent_at
        if self.status is NodeStatus.ACCEPTED:
            return self.accepted_at
        return self.finished_at

    @property
    def answered_at(self) -> datetime | None:
        """When the node first answered."""
        if self.accepted_at is not None:
            return self.accepted_at
        if self.status in (NodeStatus.COMPLETED, NodeStatus.REJECTED):
            return self.finished_at
        return None


def since_ms(start: datetime, end: datetime | None) -> int | None:
    return None if end is None else int((end - start).total_seconds() * 1000)


class ShardState(BaseModel):
    """What a shard carries into its next run when it continues as new."""

    nodes: list[NodeCommand]
    dirty: list[str] = []
    live: list[str] = []
    to_measure: list[str] = []
    cancel: CancelRequest | None = None
    runs: int = 1


class ShardInput(Frozen):
    """`DispatchShardWorkflow`'s input: one slice of a dispatch's nodes."""

    spec: DispatchSpec
    shard: Annotated[int, Field(ge=0)]
    node_ids: list[str]
    timing: DispatchTiming = DispatchTiming()
    max_history_events: Annotated[int, Field(ge=50)] = 10_000
    cancel: CancelRequest | None = None  # cancelled before this shard started
    carried: ShardState | None = None  # set when continuing as new


class ShardResult(Frozen):
    shard: int
    counts: StatusCounts
    runs: int  # workflow runs this shard took (1 + continue-as-new count)


class DispatchResult(Frozen):
    dispatch_id: str
    status: DispatchStatus
    counts: StatusCounts


# -- signals and updates ------------------------------------------------------------------


class NodeAck(Frozen):
    """A node's ack as the relay hands it to the shard: the bus `Ack` plus the node id,
    which the relay takes from the topic (only that node may publish there)."""

    dc_id: str
    command_id: str
    status: AckStatus
    reason: str | None = None
    applied_kw: float | None = None
    at: AwareDatetime


class AckBatch(Frozen):
    """Many acks in one signal, so a large fleet's answers cost few history events."""

    acks: list[NodeAck]


class AwaitAcceptance(Frozen):
    """The update a starter sends with the start: it returns once the targets are checked."""


class Acceptance(Frozen):
    dispatch_id: str
    node_count: int
    shard_count: int
    created_at: AwareDatetime  # the dispatch's: a retried request learns it hit an old one
    deadline: AwareDatetime


# -- activities ---------------------------------------------------------------------------


class RegisteredNode(Frozen):
    """What the registry says a node can take."""

    dc_id: str
    kind: NodeKind
    capacity_kw: float


class ResolveInput(Frozen):
    targets: list[NodeId] | Literal["all"]
    action: Action
    params: CommandParams


class ResolvedTargets(Frozen):
    node_ids: list[str]
    notes: list[str] = []  # nodes `all` left out, and why


class Refusal(Frozen):
    """Why a dispatch is impossible as asked; the details of a `DispatchRefused` error."""

    message: str
    problems: list[str]


class DispatchRecordInput(Frozen):
    """The `dispatches` document's state as the parent workflow sees it."""

    spec: DispatchSpec
    workflow_id: str
    targets: list[str] | Literal["all"] | None = None  # given once, with the first record
    status: DispatchStatus
    node_count: int | None = None
    shard_count: int | None = None
    counts: StatusCounts | None = None
    reason: str | None = None
    problems: list[str] = []
    notes: list[str] = []
    cancel: CancelRequest | None = None
    finished_at: AwareDatetime | None = None


class SendInput(Frozen):
    spec: DispatchSpec
    shard: int
    node_ids: list[str]


class SendResult(Frozen):
    sent: list[str]  # the nodes whose command the broker acknowledged


class RecordNodesInput(Frozen):
    spec: DispatchSpec
    shard: int
    nodes: list[NodeCommand]
    counts: StatusCounts  # the whole shard's, after these changes
    done: bool = False  # the shard's last record


class MeasureTarget(Frozen):
    dc_id: str
    command_id: str
    start: AwareDatetime  # the node's accepted ack
    end: AwareDatetime  # the node's completed ack


class MeasureInput(Frozen):
    spec: DispatchSpec
    nodes: list[MeasureTarget]
    settle_s: float = 1.0  # wait this long after the last completion for its readings


class NodeMeasurement(Frozen):
    dc_id: str
    measured_kw: float | None
    ratio: float | None
    note: str | None
    samples: int


class MeasureResult(Frozen):
    nodes: list[NodeMeasurement]


# -- what the service answers -----------------------------------------------------------


class DispatchStarted(Frozen):
    dispatch_id: str
    workflow_id: str
    node_count: int
    shard_count: int
    deadline: AwareDatetime
    progress_channel: str  # Redis pub/sub channel of its live progress
    existing: bool = False  # a retried request: the dispatch had already started


class DispatchSummary(Frozen):
    dispatch_id: str
    workflow_id: str
    action: Action
    params: CommandParams
    targets: list[str] | Literal["all"]
    issued_by: str
    created_at: AwareDatetime
    deadline: AwareDatetime
    status: DispatchStatus
    node_count: int | None
    counts: StatusCounts
    reason: str | None = None
    problems: list[str] = []
    notes: list[str] = []
    cancelled_by: str | None = None
    finished_at: AwareDatetime | None = None
    updated_at: AwareDatetime | None = None


class DispatchLogEntry(Frozen):
    """One node's command in `dispatch_log`: the seed's fields (`dc_id`, `action`,
    `params`, `issued_by`, `timestamp`, `status`) plus attempts, latency and the outcome."""

    id: str
    dc_id: str
    action: Action
    params: CommandParams
    issued_by: str
    timestamp: AwareDatetime  # when the dispatch was issued
    status: NodeStatus
    dispatch_id: str
    command_id: str
    attempts: int
    latency_ms: int | None = None  # issue -> this status
    ack_latency_ms: int | None = None  # issue -> the node's first answer
    reason: str | None = None
    applied_kw: float | None = None  # as the node reports it
    measured_kw: float | None = None  # from its telemetry
    measured_ratio: float | None = None  # measured_kw / commanded kW
    measured_note: str | None = None  # why there is no ratio, or how it was estimated
    sent_at: AwareDatetime | None = None
    accepted_at: AwareDatetime | None = None
    finished_at: AwareDatetime | None = None
    updated_at: AwareDatetime | None = None


class DispatchDetail(Frozen):
    dispatch: DispatchSummary
    nodes: list[DispatchLogEntry]


class NodeProgress(Frozen):
    dc_id: str
    status: NodeStatus
    attempts: int
    reason: str | None = None
    latency_ms: int | None = None


class DispatchProgress(Frozen):
    """One message on a dispatch's progress channel: either a shard's node changes (with
    that shard's counts) or, with `shard` None, the dispatch's own status."""

    dispatch_id: str
    at: datetime
    status: DispatchStatus | None = None
    shard: int | None = None
    counts: StatusCounts
    nodes: list[NodeProgress] = []
