"""The automation use cases as the API serves them: the switch (on/off, dry run), the
Temporal Schedules that run the cycles with their recent runs, and the optimiser's
decisions. Reading the switch and the decisions needs only MongoDB; the schedules need
Temporal, and are reported unavailable (not an error of the whole query) while it is away.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from temporalio.client import Client, ScheduleActionStartWorkflow, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from vpp.config import Settings
from vpp.optimize.documents import DECISIONS, DecisionRecord
from vpp.optimize.models import AutomationSwitch
from vpp.optimize.settings import optimize_settings
from vpp.optimize.switch import read_switch, set_switch
from vpp.schedules import all_definitions
from vpp.services.errors import InvalidInputError, NotFoundError, UnavailableError
from vpp.services.nodes import check_node_id
from vpp.services.paging import (
    Page,
    check_page_size,
    decode_time_cursor,
    encode_time_cursor,
)
from vpp.store.database import Database
from vpp.store.recent import newest_first

DECISION_CURSOR = "decision"
RECENT_RUNS = 5


@dataclass(frozen=True)
class ScheduleRun:
    workflow_id: str
    scheduled_at: datetime
    started_at: datetime
    status: str | None  # running, completed, failed, ... (None when unknown)
    url: str  # the run in the Temporal UI


@dataclass(frozen=True)
class ScheduleView:
    schedule_id: str
    workflow: str
    task_queue: str
    every: str
    note: str | None
    paused: bool
    runs: int
    next_runs: list[datetime]
    recent: list[ScheduleRun]


@dataclass(frozen=True)
class AutomationView:
    switch: AutomationSwitch
    cycle_minutes: int
    schedules: list[ScheduleView] = field(default_factory=list)
    schedules_error: str | None = None  # why the schedules could not be read
    temporal_ui: str = ""


def workflow_url(settings: Settings, workflow_id: str) -> str:
    return f"{settings.temporal.ui_url}/{workflow_id}"


def _known_schedules(settings: Settings) -> list[str]:
    return [d.schedule_id for d in all_definitions(settings)]


async def automation_status(
    db: Database, client: Client | None, settings: Settings
) -> AutomationView:
    options = optimize_settings(settings)
    switch = await read_switch(db, options)
    view = AutomationView(
        switch=switch, cycle_minutes=options.cycle_minutes, temporal_ui=settings.temporal.ui_url
    )
    if client is None:
        return replace(view, schedules_error="Temporal is not reachable")
    schedules = []
    try:
        for schedule_id in _known_schedules(settings):
            found = await _schedule(client, settings, schedule_id)
            if found is not None:
                schedules.append(found)
    except RPCError as exc:
        return replace(view, schedules_error=exc.message)
    return replace(view, schedules=schedules)


async def _schedule(client: Client, settings: Settings, schedule_id: str) -> ScheduleView | None:
    try:
        desc = await client.get_schedule_handle(schedule_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None  # not applied yet (`vpp schedules apply`)
        raise
    action = desc.schedule.action
    start = action if isinstance(action, ScheduleActionStartWorkflow) else None
    spec = desc.schedule.spec
    every = ", ".join(f"every {i.every}" for i in spec.intervals) or ", ".join(
        f"{c.hour[0].start:02d}:{c.minute[0].start:02d} UTC daily"
        for c in spec.calendars
        if c.hour and c.minute
    )
    recent = []
    for result in desc.info.recent_actions[-RECENT_RUNS:][::-1]:
        workflow_id = getattr(result.action, "workflow_id", "")
        recent.append(
            ScheduleRun(
                workflow_id=workflow_id,
                scheduled_at=result.scheduled_at,
                started_at=result.started_at,
                status=await _run_status(client, workflow_id),
                url=workflow_url(settings, workflow_id),
            )
        )
    return ScheduleView(
        schedule_id=schedule_id,
        workflow=start.workflow if start and isinstance(start.workflow, str) else "?",
        task_queue=start.task_queue if start else "?",
        every=every,
        note=desc.schedule.state.note,
        paused=desc.schedule.state.paused,
        runs=desc.info.num_actions,
        next_runs=list(desc.info.next_action_times[:3]),
        recent=recent,
    )


async def _run_status(client: Client, workflow_id: str) -> str | None:
    if not workflow_id:
        return None
    try:
        status = (await client.get_workflow_handle(workflow_id).describe()).status
    except RPCError:
        return None
    names = {s: s.name.lower() for s in WorkflowExecutionStatus}
    return names.get(status) if status is not None else None


async def set_automation(
    db: Database,
    settings: Settings,
    *,
    by: str,
    enabled: bool | None,
    dry_run: bool | None,
) -> AutomationSwitch:
    if enabled is None and dry_run is None:
        raise InvalidInputError.for_field("enabled", "give enabled, dryRun or both")
    return await set_switch(
        db,
        optimize_settings(settings),
        by=by,
        now=datetime.now(UTC),
        enabled=enabled,
        dry_run=dry_run,
    )


async def set_schedule_paused(
    client: Client, settings: Settings, schedule_id: str, *, paused: bool, by: str
) -> None:
    """Pause or resume one of the platform's schedules (the note says who and when)."""
    if schedule_id not in _known_schedules(settings):
        raise InvalidInputError.for_field(
            "scheduleId", f"one of {', '.join(_known_schedules(settings))}"
        )
    handle = client.get_schedule_handle(schedule_id)
    note = f"{'paused' if paused else 'resumed'} by {by}"
    try:
        if paused:
            await handle.pause(note=note)
        else:
            await handle.unpause(note=note)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise NotFoundError(f"schedule {schedule_id} is not applied yet") from None
        raise UnavailableError(f"Temporal refused the request: {exc.message}") from None


async def run_schedule_now(client: Client, settings: Settings, schedule_id: str) -> None:
    """Start one run of a schedule now (the Temporal UI's `Trigger`)."""
    if schedule_id not in _known_schedules(settings):
        raise InvalidInputError.for_field(
            "scheduleId", f"one of {', '.join(_known_schedules(settings))}"
        )
    try:
        await client.get_schedule_handle(schedule_id).trigger()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise NotFoundError(f"schedule {schedule_id} is not applied yet") from None
        raise UnavailableError(f"Temporal refused the request: {exc.message}") from None


@dataclass(frozen=True)
class DecisionView:
    id: str
    record: DecisionRecord


async def decisions_page(
    db: Database,
    *,
    first: int = 50,
    after: str | None = None,
    dc_id: str | None = None,
    cycle_id: str | None = None,
    acting_only: bool = False,
) -> Page[DecisionView]:
    """Decisions newest first; the cursor is the last one's time and id."""
    check_page_size(first, maximum=500)
    if dc_id is not None:
        check_node_id(dc_id)
    position = None if after is None else decode_time_cursor(DECISION_CURSOR, after)

    def wanted(doc: dict[str, Any]) -> bool:
        return (
            (dc_id is None or doc["dc_id"] == dc_id)
            and (cycle_id is None or doc["cycle_id"] == cycle_id)
            and (not acting_only or doc.get("action") is not None)
            and (position is None or (doc["decided_at"], str(doc["_id"])) < position)
        )

    coll = db[DECISIONS]
    if cycle_id is not None:
        # A cycle's decisions (one per node) are read whole through the cycle index.
        found = [doc async for doc in coll.find({"cycle_id": cycle_id}) if wanted(doc)]
        found.sort(key=lambda d: (d["decided_at"], str(d["_id"])), reverse=True)
    else:
        found = await newest_first(
            coll,
            "decided_at",
            need=first + 1,
            equal=None if dc_id is None else {"dc_id": dc_id},
            below=None if position is None else {"$lte": position[0]},
            keep=wanted,
        )
    docs = found[: first + 1]
    items = [DecisionView(id=str(d["_id"]), record=DecisionRecord.model_validate(d)) for d in docs]
    page = items[:first]
    end = (
        encode_time_cursor(DECISION_CURSOR, page[-1].record.decided_at, page[-1].id)
        if page
        else None
    )
    return Page(page, len(items) > first, end)
