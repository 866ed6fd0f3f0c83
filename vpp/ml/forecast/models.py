"""The candidate forecasters, all through darts, behind one interface.

Every forecaster turns hourly history windows (`SeriesWindow`, ending at the forecast's
origin) into 10/50/90 % quantiles of the next `n` hours (`QuantileForecast`):

- `seasonal_naive`: darts `NaiveSeasonal(K=24)`, the value one day earlier; its interval is
  the spread of the window's own day-on-day changes at that hour of day (last 28 days).
  Every metric is measured against it, and the cycle falls back to it.
- `exp_smoothing`: darts `ExponentialSmoothing` (Holt-Winters, additive daily season),
  refit on each window's last `fit_window_h` hours; quantiles from its simulated paths.
- `lightgbm`: darts `LightGBMModel`, quantile regression, global over all series.
- `tide`: darts `TiDEModel`, quantile loss, global over all series; small enough to train
  on 2 CPUs in a few minutes.

The two global models learn a *residual* on a robust baseline, which keeps one model
valid for a 2 kW home and a 100-home fleet alike, and in summer after training on
winter (trees do not extrapolate levels):

    y(T) = b(T) + s(T) * r(T)
    b(T) = the trimmed mean of y(T - 24 k), k = 1..D   (same hour, the last D days)
    s(T) = the mean of y over [T - 192 h, T - 24 h)    (a recent level, floored)

b leaves out the `trim` highest and lowest of its D values (`BaselineParams`). For PV
each y(T - 24 k) is first scaled by the clear sky's change from its hour to T
(`pv_sun_baseline`), so b keeps up with the season's changing days. A global
model fits one darts model per b in its settings' `baselines` and forecasts the mean of
their quantiles: LightGBM over the week's median, the middle 6 of 14 days and the middle 7
of 21 (each b errs differently after an odd week, and the mean cancels part of it), TiDE
over the median of 7. A model records its b's when saved; one saved before b was a
setting loads with the median of 7 it was trained on.

Both b and s use only values at least 24 h before T, so for a horizon up to 24 h they are
known at the origin; the model forecasts quantiles of r, which map to quantiles of y
because s > 0. Covariates known at forecast time: calendar (cyclic hour of day and day
of week, darts encoders computed from the timestamps) and the site's *measured* weather,
lagged (darts past covariates, and cut at each window's end, so nothing after the origin
can reach a model). `assert_no_future_columns` guards every covariate's name. Optionally
(`lightgbm.solar`) LightGBM also reads the site's clear-sky irradiance at every forecast
step (astronomy, `vpp.ml.forecast.solar`: known ahead without observing anything) and the
measured sky's clearness over the last day (a past covariate). For the targets in
`lightgbm.variability` (load) LightGBM also reads each series' day-on-day variability over
the four weeks before the origin (`rolling_variability`, a past covariate from its own
history), which tells a smooth fleet from a home, and, for the targets in
`lightgbm.baseline_shape` (load), b / s at every forecast hour (a future covariate: both
read only values a day or more before the hour).
"""

from __future__ import annotations

import json
import logging
import os
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from vpp.ml.forecast.citylearn import assert_no_future_columns, hour_index
from vpp.ml.forecast.settings import BaselineParams, ForecastSettings, ModelKind, Target
from vpp.ml.forecast.solar import Site, clear_sky_ghi, clearness

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
QUANTILES = (0.1, 0.5, 0.9)
DAY_H = 24
LEVEL_DAYS = 7
# b as models were trained before it was a setting: the median of seven days.
LEGACY_BASELINE = BaselineParams(days=7, trim=3)
# Hours before T the residual transform reads: b needs 7 days, s a week ending a day back.
LEVEL_H = DAY_H + LEVEL_DAYS * DAY_H
NAIVE_INTERVAL_DAYS = 28
META_FILE = "forecaster.json"
DARTS_FILE = "model.darts"
Progress = Callable[[float], None]


class ForecastError(RuntimeError):
    """A forecaster cannot forecast these windows (too short, too far, not fitted)."""


@dataclass(frozen=True)
class SeriesWindow:
    """Hourly values of one series from `start`; the forecast starts where they end."""

    series_id: str
    start: datetime
    values: FloatArray

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("start must carry a time zone")
        if self.values.ndim != 1 or not np.all(np.isfinite(self.values)):
            raise ValueError(f"{self.series_id}: values must be a finite 1-d array")

    @property
    def end(self) -> datetime:
        return self.start + timedelta(hours=len(self.values))

    def tail(self, hours: int) -> SeriesWindow:
        if hours >= len(self.values):
            return self
        cut = len(self.values) - hours
        return SeriesWindow(self.series_id, self.start + timedelta(hours=cut), self.values[cut:])


@dataclass(frozen=True)
class SiteWindow:
    """Measured site weather, hourly from `start` (channels of `WEATHER_CHANNELS`)."""

    start: datetime
    channels: dict[str, FloatArray]

    def __post_init__(self) -> None:
        assert_no_future_columns(self.channels)
        lengths = {len(v) for v in self.channels.values()}
        if len(lengths) != 1:
            raise ValueError("site channels differ in length")

    @property
    def hours(self) -> int:
        return len(next(iter(self.channels.values())))

    def between(self, start: datetime, end: datetime) -> SiteWindow:
        """The hours [start, end); refuses to reach past what it holds."""
        first = _hours_between(self.start, start)
        last = _hours_between(self.start, end)
        if first < 0 or last > self.hours:
            raise ForecastError(
                f"site weather covers {self.start:%Y-%m-%d %H:%M} +{self.hours} h, "
                f"not {start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M}"
            )
        return SiteWindow(start, {k: v[first:last] for k, v in self.channels.items()})


@dataclass(frozen=True)
class QuantileForecast:
    series_id: str
    start: datetime
    q10: FloatArray
    q50: FloatArray
    q90: FloatArray

    @property
    def steps(self) -> int:
        return len(self.q50)


def _hours_between(a: datetime, b: datetime) -> int:
    seconds = (b - a).total_seconds()
    if seconds % 3600:
        raise ValueError(f"{a} and {b} are not whole hours apart")
    return int(seconds // 3600)


def _naive_utc(t: datetime) -> pd.Timestamp:
    return pd.Timestamp(t.astimezone(UTC).replace(tzinfo=None))


def _ordered(q: FloatArray, nonnegative: bool = True) -> FloatArray:
    """Quantiles (steps, 3) sorted per step (no crossing) and, for kW, not below 0."""
    out = np.sort(q, axis=1)
    return np.maximum(out, 0.0) if nonnegative else out


def set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))


# -- the residual transform of the global models ---------------------------------------------


# Added to both clear skies of the sun-following b's ratio: at dawn and dusk a few W/m2
# against a few more would swing the ratio wildly. Of 20, 50 and 100 W/m2, 100 scored best
# on the validation months.
SUN_SOFTENING_W_M2 = 100.0


def transform_h(baseline: BaselineParams) -> int:
    """Hours of history before its first hour that the residual transform reads."""
    return max(baseline.days * DAY_H, LEVEL_H)


def baseline_and_level(
    values: FloatArray,
    extra: int,
    floor: float,
    baseline: BaselineParams = LEGACY_BASELINE,
    sun: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray]:
    """b and s for every hour of `values` and `extra` hours after it (NaN where the
    history is too short). `extra` may not exceed one day: beyond it b and s would need
    values after the origin.

    With `sun` (the clear-sky irradiance of the same hours, astronomy known ahead), each
    day's value enters b scaled by how much more the clear sky gives in the hour forecast
    than in that day's hour, so b follows the season's lengthening or shortening days
    instead of lagging them by half its window (`SUN_SOFTENING_W_M2` damps the ratio at
    dawn and dusk)."""
    if extra > DAY_H:
        raise ForecastError(f"the residual transform reaches {DAY_H} h ahead, not {extra}")
    size = len(values) + extra
    if sun is not None and len(sun) != size:
        raise ValueError(f"the clear sky covers {len(sun)} h, the transform {size} h")
    padded = np.full(size, np.nan)
    padded[: len(values)] = values
    days, trim = baseline.days, baseline.trim
    lagged = np.full((days, size), np.nan)
    for k in range(1, days + 1):
        lagged[k - 1, k * DAY_H :] = padded[: size - k * DAY_H]
        if sun is not None:
            then, now = sun[: size - k * DAY_H], sun[k * DAY_H :]
            lagged[k - 1, k * DAY_H :] *= (now + SUN_SOFTENING_W_M2) / (then + SUN_SOFTENING_W_M2)
    b = np.full(size, np.nan)
    valid = np.arange(size) >= days * DAY_H
    b[valid] = np.mean(np.sort(lagged[:, valid], axis=0)[trim : days - trim], axis=0)
    cumsum = np.concatenate([[0.0], np.cumsum(np.nan_to_num(padded))])
    level = np.full(size, np.nan)
    t = np.arange(LEVEL_H, size)
    window = LEVEL_DAYS * DAY_H
    level[t] = (cumsum[t - DAY_H] - cumsum[t - DAY_H - window]) / window
    return b, np.maximum(level, floor)


def level_floor(values: FloatArray) -> float:
    """The smallest level s may take: 5 % of the series' mean, at least 1 W."""
    return max(0.05 * float(np.mean(values)), 1e-3)


# The covariate's name when a model reads the variability.
VARIABILITY = "variability"
# The future covariate's name when a model reads b / s at the forecast hours: how large
# the hour's usual value is against the recent level, which tells the boosters of a step
# whether it falls in the home's evening peak or its night, its own home's, not the
# fleet's average shape.
BASELINE_SHAPE = "baseline_shape"
# The hours `rolling_variability` looks back: the cycle's default lookback, so at a window's
# end it is the `variability` of a whole default window.
VARIABILITY_WINDOW_H = 28 * DAY_H


class Variability(StrEnum):
    """How a global model reads each series' variability."""

    # At every hour, over the four weeks up to it (a past covariate): the same reading in
    # training as when forecasting from a four-week window.
    ROLLING = "rolling"
    # One value per series, over the whole history given (a static covariate): the models
    # stored before the rolling reading, trained over months and forecast over weeks.
    STATIC = "static"


def variability(values: FloatArray) -> float:
    """The mean change of a series from one day to the next at the same hour, over its mean
    (0 for a series of zeros): 0.36 to 0.83 for a CityLearn home's load, 0.20 for the sum
    of the 17. A global model reads it from the history it is given (the training series when
    fitted, the forecast's window when it forecasts), to tell a fleet from a home."""
    if len(values) <= DAY_H:
        return 0.0
    change = float(np.mean(np.abs(values[DAY_H:] - values[:-DAY_H])))
    return change / max(float(np.mean(values)), 1e-3)


def rolling_variability(values: FloatArray, window_h: int = VARIABILITY_WINDOW_H) -> FloatArray:
    """At every hour t, the `variability` of the last `window_h` hours up to and including
    t (of the hours there are, at the start): it reads nothing after t."""
    n = len(values)
    change = np.zeros(n)
    change[DAY_H:] = np.abs(values[DAY_H:] - values[:-DAY_H])
    change_sum = np.concatenate([[0.0], np.cumsum(change)])
    value_sum = np.concatenate([[0.0], np.cumsum(values)])
    end = np.arange(1, n + 1)  # one past t
    first = np.maximum(end - window_h, 0)
    # A change at hour k compares k with k - 24, so it counts once both are in the window.
    first_change = np.minimum(first + DAY_H, end)
    mean_change = (change_sum[end] - change_sum[first_change]) / np.maximum(end - first_change, 1)
    mean_value = (value_sum[end] - value_sum[first]) / (end - first)
    out: FloatArray = mean_change / np.maximum(mean_value, 1e-3)
    return out


# -- the interface ---------------------------------------------------------------------------


@dataclass
class FitReport:
    fit_s: float = 0.0
    samples: int = 0


class Forecaster(ABC):
    kind: ClassVar[ModelKind]
    # Global models learn from many series at once and are stored once fitted; local ones
    # are fitted on each window when they forecast.
    is_global: ClassVar[bool] = False

    def __init__(self, target: Target, settings: ForecastSettings) -> None:
        self.target = target
        self.settings = settings
        self.fitted = not self.is_global

    @property
    def min_history_h(self) -> int:
        """The shortest window it can forecast from."""
        return DAY_H

    @abstractmethod
    def predict(
        self, windows: Sequence[SeriesWindow], n: int, site: SiteWindow | None = None
    ) -> list[QuantileForecast]: ...

    def fit(
        self,
        series: Sequence[SeriesWindow],
        site: SiteWindow | None = None,
        progress: Progress | None = None,
    ) -> FitReport:
        """Local models have nothing to fit ahead of forecasting."""
        return FitReport()

    def params(self) -> dict[str, str | int | float | bool | None]:
        return {"kind": self.kind.value, "target": self.target.value}

    def _check(self, windows: Sequence[SeriesWindow], n: int) -> None:
        if n < 1:
            raise ForecastError("n must be at least 1")
        for w in windows:
            if len(w.values) < self.min_history_h:
                raise ForecastError(
                    f"{w.series_id}: {len(w.values)} h of history, "
                    f"{self.kind.value} needs {self.min_history_h} h"
                )

    # -- storage: a folder with the forecaster's description and the darts model ------------

    def save(self, folder: Path) -> None:
        meta = {
            "kind": self.kind.value,
            "target": self.target.value,
            "settings": self.settings.model_dump(mode="json"),
            "state": self._state(),
        }
        (folder / META_FILE).write_text(json.dumps(meta))

    def _state(self) -> dict[str, Any]:
        return {}

    def _restore(self, folder: Path, state: dict[str, Any]) -> None:
        return None


def load_forecaster(folder: Path) -> Forecaster:
    meta = json.loads((folder / META_FILE).read_text())
    kind = ModelKind(meta["kind"])
    forecaster = make_forecaster(
        kind, Target(meta["target"]), ForecastSettings.model_validate(meta["settings"])
    )
    forecaster._restore(folder, meta["state"])
    return forecaster


def make_forecaster(kind: ModelKind, target: Target, settings: ForecastSettings) -> Forecaster:
    if kind is ModelKind.ENSEMBLE:
        # The ensemble is made of the other kinds; imported here, as it imports this module.
        from vpp.ml.forecast.ensemble import Ensemble

        return Ensemble(target, settings)
    classes: dict[ModelKind, type[Forecaster]] = {
        ModelKind.SEASONAL_NAIVE: SeasonalNaive,
        ModelKind.EXP_SMOOTHING: ExpSmoothing,
        ModelKind.LIGHTGBM: LightGBM,
        ModelKind.TIDE: TiDE,
    }
    return classes[kind](target, settings)


def _series(window: SeriesWindow, values: FloatArray | None = None, name: str = "y") -> Any:
    from darts import TimeSeries

    data = window.values if values is None else values
    return TimeSeries.from_times_and_values(
        hour_index(window.start, len(data)), data.astype(np.float32), columns=[name]
    )


# -- local models ------------------------------------------------------------------------------


class SeasonalNaive(Forecaster):
    kind = ModelKind.SEASONAL_NAIVE

    @property
    def season(self) -> int:
        return self.settings.naive_season_h

    @property
    def min_history_h(self) -> int:
        return self.season

    def predict(
        self, windows: Sequence[SeriesWindow], n: int, site: SiteWindow | None = None
    ) -> list[QuantileForecast]:
        from darts.models import NaiveSeasonal

        self._check(windows, n)
        out = []
        for w in windows:
            model = NaiveSeasonal(K=self.season)
            model.fit(_series(w.tail(self.season)))
            point = model.predict(n).values()[:, 0].astype(np.float64)
            low, high = self._spread(w, n)
            q = np.column_stack([point + low, point, point + high])
            q = _ordered(q)
            out.append(QuantileForecast(w.series_id, w.end, q[:, 0], q[:, 1], q[:, 2]))
        return out

    def _spread(self, w: SeriesWindow, n: int) -> tuple[FloatArray, FloatArray]:
        """The 10 % and 90 % quantiles of y(t) - y(t - season) in the window's last 28
        days, taken at each forecast step's hour of day (0 where there are none)."""
        k = self.season
        values = w.values[-(NAIVE_INTERVAL_DAYS * DAY_H + k) :]
        diffs = values[k:] - values[:-k]
        low = np.zeros(n)
        high = np.zeros(n)
        if diffs.size == 0:
            return low, high
        # Hour of day of each diff, counted back from the window's end.
        ends = np.arange(diffs.size - 1, -1, -1)  # hours before the window's end (minus 1)
        first_hour = w.end.astimezone(UTC).hour
        diff_hours = (first_hour - 1 - ends) % DAY_H
        for step in range(n):
            hour = (first_hour + step) % DAY_H
            sample = diffs[diff_hours == hour]
            if sample.size:
                low[step], high[step] = np.quantile(sample, [QUANTILES[0], QUANTILES[2]])
        return low, high


class ExpSmoothing(Forecaster):
    kind = ModelKind.EXP_SMOOTHING

    @property
    def min_history_h(self) -> int:
        return 3 * DAY_H

    def predict(
        self, windows: Sequence[SeriesWindow], n: int, site: SiteWindow | None = None
    ) -> list[QuantileForecast]:
        from darts.models import ExponentialSmoothing
        from darts.utils.utils import ModelMode, SeasonalityMode

        self._check(windows, n)
        params = self.settings.exp_smoothing
        out = []
        for w in windows:
            model = ExponentialSmoothing(
                trend=ModelMode.NONE,
                seasonal=SeasonalityMode.ADDITIVE,
                seasonal_periods=DAY_H,
                random_state=self.settings.seed,
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # statsmodels' convergence chatter
                model.fit(_series(w.tail(params.fit_window_h)))
                samples = model.predict(n, num_samples=params.num_samples)
            q = samples.quantile(list(QUANTILES)).values()
            q = _ordered(np.asarray(q, dtype=np.float64))
            out.append(QuantileForecast(w.series_id, w.end, q[:, 0], q[:, 1], q[:, 2]))
        return out

    def params(self) -> dict[str, str | int | float | bool | None]:
        p = self.settings.exp_smoothing
        return {**super().params(), "fit_window_h": p.fit_window_h, "num_samples": p.num_samples}


# -- global models -----------------------------------------------------------------------------


@dataclass
class _Standardiser:
    mean: dict[str, float] = field(default_factory=dict)
    std: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, site: SiteWindow) -> _Standardiser:
        mean = {k: float(np.mean(v)) for k, v in site.channels.items()}
        std = {k: float(np.std(v)) or 1.0 for k, v in site.channels.items()}
        return cls(mean, std)

    def apply(self, site: SiteWindow) -> Any:
        from darts import TimeSeries

        names = list(self.mean)
        assert_no_future_columns(names)
        data = np.column_stack([(site.channels[k] - self.mean[k]) / self.std[k] for k in names])
        return TimeSeries.from_times_and_values(
            hour_index(site.start, site.hours), data.astype(np.float32), columns=names
        )


# Derived covariates of the sun (`vpp.ml.forecast.solar`): the clear-sky irradiance (a
# future covariate, known ahead) and the measured sky's clearness over the last day (a
# past covariate: it tells how much of the clear-sky shape recent weather let through).
CLEAR_SKY = "clear_sky_kw_m2"
CLEARNESS = "clearness_24h"
_MEASURED_IRRADIANCE = ("diffuse_w_m2", "direct_w_m2")


def solar_site(settings: ForecastSettings) -> Site:
    return Site(
        settings.site_latitude_deg,
        settings.site_longitude_deg,
        settings.site_clock,
        settings.site_clock_lag_h,
    )


def with_clearness(site: SiteWindow, where: Site) -> SiteWindow:
    """`site` plus the clearness of its last 24 h at each hour (from its own hours only)."""
    if not all(k in site.channels for k in _MEASURED_IRRADIANCE):
        raise ForecastError(f"the clearness needs the measured {_MEASURED_IRRADIANCE}")
    measured: FloatArray = np.sum([site.channels[k] for k in _MEASURED_IRRADIANCE], axis=0)
    clear = clear_sky_ghi(where, site.start, site.hours)
    return SiteWindow(site.start, {**site.channels, CLEARNESS: clearness(measured, clear)})


class GlobalForecaster(Forecaster):
    """A darts global model on the residual transform (see the module's docstring)."""

    is_global = True

    def __init__(self, target: Target, settings: ForecastSettings) -> None:
        super().__init__(target, settings)
        # One darts model per baseline, fitted and stored in the order of `baselines`.
        self.models: list[Any] = []
        self.weather: _Standardiser | None = None
        self.baselines = self._baseline_settings()
        # PV's b follows the clear sky's seasonal drift (`baseline_and_level`).
        self.sun_baseline = target is Target.PV and settings.pv_sun_baseline
        # How it reads each series' `variability`, if at all.
        self.variability = Variability.ROLLING if self._reads_variability() else None
        # Whether it reads b / s at every forecast hour (`BASELINE_SHAPE`).
        self.baseline_shape = self._reads_baseline_shape()

    def _reads_variability(self) -> bool:
        """Whether a new model of this kind reads each series' variability."""
        return False

    def _reads_baseline_shape(self) -> bool:
        """Whether a new model of this kind reads b / s at the forecast hours."""
        return False

    @abstractmethod
    def _baseline_settings(self) -> list[BaselineParams]:
        """The b's a new model of this kind is trained with, one darts model each."""

    def params(self) -> dict[str, str | int | float | bool | None]:
        return {
            **super().params(),
            "baselines": " ".join(b.label for b in self.baselines),
            "sun_baseline": self.sun_baseline,
            "variability": self.variability.value if self.variability else None,
            "baseline_shape": self.baseline_shape,
        }

    @abstractmethod
    def _build(self) -> Any: ...

    @property
    @abstractmethod
    def _input_h(self) -> int:
        """Hours of residuals the darts model reads before its first forecast step."""

    @property
    def min_history_h(self) -> int:
        return max(transform_h(b) for b in self.baselines) + self._input_h

    @property
    @abstractmethod
    def uses_weather(self) -> bool:
        """Whether the site's measured weather feeds the model (as past covariates)."""

    @property
    def uses_solar(self) -> bool:
        """Whether the clear-sky irradiance (future) and the clearness (past) feed it."""
        return False

    def _site_channels(self, site: SiteWindow) -> SiteWindow:
        return with_clearness(site, solar_site(self.settings)) if self.uses_solar else site

    @property
    def _has_future_covariates(self) -> bool:
        return self.uses_solar or self.baseline_shape

    def _futures(self, w: SeriesWindow, sky: Any, base: FloatArray, level: FloatArray) -> Any:
        """The future covariates over the hours of one b and s (the window's and those
        after it, `_residuals`), or None if the model reads none: the clear sky (`sky`,
        `_solar`, the same under every b), and b / s from the first hour both are known.
        Both are known at the window's end: astronomy, and values a day or more before
        each hour."""
        if not self.baseline_shape:
            return sky
        from darts import TimeSeries

        shape = base / level
        first = int(np.argmax(~np.isnan(shape)))  # b and s need days of history first
        futures = TimeSeries.from_times_and_values(
            hour_index(w.start + timedelta(hours=first), len(shape) - first),
            shape[first:].astype(np.float32)[:, None],
            columns=[BASELINE_SHAPE],
        )
        if sky is None:
            return futures
        return sky.slice_intersect(futures).stack(futures.slice_intersect(sky))

    def _solar(self, start: datetime, hours: int) -> Any:
        """The clear-sky irradiance of `hours` from `start` (kW/m2): astronomy, known ahead;
        None if the model does not read it."""
        if not self.uses_solar:
            return None
        from darts import TimeSeries

        values = clear_sky_ghi(solar_site(self.settings), start, hours) / 1000.0
        return TimeSeries.from_times_and_values(
            hour_index(start, hours), values.astype(np.float32)[:, None], columns=[CLEAR_SKY]
        )

    def _baseline_sun(self, w: SeriesWindow, extra: int) -> FloatArray | None:
        """The clear sky a sun-following b reads over the window and `extra` hours after
        it (None for a plain b); the same for every b, so computed once per window."""
        if not self.sun_baseline:
            return None
        return clear_sky_ghi(solar_site(self.settings), w.start, len(w.values) + extra)

    def _residuals(
        self, w: SeriesWindow, extra: int, baseline: BaselineParams, sun: FloatArray | None
    ) -> tuple[Any, FloatArray, FloatArray]:
        """The residual series r under `baseline` (from the first hour b is known), and b
        and s over the window and `extra` hours after it (`sun`: `_baseline_sun`)."""
        base, level = baseline_and_level(w.values, extra, level_floor(w.values), baseline, sun)
        r = (w.values - base[: len(w.values)]) / level[: len(w.values)]
        cut = transform_h(baseline)
        start = w.start + timedelta(hours=cut)
        residuals = _series(SeriesWindow(w.series_id, start, r[cut:]), name=self.target.value)
        if self.variability is Variability.STATIC:
            static = pd.DataFrame({VARIABILITY: [variability(w.values)]})
            residuals = residuals.with_static_covariates(static)
        return residuals, base, level

    @property
    def _has_past_covariates(self) -> bool:
        return self.uses_weather or self.variability is Variability.ROLLING

    def _covariates(self, site: SiteWindow | None, w: SeriesWindow) -> Any:
        """The past covariates of window `w`: the site's weather, and the series' own
        rolling variability if the model reads it (None if neither)."""
        weather = self._weather(site, w.start, w.end)
        if self.variability is not Variability.ROLLING:
            return weather
        from darts import TimeSeries

        own = TimeSeries.from_times_and_values(
            hour_index(w.start, len(w.values)),
            rolling_variability(w.values).astype(np.float32)[:, None],
            columns=[VARIABILITY],
        )
        return own if weather is None else weather.stack(own)

    def _weather(self, site: SiteWindow | None, start: datetime, end: datetime) -> Any:
        if not self.uses_weather:
            return None
        if site is None:
            raise ForecastError(f"{self.kind.value} needs the site's measured weather")
        if self.weather is None:
            self.weather = _Standardiser.of(self._site_channels(site))
        # Cut at `end` before anything is derived: no covariate value after the origin is
        # ever handed to darts.
        return self.weather.apply(self._site_channels(site.between(start, end)))

    def fit(
        self,
        series: Sequence[SeriesWindow],
        site: SiteWindow | None = None,
        progress: Progress | None = None,
    ) -> FitReport:
        if not series:
            raise ForecastError("nothing to fit on")
        self._check(series, 1)
        if self.uses_weather and site is not None:
            # Scaled by the training hours' weather only, never by hours after them.
            seen = site.between(min(w.start for w in series), max(w.end for w in series))
            self.weather = _Standardiser.of(self._site_channels(seen))
        covariates = [self._covariates(site, w) for w in series]
        suns = [self._baseline_sun(w, 0) for w in series]
        skies = [self._solar(w.start, len(w.values)) for w in series]
        self.models = []
        report = FitReport()
        for i, baseline in enumerate(self.baselines):
            targets, futures = [], []
            for w, sun, sky in zip(series, suns, skies, strict=True):
                r, base, level = self._residuals(w, 0, baseline, sun)
                targets.append(r)
                futures.append(self._futures(w, sky, base, level))
            model = self._build()
            t0 = time.perf_counter()
            self._fit_darts(
                model,
                targets,
                covariates if self._has_past_covariates else None,
                futures if self._has_future_covariates else None,
                progress_part(progress, i, len(self.baselines)),
            )
            report.fit_s += time.perf_counter() - t0
            # The same hours under every b: the samples are the hours, not hours x models.
            report.samples = max(report.samples, sum(len(t) for t in targets))
            self.models.append(model)
        self.fitted = True
        return report

    def _fit_darts(
        self,
        model: Any,
        targets: list[Any],
        covariates: list[Any] | None,
        futures: list[Any] | None,
        progress: Progress | None,
    ) -> None:
        model.fit(targets, past_covariates=covariates, future_covariates=futures)

    def predict(
        self, windows: Sequence[SeriesWindow], n: int, site: SiteWindow | None = None
    ) -> list[QuantileForecast]:
        if not self.fitted or len(self.models) != len(self.baselines):
            raise ForecastError(f"{self.kind.value} for {self.target.value} is not fitted")
        self._check(windows, n)
        if not windows:
            return []
        covariates = [self._covariates(site, w) for w in windows]
        # A booster per step reads the future covariates of a whole day ahead, whatever n.
        ahead = max(n, DAY_H)
        # Each model's quantiles in kW, averaged over the models: (windows, n, 3). The mean
        # of ordered, non-negative quantiles is ordered and non-negative.
        total = np.zeros((len(windows), n, len(QUANTILES)))
        suns = [self._baseline_sun(w, ahead) for w in windows]
        skies = [self._solar(w.start, len(w.values) + ahead) for w in windows]
        for model, baseline in zip(self.models, self.baselines, strict=True):
            targets, futures, transforms = [], [], []
            for w, sun, sky in zip(windows, suns, skies, strict=True):
                r, base, level = self._residuals(w, ahead, baseline, sun)
                targets.append(r)
                futures.append(self._futures(w, sky, base, level))
                end = len(w.values) + n
                transforms.append((base[len(w.values) : end], level[len(w.values) : end]))
            predictions = model.predict(
                n,
                series=targets,
                past_covariates=covariates if self._has_past_covariates else None,
                future_covariates=futures if self._has_future_covariates else None,
                predict_likelihood_parameters=True,
                verbose=False,
                show_warnings=False,
            )
            for i, (pred, (base, level)) in enumerate(zip(predictions, transforms, strict=True)):
                r_q = np.asarray(pred.values(), dtype=np.float64)  # (n, 3): q10, q50, q90
                total[i] += _ordered(base[:, None] + level[:, None] * r_q)
        out = []
        for w, q_sum in zip(windows, total, strict=True):
            q = q_sum / len(self.models)
            out.append(QuantileForecast(w.series_id, w.end, q[:, 0], q[:, 1], q[:, 2]))
        return out

    # -- storage -------------------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        super().save(folder)
        if self.fitted:
            for i, model in enumerate(self.models):
                model.save(str(folder / _darts_file(i)))

    def _state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "baselines": [b.model_dump() for b in self.baselines],
            "sun_baseline": self.sun_baseline,
            "variability": self.variability.value if self.variability else None,
            "baseline_shape": self.baseline_shape,
        }
        if self.weather is not None:
            state |= {"weather_mean": self.weather.mean, "weather_std": self.weather.std}
        return state

    def _restore(self, folder: Path, state: dict[str, Any]) -> None:
        # The b's it was trained with, whatever the settings say now. A model stored before
        # there were several holds one b (or none: the median of seven days) in DARTS_FILE.
        if "baselines" in state:
            self.baselines = [BaselineParams.model_validate(b) for b in state["baselines"]]
            paths = [folder / _darts_file(i) for i in range(len(self.baselines))]
        else:
            self.baselines = [BaselineParams.model_validate(state.get("baseline", LEGACY_BASELINE))]
            paths = [folder / DARTS_FILE]
        # A model saved before b could follow the sun was trained on the plain b.
        self.sun_baseline = bool(state.get("sun_baseline", False))
        # One saved before the variability feature was trained without it, and one saved
        # before its rolling reading (stored as true) on the static one.
        stored = state.get("variability", False)
        self.variability = (
            Variability.STATIC if stored is True else (Variability(stored) if stored else None)
        )
        # One saved before it could read b / s at the forecast hours was trained without.
        self.baseline_shape = bool(state.get("baseline_shape", False))
        if "weather_mean" in state:
            self.weather = _Standardiser(state["weather_mean"], state["weather_std"])
        if all(p.exists() for p in paths):
            self.models = [self._load_darts(p) for p in paths]
            self.fitted = True

    @abstractmethod
    def _load_darts(self, path: Path) -> Any: ...


def _darts_file(i: int) -> str:
    return f"model-{i}.darts"


def progress_part(progress: Progress | None, i: int, count: int) -> Progress | None:
    """The i-th of `count` equal parts of a task's progress."""
    if progress is None:
        return None
    report = progress
    return lambda share: report((i + share) / count)


_ENCODERS = {"cyclic": {"future": ["hour", "dayofweek"]}}
# With multi_models=False one booster per quantile forecasts 24 h ahead; for step n the
# lags are shifted back by 24 - n, so lag -1 is the value a day before the forecast hour
# and lag -1 - 24 k the same hour k + 1 days before.
_LAG_DAYS = 7
_LGBM_TARGET_LAGS: list[int] = [
    *range(-DAY_H, 0),
    *(-1 - DAY_H * k for k in range(1, _LAG_DAYS)),
]
# With multi_models=True the lags count back from the origin: the last day, so every
# step's model reads the hours right before the origin and the same hour a day before its
# own (older days enter through the baseline b).
_LGBM_DIRECT_TARGET_LAGS: list[int] = list(range(-DAY_H, 0))


class LightGBM(GlobalForecaster):
    kind = ModelKind.LIGHTGBM

    def _baseline_settings(self) -> list[BaselineParams]:
        return list(self.settings.lightgbm.baselines)

    def _reads_variability(self) -> bool:
        return self.target in self.settings.lightgbm.variability

    def _reads_baseline_shape(self) -> bool:
        return self.target in self.settings.lightgbm.baseline_shape

    @property
    def uses_weather(self) -> bool:
        return self.settings.lightgbm.weather

    @property
    def uses_solar(self) -> bool:
        return self.settings.lightgbm.solar

    @property
    def _target_lags(self) -> list[int]:
        direct = self.settings.lightgbm.multi_models
        return _LGBM_DIRECT_TARGET_LAGS if direct else _LGBM_TARGET_LAGS

    @property
    def _input_h(self) -> int:
        shift = 0 if self.settings.lightgbm.multi_models else DAY_H - 1
        return -min(self._target_lags) + shift

    def _past_lags(self) -> list[int] | dict[str, list[int]] | None:
        """The weather's last hours; the rolling variability of the hour before the origin
        (it already sums four weeks)."""
        weather = list(range(-self.settings.lightgbm.weather_lags_h, 0))
        if self.variability is not Variability.ROLLING:
            return weather if self.uses_weather else None
        if not self.uses_weather:
            return [-1]
        return {VARIABILITY: [-1], "default_lags": weather}

    def _future_lags(self) -> list[int] | dict[str, list[int]]:
        """The calendar at the first step (the step's own model knows its offset); the clear
        sky and b / s at every step when one model per step reads them all."""
        every_step = [
            name
            for name, read in ((CLEAR_SKY, self.uses_solar), (BASELINE_SHAPE, self.baseline_shape))
            if read
        ]
        if not (every_step and self.settings.lightgbm.multi_models):
            return [0]
        return {**{name: list(range(DAY_H)) for name in every_step}, "default_lags": [0]}

    def _build(self) -> Any:
        from darts.models import LightGBMModel

        p = self.settings.lightgbm
        return LightGBMModel(
            lags=self._target_lags,
            lags_past_covariates=self._past_lags(),
            lags_future_covariates=self._future_lags(),
            output_chunk_length=DAY_H,
            multi_models=p.multi_models,
            likelihood="quantile",
            quantiles=list(QUANTILES),
            add_encoders=_ENCODERS,
            n_estimators=p.n_estimators,
            learning_rate=p.learning_rate,
            num_leaves=p.num_leaves,
            n_jobs=self.settings.threads,
            random_state=self.settings.seed,
            verbose=-1,
        )

    def _fit_darts(
        self,
        model: Any,
        targets: list[Any],
        covariates: list[Any] | None,
        futures: list[Any] | None,
        progress: Progress | None,
    ) -> None:
        p = self.settings.lightgbm
        rounds = p.n_estimators * len(QUANTILES) * (DAY_H if p.multi_models else 1)
        model.fit(
            targets,
            past_covariates=covariates,
            future_covariates=futures,
            max_samples_per_ts=self.settings.lightgbm.max_samples_per_ts,
            callbacks=[_boosting_callback(progress, rounds)] if progress else None,
        )

    def _load_darts(self, path: Path) -> Any:
        from darts.models import LightGBMModel

        return LightGBMModel.load(str(path))

    def params(self) -> dict[str, str | int | float | bool | None]:
        p = self.settings.lightgbm
        return {
            **super().params(),
            "n_estimators": p.n_estimators,
            "learning_rate": p.learning_rate,
            "num_leaves": p.num_leaves,
            "max_samples_per_ts": p.max_samples_per_ts,
            "weather_lags_h": p.weather_lags_h,
            "multi_models": p.multi_models,
            "solar": p.solar,
        }


class TiDE(GlobalForecaster):
    kind = ModelKind.TIDE

    def _baseline_settings(self) -> list[BaselineParams]:
        return list(self.settings.tide.baselines)

    @property
    def uses_weather(self) -> bool:
        return self.settings.tide.weather

    @property
    def _input_h(self) -> int:
        return self.settings.tide.input_chunk_length

    def _build(self) -> Any:
        from darts.models import TiDEModel
        from darts.utils.likelihood_models import QuantileRegression

        p = self.settings.tide
        return TiDEModel(
            input_chunk_length=p.input_chunk_length,
            output_chunk_length=DAY_H,
            hidden_size=p.hidden_size,
            decoder_output_dim=8,
            temporal_decoder_hidden=16,
            num_encoder_layers=1,
            num_decoder_layers=1,
            likelihood=QuantileRegression(list(QUANTILES)),
            add_encoders=_ENCODERS,
            n_epochs=p.n_epochs,
            batch_size=p.batch_size,
            optimizer_kwargs={"lr": p.learning_rate},
            random_state=self.settings.seed,
            pl_trainer_kwargs=_trainer_kwargs(),
        )

    def _fit_darts(
        self,
        model: Any,
        targets: list[Any],
        covariates: list[Any] | None,
        futures: list[Any] | None,
        progress: Progress | None,
    ) -> None:
        import pytorch_lightning as pl

        callbacks = [_epoch_callback(progress, self.settings.tide.n_epochs)] if progress else []
        kwargs = _trainer_kwargs()
        trainer = pl.Trainer(max_epochs=self.settings.tide.n_epochs, callbacks=callbacks, **kwargs)
        model.fit(targets, past_covariates=covariates, verbose=False, trainer=trainer)

    def _load_darts(self, path: Path) -> Any:
        from darts.models import TiDEModel

        return TiDEModel.load(str(path), map_location="cpu")

    def params(self) -> dict[str, str | int | float | bool | None]:
        p = self.settings.tide
        return {
            **super().params(),
            "input_chunk_length": p.input_chunk_length,
            "hidden_size": p.hidden_size,
            "n_epochs": p.n_epochs,
            "batch_size": p.batch_size,
        }


def _trainer_kwargs() -> dict[str, Any]:
    # Lightning sets its loggers to INFO when imported; its banner is noise in a worker.
    for name in ("pytorch_lightning", "lightning", "lightning.pytorch"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return {
        "accelerator": "cpu",
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "enable_checkpointing": False,
        "logger": False,
    }


def _epoch_callback(progress: Progress, epochs: int) -> Any:
    """A Lightning callback reporting the share of epochs done."""
    import pytorch_lightning as pl

    class EpochProgress(pl.Callback):
        def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
            progress(min(1.0, (trainer.current_epoch + 1) / epochs))

    return EpochProgress()


def _boosting_callback(progress: Progress, rounds: int) -> Callable[[Any], None]:
    """A LightGBM callback reporting the share of boosting rounds done (all quantiles)."""
    done = 0

    def callback(env: Any) -> None:
        nonlocal done
        done += 1
        if done % 10 == 0:
            progress(min(1.0, done / rounds))

    return callback
