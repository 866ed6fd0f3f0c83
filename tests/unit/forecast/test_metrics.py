"""MASE, coverage and friends on series small enough to check by hand."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest

from vpp.ml.forecast import metrics
from vpp.ml.forecast.backtest import seasonal_naive, uncertain_hours
from vpp.ml.forecast.settings import ForecastSettings, Target


def test_mae_and_rmse() -> None:
    actual = np.array([[1.0, 2.0, 3.0, 4.0]])
    predicted = np.array([[2.0, 2.0, 1.0, 4.0]])
    assert metrics.mae(actual, predicted) == pytest.approx(0.75)  # (1 + 0 + 2 + 0) / 4
    assert metrics.rmse(actual, predicted) == pytest.approx(math.sqrt(5 / 4))


def test_mase_is_the_ratio_of_maes_on_the_same_points() -> None:
    actual = np.array([[10.0, 10.0], [20.0, 20.0]])
    model = np.array([[11.0, 9.0], [20.0, 22.0]])  # MAE 1
    naive = np.array([[12.0, 8.0], [24.0, 16.0]])  # MAE 3
    assert metrics.mase(actual, model, naive) == pytest.approx(1 / 3)
    assert metrics.mase(actual, naive, naive) == 1.0
    assert math.isnan(metrics.mase(actual, model, actual))  # a perfect naive: undefined


def test_coverage_counts_actuals_inside_the_interval_bounds_included() -> None:
    actual = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    lower = np.array([0.0, 2.0, 3.5, 3.0, 6.0])
    upper = np.array([2.0, 3.0, 4.0, 4.0, 7.0])
    assert metrics.coverage(actual, lower, upper) == pytest.approx(3 / 5)


def test_coverage_counts_only_the_uncertain_points() -> None:
    # Night PV: 0 forecast as [0, 0] is inside, yet says nothing about the day's interval.
    actual = np.array([0.0, 0.0, 0.0, 1.0, 2.0, 3.0])
    lower = np.array([0.0, 0.0, 0.0, 0.5, 2.5, 2.0])
    upper = np.array([0.0, 0.0, 0.0, 1.5, 3.0, 4.0])
    day = actual > 0
    assert metrics.coverage(actual, lower, upper) == pytest.approx(5 / 6)
    assert metrics.coverage(actual, lower, upper, day) == pytest.approx(2 / 3)
    assert math.isnan(metrics.coverage(actual, lower, upper, np.zeros(6, dtype=bool)))
    with pytest.raises(ValueError, match="shapes"):
        metrics.coverage(actual, lower, upper, day[:3])


def test_only_the_sunlit_hours_of_pv_are_uncertain() -> None:
    settings = ForecastSettings()
    start = datetime(2017, 6, 21, tzinfo=UTC)  # midnight on the data's (lagging) stamps
    pv = uncertain_hours(Target.PV, settings, start, 24)
    assert not pv[:4].any()
    assert pv[8:17].all()
    assert not pv[21:].any()
    assert uncertain_hours(Target.LOAD, settings, start, 24).all()


def test_shapes_must_match() -> None:
    with pytest.raises(ValueError, match="shapes"):
        metrics.mae(np.zeros(3), np.zeros(4))


def test_seasonal_naive_repeats_the_last_season() -> None:
    values = np.arange(100.0)
    np.testing.assert_array_equal(seasonal_naive(values, 48, 24, 24), np.arange(24.0, 48.0))
    # Beyond one season the last season repeats.
    np.testing.assert_array_equal(seasonal_naive(values, 10, 6, 4), [6, 7, 8, 9, 6, 7])


def test_score_bundles_the_metrics() -> None:
    actual = np.array([[1.0, 2.0], [3.0, 4.0]])
    q50 = actual + 0.5
    s = metrics.score(actual, actual - 1, q50, actual + 1, actual + 1.0)
    assert (s.mae, s.mase, s.coverage_80, s.naive_mae, s.points) == (0.5, 0.5, 1.0, 1.0, 4)
