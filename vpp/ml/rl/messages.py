"""The inputs and results of `TrainPolicyWorkflow` and its activities (pydantic, so the
data converter carries them), and the champion rule the workflow applies."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from pydantic import BaseModel, Field


class TrainPolicyInput(BaseModel):
    algorithms: list[str] | None = None  # default: settings.rl.algorithms
    timesteps: Annotated[int, Field(ge=1)] | None = None  # default: the YAML file's
    evaluate_held_out: bool = True  # also measure on the evaluation split (reported only)
    promote: bool = True


class PolicySummary(BaseModel):
    """One stored candidate, as the workflow needs it to choose and to report."""

    name: str
    version: int
    algorithm: str
    timesteps: int
    train_s: float
    val_saving: float
    val_saving_vs_lp: float
    val_rule_based_saving_vs_lp: float
    eval_saving_vs_lp: float | None = None
    eval_rule_based_saving_vs_lp: float | None = None
    eval_score: float | None = None


class TrainPolicyResult(BaseModel):
    candidates: list[PolicySummary]
    champion: PolicySummary | None  # None: nothing beat the rule-based policy on validation


class PromotePolicyInput(BaseModel):
    name: str
    version: int


def choose_champion(candidates: Sequence[PolicySummary]) -> PolicySummary | None:
    """The largest validation saving among those ahead of the rule-based controller."""
    ahead = [c for c in candidates if c.val_saving_vs_lp > c.val_rule_based_saving_vs_lp]
    return max(ahead, key=lambda c: c.val_saving, default=None)
