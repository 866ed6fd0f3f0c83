"""The policy-training activities, on the ML task queue.

`train` trains, measures and stores every requested algorithm in one call, so the agents'
bytes go straight from the trainer to GridFS and never through Temporal; the training
runs in a thread and the activity heartbeats its progress (`{"phase", "done"}`).
`promote` crowns the candidate the workflow chose.

This module imports no ML library at import time (SB3 and torch load when `train` runs),
so the workflow module stays light.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from vpp.activities.heartbeat import heartbeating
from vpp.activities.memory import release_freed_memory
from vpp.ml.rl.messages import PolicySummary, PromotePolicyInput, TrainPolicyInput
from vpp.ml.rl.settings import RLSettings

# The error type of failures no retry can mend (bad hyperparameters, unknown algorithm).
POLICY_REFUSED = "PolicyRefused"


class PolicyActivities:
    def __init__(self, db: Any, settings: RLSettings) -> None:
        self.db = db
        self.settings = settings

    def all(self) -> list[Callable[..., Any]]:
        return [self.train, self.promote]

    @activity.defn(name="policy.train")
    async def train(self, inp: TrainPolicyInput) -> list[PolicySummary]:
        from vpp.ml.rl.hyperparams import HyperparamsError
        from vpp.ml.rl.service import store_candidate, summary_of, train_candidates

        try:
            async with heartbeating() as progress:
                try:
                    candidates = await asyncio.to_thread(
                        train_candidates,
                        self.settings,
                        inp.algorithms,
                        timesteps=inp.timesteps,
                        evaluate_held_out=inp.evaluate_held_out,
                        progress=progress,
                    )
                except (HyperparamsError, ValueError) as exc:
                    raise ApplicationError(
                        str(exc), type=POLICY_REFUSED, non_retryable=True
                    ) from exc
                progress("storing", 1.0)
                summaries = [
                    summary_of(await store_candidate(self.db, self.settings, c)) for c in candidates
                ]
                del candidates  # the agents, stored: the heap they held can go back
                return summaries
        finally:
            await asyncio.to_thread(release_freed_memory)

    @activity.defn(name="policy.promote")
    async def promote(self, inp: PromotePolicyInput) -> None:
        from vpp.ml.rl.registry import PolicyRegistry

        try:
            await PolicyRegistry(self.db).promote(inp.name, inp.version)
        except LookupError as exc:
            raise ApplicationError(str(exc), type=POLICY_REFUSED, non_retryable=True) from exc
