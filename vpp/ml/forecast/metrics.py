"""Forecast metrics over a rolling-origin test, all on the same origins.

Arrays are shaped (origins, horizon): one row per forecast origin, one column per step.

- MAE and RMSE of the median (q50).
- MASE = the model's MAE over the test origins divided by the seasonal-naive MAE on the
  *same* origins and steps, the naive forecast being the value one season earlier
  (`y[t + h] ~ y[t + h - 24]` with the 24 h season used here). Below 1 the model beats the
  baseline; the design's target is <= 0.8. (This is Hyndman's MASE with the scale taken
  on the test origins instead of the training sample, so it is a plain ratio of MAEs.)
- Coverage of the 80 % interval: the share of actuals within [q10, q90]; 0.8 is perfect.
  It counts only the points the caller marks as uncertain: PV at night is 0 and forecast
  as 0, so counting those (over half the hours) would call any daytime interval
  calibrated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Scores:
    mae: float
    rmse: float
    mase: float
    coverage_80: float
    naive_mae: float
    points: int


def mae(actual: FloatArray, predicted: FloatArray) -> float:
    _check(actual, predicted)
    return float(np.mean(np.abs(predicted - actual)))


def rmse(actual: FloatArray, predicted: FloatArray) -> float:
    _check(actual, predicted)
    return float(np.sqrt(np.mean((predicted - actual) ** 2)))


def mase(actual: FloatArray, predicted: FloatArray, naive: FloatArray) -> float:
    """MAE(model) / MAE(seasonal naive) on the same points; NaN if the naive is perfect."""
    _check(actual, naive)
    naive_mae = mae(actual, naive)
    if naive_mae == 0.0:
        return math.nan
    return mae(actual, predicted) / naive_mae


def coverage(
    actual: FloatArray,
    lower: FloatArray,
    upper: FloatArray,
    where: npt.NDArray[np.bool_] | None = None,
) -> float:
    """The share of actuals within [lower, upper] (bounds included), over the points
    `where` is true (all by default); NaN if it marks none."""
    _check(actual, lower)
    _check(actual, upper)
    inside = (actual >= lower) & (actual <= upper)
    if where is None:
        return float(np.mean(inside))
    if where.shape != actual.shape:
        raise ValueError(f"shapes differ: {actual.shape} vs {where.shape}")
    return float(np.mean(inside[where])) if where.any() else math.nan


def score(
    actual: FloatArray,
    q10: FloatArray,
    q50: FloatArray,
    q90: FloatArray,
    naive: FloatArray,
    *,
    uncertain: npt.NDArray[np.bool_] | None = None,
) -> Scores:
    """The metrics; the coverage counts the `uncertain` points only (all by default)."""
    return Scores(
        mae=mae(actual, q50),
        rmse=rmse(actual, q50),
        mase=mase(actual, q50, naive),
        coverage_80=coverage(actual, q10, q90, uncertain),
        naive_mae=mae(actual, naive),
        points=int(actual.size),
    )


def _check(a: FloatArray, b: FloatArray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    if a.size == 0:
        raise ValueError("no points to score")
