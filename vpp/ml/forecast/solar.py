"""Where the sun is, and how much it could shine, at a site: astronomy only, known for any
hour in advance, so it may feed a forecast as a *future* covariate without leaking.

- Solar position from the NOAA / Spencer (1971) series for the declination and the
  equation of time: accurate to a few tenths of a degree, far finer than an hour's step.
- Clear-sky global horizontal irradiance from the Haurwitz (1945) model,
  `GHI = 1098 cos(z) exp(-0.057 / cos(z))` W/m2 for a sun above the horizon: no
  turbidity input, which is what a site without a pyranometer history can have.

Each value is the mean over its hour `[t, t + 1 h)` (sampled every quarter hour), as the
history's hourly values are averages over their hour. Timestamps are read as wall-clock
times of the site's `clock` time zone, `clock_lag_h` hours behind it. A real deployment
whose history is in true UTC says "UTC" and 0. The CityLearn profiles are Fontana's wall
clock stamped as if it were UTC: daylight saving included (their PV's midday moves an
hour on 6 Nov 2016 and 12 Mar 2017), and an hour early against the sun all year, read as
the data README reads its hour-ending rows (the PV's daily centroid sits 0.64-0.78 h
before the clear sky's in every season, and lagging the stamps 1 h fits the sunrise and
sunset hours best). So they say "America/Los_Angeles" and 1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
    # The IANA time zone whose wall clock the timestamps are read on.
    clock: str = "UTC"
    # Hours the timestamps run behind that wall clock (0 for a history stamped right).
    clock_lag_h: float = 0.0

    def __post_init__(self) -> None:
        if not -90.0 <= self.latitude_deg <= 90.0:
            raise ValueError(f"latitude {self.latitude_deg} is not in [-90, 90]")
        if not -180.0 <= self.longitude_deg <= 180.0:
            raise ValueError(f"longitude {self.longitude_deg} is not in [-180, 180]")
        if not -24.0 <= self.clock_lag_h <= 24.0:
            raise ValueError(f"clock lag {self.clock_lag_h} h is not in [-24, 24]")
        clock_zone(self.clock)

    def utc_offsets_h(self, start: datetime, hours: int) -> FloatArray:
        """How far the site's clock is ahead of UTC in each hour from the stamp `start`
        (stamps lag the clock by `clock_lag_h`). A wall time that does not exist (the hour
        skipped in spring) or exists twice (the one repeated in autumn) takes the offset
        from before the change."""
        zone = clock_zone(self.clock)
        wall = start.astimezone(UTC).replace(tzinfo=None) + timedelta(hours=self.clock_lag_h)

        def offset(k: int) -> float:
            at = (wall + timedelta(hours=k)).replace(tzinfo=zone)
            return at.utcoffset().total_seconds() / 3600.0  # type: ignore[union-attr]

        if hours <= 0:
            return np.zeros(0)
        # Once a day finds every change (no zone keeps a change for less than a day); a
        # span without one, the usual case, costs a few dozen look-ups, not one an hour.
        daily = {offset(k) for k in [*range(0, hours, 24), hours - 1]}
        if len(daily) == 1:
            return np.full(hours, daily.pop())
        return np.array([offset(k) for k in range(hours)])


def clock_zone(name: str) -> ZoneInfo:
    """The time zone called `name`, or a ValueError naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ValueError(f"unknown time zone {name!r} (an IANA name, e.g. UTC)") from e


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
    clock = start.astimezone(UTC).replace(tzinfo=None) + timedelta(hours=site.clock_lag_h)
    epoch_h = (clock - datetime(clock.year, 1, 1)).total_seconds() / 3600.0
    hours = int(np.ceil(offsets_h[-1])) if offsets_h.size else 0
    ahead = site.utc_offsets_h(start, hours)[np.floor(offsets_h).astype(int)]
    utc_h = epoch_h + offsets_h - ahead
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
