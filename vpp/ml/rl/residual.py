"""A residual policy: SB3 agents that correct the rule-based controller's grid top-up.

The rule-based controller (`vpp.ml.rl.baselines.RuleBasedPolicy`) leaves a home battery to
self-consumption and, in the cheapest hours, tops it up from the grid for the next
expensive block, sized on forecasts. Learning that whole behaviour from scratch, plain
agents fell short of it (residual policy learning: Silver et al., 2018; Johannink et
al., 2019). Here an agent learns only a correction of it, where it matters:

    action = rule + scale * agent     in the hours the rule may top up (`may_top_up`)
    action = rule                     in every other hour (self-consumption)

so an agent that outputs 0 is the rule-based controller, and one that has learnt nothing
useful costs little. The agent reads the plain observation, the rule's action and how the
last hours went against a typical day (`vpp.ml.rl.recent`): a cloudy morning or a busy
afternoon that the week-long forecasts do not yet show. Several agents (seeds) act on
their mean correction, as `SB3Policy` does.

The file stored for it is `SB3Policy`'s archive with one more entry, `RESIDUAL_ENTRY`
(the scale), so the file alone says what it is.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from vpp.ml.rl.baselines import RuleBasedPolicy
from vpp.ml.rl.env import BatteryEnv
from vpp.ml.rl.observation import (
    OBS_BOUND,
    OBS_SIZE,
    Float32Array,
    ObservationInput,
    build_observation,
)
from vpp.ml.rl.policy import SB3Policy
from vpp.ml.rl.recent import RECENT_H

RESIDUAL_OBS_SIZE = OBS_SIZE + 1 + 2 * RECENT_H
RESIDUAL_ENTRY = "residual.json"
# Algorithms whose agents act as the residual (`vpp.ml.rl.hyperparams`).
RESIDUAL_ALGORITHMS = frozenset({"ppo_residual"})


def is_residual(algorithm: str) -> bool:
    return algorithm in RESIDUAL_ALGORITHMS


def residual_observation(inp: ObservationInput, base_action: float) -> Float32Array:
    """What the agent reads (`RESIDUAL_OBS_SIZE` values): the plain observation, the rule's
    action, then the last hours' load and PV deviations per kW of battery power."""
    recent = np.concatenate([inp.load_recent_dev_kw, inp.pv_recent_dev_kw]) / inp.max_power_kw
    out = np.concatenate(
        [build_observation(inp), [base_action], np.clip(recent, -OBS_BOUND, OBS_BOUND)]
    )
    vector: Float32Array = out.astype(np.float32)
    return vector


def corrected(base_action: float, correction: float, scale: float, may_top_up: bool) -> float:
    """The action sent: the rule's, corrected by `scale * correction` where it may top up."""
    if not may_top_up:
        return base_action
    return float(np.clip(base_action + scale * correction, -1.0, 1.0))


class ResidualEnv(gym.Wrapper[Float32Array, Float32Array, Float32Array, Float32Array]):
    """`BatteryEnv` as the residual agent sees it: its action is the correction."""

    def __init__(self, env: BatteryEnv, rule: RuleBasedPolicy, scale: float) -> None:
        super().__init__(env)
        if not 0.0 < scale <= 1.0:
            raise ValueError("the residual's scale must lie in (0, 1]")
        self.battery_env = env
        self.rule = rule
        self.scale = scale
        self.observation_space = gym.spaces.Box(
            -OBS_BOUND, OBS_BOUND, shape=(RESIDUAL_OBS_SIZE,), dtype=np.float32
        )
        self._base = 0.0
        self._may_top_up = False

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Float32Array, dict[str, Any]]:
        _, info = self.env.reset(seed=seed, options=options)
        return self._observe(), info

    def step(self, action: Float32Array) -> tuple[Float32Array, float, bool, bool, dict[str, Any]]:
        correction = float(np.asarray(action, dtype=np.float64).reshape(-1)[0])
        sent = corrected(self._base, correction, self.scale, self._may_top_up)
        _, reward, terminated, truncated, info = self.env.step(np.array([sent], dtype=np.float32))
        return self._observe(), float(reward), terminated, truncated, info

    def _observe(self) -> Float32Array:
        inp = self.battery_env.observation_input()
        self._base = self.rule.act(inp)
        self._may_top_up = self.rule.may_top_up(inp)
        return residual_observation(inp, self._base)


class ResidualPolicy(SB3Policy):
    """The rule-based controller corrected by the agents' mean action (deterministic)."""

    observation_size = RESIDUAL_OBS_SIZE
    reads_recent = True

    def __init__(
        self,
        models: Sequence[Any],
        name: str,
        *,
        rule: RuleBasedPolicy,
        scale: float,
    ) -> None:
        if not models:
            raise ValueError("a residual policy needs at least one agent")
        if not 0.0 < scale <= 1.0:
            raise ValueError("the residual's scale must lie in (0, 1]")
        super().__init__(models[0], name, more=models[1:])
        self.rule = rule
        self.scale = scale

    def act(self, obs_input: ObservationInput) -> float:
        base = self.rule.act(obs_input)
        if not self.rule.may_top_up(obs_input):
            return base  # the agents are not asked where they may not act
        correction = self.mean_action(residual_observation(obs_input, base))
        return corrected(base, correction, self.scale, True)

    def observe(self, obs_input: ObservationInput) -> Float32Array:
        return residual_observation(obs_input, self.rule.act(obs_input))

    def _archive_extras(self) -> dict[str, str]:
        return {RESIDUAL_ENTRY: json.dumps({"scale": self.scale})}

    @classmethod
    def from_entry(
        cls, entry: str, models: Sequence[Any], name: str, rule: RuleBasedPolicy
    ) -> ResidualPolicy:
        try:
            scale = float(json.loads(entry)["scale"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{RESIDUAL_ENTRY} of {name} is not readable: {exc}") from exc
        return cls(models, name, rule=rule, scale=scale)
