"""Train stable-baselines3 agents on the training split and wrap them as policies.

The env draws week-long episodes of the training buildings and months
(`RLSettings.train_buildings`, `train_months`); the reward is the hour's saving against
no battery, scaled by the algorithm's `reward_scale`. A residual algorithm's agents train
in `ResidualEnv`, correcting the rule-based controller (`vpp.ml.rl.residual`). Progress
is reported through a callback every `PROGRESS_EVERY` steps (the CLI draws a bar, the
activity heartbeats).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Logger

from vpp.ml.rl.env import BatteryEnv, EnvConfig
from vpp.ml.rl.hyperparams import AlgoParams, PPOCommon, ResidualPPOParams
from vpp.ml.rl.policy import SB3Policy, rule_based
from vpp.ml.rl.residual import ResidualEnv, ResidualPolicy
from vpp.ml.rl.settings import RLSettings

PROGRESS_EVERY = 500
ProgressFn = Callable[[int, int], None]  # (steps done, steps in all)
_ALGORITHMS: dict[str, type[BaseAlgorithm]] = {"sac": SAC, "ppo": PPO, "ppo_residual": PPO}


@dataclass(frozen=True)
class Trained:
    policy: SB3Policy
    algorithm: str
    timesteps: int
    train_s: float
    params: AlgoParams


class _Progress(BaseCallback):
    def __init__(self, total: int, report: ProgressFn) -> None:
        super().__init__()
        self.total = total
        self.report = report

    def _on_step(self) -> bool:
        if self.num_timesteps % PROGRESS_EVERY == 0:
            self.report(self.num_timesteps, self.total)
        return True


def algorithm_class(name: str) -> type[BaseAlgorithm]:
    try:
        return _ALGORITHMS[name]
    except KeyError:
        raise ValueError(f"unknown algorithm {name!r}; known: {', '.join(_ALGORITHMS)}") from None


def training_env(rl: RLSettings, params: AlgoParams) -> BatteryEnv | ResidualEnv:
    env = BatteryEnv(
        EnvConfig.from_settings(
            rl,
            buildings=rl.train_buildings,
            months=rl.train_months,
            reward_scale=params.reward_scale,
        )
    )
    if isinstance(params, ResidualPPOParams):
        return ResidualEnv(env, rule_based(rl), params.residual_scale)
    return env


def train(
    rl: RLSettings,
    params: AlgoParams,
    *,
    timesteps: int | None = None,
    progress: ProgressFn | None = None,
    seed: int | None = None,
) -> Trained:
    """Train `params.seeds` agents with `params` on the training split (on the CPU,
    `rl.threads`); `timesteps` is per agent, `Trained.timesteps` their sum."""
    torch.set_num_threads(rl.threads)
    steps = timesteps or params.total_timesteps
    env = training_env(rl, params)
    kwargs: dict[str, Any] = params.sb3_kwargs()
    if isinstance(params, PPOCommon):
        # PPO's batch must divide into its rollout; keep the file's wish where it fits.
        kwargs["n_steps"] = min(params.n_steps, max(steps, 64))
        kwargs["batch_size"] = min(params.batch_size, kwargs["n_steps"])
    first = seed if seed is not None else params.seed if params.seed is not None else rl.seed
    models = []
    t0 = time.perf_counter()
    for i in range(params.seeds):
        model = algorithm_class(params.algorithm)(
            "MlpPolicy", env, seed=first + i, device="cpu", verbose=0, **kwargs
        )
        # SB3's default logger makes an empty SB3-<time> folder in the temp dir on every
        # learn(); progress reaches the caller through the callback instead.
        model.set_logger(Logger(folder=None, output_formats=[]))
        callback = None
        if progress:
            done_before = i * steps

            def member_progress(done: int, _total: int, before: int = done_before) -> None:
                progress(before + done, steps * params.seeds)

            callback = _Progress(steps, member_progress)
        model.learn(total_timesteps=steps, callback=callback, progress_bar=False)
        models.append(model)
    train_s = time.perf_counter() - t0
    if progress:
        progress(steps * params.seeds, steps * params.seeds)
    policy: SB3Policy
    if isinstance(params, ResidualPPOParams):
        policy = ResidualPolicy(
            models, params.algorithm, rule=rule_based(rl), scale=params.residual_scale
        )
    else:
        policy = SB3Policy(models[0], params.algorithm, more=models[1:])
    return Trained(policy, params.algorithm, steps * params.seeds, train_s, params)
