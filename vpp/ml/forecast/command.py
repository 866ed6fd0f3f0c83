"""`vpp forecast ...` and `vpp data import citylearn`: the forecasting's commands.

- `vpp forecast backtest`: the rolling-origin backtest on the CityLearn year (train on
  the first nine months, test the last three), every model, load and PV, per building and
  for the fleet; prints the table and the best model per target, and stores it in
  `forecast_backtests`, where the API's `forecastMetrics` reads the newest.
- `vpp forecast train`: run `TrainForecastWorkflow` now (as the daily schedule does).
- `vpp forecast cycle`: run `ForecastCycleWorkflow` now (as the 15-minute schedule does).
- `vpp forecast import-citylearn` = `vpp data import citylearn`: back-fill the homes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from vpp.config import Settings, get_settings
from vpp.ml.forecast.documents import BACKTESTS, BacktestRun
from vpp.ml.forecast.settings import ModelKind, Target, forecast_settings

forecast_app = typer.Typer(help="Forecasts of load and PV (darts).", no_args_is_help=True)
data_app = typer.Typer(help="Data imports.", no_args_is_help=True)
data_import_app = typer.Typer(help="Import a dataset into the history.", no_args_is_help=True)
data_app.add_typer(data_import_app, name="import")

R = TypeVar("R")


def run_workflow(settings: Settings, run: Callable[[Any], Awaitable[R]]) -> R:
    """`run(client)` against the platform's Temporal; a server that cannot be reached or a
    workflow that fails ends the command with the reason in one line, exit 1."""
    from temporalio.client import WorkflowFailureError

    from vpp.temporal_client import connect_or_exit

    async def go() -> R:
        client = await connect_or_exit(settings.temporal)
        try:
            return await run(client)
        except WorkflowFailureError as exc:
            raise _fail(_root_cause(exc)) from exc

    return asyncio.run(go())


def _root_cause(exc: BaseException) -> str:
    """The innermost cause's message: the activity's own reason, under the wrappers."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return str(exc) or type(exc).__name__


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


def _parse_buildings(text: str) -> list[int]:
    """ "1-17", "1,3,5" or "1-3,9"."""
    out: list[int] = []
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-", 1)
            out.extend(range(int(a), int(b) + 1))
        elif part.strip():
            out.append(int(part))
    return sorted(set(out))


def parse_numbers(text: str, option: str, most: int) -> list[int]:
    """`text` in `_parse_buildings`' syntax, each number within 1..`most`; anything else
    ends the command with an error that names `option`."""
    try:
        numbers = _parse_buildings(text)
    except ValueError:
        raise _fail(f"{option} must look like 11-17 or 5,6,7, not {text!r}") from None
    outside = [n for n in numbers if not 1 <= n <= most]
    if outside:
        raise _fail(f"{option}: {outside} not within 1-{most}")
    if not numbers:
        raise _fail(f"{option} names none")
    return numbers


# -- backtest ----------------------------------------------------------------------------------


@forecast_app.command("backtest")
def backtest_command(
    *,
    targets: Annotated[
        list[Target] | None, typer.Option("--target", "-t", help="Targets (default both).")
    ] = None,
    models: Annotated[
        list[ModelKind] | None, typer.Option("--model", "-m", help="Models (default all).")
    ] = None,
    buildings: Annotated[str, typer.Option(help="Buildings, e.g. 1-17 or 1,2,5.")] = "1-17",
    stride: Annotated[int, typer.Option(min=1, help="Hours between origins.")] = 7,
    per_building: Annotated[bool, typer.Option(help="Also print every building.")] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the table here.")] = None,
    validation: Annotated[
        bool,
        typer.Option(
            help="Fit on Aug-Jan and score Feb-Apr, never reading May-Jul: for choosing "
            "settings without looking at the test."
        ),
    ] = False,
    store: Annotated[
        bool,
        typer.Option(
            help="Store the table in MongoDB for the API's forecastMetrics (validation "
            "runs never are)."
        ),
    ] = True,
) -> None:
    """Rolling-origin backtest: 24 h horizon, hourly; fit on Aug-Apr, test May-Jul."""
    from vpp.ml.forecast.citylearn import BUILDINGS
    from vpp.ml.forecast.report import run_backtest

    numbers = parse_numbers(buildings, "--buildings", BUILDINGS)
    platform = get_settings()
    settings = forecast_settings(platform)
    store = store and not validation
    if store:
        # Before the minutes of fitting, not after them.
        asyncio.run(_reach_store(platform))
    logging.getLogger("darts").setLevel(logging.ERROR)
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning").setLevel(logging.ERROR)
    run = run_backtest(
        settings,
        targets=targets or list(Target),
        kinds=models or list(ModelKind),
        buildings=numbers,
        stride=stride,
        echo=typer.echo,
        per_building=per_building,
        validation=validation,
    )
    if json_out is not None:
        rows = [r.model_dump(mode="json") for r in run.rows]
        json_out.write_text(json.dumps(rows, indent=2))
        typer.echo(f"table written to {json_out}")
    if store:
        asyncio.run(_store_backtest(platform, run))
        typer.echo(f"stored in {BACKTESTS} (the API's forecastMetrics)")


async def _reach_store(settings: Settings) -> None:
    from pymongo.errors import PyMongoError

    from vpp.store.database import mongo_client

    client = mongo_client(settings.mongo)
    try:
        await client.admin.command("ping")
    except PyMongoError as exc:
        # The URI may hold a password: name where it comes from instead.
        m = settings.mongo
        where = "VPP_MONGO__URI" if m.external else f"{m.host}:{m.port}"
        raise _fail(
            f"cannot reach MongoDB at {where} to store the table "
            f"(start it with vpp stack up, or pass --no-store): {type(exc).__name__}"
        ) from exc
    finally:
        await client.close()


async def _store_backtest(settings: Settings, run: BacktestRun) -> None:
    from vpp.store.database import mongo_client

    client = mongo_client(settings.mongo)
    try:
        await client[settings.mongo.database][BACKTESTS].insert_one(run.model_dump())
    finally:
        await client.close()


# -- import ------------------------------------------------------------------------------------

NodesOption = Annotated[
    int | None, typer.Option("--nodes", "-n", help="Nodes 1..N (default: edge_sim.nodes).")
]
HomeShareOption = Annotated[
    float | None,
    typer.Option(help="Share of homes among them (default: edge_sim.home_share)."),
]


@forecast_app.command("import-citylearn")
def import_citylearn_command(
    nodes: NodesOption = None,
    home_share: HomeShareOption = None,
    hours: Annotated[int, typer.Option(help="Hours of history, ending now.")] = 8760,
) -> None:
    """Back-fill every simulated home with its building's year of hourly load and PV, and
    the site with weather, tariff and carbon, ending at the current hour."""
    _import(get_settings(), nodes, home_share, hours)


@data_import_app.command("citylearn")
def data_import_citylearn(
    nodes: NodesOption = None,
    home_share: HomeShareOption = None,
    hours: Annotated[int, typer.Option(help="Hours of history, ending now.")] = 8760,
) -> None:
    """Back-fill every simulated home with its CityLearn building's year (see
    `vpp.ml.forecast.citylearn_import` for how the year is placed in time)."""
    _import(get_settings(), nodes, home_share, hours)


def _import(settings: Settings, nodes: int | None, home_share: float | None, hours: int) -> None:
    from vpp.ml.forecast.citylearn_import import import_citylearn, simulated_homes
    from vpp.store.database import mongo_client
    from vpp.workers.ml import init_forecast_store

    fs = forecast_settings(settings)
    homes = simulated_homes(
        settings.mqtt, settings.edge_sim, nodes or settings.edge_sim.nodes, home_share
    )

    async def go() -> None:
        client = mongo_client(settings.mongo)
        try:
            db = client[settings.mongo.database]
            await init_forecast_store(db)
            with typer.progressbar(length=len(homes), label="homes") as bar:
                report = await import_citylearn(
                    db, fs.data_dir, homes, now=datetime.now(UTC), hours=hours, progress=bar.update
                )
        finally:
            await client.close()
        typer.echo(
            f"{report.homes} homes back-filled, {report.start:%Y-%m-%d %H:%M} to "
            f"{report.end:%Y-%m-%d %H:%M} UTC ({report.documents} day documents)"
        )

    asyncio.run(go())


# -- workflows now -----------------------------------------------------------------------------


@forecast_app.command("train")
def train_command(
    targets: Annotated[list[Target] | None, typer.Option("--target", "-t")] = None,
    models: Annotated[list[ModelKind] | None, typer.Option("--model", "-m")] = None,
    train_days: Annotated[int | None, typer.Option(help="Days of history.")] = None,
) -> None:
    """Run TrainForecastWorkflow now on the training queue (an ML worker must be running)
    and print what it chose."""
    from vpp.ml.forecast.messages import TrainForecastInput, TrainForecastResult
    from vpp.workflows.forecast import TrainForecastWorkflow

    settings = get_settings()

    async def run(client: Any) -> TrainForecastResult:
        result: TrainForecastResult = await client.execute_workflow(
            TrainForecastWorkflow.run,
            TrainForecastInput(targets=targets, candidates=models, train_days=train_days),
            id=f"forecast-train-manual-{uuid.uuid4().hex[:8]}",
            task_queue=settings.temporal.ml_train_task_queue,
        )
        return result

    result = run_workflow(settings, run)
    for choice in result.choices:
        for c in sorted(choice.candidates, key=lambda c: c.mase if c.mase is not None else 9.0):
            mark = "*" if c.name == choice.champion.name else " "
            mase = f"{c.mase:.3f}" if c.mase is not None else "-"
            reused = f" ({', '.join(k.value for k in c.adopted)}'s reused)" if c.adopted else ""
            typer.echo(
                f"{mark} {c.name:28s} v{c.version:<3d} MASE {mase}  MAE {c.mae:.3f}  "
                f"cover80 {c.coverage_80:.2f}  fit {c.fit_s:.1f} s{reused}"
            )
    if result.cycle_started:
        typer.echo("a forecast cycle with the champions started now")
    else:
        typer.echo("no cycle started now (no forecast-cycle schedule, or it is paused)")


@forecast_app.command("cycle")
def cycle_command() -> None:
    """Run ForecastCycleWorkflow now on the ML queue (a worker must be running)."""
    from vpp.ml.forecast.messages import ForecastCycleInput, ForecastCycleResult
    from vpp.workflows.forecast import ForecastCycleWorkflow

    settings = get_settings()
    fs = forecast_settings(settings)

    async def run(client: Any) -> ForecastCycleResult:
        result: ForecastCycleResult = await client.execute_workflow(
            ForecastCycleWorkflow.run,
            ForecastCycleInput(batch_size=fs.batch_size),
            id=f"forecast-cycle-manual-{uuid.uuid4().hex[:8]}",
            task_queue=settings.temporal.ml_task_queue,
        )
        return result

    result = run_workflow(settings, run)
    typer.echo(
        f"{result.cycle_id}: {result.written} forecasts for {result.nodes} nodes and the fleet "
        f"from {result.origin:%Y-%m-%d %H:%M} UTC; {len(result.fallbacks)} fell back, "
        f"{len(result.skipped)} skipped"
    )
    for outcome in result.fallbacks[:10]:
        typer.echo(
            f"  fallback {outcome.series_id}/{outcome.target.value}: {outcome.fallback_reason}"
        )
    for series_id, why in sorted(result.skipped.items())[:10]:
        typer.echo(f"  skipped {series_id}: {why}")
