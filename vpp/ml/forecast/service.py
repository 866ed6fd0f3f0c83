"""The forecasting use cases the activities (and the CLI and benchmark) run: forecast a
batch of nodes or the fleet with fallbacks, and train and measure one candidate.

I/O goes through the history and registry modules; the darts work runs in a thread so
the event loop (and the activity's heartbeats) keep going.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from pymongo import ReplaceOne

from vpp.ml.forecast import history
from vpp.ml.forecast.backtest import FLEET_ID, Evaluation, Plan, evaluate
from vpp.ml.forecast.citylearn import WEATHER_CHANNELS
from vpp.ml.forecast.documents import (
    FORECASTS,
    SITE_SERIES,
    ForecastRecord,
    ModelMetrics,
)
from vpp.ml.forecast.ensemble import Ensemble
from vpp.ml.forecast.messages import (
    CandidateResult,
    ForecastBatchInput,
    ForecastBatchResult,
    ModelRef,
    SeriesOutcome,
    TrainingPlan,
)
from vpp.ml.forecast.models import (
    Forecaster,
    QuantileForecast,
    SeriesWindow,
    SiteWindow,
    make_forecaster,
)
from vpp.ml.forecast.registry import ModelRegistry
from vpp.ml.forecast.settings import ForecastSettings, ModelKind, Target

log = logging.getLogger(__name__)

FloatArray = history.FloatArray
ProgressFn = Callable[[str, float], None]  # (phase, share done)
# A series with fewer known hours in its window is not forecast (filling would invent it).
MIN_KNOWN_H = 24


@dataclass
class Histories:
    """Complete hourly windows ending at the origin, per target, plus what was missing."""

    windows: dict[Target, dict[str, SeriesWindow]] = field(default_factory=dict)
    filled: dict[tuple[str, Target], int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


async def read_histories(
    db: Any,
    node_ids: Sequence[str],
    targets: Sequence[Target],
    *,
    start: datetime,
    end: datetime,
    max_gap_h: int,
) -> Histories:
    """Each node's hours [start, end) per target, gaps filled. A node/target whose last
    known hour ends more than `max_gap_h` before `end` is skipped (and said why)."""
    raw = await history.read_series(db, node_ids, [t.value for t in targets], start, end)
    out = Histories(windows={t: {} for t in targets})
    hours = history.hours_between(start, end)
    for node in node_ids:
        channels = raw.get(node)
        for target in targets:
            key = f"{node}/{target.value}"
            values = None if channels is None else channels[target.value]
            if values is None or not np.isfinite(values).any():
                out.skipped[key] = f"no {target.value} history in the last {hours} h"
                continue
            known = np.flatnonzero(np.isfinite(values))
            gap = hours - 1 - int(known[-1])
            if gap > max_gap_h:
                out.skipped[key] = f"{target.value} history ends {gap} h before the forecast"
                continue
            if known.size < MIN_KNOWN_H:
                out.skipped[key] = f"only {known.size} h of {target.value} history"
                continue
            filled, count = history.fill_gaps(values)
            out.windows[target][node] = SeriesWindow(node, start, filled)
            out.filled[(node, target)] = count
    return out


async def read_site(db: Any, start: datetime, end: datetime) -> SiteWindow | None:
    """The measured weather of [start, end), gaps filled; None when there is none."""
    raw = await history.read_series(db, [SITE_SERIES], WEATHER_CHANNELS, start, end)
    channels = raw.get(SITE_SERIES)
    if channels is None:
        return None
    filled = {}
    for name, values in channels.items():
        if not np.isfinite(values).any():
            return None
        filled[name], _ = history.fill_gaps(values)
    return SiteWindow(start, filled)


def fleet_window(windows: dict[str, SeriesWindow]) -> SeriesWindow | None:
    if not windows:
        return None
    first = next(iter(windows.values()))
    total = np.sum(np.vstack([w.values for w in windows.values()]), axis=0)
    return SeriesWindow(FLEET_ID, first.start, total)


# -- forecasting with a fallback ---------------------------------------------------------------


@dataclass
class Made:
    forecast: QuantileForecast
    kind: ModelKind
    model_name: str
    model_version: int | None
    fallback_reason: str | None


class ModelCache:
    """Forecasters loaded from the registry, by name and version (immutable once saved)."""

    def __init__(self, registry: ModelRegistry) -> None:
        self.registry = registry
        self._models: dict[tuple[str, int], Forecaster] = {}
        self._lock = asyncio.Lock()

    async def get(self, ref: ModelRef) -> Forecaster:
        key = (ref.name, ref.version)
        async with self._lock:
            if key not in self._models:
                _, forecaster = await self.registry.load(ref.name, ref.version)
                self._models[key] = forecaster
            return self._models[key]


def forecast_with_fallback(
    forecaster: Forecaster | None,
    ref: ModelRef | None,
    why_not: str | None,
    windows: Sequence[SeriesWindow],
    *,
    n: int,
    site: SiteWindow | None,
    settings: ForecastSettings,
    target: Target,
) -> list[Made]:
    """The model's forecasts; wherever it has none (no model, or it fails on a window),
    the seasonal naive's, each with the reason."""
    naive = make_forecaster(ModelKind.SEASONAL_NAIVE, target, settings)
    naive_name = ModelKind.SEASONAL_NAIVE.value

    def fallback(ws: Sequence[SeriesWindow], reason: str) -> list[Made]:
        return [
            Made(f, ModelKind.SEASONAL_NAIVE, naive_name, None, reason)
            for f in naive.predict(ws, n, site)
        ]

    if forecaster is None or ref is None:
        return fallback(windows, why_not or f"no model for {target.value}")
    try:
        made = forecaster.predict(windows, n, site)
        return [Made(f, forecaster.kind, ref.name, ref.version, None) for f in made]
    except Exception as exc:  # one bad window must not cost the others their forecast
        log.warning(
            "%s v%d failed on a batch (%s); forecasting one by one", ref.name, ref.version, exc
        )
    out = []
    for w in windows:
        try:
            f = forecaster.predict([w], n, site)[0]
            out.append(Made(f, forecaster.kind, ref.name, ref.version, None))
        except Exception as exc:
            out.extend(fallback([w], f"{ref.name} v{ref.version} failed: {exc}"))
    return out


async def forecast_batch(
    db: Any, cache: ModelCache, settings: ForecastSettings, inp: ForecastBatchInput
) -> ForecastBatchResult:
    """Forecast every target of `inp.node_ids` (or their sum, the fleet) from `inp.origin`
    and store the forecasts; idempotent per (cycle, series, target)."""
    targets = list(inp.models)
    start = inp.origin - timedelta(hours=settings.lookback_h)
    hist = await read_histories(
        db, inp.node_ids, targets, start=start, end=inp.origin, max_gap_h=settings.max_history_gap_h
    )
    site = await read_site(db, start, inp.origin)
    records: list[ForecastRecord] = []
    fallbacks: list[SeriesOutcome] = []
    # The fleet is the sum of the nodes that have history; their own gaps are theirs.
    skipped = {} if inp.fleet else dict(hist.skipped)
    for target in targets:
        windows = hist.windows[target]
        filled = {node: hist.filled[(node, target)] for node in windows}
        summed = None
        if inp.fleet:
            fleet = fleet_window(windows)
            if fleet is None:
                skipped[f"{FLEET_ID}/{target.value}"] = "no node has history"
                continue
            filled = {FLEET_ID: max(filled.values(), default=0)}
            summed = len(windows)
            windows = {FLEET_ID: fleet}
        if not windows:
            continue
        ref = inp.models.get(target)
        forecaster, why_not = await _model(cache, ref, target)
        made = await asyncio.to_thread(
            functools.partial(
                forecast_with_fallback,
                forecaster,
                ref,
                why_not,
                list(windows.values()),
                n=settings.horizon_h,
                site=site,
                settings=settings,
                target=target,
            )
        )
        for m in made:
            series_id = m.forecast.series_id
            records.append(
                ForecastRecord(
                    cycle_id=inp.cycle_id,
                    series_id=series_id,
                    target=target,
                    issued_at=inp.issued_at,
                    start=m.forecast.start,
                    q10=_rounded(m.forecast.q10),
                    q50=_rounded(m.forecast.q50),
                    q90=_rounded(m.forecast.q90),
                    model_name=m.model_name,
                    model_version=m.model_version,
                    model_kind=m.kind,
                    fallback=m.fallback_reason is not None,
                    fallback_reason=m.fallback_reason,
                    history_end=inp.origin,
                    filled_hours=filled.get(series_id, 0),
                    nodes=summed,
                )
            )
            if m.fallback_reason is not None:
                fallbacks.append(
                    SeriesOutcome(
                        series_id=series_id,
                        target=target,
                        model=m.model_name,
                        fallback_reason=m.fallback_reason,
                    )
                )
    await store_forecasts(db, records)
    return ForecastBatchResult(written=len(records), fallbacks=fallbacks, skipped=skipped)


async def _model(
    cache: ModelCache, ref: ModelRef | None, target: Target
) -> tuple[Forecaster | None, str | None]:
    if ref is None:
        return None, f"no champion model for {target.value} in the registry"
    try:
        return await cache.get(ref), None
    except Exception as exc:
        log.warning("cannot load %s v%d: %s", ref.name, ref.version, exc)
        return None, f"{ref.name} v{ref.version} could not be loaded: {exc}"


def _rounded(values: FloatArray) -> list[float]:
    return [round(float(v), 4) for v in values]


async def store_forecasts(db: Any, records: Sequence[ForecastRecord]) -> None:
    if not records:
        return
    ops = []
    for r in records:
        doc = r.model_dump(exclude={"id", "revision_id"})
        key = {"cycle_id": r.cycle_id, "series_id": r.series_id, "target": r.target.value}
        ops.append(ReplaceOne(key, doc, upsert=True))
    await db[FORECASTS].bulk_write(ops, ordered=False)


# -- training ----------------------------------------------------------------------------------


async def training_series(
    db: Any, plan: TrainingPlan, target: Target, settings: ForecastSettings
) -> tuple[list[SeriesWindow], SiteWindow | None]:
    """The plan's nodes (complete enough) plus their sum as `fleet`, and the site."""
    hours = history.hours_between(plan.start, plan.end)
    hist = await read_histories(
        db,
        plan.node_ids,
        [target],
        start=plan.start,
        end=plan.end,
        max_gap_h=settings.max_history_gap_h,
    )
    windows = hist.windows[target]
    # A node missing more than a tenth of the hours would teach the model its filling.
    usable = {n: w for n, w in windows.items() if hist.filled[(n, target)] <= hours // 10}
    fleet = fleet_window(usable)
    series = [*usable.values(), *([fleet] if fleet is not None else [])]
    site = await read_site(db, plan.start, plan.end)
    return series, site


@dataclass(frozen=True)
class FittedCandidate:
    holdout: Evaluation  # fitted on the days before the holdout, and scored on it
    full: Forecaster  # refitted on all days
    refit_s: float


class FittedCandidates:
    """The candidates this process trained on the newest training data, by kind. A training
    runs its candidates one after the other on the same data, and the ensemble's members
    are candidates too: it adopts them rather than fitting each a second time (with the
    default candidates, LightGBM's two fits). Kept for one digest of data and settings at a
    time, and only the global members of the ensemble until the ensemble has taken them, so
    a worker does not hold models nothing will reuse; a worker that did not train the
    members (another replica) fits them itself."""

    def __init__(self) -> None:
        self._digest = ""
        self._by_kind: dict[ModelKind, FittedCandidate] = {}

    def of(self, digest: str) -> list[FittedCandidate]:
        return list(self._by_kind.values()) if digest == self._digest else []

    def keep(
        self, digest: str, kind: ModelKind, fitted: FittedCandidate, settings: ForecastSettings
    ) -> None:
        if digest != self._digest:
            self._digest, self._by_kind = digest, {}
        if kind is ModelKind.ENSEMBLE:
            self._by_kind.clear()  # taken (or not wanted) by the only model that reuses them
        elif kind in settings.ensemble.members and fitted.full.is_global:
            self._by_kind[kind] = fitted


def training_digest(
    target: Target,
    settings: ForecastSettings,
    plan: TrainingPlan,
    series: Sequence[SeriesWindow],
    site: SiteWindow | None,
) -> str:
    """Equal for two trainings only if they fit the same target with the same settings on
    the same hours and values."""
    h = hashlib.sha256()
    h.update(f"{target.value}|{plan.holdout_start.isoformat()}|".encode())
    h.update(settings.model_dump_json().encode())
    for w in series:
        h.update(f"|{w.series_id}|{w.start.isoformat()}|".encode())
        h.update(np.ascontiguousarray(w.values, dtype=np.float64).tobytes())
    if site is not None:
        h.update(site.start.isoformat().encode())
        for name in sorted(site.channels):
            h.update(name.encode())
            h.update(np.ascontiguousarray(site.channels[name], dtype=np.float64).tobytes())
    return h.hexdigest()


async def train_candidate(
    db: Any,
    registry: ModelRegistry,
    settings: ForecastSettings,
    *,
    plan: TrainingPlan,
    target: Target,
    kind: ModelKind,
    progress: ProgressFn | None = None,
    fitted: FittedCandidates | None = None,
) -> CandidateResult:
    """Measure `kind` on the plan's held-out days (fitted on the days before), refit it
    on all days, and store it with those metrics. With `fitted`, an ensemble adopts the
    members trained on the same data before it, and the candidate is kept there for the
    next."""
    series, site = await training_series(db, plan, target, settings)
    if not series:
        raise ValueError(f"no node has enough {target.value} history for training")
    digest = "" if fitted is None else training_digest(target, settings, plan, series, site)
    earlier = [] if fitted is None else fitted.of(digest)
    test = Plan(
        split=plan.holdout_start,
        horizon=settings.horizon_h,
        stride=settings.selection_stride_h,
        lookback=settings.lookback_h,
        season=settings.naive_season_h,
    )
    origins = len(test.origins(plan.start, history.hours_between(plan.start, plan.end)))
    done = 0

    def on_chunk(_: str, n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress("holdout", done / max(origins, 1))

    def on_fit(phase: str) -> Callable[[float], None]:
        return lambda share: progress(phase, share) if progress else None

    evaluation = await asyncio.to_thread(
        functools.partial(
            evaluate,
            kind,
            target,
            series,
            site=site,
            plan=test,
            settings=settings,
            progress=on_chunk,
            fit_progress=on_fit("fit (holdout)"),
            reuse=[f.holdout for f in earlier],
        )
    )
    forecaster = evaluation.forecaster
    t0 = time.perf_counter()
    reused_s = 0.0
    adopted: list[ModelKind] = []
    if forecaster.is_global:
        forecaster = make_forecaster(kind, target, settings)
        if isinstance(forecaster, Ensemble):
            taken = forecaster.adopt([f.full for f in earlier])
            reused_s = sum(f.refit_s for f in earlier if f.full in taken)
            adopted = [f.kind for f in taken]
        await asyncio.to_thread(forecaster.fit, series, site, on_fit("fit (all days)"))
    refit_s = time.perf_counter() - t0 + reused_s
    if fitted is not None:
        fitted.keep(digest, kind, FittedCandidate(evaluation, forecaster, refit_s), settings)
    mean = evaluation.mean()
    metrics = ModelMetrics(
        mae=mean.mae,
        rmse=mean.rmse,
        mase=mean.mase,
        coverage_80=mean.coverage_80,
        naive_mae=float(np.mean([s.scores.naive_mae for s in evaluation.scope(None)] or [np.nan])),
        origins=evaluation.origins,
        series=mean.series,
        fit_s=evaluation.fit_s + refit_s,
        predict_s=evaluation.predict_s,
    )
    record = await registry.save(
        forecaster, metrics, plan.start, plan.end, [s.series_id for s in series]
    )
    await registry.prune(record.name, settings.keep_model_versions)
    return CandidateResult(
        target=target,
        kind=kind,
        name=record.name,
        version=record.version,
        mase=None if np.isnan(mean.mase) else mean.mase,
        mae=mean.mae,
        coverage_80=mean.coverage_80,
        fit_s=metrics.fit_s,
        adopted=adopted,
    )
