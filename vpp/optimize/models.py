"""What the optimisation cycle carries: the fleet's state as the guard sees it, the guard's
changes, decisions, and the workflow's and activities' inputs and results. Plain
pydantic, no I/O, so workflow code imports them (Pydantic data converter).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from vpp.dispatch.models import DispatchTiming
from vpp.models import Action, NodeKind

# Dispatches the automation starts carry this issuer (the search attribute `VppIssuer`),
# so the Temporal UI and the `dispatches` query tell them from an operator's.
AUTOMATION_ISSUER = "automation"


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GuardRule(StrEnum):
    STATE = "state"
    MANUAL = "manual"
    FREQUENCY = "frequency"
    POWER = "power"
    SOC = "soc"
    EXPORT = "export"
    FLEET = "fleet"
    DEADBAND = "deadband"


class GuardChange(Frozen):
    rule: GuardRule
    reason: str
    kw_before: float
    kw_after: float


class NodeState(Frozen):
    """One node as the cycle read it: registry, latest reading, what holds it."""

    dc_id: str
    kind: NodeKind
    capacity_kw: float
    battery_kwh: float
    soc: float | None = None  # fraction 0-1
    battery_kw: float | None = None
    load_kw: float | None = None
    pv_kw: float | None = None
    reading_at: AwareDatetime | None = None
    held_by: str | None = None  # the operator's dispatch id that holds the node
    # Why no decision can be made for it (offline, stale, no reading); None when it can.
    problem: str | None = None


# -- the switch ------------------------------------------------------------------------------


class AutomationSwitch(Frozen):
    enabled: bool
    dry_run: bool
    updated_by: str | None = None
    updated_at: AwareDatetime | None = None


# -- the cycle ---------------------------------------------------------------------------------


class OptimizeCycleInput(Frozen):
    # Override the stored dry-run switch for this run (a rehearsal); None obeys the switch.
    dry_run: bool | None = None
    # Only these nodes (default: every registered home battery).
    node_ids: list[str] | None = None


class DecideInput(Frozen):
    cycle_id: str
    decided_at: AwareDatetime
    dry_run: bool
    node_ids: list[str] | None = None


class DispatchGroup(Frozen):
    """Nodes that get the same command: one child dispatch."""

    action: Action
    kw: float
    node_ids: list[str]


class DispatchPlan(Frozen):
    """What the workflow needs to start the dispatches, fixed by the activity from the
    settings so the workflow itself reads none."""

    groups: list[DispatchGroup]
    task_queue: str  # the dispatch workflows' (the I/O queue)
    duration_s: int
    ack_window_s: float
    timing: DispatchTiming
    shard_size: int
    max_shard_events: int


class DecideResult(Frozen):
    policy: str  # the policy's name and version
    decisions: int  # stored, one per node considered
    acting: int  # nodes that will get a command (or would, dry run)
    guarded: int  # nodes whose action the guard changed
    expected_saving: float  # sum over nodes, currency units over the cycle's horizon
    plan: DispatchPlan
    notes: list[str] = []


class StartedDispatch(Frozen):
    dispatch_id: str
    workflow_id: str
    action: Action
    kw: float
    node_ids: list[str]


class AttachInput(Frozen):
    cycle_id: str
    dispatches: list[StartedDispatch]


class OptimizeCycleResult(Frozen):
    cycle_id: str
    status: Annotated[str, Field(pattern="^(off|dry_run|dispatched|idle)$")]
    policy: str | None = None
    decisions: int = 0
    acting: int = 0
    guarded: int = 0
    expected_saving: float = 0.0
    dispatches: list[StartedDispatch] = []
    notes: list[str] = []
