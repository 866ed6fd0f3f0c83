"""The automation: its switch, the schedules that run the cycles, and the optimiser's
decisions with the guard's reasons."""

from __future__ import annotations

from datetime import datetime

import strawberry

from vpp.optimize.models import GuardRule
from vpp.services.automation import AutomationView, DecisionView, ScheduleRun, ScheduleView

strawberry.enum(GuardRule, description="The safety guard's rules, in the order they apply")


@strawberry.type(description="One run a schedule started")
class ScheduleRunInfo:
    workflow_id: str
    scheduled_at: datetime
    started_at: datetime
    status: str | None = strawberry.field(description="running, completed, failed, ...")
    url: str = strawberry.field(description="The run in the Temporal UI")

    @classmethod
    def from_run(cls, r: ScheduleRun) -> ScheduleRunInfo:
        return cls(**r.__dict__)


@strawberry.type(description="A Temporal Schedule of the platform")
class ScheduleInfo:
    schedule_id: strawberry.ID
    workflow: str
    task_queue: str
    every: str
    note: str | None
    paused: bool
    runs: int
    next_runs: list[datetime]
    recent: list[ScheduleRunInfo] = strawberry.field(description="Newest first")

    @classmethod
    def from_view(cls, v: ScheduleView) -> ScheduleInfo:
        return cls(
            schedule_id=strawberry.ID(v.schedule_id),
            workflow=v.workflow,
            task_queue=v.task_queue,
            every=v.every,
            note=v.note,
            paused=v.paused,
            runs=v.runs,
            next_runs=v.next_runs,
            recent=[ScheduleRunInfo.from_run(r) for r in v.recent],
        )


@strawberry.type(description="The automation's switch and schedules")
class Automation:
    enabled: bool = strawberry.field(description="Off: each cycle ends at once, sending nothing")
    dry_run: bool = strawberry.field(description="Decide and store, dispatch nothing")
    updated_by: str | None
    updated_at: datetime | None
    cycle_minutes: int
    schedules: list[ScheduleInfo]
    schedules_error: str | None = strawberry.field(
        description="Why the schedules could not be read (Temporal away)"
    )
    temporal_ui: str = strawberry.field(description="The Temporal UI's workflow list")

    @classmethod
    def from_view(cls, v: AutomationView) -> Automation:
        return cls(
            enabled=v.switch.enabled,
            dry_run=v.switch.dry_run,
            updated_by=v.switch.updated_by,
            updated_at=v.switch.updated_at,
            cycle_minutes=v.cycle_minutes,
            schedules=[ScheduleInfo.from_view(s) for s in v.schedules],
            schedules_error=v.schedules_error,
            temporal_ui=v.temporal_ui,
        )


@strawberry.type(description="One change the safety guard made to a node's action")
class GuardChange:
    rule: GuardRule
    reason: str
    kw_before: float
    kw_after: float


@strawberry.type(description="What the optimiser decided for one node in one cycle, and why")
class Decision:
    id: strawberry.ID
    cycle_id: str
    dc_id: strawberry.ID
    decided_at: datetime
    policy: str
    soc: float | None = strawberry.field(description="State of charge when decided, %")
    price_now: float | None
    carbon_now: float | None
    forecast: str = strawberry.field(description="Where the load and PV outlook came from")
    observation: list[float]
    raw_action: float | None = strawberry.field(description="The policy's output in [-1, 1]")
    requested_kw: float
    kw: float = strawberry.field(description="After the guard; positive charges")
    action: str | None = strawberry.field(description="charge, discharge, or null: nothing sent")
    changes: list[GuardChange]
    expected_saving: float
    dry_run: bool
    dispatch_id: strawberry.ID | None

    @classmethod
    def from_view(cls, v: DecisionView) -> Decision:
        r = v.record
        return cls(
            id=strawberry.ID(v.id),
            cycle_id=r.cycle_id,
            dc_id=strawberry.ID(r.dc_id),
            decided_at=r.decided_at,
            policy=r.policy,
            soc=None if r.inputs.soc is None else r.inputs.soc * 100.0,
            price_now=r.inputs.price_now,
            carbon_now=r.inputs.carbon_now,
            forecast=r.inputs.forecast,
            observation=r.observation,
            raw_action=r.raw_action,
            requested_kw=r.requested_kw,
            kw=r.kw,
            action=r.action,
            changes=[
                GuardChange(
                    rule=c.rule, reason=c.reason, kw_before=c.kw_before, kw_after=c.kw_after
                )
                for c in r.changes
            ],
            expected_saving=r.expected_saving,
            dry_run=r.dry_run,
            dispatch_id=strawberry.ID(r.dispatch_id) if r.dispatch_id else None,
        )
