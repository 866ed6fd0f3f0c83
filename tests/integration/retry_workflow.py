"""A workflow whose activity fails on its first attempt, to prove retries on a real server."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.common import RetryPolicy

FLAKY_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=3)


class FlakyInput(BaseModel):
    name: str


class FlakyResult(BaseModel):
    greeting: str
    attempts: int


@activity.defn
async def flaky_greet(inp: FlakyInput) -> FlakyResult:
    attempt = activity.info().attempt
    if attempt == 1:
        raise RuntimeError("first attempt fails on purpose")
    return FlakyResult(greeting=f"hello {inp.name}", attempts=attempt)


@workflow.defn
class FlakyWorkflow:
    @workflow.run
    async def run(self, inp: FlakyInput) -> FlakyResult:
        return await workflow.execute_activity(
            flaky_greet,
            inp,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=FLAKY_RETRY,
        )
