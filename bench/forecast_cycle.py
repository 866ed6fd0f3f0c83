"""Forecast-cycle benchmark: a `ForecastCycleWorkflow` for N homes and the fleet, end to end.

Not a test: run it against a running stack (Temporal, MongoDB, Redis), e.g. `vpp stack up`
or the test stack of an offset with its ports exported:

    python bench/forecast_cycle.py --nodes 100

What it does, in a database of its own (`<database>_bench_forecast`, dropped at the end
unless `--keep`):
1. back-fills nodes 1..N as homes with their CityLearn year (`vpp data import citylearn`
   with every node a home), timed;
2. for each model in `--models`: fits it on the last `--train-days` of nodes 1..17 plus the
   fleet (in this process, not timed as part of the cycle), stores it and makes it the
   champion of both targets;
3. runs `--cycles` cycles on an ML worker in this process (default task queue of its own)
   and reports the wall time of each from start to result (sync of history, plan, batches
   of `--batch` nodes, the fleet, publish), the forecasts written and any fallback.

The design's target: a 100-node cycle in 30 s or less on this 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time
import uuid
import warnings
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from vpp.config import EdgeSimSettings, get_settings
from vpp.ml.forecast import history
from vpp.ml.forecast.citylearn_import import import_citylearn, simulated_homes
from vpp.ml.forecast.documents import ModelMetrics
from vpp.ml.forecast.messages import ForecastCycleInput, ForecastCycleResult
from vpp.ml.forecast.models import make_forecaster, set_threads
from vpp.ml.forecast.registry import ModelRegistry
from vpp.ml.forecast.service import fleet_window, read_histories, read_site
from vpp.ml.forecast.settings import ModelKind, Target, forecast_settings
from vpp.store.database import mongo_client
from vpp.temporal_client import connect
from vpp.workers.ml import MlClients, build_ml_worker, init_forecast_store
from vpp.workflows.forecast import ForecastCycleWorkflow

TRAIN_NODES = 17


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--nodes", type=int, default=100)
    p.add_argument("--cycles", type=int, default=3)
    p.add_argument("--batch", type=int, default=50, help="nodes per forecast activity")
    p.add_argument(
        "--models",
        default="lightgbm,tide,exp_smoothing,seasonal_naive",
        help="champions to time, comma-separated",
    )
    p.add_argument("--train-days", type=int, default=90)
    p.add_argument("--keep", action="store_true", help="keep the benchmark database")
    return p.parse_args()


async def main() -> None:
    args = parse()
    warnings.filterwarnings("ignore")
    logging.basicConfig(level=logging.WARNING)
    settings = get_settings()
    fs = forecast_settings(settings)
    set_threads(fs.threads)
    mongo = mongo_client(settings.mongo)
    name = f"{settings.mongo.database}_bench_forecast"
    db = mongo[name]
    redis = Redis.from_url(settings.redis.url)
    temporal = await connect(settings.temporal)
    try:
        await mongo.drop_database(name)
        await init_forecast_store(db)
        homes = simulated_homes(settings.mqtt, EdgeSimSettings(), args.nodes, home_share=1.0)
        t0 = time.perf_counter()
        now = datetime.now(UTC)
        report = await import_citylearn(db, fs.data_dir, homes, now=now)
        print(
            f"import: {report.homes} homes x 8760 h + site in {time.perf_counter() - t0:.1f} s "
            f"({report.documents} day documents)"
        )
        registry = ModelRegistry(db)
        queue = f"bench-ml-{uuid.uuid4().hex[:8]}"
        clients = MlClients(mongo=mongo, db=db, redis=redis)
        worker = build_ml_worker(temporal, settings, clients, task_queue=queue, forecast=fs)
        rows = []
        async with worker:
            for kind in [ModelKind(m) for m in args.models.split(",")]:
                fit_s = await champion(db, registry, kind, [h.node_id for h in homes], args)
                times = []
                result: ForecastCycleResult | None = None
                for _ in range(args.cycles):
                    t1 = time.perf_counter()
                    result = await temporal.execute_workflow(
                        ForecastCycleWorkflow.run,
                        ForecastCycleInput(batch_size=args.batch),
                        id=f"bench-forecast-cycle-{uuid.uuid4().hex[:8]}",
                        task_queue=queue,
                    )
                    times.append(time.perf_counter() - t1)
                assert result is not None
                rows.append((kind, fit_s, times, result))
                print(
                    f"{kind.value:15s} fit {fit_s:6.1f} s | cycle "
                    + ", ".join(f"{t:.1f}" for t in times)
                    + f" s | {result.written} forecasts for {result.nodes} nodes + fleet, "
                    f"{len(result.fallbacks)} fallbacks, {len(result.skipped)} skipped",
                    flush=True,
                )
        print()
        header = ("champion", "nodes", "cycle s (median)", "max", "target 30 s")
        print(f"{header[0]:15s} {header[1]:>5s} {header[2]:>17s} {header[3]:>6s} {header[4]:>12s}")
        for kind, _fit, times, result in rows:
            median = statistics.median(times)
            verdict = "met" if max(times) <= 30.0 else "MISSED"
            worst = max(times)
            print(f"{kind.value:15s} {result.nodes:5d} {median:17.1f} {worst:6.1f} {verdict:>12s}")
    finally:
        if not args.keep:
            await mongo.drop_database(name)
        await redis.aclose()
        await mongo.close()


async def champion(
    db: object,
    registry: ModelRegistry,
    kind: ModelKind,
    node_ids: list[str],
    args: argparse.Namespace,
) -> float:
    """Fit `kind` for both targets on nodes 1..17 plus the fleet, store and promote it."""
    fs = forecast_settings(get_settings())
    end = history.hour_floor(datetime.now(UTC))
    start = end - timedelta(days=args.train_days)
    site = await read_site(db, start, end)
    train_ids = node_ids[:TRAIN_NODES]
    total = 0.0
    for target in Target:
        hist = await read_histories(
            db, train_ids, [target], start=start, end=end, max_gap_h=fs.max_history_gap_h
        )
        windows = hist.windows[target]
        fleet = fleet_window(windows)
        series = [*windows.values(), *([fleet] if fleet else [])]
        forecaster = make_forecaster(kind, target, fs)
        t0 = time.perf_counter()
        await asyncio.to_thread(forecaster.fit, series, site)
        total += time.perf_counter() - t0
        nan = float("nan")
        metrics = ModelMetrics(
            mae=nan,
            rmse=nan,
            mase=nan,
            coverage_80=nan,
            naive_mae=nan,
            origins=0,
            series=len(series),
            fit_s=total,
            predict_s=0.0,
        )
        record = await registry.save(forecaster, metrics, start, end, [s.series_id for s in series])
        await registry.promote(record)
    return total


if __name__ == "__main__":
    asyncio.run(main())
