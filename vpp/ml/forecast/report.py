"""The backtest table of `vpp forecast backtest` (see `vpp.ml.forecast.backtest`).

Per target, per model: MAE and RMSE (kW), MASE against the 24 h seasonal naive (and, for
reference, against the 168 h one), the coverage of the 80 % interval, and the time to fit
and to forecast every origin; once as the mean over the homes and once for the fleet
(their sum). The best model of each target is the lowest mean MASE over the homes.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import typer

from vpp.ml.forecast.backtest import (
    CITYLEARN_SPLIT,
    CITYLEARN_VALIDATION_SPLIT,
    Evaluation,
    Plan,
    best,
    citylearn_series,
    citylearn_site,
    evaluate,
    until,
)
from vpp.ml.forecast.citylearn import load_year
from vpp.ml.forecast.documents import BacktestRow, BacktestRun
from vpp.ml.forecast.models import set_threads
from vpp.ml.forecast.settings import ForecastSettings, ModelKind, Target

Echo = Callable[[str], None]
HEADER = (
    f"{'target':8s} {'series':12s} {'model':15s} {'MAE kW':>8s} {'RMSE kW':>8s} "
    f"{'MASE':>6s} {'MASE168':>7s} {'cover80':>7s} {'fit s':>7s} {'pred s':>7s}"
)


def run_backtest(
    settings: ForecastSettings,
    *,
    targets: Sequence[Target],
    kinds: Sequence[ModelKind],
    buildings: Sequence[int],
    stride: int,
    echo: Echo,
    per_building: bool = False,
    validation: bool = False,
) -> BacktestRun:
    set_threads(settings.threads)
    warnings.filterwarnings("ignore")
    logging.getLogger("darts").setLevel(logging.ERROR)
    year = load_year(settings.resolved_data_dir(), buildings)
    site = citylearn_site(year)
    split = CITYLEARN_VALIDATION_SPLIT if validation else CITYLEARN_SPLIT
    plan = Plan(
        split=split,
        horizon=settings.horizon_h,
        stride=stride,
        lookback=settings.lookback_h,
        season=settings.naive_season_h,
    )
    series_by_target = {t: citylearn_series(year, t) for t in targets}
    if validation:
        series_by_target = {t: until(s, CITYLEARN_SPLIT) for t, s in series_by_target.items()}
    first = series_by_target[targets[0]][0]
    origins = len(plan.origins(first.start, len(first.values)))
    echo(
        f"{len(buildings)} homes + fleet, {origins} origins from {split:%Y-%m-%d} "
        f"every {stride} h, horizon {plan.horizon} h, lookback {plan.lookback} h"
    )
    results: dict[Target, list[Evaluation]] = {t: [] for t in targets}
    t0 = time.perf_counter()
    total = origins * len(targets) * len(kinds)
    with typer.progressbar(length=total, label="backtest", show_pos=True) as bar:
        for target in targets:
            for kind in kinds:
                bar.label = f"{target.value} {kind.value}"
                evaluation = evaluate(
                    kind,
                    target,
                    series_by_target[target],
                    site=site,
                    plan=plan,
                    settings=settings,
                    progress=lambda _k, n: bar.update(n),
                    reuse=results[target],
                )
                results[target].append(evaluation)
    echo(f"done in {time.perf_counter() - t0:.0f} s")
    echo(HEADER)
    rows: list[dict[str, Any]] = []
    winners: dict[Target, ModelKind] = {}
    for target in targets:
        for scope, fleet in ((f"{len(buildings)} homes", False), ("fleet", True)):
            for e in results[target]:
                summary = e.mean(fleet=fleet)
                row = {
                    "target": target.value,
                    "series": scope,
                    "model": e.kind.value,
                    "mae": summary.mae,
                    "rmse": summary.rmse,
                    "mase": summary.mase,
                    "mase_168": summary.mase_weekly,
                    "coverage_80": summary.coverage_80,
                    "fit_s": e.fit_s,
                    "predict_s": e.predict_s,
                    "origins": e.origins,
                }
                rows.append(row)
                echo(_line(row))
        if per_building:
            for e in results[target]:
                for s in e.series:
                    echo(
                        _line(
                            {
                                "target": target.value,
                                "series": s.series_id,
                                "model": e.kind.value,
                                "mae": s.scores.mae,
                                "rmse": s.scores.rmse,
                                "mase": s.scores.mase,
                                "mase_168": s.mase_weekly,
                                "coverage_80": s.scores.coverage_80,
                                "fit_s": float("nan"),
                                "predict_s": float("nan"),
                            }
                        )
                    )
        winner = best(results[target])
        winners[target] = winner.kind
        m = winner.mean()
        verdict = "meets" if m.mase <= 0.8 else "misses"
        echo(
            f"best for {target.value}: {winner.kind.value} (mean MASE {m.mase:.3f} over the "
            f"homes, fleet {winner.mean(fleet=True).mase:.3f}; {verdict} the 0.8 target)"
        )
    return BacktestRun(
        test_from=split,
        test_until=first.end,
        horizon_h=plan.horizon,
        stride_h=stride,
        lookback_h=plan.lookback,
        buildings=list(buildings),
        rows=[BacktestRow.model_validate(_defined(r)) for r in rows],
        best=winners,
    )


def _defined(row: dict[str, Any]) -> dict[str, Any]:
    """NaN (a score without points) as None: JSON and GraphQL have no NaN."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}


def _line(row: dict[str, Any]) -> str:
    return (
        f"{row['target']:8s} {row['series']:12s} {row['model']:15s} {row['mae']:8.3f} "
        f"{row['rmse']:8.3f} {row['mase']:6.3f} {row['mase_168']:7.3f} "
        f"{row['coverage_80']:7.3f} {row['fit_s']:7.1f} {row['predict_s']:7.1f}"
    )
