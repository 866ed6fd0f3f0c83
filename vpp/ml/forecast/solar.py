"""Where the sun is, and how much it could shine, at a site: astronomy only, known for any
hour in advance, so it may feed a forecast as a *future* covariate without leaking.

- Solar position from the NOAA / Spencer (1971) series for the declination and the
  equation of time: accurate to a few tenths of a degree, far finer than an hour's step.
- Clear-sky global horizontal irradiance from the Haurwitz (1945) model,
  `GHI = 1098 cos(z) exp(-0.057 / cos(z))` W/m2 for a sun above the horizon: no
  turbidity input, which is what a site without a pyranometer history can have.

Each value is the mean over its hour `[t, t + 1 h)` (sampled every quarter hour), as the
history's hourly values are averages over their hour. Timestamps are read on the site's
clock: `clock_utc_offset_h` is how far that clock is ahead of UTC (the CityLearn profiles
are stamped on their local standard time, UTC-8, as if it were UTC; a real deployment
whose history is in true UTC says 0).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
_Fn = Callable[[FloatArray], FloatArray]
# Sub-samples per hour: the hour's mean, not its start, is what an hourly value measures.
_SAMPLES_PER_HOUR = 4
_SOLAR_CONSTANT_W_M2 = 1098.0  # Haurwitz's fitted constant, not the 1361 W/m2 at the top
_HAURWITZ_K = 0.057
_MIN_LIGHT_WH_M2 = 50.0


@dataclass(frozen=True)
class Site:
    latitude_deg: float
    longitude_deg: float  # east positive
    clock_utc_offset_h: float = 0.0

    def __post_init__(self) -> None:
        if not -90.0 <= self.latitude_deg <= 90.0:
            raise ValueError(f"latitude {self.latitude_deg} is not in [-90, 90]")
        if not -180.0 <= self.longitude_deg <= 180.0:
            raise ValueError(f"longitude {self.longitude_deg} is not in [-180, 180]")


def cos_zenith(site: Site, start: datetime, hours: int) -> FloatArray:
    """The mean over each hour from `start` of cos(solar zenith), negative at night
    (clipped to 0 by the irradiance)."""
    return _per_hour(site, start, hours, lambda cz: cz)


def clear_sky_ghi(site: Site, start: datetime, hours: int) -> FloatArray:
    """The hour-mean clear-sky global horizontal irradiance (W/m2) of each hour from
    `start`; 0 while the sun is below the horizon."""

    def haurwitz(cz: FloatArray) -> FloatArray:
        up = cz > 0.0
        out = np.zeros_like(cz)
        out[up] = _SOLAR_CONSTANT_W_M2 * cz[up] * np.exp(-_HAURWITZ_K / cz[up])
        return out

    return _per_hour(site, start, hours, haurwitz)


def _per_hour(site: Site, start: datetime, hours: int, f: _Fn) -> FloatArray:
    if hours < 0:
        raise ValueError("hours must be >= 0")
    if start.tzinfo is None:
        raise ValueError("start must carry a time zone")
    offsets = (np.arange(hours * _SAMPLES_PER_HOUR) + 0.5) / _SAMPLES_PER_HOUR
    values = f(_cos_zenith_at(site, start, offsets))
    means: FloatArray = values.reshape(hours, _SAMPLES_PER_HOUR).mean(axis=1)
    return means


def _cos_zenith_at(site: Site, start: datetime, offsets_h: FloatArray) -> FloatArray:
    """cos(zenith) at `start` + each offset (hours), `start` read on the site's clock."""
    clock = start.astimezone(UTC).replace(tzinfo=None)
    epoch_h = (clock - datetime(clock.year, 1, 1)).total_seconds() / 3600.0
    utc_h = epoch_h + offsets_h - site.clock_utc_offset_h
    # Fractional year (radians); days past 365 wrap within the series' first year.
    gamma = 2.0 * np.pi / 365.0 * (utc_h / 24.0)
    decl = (
        0.006918
        - 0.399912 * np.cos(gamma)
        + 0.070257 * np.sin(gamma)
        - 0.006758 * np.cos(2 * gamma)
        + 0.000907 * np.sin(2 * gamma)
        - 0.002697 * np.cos(3 * gamma)
        + 0.00148 * np.sin(3 * gamma)
    )
    eot_min = 229.18 * (
        0.000075
        + 0.001868 * np.cos(gamma)
        - 0.032077 * np.sin(gamma)
        - 0.014615 * np.cos(2 * gamma)
        - 0.040849 * np.sin(2 * gamma)
    )
    solar_min = (utc_h % 24.0) * 60.0 + eot_min + 4.0 * site.longitude_deg
    hour_angle = np.deg2rad(solar_min / 4.0 - 180.0)
    lat = np.deg2rad(site.latitude_deg)
    cz: FloatArray = np.sin(lat) * np.sin(decl) + np.cos(lat) * np.cos(decl) * np.cos(hour_angle)
    return cz


def clearness(measured: FloatArray, clear: FloatArray, hours: int = 24) -> FloatArray:
    """The sky's clearness over the `hours` up to and including each hour: the measured
    irradiance's sum over its clear-sky sum (1 = cloudless). A trailing sum, so it uses
    nothing after the hour, and defined through the night (the last day's light); the
    first hours of a window use what the window holds. 1 where no sun has shone yet."""
    if measured.shape != clear.shape:
        raise ValueError("measured and clear-sky irradiance differ in length")
    m = np.concatenate([[0.0], np.cumsum(measured)])
    c = np.concatenate([[0.0], np.cumsum(clear)])
    end = np.arange(1, len(measured) + 1)
    begin = np.maximum(end - hours, 0)
    light = c[end] - c[begin]
    out = np.ones(len(measured))
    # Below a few dawn minutes' light the ratio is noise.
    sunny = light > _MIN_LIGHT_WH_M2
    out[sunny] = (m[end] - m[begin])[sunny] / light[sunny]
    return np.clip(out, 0.0, 2.0)
