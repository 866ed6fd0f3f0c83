"""The hyperparameters of each algorithm, from a YAML file keyed by algorithm.

Every key is validated; a missing file, bad YAML, an unknown algorithm or key, or a value
out of range is a `HyperparamsError` that names the file and the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

Positive = Annotated[float, Field(gt=0.0)]
PositiveInt = Annotated[int, Field(ge=1)]
Discount = Annotated[float, Field(gt=0.0, le=1.0)]


class _Common(BaseModel):
    model_config = ConfigDict(extra="forbid")

    total_timesteps: PositiveInt
    learning_rate: Positive = 3e-4
    gamma: Discount = 0.99
    batch_size: PositiveInt = 256
    net_arch: list[PositiveInt] = Field(default_factory=lambda: [64, 64], min_length=1)
    reward_scale: Positive = 1.0
    # Agents trained with seeds seed, seed + 1, ...; the policy acts on their mean action
    # (`SB3Policy`). total_timesteps is per agent.
    seeds: PositiveInt = 1
    # The first agent's seed (None: `RLSettings.seed`). Agents of one algorithm differ
    # widely by seed, so the file may name the one the validation split preferred.
    seed: int | None = None


class SACParams(_Common):
    algorithm: Literal["sac"] = "sac"
    buffer_size: PositiveInt = 100_000
    learning_starts: Annotated[int, Field(ge=0)] = 1000
    tau: Annotated[float, Field(gt=0.0, le=1.0)] = 0.005
    train_freq: PositiveInt = 1
    gradient_steps: PositiveInt = 1
    ent_coef: Literal["auto"] | Positive = "auto"

    def sb3_kwargs(self) -> dict[str, Any]:
        return {
            "learning_rate": self.learning_rate,
            "buffer_size": self.buffer_size,
            "batch_size": self.batch_size,
            "learning_starts": self.learning_starts,
            "gamma": self.gamma,
            "tau": self.tau,
            "train_freq": self.train_freq,
            "gradient_steps": self.gradient_steps,
            "ent_coef": self.ent_coef,
            "policy_kwargs": {"net_arch": list(self.net_arch)},
        }


class PPOCommon(_Common):
    n_steps: PositiveInt = 2048
    n_epochs: PositiveInt = 10
    gae_lambda: Discount = 0.95
    clip_range: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.2
    ent_coef: Annotated[float, Field(ge=0.0)] = 0.0

    def sb3_kwargs(self) -> dict[str, Any]:
        return {
            "learning_rate": self.learning_rate,
            "n_steps": self.n_steps,
            "batch_size": self.batch_size,
            "n_epochs": self.n_epochs,
            "gamma": self.gamma,
            "gae_lambda": self.gae_lambda,
            "clip_range": self.clip_range,
            "ent_coef": self.ent_coef,
            "policy_kwargs": {"net_arch": list(self.net_arch)},
        }


class PPOParams(PPOCommon):
    algorithm: Literal["ppo"] = "ppo"


class ResidualPPOParams(PPOCommon):
    """PPO agents acting as the correction of the rule-based controller
    (`vpp.ml.rl.residual`): `residual_scale` is the largest correction, as a share of
    the battery's power."""

    algorithm: Literal["ppo_residual"] = "ppo_residual"
    residual_scale: Annotated[float, Field(gt=0.0, le=1.0)] = 0.3


AlgoParams = SACParams | PPOParams | ResidualPPOParams
_MODELS: dict[str, type[SACParams] | type[PPOParams] | type[ResidualPPOParams]] = {
    "sac": SACParams,
    "ppo": PPOParams,
    "ppo_residual": ResidualPPOParams,
}
ALGORITHMS = tuple(_MODELS)


class HyperparamsError(ValueError):
    """The hyperparameter file cannot be used; the message says where and why."""


def load_hyperparams(path: Path) -> dict[str, AlgoParams]:
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise HyperparamsError(f"cannot read hyperparameters {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise HyperparamsError(f"{path} is not valid YAML: {exc}") from exc
    return parse_hyperparams(raw, str(path))


def parse_hyperparams(raw: object, source: str = "hyperparameters") -> dict[str, AlgoParams]:
    if not isinstance(raw, dict) or not raw:
        raise HyperparamsError(f"{source}: expected a mapping of algorithm -> parameters")
    out: dict[str, AlgoParams] = {}
    for name, params in raw.items():
        model = _MODELS.get(str(name))
        if model is None:
            raise HyperparamsError(
                f"{source}: unknown algorithm {name!r}; known: {', '.join(ALGORITHMS)}"
            )
        if not isinstance(params, dict):
            raise HyperparamsError(f"{source}: {name} must be a mapping of parameters")
        try:
            out[str(name)] = model.model_validate(params)
        except ValidationError as exc:
            problems = "; ".join(
                f"{name}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise HyperparamsError(f"{source}: {problems}") from exc
    return out
