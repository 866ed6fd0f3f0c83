"""Home load and PV from the CityLearn 2022 buildings (see ../shared/data/README.md).

Each CSV row is one hour's average (hour-ending, no timestamps); row 0 is 31 Jul 2016
23:00-24:00 and row 1 starts the profile year at 1 Aug 00:00. A value is placed at the
middle of its hour and read between hours by linear interpolation. Only the measured
columns are read: the `*_predicted_*` columns of the shared files hold the future.

The profile's clock hours are read as the simulated time's UTC hours, so PV peaks around
midday UTC whatever the simulator's time zone.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

PROFILE_HOURS = 8760
BUILDINGS = 17
# A building's values repeat across the fleet: node n uses building ((n - 1) % 17) + 1.
_LOAD_COLUMN = "non_shiftable_load"  # kWh per hour = average kW
_PV_COLUMN = "solar_generation"  # W per kW of installed PV


class ProfileDataError(RuntimeError):
    """The CityLearn files are missing or not what this module expects."""


@dataclass(frozen=True)
class BatterySpec:
    capacity_kwh: float
    nominal_kw: float
    efficiency: float  # applied on the way in and again on the way out


@dataclass(frozen=True)
class Building:
    number: int
    load_kw: tuple[float, ...]  # average kW of each profile hour
    pv_w_per_kw: tuple[float, ...]
    pv_nominal_kw: float
    battery: BatterySpec

    def hourly_pv_kw(self, row: int) -> float:
        return self.pv_w_per_kw[row] * self.pv_nominal_kw / 1000.0

    def load_at(self, position_h: float) -> float:
        return interpolate(self.load_kw, position_h)

    def pv_at(self, position_h: float) -> float:
        return interpolate(self.pv_w_per_kw, position_h) * self.pv_nominal_kw / 1000.0


def building_for_node(n: int) -> int:
    return (n - 1) % BUILDINGS + 1


def profile_position(t: datetime, offset_h: float = 0.0) -> float:
    """Hours from the start of row 0 to `t` on the profile's (cyclic) year, plus `offset_h`."""
    year = t.year if (t.month, t.day) >= (8, 1) else t.year - 1
    year_start = datetime(year, 8, 1, tzinfo=t.tzinfo)
    hours = (t - year_start).total_seconds() / 3600.0
    # +1: the profile year (1 Aug 00:00) begins at row 1.
    return (hours + 1.0 + offset_h) % PROFILE_HOURS


def interpolate(values: tuple[float, ...], position_h: float) -> float:
    """The value at `position_h`, each hourly value sitting at the middle of its hour."""
    size = len(values)
    u = position_h - 0.5
    base = math.floor(u)
    frac = u - base
    i0 = base % size
    i1 = (i0 + 1) % size
    return values[i0] * (1.0 - frac) + values[i1] * frac


def load_building(data_dir: Path, number: int) -> Building:
    return _load_building(data_dir.expanduser().resolve(), number)


@lru_cache(maxsize=BUILDINGS)
def _load_building(data_dir: Path, number: int) -> Building:
    if not 1 <= number <= BUILDINGS:
        raise ValueError(f"building {number} is not one of 1..{BUILDINGS}")
    attributes = _schema(data_dir)["buildings"][f"Building_{number}"]
    storage = attributes["electrical_storage"]["attributes"]
    battery = BatterySpec(
        capacity_kwh=float(storage["capacity"]),
        nominal_kw=float(storage["nominal_power"]),
        efficiency=float(storage["efficiency"]),
    )
    pv_nominal_kw = float(attributes["pv"]["attributes"]["nominal_power"])
    path = data_dir / f"Building_{number}.csv"
    load: list[float] = []
    pv: list[float] = []
    try:
        with path.open(newline="") as fh:
            for row in csv.DictReader(fh):
                load.append(float(row[_LOAD_COLUMN]))
                pv.append(float(row[_PV_COLUMN]))
    except (OSError, KeyError, ValueError) as exc:
        raise ProfileDataError(f"cannot read {path}: {exc}") from exc
    if len(load) != PROFILE_HOURS:
        raise ProfileDataError(f"{path} has {len(load)} rows, expected {PROFILE_HOURS}")
    return Building(number, tuple(load), tuple(pv), pv_nominal_kw, battery)


@lru_cache(maxsize=4)
def _schema(data_dir: Path) -> dict[str, Any]:
    path = data_dir / "schema.json"
    try:
        schema: dict[str, Any] = json.loads(path.read_text())
    except OSError as exc:
        raise ProfileDataError(
            f"CityLearn data not found at {data_dir} ({exc}); "
            "set VPP_EDGE_SIM__DATA_DIR to the citylearn_2022 folder"
        ) from exc
    return schema
