"""Shared pieces of the forecasting's unit tests: the CityLearn folder, small settings."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from vpp.config import Settings
from vpp.ml.forecast.models import SeriesWindow
from vpp.ml.forecast.settings import BaselineParams, ForecastSettings, forecast_settings

START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday


@pytest.fixture(scope="session")
def data_dir(settings: Settings) -> Path:
    path = forecast_settings(settings).resolved_data_dir()
    assert (path / "schema.json").is_file(), f"CityLearn data not found at {path}"
    return path


@pytest.fixture
def small() -> ForecastSettings:
    """Settings for models that fit in a second."""
    s = ForecastSettings(lookback_h=400, threads=1)
    s.lightgbm.n_estimators = 20
    # Two baselines, so the tests see more than one booster set, short enough for 400 h.
    s.lightgbm.baselines = [BaselineParams(days=7, trim=3), BaselineParams(days=14, trim=4)]
    s.lightgbm.weather = True
    s.lightgbm.solar = True  # off by default; the tests keep its no-leak guarantees checked
    s.tide.n_epochs = 1
    s.exp_smoothing.fit_window_h = 168
    s.exp_smoothing.num_samples = 50
    return s


def daily_series(series_id: str, days: int, seed: int = 0, level: float = 2.0) -> SeriesWindow:
    """A daily shape plus noise, hourly from START."""
    rng = np.random.default_rng(seed)
    hours = np.arange(days * 24)
    values = level + np.sin(2 * np.pi * hours / 24) + 0.1 * rng.standard_normal(hours.size)
    return SeriesWindow(series_id, START, np.maximum(values, 0.0))
