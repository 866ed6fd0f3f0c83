"""Episodes on the CityLearn year: one home's load, PV, tariff, carbon and battery, where
episodes may start, and the observation at any hour built from the past only.

The forecasts the env shows are made from hours before the decision alone: each hour
ahead is the mean of the same clock hour over the last `forecast_days` full days
(`RLSettings.forecast_days`, 7 by default). One day is the seasonal naive of
`vpp.ml.forecast.backtest`, the forecast cycle's own fallback; a week's mean is less noisy
(one cloudy or busy day no longer sets tomorrow's whole outlook) and lifted both the
rule-based controller and SAC on the validation split. An episode starts no earlier than
`FORECAST_HISTORY_H` into the year, so every choice of days has its history (and the
last hours' deviations from a typical day, `vpp.ml.rl.recent`, theirs).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from vpp.edge_sim.profiles import BatterySpec
from vpp.edge_sim.profiles import load_building as load_profile
from vpp.ml.forecast.backtest import seasonal_naive
from vpp.ml.forecast.citylearn import HOURS, load_building, row_start
from vpp.ml.rl.observation import HORIZON, ObservationInput
from vpp.ml.rl.recent import RECENT_HISTORY_H, recent_deviation
from vpp.ml.rl.signals import rows_ahead, site_arrays

FloatArray = npt.NDArray[np.float64]
SEASON_H = 24
MAX_FORECAST_DAYS = 7
FORECAST_HISTORY_H = max(MAX_FORECAST_DAYS * SEASON_H, RECENT_HISTORY_H)
DEFAULT_FORECAST_DAYS = 7


def past_mean_forecast(values: FloatArray, origin: int, horizon: int, days: int) -> FloatArray:
    """Each of `horizon` hours from `origin`: the mean of the same clock hour over the
    `days` full days before `origin` (`days=1` is `seasonal_naive` with a day's season)."""
    if not 1 <= days <= MAX_FORECAST_DAYS:
        raise ValueError(f"days must lie in [1, {MAX_FORECAST_DAYS}], not {days}")
    if days == 1:
        return seasonal_naive(values, origin, horizon, SEASON_H)
    hours = np.arange(horizon) % SEASON_H
    back = SEASON_H * np.arange(1, days + 1)[:, None]
    mean: FloatArray = values[origin + hours[None, :] - back].mean(axis=0)
    return mean


@dataclass(frozen=True)
class EpisodeSpec:
    building: int
    start_row: int  # the CityLearn row of the first hour
    hours: int


@dataclass(frozen=True)
class Home:
    """One building's year, row-aligned: actual load and PV, the site's signals, battery."""

    building: int
    load_kw: FloatArray
    pv_kw: FloatArray
    price: FloatArray
    carbon: FloatArray
    battery: BatterySpec
    forecast_days: int = DEFAULT_FORECAST_DAYS

    def observation_input(self, row: int, soc: float) -> ObservationInput:
        """What a policy may know at the start of `row`: the tariff and carbon ahead, and
        forecasts from the hours before `row` (`past_mean_forecast`)."""
        if row < FORECAST_HISTORY_H:
            raise ValueError(f"row {row} has less than {FORECAST_HISTORY_H} h of history")
        days = self.forecast_days
        return self._input(
            row,
            soc,
            past_mean_forecast(self.load_kw, row, HORIZON, days),
            past_mean_forecast(self.pv_kw, row, HORIZON, days),
        )

    def hindsight_input(self, row: int, soc: float) -> ObservationInput:
        """The same with the *actual* load and PV of the hours ahead as the forecasts: what
        a controller would decide with perfect forecasts. An evaluation reference only
        (how much of a gap better forecasts could close); never a policy's input."""
        ahead = rows_ahead(row, HORIZON)
        return self._input(row, soc, self.load_kw[ahead], self.pv_kw[ahead])

    def _input(self, row: int, soc: float, load: FloatArray, pv: FloatArray) -> ObservationInput:
        ahead = rows_ahead(row, HORIZON)
        return ObservationInput(
            soc=soc,
            at=row_start(row),
            prices_ahead=self.price[ahead].tolist(),
            carbon_ahead=self.carbon[ahead].tolist(),
            load_forecast_kw=load.tolist(),
            pv_forecast_kw=pv.tolist(),
            capacity_kwh=self.battery.capacity_kwh,
            max_power_kw=self.battery.nominal_kw,
            load_recent_dev_kw=recent_deviation(self.load_kw, row).tolist(),
            pv_recent_dev_kw=recent_deviation(self.pv_kw, row).tolist(),
        )


def load_home(data_dir: Path, building: int, forecast_days: int = DEFAULT_FORECAST_DAYS) -> Home:
    return _load_home(data_dir.expanduser().resolve(), building, forecast_days)


@lru_cache(maxsize=34)
def _load_home(data_dir: Path, building: int, forecast_days: int) -> Home:
    data = load_building(data_dir, building)
    price, carbon = site_arrays(data_dir)
    battery = load_profile(data_dir, building).battery  # schema.json's electrical_storage
    return Home(building, data.load_kw, data.pv_kw, price, carbon, battery, forecast_days)


@lru_cache(maxsize=16)
def _month_of_row() -> npt.NDArray[np.int64]:
    return np.array([row_start(t).month for t in range(HOURS)], dtype=np.int64)


def episode_starts(months: Iterable[int], hours: int) -> npt.NDArray[np.int64]:
    """Rows where an episode of `hours` can start with every hour inside `months` and
    `FORECAST_HISTORY_H` of history before it (no wrap around the year)."""
    inside = np.isin(_month_of_row(), sorted(set(months)))
    if hours > HOURS:
        raise ValueError(f"an episode of {hours} h is longer than the year")
    # Rows r with inside[r : r + hours] all true: a sliding count of hours outside.
    outside = np.concatenate([[0], np.cumsum(~inside)])
    last = HOURS - hours
    starts = np.arange(FORECAST_HISTORY_H, last + 1)
    ok = outside[starts + hours] - outside[starts] == 0
    chosen: npt.NDArray[np.int64] = starts[ok]
    return chosen


def consecutive_episodes(
    buildings: Iterable[int], months: Iterable[int], hours: int
) -> list[EpisodeSpec]:
    """Back-to-back episodes covering each building's `months` (the evaluation set)."""
    starts = episode_starts(months, hours)
    if starts.size == 0:
        raise ValueError(f"no {hours} h episode fits inside months {sorted(set(months))}")
    chosen: list[int] = []
    for row in starts.tolist():
        if not chosen or row >= chosen[-1] + hours:
            chosen.append(row)
    return [EpisodeSpec(b, r, hours) for b in buildings for r in chosen]


def describe(spec: EpisodeSpec) -> str:
    first = row_start(spec.start_row)
    last = first + timedelta(hours=spec.hours)
    return f"building {spec.building} {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC"
