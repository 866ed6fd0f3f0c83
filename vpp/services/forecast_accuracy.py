"""How the stored forecasts did against what was then measured: the live counterpart of
the backtest's table (`forecastMetrics`), on hours no model had seen when it forecast them.

Every forecast step whose hour has ended and is in the hourly history (live telemetry
averaged per hour, `vpp.ml.forecast.history`) is scored as the backtest scores
(`vpp.ml.forecast.metrics`): the median's MAE, its MASE against the seasonal naive made
from the same history at the forecast's first hour, and the 80 % band's coverage (PV:
the hours with the sun up only, as in the backtest).

Cycles run every few minutes from the same whole-hour origin, so several forecasts share
a first hour; only the newest of each counts, and every first hour weighs the same. The
fleet's actual is the sum of its members: the nodes measured for at least a day of the
period, as the cycle forecasts no node with less (a node that has just joined, or reports
no load, is left out). An hour any member lacks is not scored, since the sum would be short.
A fleet forecast that summed another number of nodes (its `nodes`: one made before a
member had its day of history) is not scored either, but counted as `unmatched`: against
a sum of more nodes it would count their load as its error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from vpp.ml.forecast import metrics
from vpp.ml.forecast.backtest import seasonal_naive, uncertain_hours
from vpp.ml.forecast.documents import FLEET_SERIES, FORECASTS
from vpp.ml.forecast.history import hour_floor, hours_between, read_series
from vpp.ml.forecast.service import MIN_KNOWN_H
from vpp.ml.forecast.settings import ForecastSettings, Target
from vpp.services.errors import InvalidInputError
from vpp.services.nodes import check_node_id
from vpp.store.database import Database

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class LeadAccuracy:
    """The scores of the steps `hours_ahead` hours after their forecast's first hour."""

    hours_ahead: int  # 0: the forecast's first hour
    points: int
    mae: float
    mase: float | None  # None where the naive was exact at every point


@dataclass(frozen=True)
class ForecastAccuracy:
    series_id: str
    target: Target
    since: datetime  # the first forecast hour looked at
    until: datetime  # the end of the last whole hour
    forecasts: int  # forecasts with at least one scored step (one per first hour)
    unmatched: int  # fleet forecasts not scored: they summed another number of nodes
    fallbacks: int  # of them, made by the seasonal-naive fallback
    models: list[str]  # the models that made them, e.g. "load_kw-lightgbm v3"
    points: int  # forecast steps scored
    mae: float | None  # None without a scored point
    mase: float | None
    naive_mae: float | None
    coverage_80: float | None  # None without an uncertain point (PV at night only)
    leads: list[LeadAccuracy]


async def forecast_accuracy(
    db: Database,
    settings: ForecastSettings,
    *,
    series_id: str,
    target: Target,
    days: int,
    now: datetime,
) -> ForecastAccuracy:
    """The forecasts of `series_id` (a node or `fleet`) for `target` whose first hour is
    in the last `days` days, scored on their hours that have ended."""
    if series_id != FLEET_SERIES:
        check_node_id(series_id, "seriesId")
    keep = settings.forecast_retention_days
    if not 1 <= days <= keep:
        raise InvalidInputError.for_field(
            "days", f"must be between 1 and {keep} (forecasts are kept {keep} days), not {days}"
        )
    until = hour_floor(now)
    since = until - timedelta(days=days)
    forecasts = await _newest_per_first_hour(db, series_id, target, since, until)
    season = settings.naive_season_h
    # From a season before the first forecast hour (its naive) to the last whole hour.
    start = since - timedelta(hours=season)
    actual, members = await _measured(db, series_id, target, start, until)

    scored: list[dict[str, Any]] = []
    parts: list[FloatArray] = []  # per forecast: (scored steps, 7) rows, see `_COLUMNS`
    unmatched = 0
    for f in forecasts:
        summed = f.get("nodes")  # None: a node's forecast, or one stored before the count
        if members is not None and summed is not None and summed != members:
            unmatched += 1
            continue
        origin = hours_between(start, f["start"])
        steps = min(len(f["q50"]), hours_between(f["start"], until))
        rows = np.column_stack(
            [
                np.arange(steps),
                actual[origin : origin + steps],
                seasonal_naive(actual, origin, steps, season),
                *(np.asarray(f[k][:steps], dtype=np.float64) for k in ("q10", "q50", "q90")),
                uncertain_hours(target, settings, f["start"], steps),
            ]
        )
        known = rows[np.isfinite(rows[:, 1]) & np.isfinite(rows[:, 2])]
        if len(known):
            scored.append(f)
            parts.append(known)
    points = np.vstack(parts) if parts else np.empty((0, len(_COLUMNS)))
    return ForecastAccuracy(
        series_id=series_id,
        target=target,
        since=since,
        until=until,
        forecasts=len(scored),
        unmatched=unmatched,
        fallbacks=sum(1 for f in scored if f.get("fallback")),
        models=sorted({_model_label(f) for f in scored}),
        points=len(points),
        **_scores(points),
        leads=_leads(points),
    )


# The columns of the scored points.
_COLUMNS = ("lead", "actual", "naive", "q10", "q50", "q90", "uncertain")
_LEAD, _ACTUAL, _NAIVE, _Q10, _Q50, _Q90, _UNCERTAIN = range(len(_COLUMNS))


def _scores(points: FloatArray) -> dict[str, float | None]:
    if not len(points):
        return {"mae": None, "mase": None, "naive_mae": None, "coverage_80": None}
    p = points.T
    s = metrics.score(p[_ACTUAL], p[_Q10], p[_Q50], p[_Q90], p[_NAIVE], uncertain=p[_UNCERTAIN] > 0)
    return {
        "mae": s.mae,
        "mase": _finite(s.mase),
        "naive_mae": s.naive_mae,
        "coverage_80": _finite(s.coverage_80),
    }


def _leads(points: FloatArray) -> list[LeadAccuracy]:
    out = []
    for lead in np.unique(points[:, _LEAD]):
        at = points[points[:, _LEAD] == lead].T
        out.append(
            LeadAccuracy(
                hours_ahead=int(lead),
                points=at.shape[1],
                mae=metrics.mae(at[_ACTUAL], at[_Q50]),
                mase=_finite(metrics.mase(at[_ACTUAL], at[_Q50], at[_NAIVE])),
            )
        )
    return out


def _finite(x: float) -> float | None:
    return x if np.isfinite(x) else None


async def _newest_per_first_hour(
    db: Database, series_id: str, target: Target, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    # A cycle's forecast starts at the hour it is issued in, so the forecasts starting in
    # [since, until) were issued in [since, until + 1 h). Asked by their issue time, the
    # query is answered from the (series, target, issued) index; by their start it would
    # scan every forecast kept (SecantusDB uses an index only when it holds every field
    # a query names).
    query = {
        "series_id": series_id,
        "target": target.value,
        "issued_at": {"$gte": since, "$lt": until + timedelta(hours=1)},
    }
    fields = [
        *("start", "issued_at", "step_minutes", "q10", "q50", "q90"),
        *("model_name", "model_version", "fallback", "nodes"),
    ]
    newest: dict[datetime, dict[str, Any]] = {}
    async for doc in db[FORECASTS].find(query, dict.fromkeys(fields, 1)).sort("issued_at", 1):
        if doc.get("step_minutes", 60) != 60:
            continue  # only hourly steps line up with the hourly history
        if not since <= doc["start"] < until:
            continue
        newest[hour_floor(doc["start"])] = doc | {"start": hour_floor(doc["start"])}
    return [newest[k] for k in sorted(newest)]


async def _measured(
    db: Database, series_id: str, target: Target, start: datetime, end: datetime
) -> tuple[FloatArray, int | None]:
    """The measured hours of [start, end) (NaN where unknown), and for the fleet how many
    members it sums (None for a node); the fleet's is its members' sum, unknown where any
    of them is."""
    unknown = np.full(hours_between(start, end), np.nan)
    if series_id != FLEET_SERIES:
        raw = await read_series(db, [series_id], [target.value], start, end)
        found = raw.get(series_id)
        return (found[target.value] if found else unknown), None
    raw = await read_series(db, None, [target.value], start, end)
    members = [
        c[target.value] for c in raw.values() if np.isfinite(c[target.value]).sum() >= MIN_KNOWN_H
    ]
    if not members:
        return unknown, 0
    # NaN propagates through the sum: an hour one member lacks is unknown for the fleet.
    total: FloatArray = np.sum(members, axis=0)
    return total, len(members)


def _model_label(f: dict[str, Any]) -> str:
    version = f.get("model_version")
    return f["model_name"] if version is None else f"{f['model_name']} v{version}"
