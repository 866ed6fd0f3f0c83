"""How the last hours went: each of a home's last `RECENT_H` hours of load (or PV) against
its typical value, the mean of the same clock hour over the `TYPICAL_DAYS` days before.

A cloudy morning or a busy afternoon shows here hours before it shows in a forecast made
from whole past days; the residual policy (`vpp.ml.rl.residual`) reads it to size the
grid top-up. The env computes it from the CityLearn year, the live cycle from the hourly
history (`vpp.ml.forecast.history`), both with `recent_deviation`. Only hours before the
decision's hour are read.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
RECENT_H = 6
TYPICAL_DAYS = 7
DAY_H = 24
# Hours before the decision `recent_deviation` reads: the recent hours and a week behind them.
RECENT_HISTORY_H = RECENT_H + TYPICAL_DAYS * DAY_H


def recent_deviation(values: FloatArray, end: int) -> FloatArray:
    """For each of the `RECENT_H` hours before index `end`, oldest first: its value minus
    the mean of the same hour on the `TYPICAL_DAYS` days before. Unknown (NaN) values are
    left out of the mean; an hour with no value, or no typical value, deviates by 0."""
    if end < RECENT_HISTORY_H:
        raise ValueError(f"needs {RECENT_HISTORY_H} h before the decision, has {end}")
    hours = np.arange(end - RECENT_H, end)
    lagged = values[hours[None, :] - DAY_H * np.arange(1, TYPICAL_DAYS + 1)[:, None]]
    known = np.isfinite(lagged)
    counts = known.sum(axis=0)
    typical = np.where(known, lagged, 0.0).sum(axis=0) / np.maximum(counts, 1)
    deviation = values[hours] - typical
    out: FloatArray = np.where(np.isfinite(deviation) & (counts > 0), deviation, 0.0)
    return out
