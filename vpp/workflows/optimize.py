"""`OptimizeCycleWorkflow`: the automation's cycle, started by a Temporal Schedule every
`optimize.cycle_minutes` (workflow ids `optimize-cycle-<time>`) on the ML task queue.

state → policy → guard → child dispatches:

1. read the automation switch; off → the cycle ends at once and starts nothing;
2. one activity reads every node's state and forecasts, asks the policy, passes each
   action through the safety guard (`vpp.optimize.guard`), stores one decision per node
   and groups the commands (one group per action and kW);
3. dry run → done (the decisions say what would have been sent); otherwise each group
   becomes a child `DispatchWorkflow` on the I/O queue, issued by `automation`, left
   running when this cycle ends (it outlives the cycle by its command's duration), and
   the decisions are linked to their dispatch.

Deterministic, no I/O: the activities do it.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from vpp.activities.optimize import OptimizeActivities
    from vpp.dispatch.ids import dispatch_workflow_id, new_dispatch_id
    from vpp.dispatch.models import DispatchInput, DispatchSpec, DispatchStatus
    from vpp.models import CommandParams
    from vpp.optimize.models import (
        AUTOMATION_ISSUER,
        AttachInput,
        DecideInput,
        DecideResult,
        DispatchGroup,
        DispatchPlan,
        OptimizeCycleInput,
        OptimizeCycleResult,
        StartedDispatch,
    )
    from vpp.workflows.dispatch import DispatchWorkflow, dispatch_search_attributes, summary_text

SWITCH_TIMEOUT = timedelta(seconds=30)
STORE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=5,
)
# Reading a fleet's state, asking the policy for every node and storing the decisions.
DECIDE_TIMEOUT = timedelta(minutes=5)
DECIDE_HEARTBEAT = timedelta(seconds=30)


def automation_dispatch_id(cycle_id: str, group: int) -> str:
    """The same cycle (a retry, a replay) always names its dispatches alike, so a group is
    never dispatched twice."""
    return new_dispatch_id(AUTOMATION_ISSUER, f"{cycle_id}:{group}")


@workflow.defn
class OptimizeCycleWorkflow:
    @workflow.run
    async def run(self, inp: OptimizeCycleInput) -> OptimizeCycleResult:
        cycle_id = workflow.info().workflow_id
        switch = await workflow.execute_activity_method(
            OptimizeActivities.read_switch,
            start_to_close_timeout=SWITCH_TIMEOUT,
            retry_policy=STORE_RETRY,
        )
        if not switch.enabled:
            return OptimizeCycleResult(
                cycle_id=cycle_id,
                status="off",
                notes=[f"automation off (set by {switch.updated_by or 'settings'})"],
            )
        dry_run = switch.dry_run if inp.dry_run is None else inp.dry_run
        decided: DecideResult = await workflow.execute_activity_method(
            OptimizeActivities.decide,
            DecideInput(
                cycle_id=cycle_id,
                decided_at=workflow.now(),
                dry_run=dry_run,
                node_ids=inp.node_ids,
            ),
            start_to_close_timeout=DECIDE_TIMEOUT,
            heartbeat_timeout=DECIDE_HEARTBEAT,
            retry_policy=STORE_RETRY,
        )
        result = OptimizeCycleResult(
            cycle_id=cycle_id,
            status="dry_run" if dry_run else "idle",
            policy=decided.policy,
            decisions=decided.decisions,
            acting=decided.acting,
            guarded=decided.guarded,
            expected_saving=decided.expected_saving,
            notes=decided.notes,
        )
        if dry_run or not decided.plan.groups:
            return result
        started = [
            await self._start(cycle_id, k, group, decided.plan)
            for k, group in enumerate(decided.plan.groups)
        ]
        await workflow.execute_activity_method(
            OptimizeActivities.attach_dispatches,
            AttachInput(cycle_id=cycle_id, dispatches=started),
            start_to_close_timeout=SWITCH_TIMEOUT,
            retry_policy=STORE_RETRY,
        )
        return result.model_copy(update={"status": "dispatched", "dispatches": started})

    async def _start(
        self, cycle_id: str, k: int, group: DispatchGroup, plan: DispatchPlan
    ) -> StartedDispatch:
        now = workflow.now()
        dispatch_id = automation_dispatch_id(cycle_id, k)
        spec = DispatchSpec(
            dispatch_id=dispatch_id,
            action=group.action,
            params=CommandParams(kw=group.kw, duration_s=plan.duration_s),
            issued_by=AUTOMATION_ISSUER,
            created_at=now,
            deadline=now + timedelta(seconds=plan.ack_window_s),
        )
        workflow_id = dispatch_workflow_id(dispatch_id)
        try:
            await workflow.start_child_workflow(
                DispatchWorkflow.run,
                DispatchInput(
                    spec=spec,
                    targets=group.node_ids,
                    timing=plan.timing,
                    shard_size=plan.shard_size,
                    max_shard_events=plan.max_shard_events,
                ),
                id=workflow_id,
                task_queue=plan.task_queue,
                # The dispatch runs for its command's duration, past this cycle's end.
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                search_attributes=dispatch_search_attributes(spec, DispatchStatus.RESOLVING),
                memo={"summary": summary_text(spec, DispatchStatus.RESOLVING, None, None)},
            )
        except WorkflowAlreadyStartedError:
            # A retried cycle: the first attempt started this group already.
            workflow.logger.info("dispatch %s already started", dispatch_id)
        return StartedDispatch(
            dispatch_id=dispatch_id,
            workflow_id=workflow_id,
            action=group.action,
            kw=group.kw,
            node_ids=group.node_ids,
        )


OPTIMIZE_WORKFLOWS: tuple[type, ...] = (OptimizeCycleWorkflow,)
