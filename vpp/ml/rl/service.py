"""Training as a use case: train each algorithm, measure it, store it, choose a champion.

Shared by `vpp rl train` (a progress bar) and `TrainPolicyWorkflow`'s activity
(heartbeats). Each trained agent is measured on the validation split (buildings
`val_buildings`, months `eval_months`), which chooses the champion, and on the held-out
evaluation split (`eval_buildings`, `eval_months`), which is only reported. A candidate
becomes champion only if it saves more than the rule-based controller on validation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import version as package_version
from typing import Any

from vpp.ml.rl.baselines import SelfConsumptionPolicy
from vpp.ml.rl.episodes import EpisodeSpec, consecutive_episodes
from vpp.ml.rl.evaluate import LP_NAME, Report, evaluate
from vpp.ml.rl.hyperparams import ALGORITHMS, AlgoParams, HyperparamsError, load_hyperparams
from vpp.ml.rl.messages import PolicySummary
from vpp.ml.rl.observation import ENV_VERSION, HORIZON
from vpp.ml.rl.policy import SB3Policy, rule_based
from vpp.ml.rl.registry import PolicyMetrics, PolicyRecord, PolicyRegistry
from vpp.ml.rl.settings import RLSettings

# (phase, share of the whole run done)
ProgressFn = Callable[[str, float], None]
# Share of each algorithm's slice of progress spent training; the rest is measuring.
_TRAIN_SHARE = 0.9
RULE_BASED = "rule-based"


@dataclass(frozen=True)
class Candidate:
    algorithm: str
    policy: SB3Policy
    timesteps: int
    train_s: float
    params: AlgoParams
    validation: PolicyMetrics
    evaluation: PolicyMetrics | None


def validation_episodes(rl: RLSettings) -> list[EpisodeSpec]:
    return consecutive_episodes(rl.val_buildings, rl.eval_months, rl.episode_hours)


def evaluation_episodes(rl: RLSettings) -> list[EpisodeSpec]:
    return consecutive_episodes(rl.eval_buildings, rl.eval_months, rl.episode_hours)


def metrics_of(
    report: Report, name: str, split: str, episodes: Sequence[EpisodeSpec], months: list[int]
) -> PolicyMetrics:
    row = report.row(name)
    return PolicyMetrics(
        split=split,
        buildings=sorted({e.building for e in episodes}),
        months=months,
        episodes=report.episodes,
        hours=report.hours,
        energy_cost=row.energy_cost,
        emissions_kg=row.emissions_kg,
        peak_import_kw=row.peak_import_kw,
        objective=row.objective,
        saving=row.saving,
        saving_vs_lp=row.saving_vs_lp,
        score=row.score,
        rule_based_saving_vs_lp=report.row(RULE_BASED).saving_vs_lp,
        lp_saving=report.row(LP_NAME).saving,
    )


def chosen_params(rl: RLSettings, algorithms: Sequence[str] | None) -> list[AlgoParams]:
    table = load_hyperparams(rl.hyperparams_file)
    wanted = list(algorithms or rl.algorithms)
    unknown = [a for a in wanted if a not in ALGORITHMS]
    if unknown:
        raise HyperparamsError(f"unknown algorithm(s) {unknown}; known: {', '.join(ALGORITHMS)}")
    missing = [a for a in wanted if a not in table]
    if missing:
        raise HyperparamsError(f"{rl.hyperparams_file} has no parameters for {missing}")
    return [table[a] for a in wanted]


def train_candidates(
    rl: RLSettings,
    algorithms: Sequence[str] | None = None,
    *,
    timesteps: int | None = None,
    evaluate_held_out: bool = True,
    progress: ProgressFn | None = None,
) -> list[Candidate]:
    """Train and measure each algorithm (CPU-bound: run it in a thread from async code)."""
    from vpp.ml.rl.train import train

    params = chosen_params(rl, algorithms)
    val = validation_episodes(rl)
    held_out = evaluation_episodes(rl) if evaluate_held_out else []
    rule = rule_based(rl)
    out = []
    for i, p in enumerate(params):
        base = i / len(params)
        span = 1.0 / len(params)

        def on_step(
            done: int, total: int, base: float = base, span: float = span, name: str = p.algorithm
        ) -> None:
            if progress:
                progress(f"{name} training", base + span * _TRAIN_SHARE * done / total)

        trained = train(rl, p, timesteps=timesteps, progress=on_step)
        if progress:
            progress(f"{p.algorithm} measuring", base + span * _TRAIN_SHARE)
        trained.policy.name = p.algorithm
        val_report = evaluate(rl, val, [SelfConsumptionPolicy(), rule, trained.policy])
        validation = metrics_of(val_report, p.algorithm, "validation", val, rl.eval_months)
        evaluation = None
        if held_out:
            report = evaluate(rl, held_out, [SelfConsumptionPolicy(), rule, trained.policy])
            evaluation = metrics_of(report, p.algorithm, "evaluation", held_out, rl.eval_months)
        out.append(
            Candidate(
                p.algorithm,
                trained.policy,
                trained.timesteps,
                trained.train_s,
                p,
                validation,
                evaluation,
            )
        )
    if progress:
        progress("done", 1.0)
    return out


async def store_candidate(db: Any, rl: RLSettings, c: Candidate) -> PolicyRecord:
    registry = PolicyRegistry(db)
    fields: dict[str, Any] = {
        "algorithm": c.algorithm,
        "observation_size": c.policy.observation_size,
        "horizon": HORIZON,
        "env_version": ENV_VERSION,
        "validation": c.validation,
        "evaluation": c.evaluation,
        "timesteps": c.timesteps,
        "train_s": round(c.train_s, 2),
        "params": c.params.model_dump(),
        "train_buildings": rl.train_buildings,
        "train_months": rl.train_months,
        "sb3_version": package_version("stable-baselines3"),
    }
    record = await registry.save(c.policy.to_bytes(), fields)
    c.policy.name = record.label
    return record


def summary_of(record: PolicyRecord) -> PolicySummary:
    """What the workflow and the CLI need of a stored candidate."""
    v, e = record.validation, record.evaluation
    return PolicySummary(
        name=record.name,
        version=record.version,
        algorithm=record.algorithm,
        timesteps=record.timesteps,
        train_s=record.train_s,
        val_saving=v.saving,
        val_saving_vs_lp=v.saving_vs_lp,
        val_rule_based_saving_vs_lp=v.rule_based_saving_vs_lp,
        eval_saving_vs_lp=e.saving_vs_lp if e else None,
        eval_rule_based_saving_vs_lp=e.rule_based_saving_vs_lp if e else None,
        eval_score=e.score if e else None,
    )
