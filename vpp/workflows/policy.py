"""`TrainPolicyWorkflow` on the ML task queue: train, measure and store the agents (one
heartbeating activity), then promote the one that saves most on validation, if it beats
the rule-based controller there; otherwise the cycle keeps its current policy.

Deterministic, no I/O: the activities do it.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from vpp.activities.policy import POLICY_REFUSED, PolicyActivities
    from vpp.ml.rl.messages import (
        PromotePolicyInput,
        TrainPolicyInput,
        TrainPolicyResult,
        choose_champion,
    )

# Training is minutes of CPU on 2 shared cores; it heartbeats every 2 s.
TRAIN_TIMEOUT = timedelta(hours=2)
TRAIN_HEARTBEAT = timedelta(minutes=1)
TRAIN_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=10),
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=2,
    non_retryable_error_types=[POLICY_REFUSED],
)
STORE_TIMEOUT = timedelta(minutes=1)
STORE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=5,
    non_retryable_error_types=[POLICY_REFUSED],
)


@workflow.defn
class TrainPolicyWorkflow:
    @workflow.run
    async def run(self, inp: TrainPolicyInput) -> TrainPolicyResult:
        candidates = await workflow.execute_activity_method(
            PolicyActivities.train,
            inp,
            start_to_close_timeout=TRAIN_TIMEOUT,
            heartbeat_timeout=TRAIN_HEARTBEAT,
            retry_policy=TRAIN_RETRY,
        )
        champion = choose_champion(candidates)
        if champion is not None and inp.promote:
            await workflow.execute_activity_method(
                PolicyActivities.promote,
                PromotePolicyInput(name=champion.name, version=champion.version),
                start_to_close_timeout=STORE_TIMEOUT,
                retry_policy=STORE_RETRY,
            )
        return TrainPolicyResult(candidates=candidates, champion=champion)


POLICY_WORKFLOWS: tuple[type, ...] = (TrainPolicyWorkflow,)
