"""The CityLearn 2022 files as hourly series: what the forecasts learn from and are tested on.

See `../shared/data/README.md`. The files have no timestamps; row `t` is the hour
*ending* at `hour` (1-24), and row 0 is the hour ending at 24:00 on 31 Jul 2016. Here
every value is stamped with the *start* of its hour: row `t` starts at
`2016-07-31 23:00 UTC + t hours` (`DATA_START`).

Only measured columns are read (`BUILDING_COLUMNS`, `WEATHER_COLUMNS`, ...); every
`*_predicted_*` column of the shared files is the future itself (the actual shifted by 6,
12 or 24 h) and is refused by `assert_no_future_columns` wherever series enter a model.

Units: `non_shiftable_load` is kWh per hour, i.e. the hour's average kW. `solar_generation`
is W per kW of installed PV; times the building's `nominal_power` (kW, `schema.json`)
divided by 1000 it is the PV output in kW.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

HOURS = 8760
BUILDINGS = 17
# Row 0 is the interval 2016-07-31 23:00-24:00 (hour-ending 24 on Sunday 31 Jul 2016).
DATA_START = datetime(2016, 7, 31, 23, tzinfo=UTC)
# The first row of the profile year (1 Aug 00:00) is row 1.
_PROFILE_YEAR_ROW = 1

LOAD_COLUMN = "non_shiftable_load"  # kWh per hour = average kW
PV_COLUMN = "solar_generation"  # W per kW of installed PV
CALENDAR_COLUMNS = ("month", "hour", "day_type")
BUILDING_COLUMNS = (*CALENDAR_COLUMNS, LOAD_COLUMN, PV_COLUMN)
# Measured weather only; the `_predicted_1/2/3` columns are the actuals 6/12/24 h ahead.
WEATHER_COLUMNS = (
    "outdoor_dry_bulb_temperature",
    "outdoor_relative_humidity",
    "diffuse_solar_irradiance",
    "direct_solar_irradiance",
)
PRICE_COLUMN = "electricity_pricing"
CARBON_COLUMN = "carbon_intensity"

# Our names of the site channels, in the order of WEATHER_COLUMNS, then price, carbon.
WEATHER_CHANNELS = ("temperature_c", "humidity_pct", "diffuse_w_m2", "direct_w_m2")
PRICE_CHANNEL = "price_per_kwh"
CARBON_CHANNEL = "carbon_kg_per_kwh"
SITE_CHANNELS = (*WEATHER_CHANNELS, PRICE_CHANNEL, CARBON_CHANNEL)

_FUTURE_COLUMN = re.compile(r"predict", re.IGNORECASE)

FloatArray = npt.NDArray[np.float64]


class CityLearnDataError(RuntimeError):
    """The CityLearn files are missing or not what this module expects."""


class LeakageError(ValueError):
    """A column holding the future was about to reach a model."""


def assert_no_future_columns(names: Iterable[str]) -> None:
    """Refuse any `*_predicted_*` column (or anything named like a prediction)."""
    bad = [name for name in names if _FUTURE_COLUMN.search(name)]
    if bad:
        raise LeakageError(f"columns holding the future may not feed a model: {bad}")


@dataclass(frozen=True)
class BuildingData:
    number: int
    pv_nominal_kw: float
    load_kw: FloatArray  # HOURS values, the hour's average kW
    pv_kw: FloatArray  # HOURS values, average kW of PV output


@dataclass(frozen=True)
class SiteData:
    """The series every building shares: measured weather, tariff and grid carbon."""

    channels: dict[str, FloatArray]  # SITE_CHANNELS -> HOURS values


@dataclass(frozen=True)
class CityLearnYear:
    buildings: dict[int, BuildingData]
    site: SiteData

    @property
    def index(self) -> pd.DatetimeIndex:
        return hour_index(DATA_START, HOURS)

    def fleet(self, channel: str) -> FloatArray:
        """The sum over the buildings loaded, e.g. `fleet("load_kw")`."""
        arrays = [getattr(b, channel) for b in self.buildings.values()]
        total: FloatArray = np.vstack(arrays).sum(axis=0)
        return total


def hour_index(start: datetime, hours: int) -> pd.DatetimeIndex:
    """Hourly interval starts in UTC, as darts wants them (tz-naive, read as UTC)."""
    first = pd.Timestamp(start.astimezone(UTC).replace(tzinfo=None))
    return pd.date_range(first, periods=hours, freq="h")


def row_start(t: int) -> datetime:
    """When row `t`'s hour starts."""
    return DATA_START + timedelta(hours=t)


def load_year(data_dir: Path, buildings: Iterable[int] | None = None) -> CityLearnYear:
    """Buildings (all 17 by default) and the site series, validated."""
    root = data_dir.expanduser().resolve()
    numbers = sorted(set(buildings)) if buildings is not None else list(range(1, BUILDINGS + 1))
    return CityLearnYear(
        buildings={n: load_building(root, n) for n in numbers}, site=load_site(root)
    )


@lru_cache(maxsize=BUILDINGS)
def load_building(data_dir: Path, number: int) -> BuildingData:
    if not 1 <= number <= BUILDINGS:
        raise ValueError(f"building {number} is not one of 1..{BUILDINGS}")
    nominal = pv_nominal_kw(data_dir, number)
    frame = _read(data_dir / f"Building_{number}.csv", BUILDING_COLUMNS)
    _check_calendar(frame, number)
    load = frame[LOAD_COLUMN].to_numpy(dtype=np.float64)
    pv = frame[PV_COLUMN].to_numpy(dtype=np.float64) * nominal / 1000.0
    return BuildingData(number=number, pv_nominal_kw=nominal, load_kw=load, pv_kw=pv)


@lru_cache(maxsize=2)
def load_site(data_dir: Path) -> SiteData:
    weather = _read(data_dir / "weather.csv", WEATHER_COLUMNS)
    price = _read(data_dir / "pricing.csv", (PRICE_COLUMN,))
    carbon = _read(data_dir / "carbon_intensity.csv", (CARBON_COLUMN,))
    channels = {
        name: weather[column].to_numpy(dtype=np.float64)
        for name, column in zip(WEATHER_CHANNELS, WEATHER_COLUMNS, strict=True)
    }
    channels[PRICE_CHANNEL] = price[PRICE_COLUMN].to_numpy(dtype=np.float64)
    channels[CARBON_CHANNEL] = carbon[CARBON_COLUMN].to_numpy(dtype=np.float64)
    return SiteData(channels=channels)


def pv_nominal_kw(data_dir: Path, number: int) -> float:
    try:
        schema = json.loads((data_dir / "schema.json").read_text())
        return float(schema["buildings"][f"Building_{number}"]["pv"]["attributes"]["nominal_power"])
    except (OSError, KeyError, ValueError) as exc:
        raise CityLearnDataError(
            f"no PV nominal power for building {number} in {data_dir}/schema.json: {exc}; "
            "set VPP_FORECAST__DATA_DIR to the citylearn_2022 folder"
        ) from exc


def _read(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    assert_no_future_columns(columns)
    try:
        frame = pd.read_csv(path, usecols=list(columns))
    except (OSError, ValueError) as exc:
        raise CityLearnDataError(f"cannot read {columns} from {path}: {exc}") from exc
    if len(frame) != HOURS:
        raise CityLearnDataError(f"{path} has {len(frame)} rows, expected {HOURS}")
    if frame.isna().to_numpy().any():
        raise CityLearnDataError(f"{path} has empty values in {columns}")
    return frame


def _check_calendar(frame: pd.DataFrame, number: int) -> None:
    """The file's own calendar must agree with our hour-ending reading of it."""
    starts = hour_index(DATA_START, HOURS)
    ends = starts + pd.Timedelta(hours=1)
    # Hour-ending 24 is the hour that ends at midnight: pandas says hour 0 of the next day.
    hour_ending = np.where(ends.hour == 0, 24, ends.hour)
    expected_month = np.asarray(starts.month)
    expected_day_type = np.asarray(starts.day_of_week) + 1  # Monday = 1
    if not (
        np.array_equal(frame["hour"].to_numpy(), hour_ending)
        and np.array_equal(frame["month"].to_numpy(), expected_month)
        and np.array_equal(frame["day_type"].to_numpy(), expected_day_type)
    ):
        raise CityLearnDataError(
            f"Building_{number}.csv: month/hour/day_type do not match hour-ending rows "
            f"starting {DATA_START.isoformat()}"
        )


def profile_row(t: datetime, offset_h: int = 0) -> int:
    """The row whose calendar hour `t` (UTC) falls in, on the profile's cyclic year.

    The same placement as the edge simulator's (`vpp.edge_sim.profiles`): a date reads the
    row of the same calendar date and clock hour (UTC) of the profile year 1 Aug -
    31 Jul, so the back-filled history and the live telemetry of a node join up.
    """
    t = t.astimezone(UTC)
    year = t.year if (t.month, t.day) >= (8, 1) else t.year - 1
    hours = int((t - datetime(year, 8, 1, tzinfo=UTC)).total_seconds() // 3600)
    return (hours + _PROFILE_YEAR_ROW + offset_h) % HOURS


def profile_rows(start: datetime, hours: int, offset_h: int = 0) -> npt.NDArray[np.int64]:
    """`profile_row` of each hour from `start` on."""
    return np.array(
        [profile_row(start + timedelta(hours=k), offset_h) for k in range(hours)], dtype=np.int64
    )
