"""TrainPolicyWorkflow on the real Temporal dev server and SecantusDB: a tiny agent is
trained, measured and stored in the registry, and `load_policy` serves it once it is the
champion (the rule-based policy before that); the history replays."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, Worker

from tests.integration.forecast_support import fdb, temporal
from vpp.activities.policy import PolicyActivities
from vpp.config import Settings, get_settings
from vpp.ml.rl.baselines import RuleBasedPolicy
from vpp.ml.rl.messages import TrainPolicyInput, TrainPolicyResult
from vpp.ml.rl.observation import ENV_VERSION, OBS_SIZE
from vpp.ml.rl.policy import SB3Policy, load_policy
from vpp.ml.rl.registry import PolicyRegistry
from vpp.ml.rl.settings import RLSettings
from vpp.store.database import Database
from vpp.workflows.policy import TrainPolicyWorkflow

__all__ = ["fdb", "temporal"]

pytestmark = pytest.mark.slow

TINY = """
ppo:
  total_timesteps: 512
  n_steps: 256
  batch_size: 64
  n_epochs: 1
  net_arch: [16]
"""


@pytest.fixture(scope="module")
def tiny_rl(tmp_path_factory: pytest.TempPathFactory, settings: Settings) -> RLSettings:
    path: Path = tmp_path_factory.mktemp("rl") / "hyperparams.yaml"
    path.write_text(TINY)
    return RLSettings(
        data_dir=settings.rl.data_dir,
        hyperparams_file=path,
        algorithms=["ppo"],
        episode_hours=48,
        val_buildings=[9],
        eval_buildings=[11],
        eval_months=[7],
    )


@pytest.fixture(scope="module")
async def rl_queue(temporal: Client, fdb: Database, tiny_rl: RLSettings) -> AsyncIterator[str]:
    queue = f"test-rl-{uuid.uuid4().hex[:8]}"
    worker = Worker(
        temporal,
        task_queue=queue,
        workflows=[TrainPolicyWorkflow],
        activities=PolicyActivities(fdb, tiny_rl).all(),
    )
    async with worker:
        yield queue


async def test_training_stores_the_policy_and_the_cycle_can_load_it(
    temporal: Client, rl_queue: str, fdb: Database, tiny_rl: RLSettings
) -> None:
    assert isinstance(await load_policy(fdb, tiny_rl), RuleBasedPolicy)  # nothing stored yet
    handle = await temporal.start_workflow(
        TrainPolicyWorkflow.run,
        TrainPolicyInput(algorithms=["ppo"]),
        id=f"test-policy-train-{uuid.uuid4().hex[:8]}",
        task_queue=rl_queue,
    )
    result: TrainPolicyResult = await handle.result()
    [candidate] = result.candidates
    assert candidate.algorithm == "ppo"
    assert candidate.timesteps == 512
    assert candidate.eval_saving_vs_lp is not None
    assert candidate.val_saving_vs_lp <= 1.0 + 1e-9

    registry = PolicyRegistry(fdb)
    record = await registry.record("policy-ppo", candidate.version)
    assert record is not None
    assert record.observation_size == OBS_SIZE
    assert record.env_version == ENV_VERSION
    assert record.validation.buildings == [9]
    assert record.evaluation is not None
    assert record.evaluation.buildings == [11]
    assert record.train_buildings == tiny_rl.train_buildings
    assert record.champion == (result.champion is not None)

    # Promoted (by the workflow if it beat the rule-based policy, else here), the cycle's
    # `load_policy` serves it.
    await registry.promote(record.name, record.version)
    policy = await load_policy(fdb, tiny_rl)
    assert isinstance(policy, SB3Policy)
    assert policy.name == f"policy-ppo v{record.version}"

    # A champion trained where an action meant something else is not served.
    await registry.collection.update_one(
        {"kind": "policy", "name": record.name, "version": record.version},
        {"$set": {"env_version": ENV_VERSION - 1}},
    )
    assert isinstance(await load_policy(fdb, tiny_rl), RuleBasedPolicy)

    replayer = Replayer(workflows=[TrainPolicyWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(await handle.fetch_history())


async def test_unknown_algorithm_fails_without_retrying(temporal: Client, rl_queue: str) -> None:
    from temporalio.client import WorkflowFailureError

    with pytest.raises(WorkflowFailureError) as info:
        await temporal.execute_workflow(
            TrainPolicyWorkflow.run,
            TrainPolicyInput(algorithms=["dqn"]),
            id=f"test-policy-bad-{uuid.uuid4().hex[:8]}",
            task_queue=rl_queue,
        )
    activity_error = info.value.cause
    assert activity_error is not None
    assert "unknown algorithm" in str(activity_error.__cause__ or activity_error)


async def test_vpp_rl_train_on_worker_runs_the_workflow_and_prints_its_choice(
    rl_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command starts the workflow on the trainings' queue (here the tiny worker's) and
    prints what the workflow stored; a refused training is one error line, exit 1."""
    from typer.testing import CliRunner

    from vpp.ml.rl.command import rl_app

    monkeypatch.setenv("VPP_TEMPORAL__ML_TRAIN_TASK_QUEUE", rl_queue)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        ok = await asyncio.to_thread(
            runner.invoke, rl_app, ["train", "--on-worker", "-a", "ppo", "--no-held-out"]
        )
        assert ok.exit_code == 0, ok.output
        assert re.search(r"^policy-ppo v\d+: 512 steps in \d+ s; validation", ok.output, re.M)
        assert "held-out" not in ok.output
        assert ("champion: policy-ppo v" in ok.output) != ("none promoted" in ok.output)

        bad = await asyncio.to_thread(runner.invoke, rl_app, ["train", "--on-worker", "-a", "dqn"])
        assert bad.exit_code == 1
        assert "error:" in bad.output
        assert "unknown algorithm" in bad.output
        assert "Traceback" not in bad.output

        # The workflow always stores what it trains.
        refused = await asyncio.to_thread(
            runner.invoke, rl_app, ["train", "--on-worker", "--no-registry"]
        )
        assert refused.exit_code == 1
        assert "drop --no-registry" in refused.output
    finally:
        get_settings.cache_clear()
