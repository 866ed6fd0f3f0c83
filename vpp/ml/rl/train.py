"""Train stable-baselines3 agents on the training split and wrap them as policies.

The env draws week-long episodes of the training buildings and months
(`RLSettings.train_buildings`, `train_months`); the reward is the hour's saving against
no battery, scaled by the algorithm's `reward_scale`. Progress is reported through a
callback every `PROGRESS_EVERY` steps (the CLI draws a bar, the activity heartbeats).
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

from vpp.ml.rl.env import BatteryEnv, EnvConfig
from vpp.ml.rl.hyperparams import AlgoParams, PPOParams
from vpp.ml.rl.policy import SB3Policy
from vpp.ml.rl.settings import RLSettings

PROGRESS_EVERY = 500
ProgressFn = Callable[[int, int], None]  # (steps done, steps in all)
_ALGORITHMS: dict[str, type[BaseAlgorithm]] = {"sac": SAC, "ppo": PPO}


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


def training_env(rl: RLSettings, reward_scale: float) -> BatteryEnv:
    return BatteryEnv(
        EnvConfig.from_settings(
            rl, buildings=rl.train_buildings, months=rl.train_months, reward_scale=reward_scale
        )
    )


def train(
    rl: RLSettings,
    params: AlgoParams,
    *,
    timesteps: int | None = None,
    progress: ProgressFn | None = None,
    seed: int | None = None,
) -> Trained:
    """Train one agent with `params` on the training split (on the CPU, `rl.threads`)."""
    torch.set_num_threads(rl.threads)
    steps = timesteps or params.total_timesteps
    env = training_env(rl, params.reward_scale)
    kwargs: dict[str, Any] = params.sb3_kwargs()
    if isinstance(params, PPOParams):
        # PPO's batch must divide into its rollout; keep the file's wish where it fits.
        kwargs["n_steps"] = min(params.n_steps, max(steps, 64))
        kwargs["batch_size"] = min(params.batch_size, kwargs["n_steps"])
    model = algorithm_class(params.algorithm)(
        "MlpPolicy", env, seed=rl.seed if seed is None else seed, device="cpu", verbose=0, **kwargs
    )
    callback = _Progress(steps, progress) if progress else None
    t0 = time.perf_counter()
    model.learn(total_timesteps=steps, callback=callback, progress_bar=False)
    train_s = time.perf_counter() - t0
    if progress:
        progress(steps, steps)
    return Trained(SB3Policy(model, params.algorithm), params.algorithm, steps, train_s, params)
