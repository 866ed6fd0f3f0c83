"""The site's tariff and grid carbon intensity for any UTC time (CityLearn 2022).

A time inside the data year (2016-07-31 23:00 to 2017-07-31 23:00 UTC) reads its own row,
as `vpp.ml.forecast.citylearn` stamps rows; any other time reads the row of the same
calendar date and clock hour on the profile year (`profile_row`), as the edge simulator
and the history import place the homes' load and PV, so live prices and live load agree.
The tariff is known ahead (a time-of-use table), so the next hours are no forecast.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from vpp.ml.forecast.citylearn import (
    CARBON_CHANNEL,
    DATA_START,
    HOURS,
    PRICE_CHANNEL,
    load_site,
    profile_row,
)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SiteSignals:
    start: datetime  # the start of the hour `at` falls in; step k covers start + k h
    prices_per_kwh: list[float]  # import tariff, $/kWh
    carbon_kg_per_kwh: list[float]  # grid emission factor, kg CO2/kWh


def data_row(at: datetime) -> int:
    """The CityLearn row whose hour `at` falls in."""
    if at.tzinfo is None:
        raise ValueError(f"{at} has no time zone; pass an aware UTC time")
    hours = int((at.astimezone(UTC) - DATA_START).total_seconds() // 3600)
    return hours if 0 <= hours < HOURS else profile_row(at)


def site_arrays(data_dir: Path) -> tuple[FloatArray, FloatArray]:
    """The year's price and carbon series (row-aligned, cached by `load_site`)."""
    site = load_site(data_dir.expanduser().resolve())
    return site.channels[PRICE_CHANNEL], site.channels[CARBON_CHANNEL]


def rows_ahead(first_row: int, hours: int) -> npt.NDArray[np.int64]:
    """`hours` consecutive rows from `first_row`, wrapping around the year."""
    return (first_row + np.arange(hours, dtype=np.int64)) % HOURS


def site_signals(at: datetime, hours: int, data_dir: Path) -> SiteSignals:
    """Prices and carbon intensity of the `hours` hours from the one `at` falls in."""
    if hours < 1:
        raise ValueError(f"hours must be at least 1, not {hours}")
    price, carbon = site_arrays(data_dir)
    rows = rows_ahead(data_row(at), hours)
    start = at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return SiteSignals(
        start=start,
        prices_per_kwh=[float(v) for v in price[rows]],
        carbon_kg_per_kwh=[float(v) for v in carbon[rows]],
    )
