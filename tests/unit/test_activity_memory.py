"""The heap a training frees goes back to the OS when its activity ends.

The mechanism is measured for real (glibc's heap, this process's resident memory). The
activity test replaces the training itself with a stand-in, since a real one is minutes
of CPU; the stand-in only records whether the heap was released after it, and when."""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from vpp.activities import forecast as forecast_activities
from vpp.activities.forecast import FORECAST_REFUSED, ForecastActivities
from vpp.activities.memory import release_freed_memory, resident_kib
from vpp.ml.forecast import service
from vpp.ml.forecast.messages import CandidateResult, TrainCandidateInput, TrainingPlan
from vpp.ml.forecast.models import ForecastError
from vpp.ml.forecast.settings import ForecastSettings, ModelKind, Target

glibc_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="malloc_trim is glibc's"
)
BLOCK = 32 * 1024  # below glibc's mmap threshold: these come from the heap, not mmap
BLOCKS = 8 * 1024  # 256 MiB in all
MIB = 1024


@glibc_only
def test_freed_heap_stays_resident_until_released() -> None:
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    # Earlier tests in this process leave freed heap resident, which the blocks below
    # would reuse without growing the process: hand it back first.
    release_freed_memory()
    start = resident_kib()
    assert start is not None
    blocks = []
    for _ in range(BLOCKS):
        block = libc.malloc(BLOCK)
        ctypes.memset(block, 1, BLOCK)  # touched, so resident
        blocks.append(block)
    filled = resident_kib()
    assert filled is not None
    assert filled - start > 200 * MIB
    # All but the newest: that one pins the heap's top, so free() cannot shrink it, as
    # what a worker keeps (its cached models) pins the heap after a training.
    for block in blocks[:-1]:
        libc.free(block)
    freed = resident_kib()
    assert freed is not None
    assert freed - start > 200 * MIB, "glibc returned the freed blocks by itself"
    try:
        assert release_freed_memory() is True
        released = resident_kib()
        assert released is not None
        assert released - start < 50 * MIB, (start, freed, released)
    finally:
        libc.free(blocks[-1])


def _input() -> TrainCandidateInput:
    end = datetime(2026, 12, 1, tzinfo=UTC)
    plan = TrainingPlan(
        targets=[Target.LOAD],
        candidates=[ModelKind.LIGHTGBM],
        node_ids=["node-0001"],
        start=end - timedelta(days=40),
        holdout_start=end - timedelta(days=14),
        end=end,
    )
    return TrainCandidateInput(plan=plan, target=Target.LOAD, kind=ModelKind.LIGHTGBM)


def recorder(events: list[str]) -> Callable[[], bool]:
    """A stand-in for `release_freed_memory` that notes when it was called."""

    def release() -> bool:
        events.append("released")
        return True

    return release


@pytest.fixture
async def activities() -> Any:
    # Never connects: the stand-in training below reads nothing.
    client: AsyncMongoClient[Any] = AsyncMongoClient("mongodb://127.0.0.1:1", connect=False)
    yield ForecastActivities(client["unused"], None, ForecastSettings())  # type: ignore[arg-type]
    await client.close()


@pytest.mark.parametrize("fails", [False, True])
async def test_training_activity_releases_the_heap_when_it_ends(
    activities: ForecastActivities, monkeypatch: pytest.MonkeyPatch, fails: bool
) -> None:
    events: list[str] = []
    done = CandidateResult(
        target=Target.LOAD,
        kind=ModelKind.LIGHTGBM,
        name="load_kw-lightgbm",
        version=1,
        mase=0.8,
        mae=0.2,
        coverage_80=0.8,
        fit_s=1.0,
    )

    async def training(*args: Any, **kwargs: Any) -> CandidateResult:
        events.append("trained")
        if fails:
            raise ForecastError("3 h of history, lightgbm needs 696 h")
        return done

    monkeypatch.setattr(service, "train_candidate", training)
    monkeypatch.setattr(forecast_activities, "release_freed_memory", recorder(events))
    env = ActivityEnvironment()
    if fails:
        with pytest.raises(ApplicationError) as info:
            await env.run(activities.train_candidate, _input())
        assert info.value.type == FORECAST_REFUSED
        assert info.value.non_retryable
        assert "lightgbm for load_kw: 3 h of history" in str(info.value)
    else:
        assert await env.run(activities.train_candidate, _input()) is done
    assert events == ["trained", "released"]


async def test_policy_training_releases_the_heap_when_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from vpp.activities import policy as policy_activities
    from vpp.activities.policy import POLICY_REFUSED, PolicyActivities
    from vpp.ml.rl import service as rl_service
    from vpp.ml.rl.messages import TrainPolicyInput
    from vpp.ml.rl.settings import RLSettings

    events: list[str] = []

    def training(*args: Any, **kwargs: Any) -> list[Any]:
        events.append("trained")
        raise ValueError("unknown algorithm 'dqn'")

    monkeypatch.setattr(rl_service, "train_candidates", training)
    monkeypatch.setattr(policy_activities, "release_freed_memory", recorder(events))
    with pytest.raises(ApplicationError) as info:
        await ActivityEnvironment().run(
            PolicyActivities(None, RLSettings()).train, TrainPolicyInput(algorithms=["dqn"])
        )
    assert info.value.type == POLICY_REFUSED
    assert events == ["trained", "released"]
