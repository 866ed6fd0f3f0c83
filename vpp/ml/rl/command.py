"""`vpp rl ...`: train and evaluate the battery policies.

- `vpp rl train`: train SAC, PPO and the residual PPO on the rule-based controller
  (hyperparameters in `settings.rl.hyperparams_file`)
  on the training split with a progress bar, measure them on the validation and the
  held-out evaluation split, keep a local copy in `settings.rl.model_dir` and store them
  in the registry, promoting the best if it beats the rule-based controller. With
  `--on-worker` it runs `TrainPolicyWorkflow` on the trainings' task queue instead, so the
  ML worker trains and the Temporal UI traces it.
- `vpp rl evaluate`: no battery, the LP optimum, the rule-based controller and the
  trained policies on the held-out buildings and months; prints the table.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vpp.config import Settings, get_settings
from vpp.ml.rl.settings import RLSettings, rl_settings

if TYPE_CHECKING:  # scipy, SB3 and torch load only when a command runs
    from vpp.ml.rl.policy import SB3Policy
    from vpp.ml.rl.service import Candidate

rl_app = typer.Typer(
    help="Battery optimisation policies (stable-baselines3).", no_args_is_help=True
)

_BAR_STEPS = 1000


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


def _numbers(text: str | None, what: str) -> list[int] | None:
    """ "11-17", "5,6,7" or "1-3,9" (the forecast commands' syntax); None stays None.
    Buildings are 1..17 (CityLearn 2022), months 1..12."""
    from vpp.ml.forecast.citylearn import BUILDINGS
    from vpp.ml.forecast.command import parse_numbers

    if text is None:
        return None
    return parse_numbers(text, what, 12 if what == "--months" else BUILDINGS)


@rl_app.command("train")
def train_command(
    algorithms: Annotated[
        list[str] | None,
        typer.Option(
            "--algorithm",
            "-a",
            help="sac, ppo, ppo_residual (default: settings.rl.algorithms).",
        ),
    ] = None,
    timesteps: Annotated[
        int | None, typer.Option(min=1, help="Steps per algorithm (default: the YAML file's).")
    ] = None,
    registry: Annotated[
        bool, typer.Option(help="Store the policies in the registry (MongoDB must be up).")
    ] = True,
    held_out: Annotated[
        bool, typer.Option(help="Also measure on the held-out evaluation split.")
    ] = True,
    on_worker: Annotated[
        bool,
        typer.Option(
            help="Run TrainPolicyWorkflow on the trainings' task queue instead of here (an "
            "ML worker must be running; the Temporal UI traces it; it always stores)."
        ),
    ] = False,
) -> None:
    """Train, measure and store the policies."""
    from vpp.ml.rl.hyperparams import HyperparamsError
    from vpp.ml.rl.service import train_candidates

    settings = get_settings()
    if on_worker:
        if not registry:
            raise _fail("--on-worker stores the policies in the registry: drop --no-registry")
        _train_on_worker(settings, algorithms, timesteps, held_out)
        return
    rl = rl_settings(settings)
    t0 = time.perf_counter()
    with typer.progressbar(length=_BAR_STEPS, label="training") as bar:
        shown = 0

        def progress(phase: str, done: float) -> None:
            nonlocal shown
            target = int(done * _BAR_STEPS)
            bar.label = phase
            bar.update(target - shown)
            shown = target

        try:
            candidates = train_candidates(
                rl, algorithms, timesteps=timesteps, evaluate_held_out=held_out, progress=progress
            )
        except HyperparamsError as exc:
            raise _fail(str(exc)) from exc
    typer.echo(f"trained in {time.perf_counter() - t0:.0f} s")
    rl.model_dir.mkdir(parents=True, exist_ok=True)
    for c in candidates:
        path = rl.model_dir / f"{c.algorithm}.zip"
        path.write_bytes(c.policy.to_bytes())  # an ensemble too, not only its first agent
        v, e = c.validation, c.evaluation
        held = (
            f"; held-out {e.saving_vs_lp:.3f} of LP (rule-based {e.rule_based_saving_vs_lp:.3f}), "
            f"score {e.score:.3f}"
            if e
            else ""
        )
        typer.echo(
            f"{c.algorithm}: {c.timesteps} steps in {c.train_s:.0f} s; validation "
            f"{v.saving_vs_lp:.3f} of LP (rule-based {v.rule_based_saving_vs_lp:.3f}){held}; "
            f"saved to {path}"
        )
    if registry:
        asyncio.run(_store(settings, rl, candidates))


def _train_on_worker(
    settings: Settings, algorithms: list[str] | None, timesteps: int | None, held_out: bool
) -> None:
    """Run TrainPolicyWorkflow on the trainings' queue and print what it stored and chose;
    a failed training ends the command with its reason in one line, exit 1."""
    from vpp.ml.forecast.command import run_workflow
    from vpp.ml.rl.messages import TrainPolicyInput, TrainPolicyResult
    from vpp.workflows.policy import TrainPolicyWorkflow

    async def run(client: Any) -> TrainPolicyResult:
        result: TrainPolicyResult = await client.execute_workflow(
            TrainPolicyWorkflow.run,
            TrainPolicyInput(
                algorithms=algorithms, timesteps=timesteps, evaluate_held_out=held_out
            ),
            id=f"policy-train-manual-{uuid.uuid4().hex[:8]}",
            task_queue=settings.temporal.ml_train_task_queue,
        )
        return result

    result = run_workflow(settings, run)
    for c in result.candidates:
        held = (
            f"; held-out {c.eval_saving_vs_lp:.3f} of LP "
            f"(rule-based {c.eval_rule_based_saving_vs_lp:.3f}), score {c.eval_score:.3f}"
            if c.eval_saving_vs_lp is not None
            and c.eval_rule_based_saving_vs_lp is not None
            and c.eval_score is not None
            else ""
        )
        typer.echo(
            f"{c.name} v{c.version}: {c.timesteps} steps in {c.train_s:.0f} s; validation "
            f"{c.val_saving_vs_lp:.3f} of LP (rule-based {c.val_rule_based_saving_vs_lp:.3f})"
            f"{held}"
        )
    if result.champion is None:
        typer.echo("no policy beat the rule-based controller on validation; none promoted")
    else:
        typer.echo(f"champion: {result.champion.name} v{result.champion.version}")


async def _store(settings: Settings, rl: RLSettings, candidates: Sequence[Candidate]) -> None:
    from vpp.ml.rl.messages import choose_champion
    from vpp.ml.rl.registry import PolicyRegistry
    from vpp.ml.rl.service import store_candidate, summary_of
    from vpp.store.database import mongo_client
    from vpp.workers.ml import init_forecast_store

    client = mongo_client(settings.mongo)
    try:
        db = client[settings.mongo.database]
        await init_forecast_store(db)  # the (name, version) index of `models`
        summaries = []
        for c in candidates:
            record = await store_candidate(db, rl, c)
            typer.echo(f"stored {record.label}")
            summaries.append(summary_of(record))
        champion = choose_champion(summaries)
        if champion is None:
            typer.echo("no policy beat the rule-based controller on validation; none promoted")
        else:
            await PolicyRegistry(db).promote(champion.name, champion.version)
            typer.echo(f"champion: {champion.name} v{champion.version}")
    finally:
        await client.close()


@rl_app.command("evaluate")
def evaluate_command(
    *,
    policies: Annotated[
        list[Path] | None,
        typer.Option(
            "--policy",
            "-p",
            help="A saved agent (<algorithm>[...].zip); default: every .zip in model_dir.",
        ),
    ] = None,
    from_registry: Annotated[
        bool, typer.Option(help="Also evaluate the registry's newest policy per algorithm.")
    ] = False,
    buildings: Annotated[
        str | None, typer.Option(help="Buildings, e.g. 11-17 (default: eval_buildings).")
    ] = None,
    months: Annotated[
        str | None, typer.Option(help="Months, e.g. 5,6,7 (default: eval_months).")
    ] = None,
    hindsight: Annotated[
        bool,
        typer.Option(
            help="Also run the rule-based controller with the actual hours ahead as its "
            "forecasts: a reference row showing what perfect forecasts would add."
        ),
    ] = True,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the rows here.")] = None,
) -> None:
    """Print cost, emissions, peak, saving, share of the LP's saving and score per controller."""
    from vpp.ml.rl.baselines import SelfConsumptionPolicy
    from vpp.ml.rl.episodes import consecutive_episodes
    from vpp.ml.rl.evaluate import evaluate, format_table
    from vpp.ml.rl.policy import Policy, rule_based

    settings = get_settings()
    rl = rl_settings(settings)
    chosen: list[Policy] = [SelfConsumptionPolicy(), rule_based(rl)]
    chosen += [_local_policy(path, rl) for path in (policies or sorted(rl.model_dir.glob("*.zip")))]
    if from_registry:
        chosen += asyncio.run(_registry_policies(settings, rl))
    try:
        episodes = consecutive_episodes(
            _numbers(buildings, "--buildings") or rl.eval_buildings,
            _numbers(months, "--months") or rl.eval_months,
            rl.episode_hours,
        )
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    with typer.progressbar(length=len(episodes), label="episodes") as bar:
        report = evaluate(
            rl,
            episodes,
            chosen,
            hindsight=[rule_based(rl)] if hindsight else [],
            progress=bar.update,
        )
    typer.echo(format_table(report))
    best = report.best_policy()
    typer.echo(
        f"best: {best.name}, {best.saving_vs_lp:.3f} of the LP optimum's saving, "
        f"score {best.score:.3f}"
    )
    if json_out is not None:
        json_out.write_text(json.dumps([asdict(r) for r in report.rows], indent=2))
        typer.echo(f"rows written to {json_out}")


def _local_policy(path: Path, rl: RLSettings) -> SB3Policy:
    from vpp.ml.rl.hyperparams import ALGORITHMS
    from vpp.ml.rl.policy import SB3Policy

    stem = path.stem
    known = [a for a in ALGORITHMS if stem == a or stem.startswith((f"{a}-", f"{a}_"))]
    if not known:
        raise _fail(f"{path}: the name must start with one of {', '.join(ALGORITHMS)}")
    algorithm = max(known, key=len)  # ppo_residual-2.zip is ppo_residual's, not ppo's
    try:
        return SB3Policy.from_bytes(path.read_bytes(), algorithm, stem, rl)
    except (OSError, ValueError) as exc:
        raise _fail(f"cannot load {path}: {exc}") from exc


async def _registry_policies(settings: Settings, rl: RLSettings) -> list[SB3Policy]:
    from vpp.ml.rl.observation import ENV_VERSION
    from vpp.ml.rl.policy import SB3Policy
    from vpp.ml.rl.registry import PolicyRegistry
    from vpp.store.database import mongo_client

    client = mongo_client(settings.mongo)
    try:
        registry = PolicyRegistry(client[settings.mongo.database])
        newest: dict[str, object] = {}
        out = []
        for record in await registry.list():
            if record.algorithm in newest or record.env_version != ENV_VERSION:
                continue
            newest[record.algorithm] = record
            data = await registry.file(record)
            out.append(SB3Policy.from_bytes(data, record.algorithm, record.label, rl))
        return out
    finally:
        await client.close()
