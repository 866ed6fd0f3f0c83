"""The observation: shape and scale, time as sin/cos, and no future actuals."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
from pydantic import ValidationError

from vpp.ml.forecast.backtest import seasonal_naive
from vpp.ml.rl.episodes import load_home, past_mean_forecast
from vpp.ml.rl.observation import HORIZON, OBS_SIZE, ObservationInput, build_observation
from vpp.ml.rl.settings import RLSettings


def _input(**kw: object) -> ObservationInput:
    base: dict[str, object] = {
        "soc": 0.5,
        "at": datetime(2026, 3, 2, 12, tzinfo=UTC),
        "prices_ahead": [0.21] * HORIZON,
        "carbon_ahead": [0.15] * HORIZON,
        "load_forecast_kw": [1.0] * HORIZON,
        "pv_forecast_kw": [0.5] * HORIZON,
        "capacity_kwh": 6.4,
        "max_power_kw": 5.0,
    }
    return ObservationInput.model_validate(base | kw)


def test_shape_dtype_and_scale() -> None:
    obs = build_observation(_input())
    assert obs.shape == (OBS_SIZE,)
    assert obs.dtype == np.float32
    assert np.all(np.abs(obs) <= 2.0)


def test_time_is_the_same_instant_in_any_zone() -> None:
    at = datetime(2026, 3, 2, 12, tzinfo=UTC)
    local = at.astimezone(timezone(timedelta(hours=-8)))
    assert np.array_equal(build_observation(_input(at=at)), build_observation(_input(at=local)))


def test_midnight_and_noon_differ_by_the_hour_angle() -> None:
    noon = build_observation(_input(at=datetime(2026, 3, 2, 12, tzinfo=UTC)))
    midnight = build_observation(_input(at=datetime(2026, 3, 2, 0, tzinfo=UTC)))
    assert noon[2] == pytest.approx(-1.0)
    assert midnight[2] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("soc", 1.5, "less than or equal to 1"),
        ("prices_ahead", [0.2] * (HORIZON - 1), "at least 24"),
        ("load_forecast_kw", [float("nan")] * HORIZON, "finite"),
        ("at", datetime(2026, 3, 2, 12), "timezone"),
        ("max_power_kw", 0.0, "greater than 0"),
    ],
)
def test_bad_input_is_a_clear_error(field: str, value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _input(**{field: value})


def test_future_actuals_do_not_reach_the_observation(rl: RLSettings) -> None:
    home = load_home(rl.data_dir, 12)
    row = 4000
    before = build_observation(home.observation_input(row, 0.4))
    load, pv = home.load_kw.copy(), home.pv_kw.copy()
    load[row:] *= 3.0
    pv[row:] = 0.0
    changed = replace(home, load_kw=load, pv_kw=pv)
    assert np.array_equal(before, build_observation(changed.observation_input(row, 0.4)))
    # ...while the past does.
    load[row - 1] += 2.0
    past = replace(home, load_kw=load)
    assert not np.array_equal(before, build_observation(past.observation_input(row, 0.4)))


def test_hindsight_sees_the_actual_hours_ahead_and_the_observation_does_not(
    rl: RLSettings,
) -> None:
    """The evaluation's hindsight reference reads the very actuals the observation never
    may; everything else is the same input."""
    home = load_home(rl.data_dir, 12)
    row = 4000
    seen = home.hindsight_input(row, 0.4)
    assert seen.load_forecast_kw == home.load_kw[row : row + HORIZON].tolist()
    assert seen.pv_forecast_kw == home.pv_kw[row : row + HORIZON].tolist()
    known = home.observation_input(row, 0.4)
    assert known.load_forecast_kw != seen.load_forecast_kw
    assert known.model_dump(exclude={"load_forecast_kw", "pv_forecast_kw"}) == seen.model_dump(
        exclude={"load_forecast_kw", "pv_forecast_kw"}
    )


def test_no_observation_without_a_week_of_history(rl: RLSettings) -> None:
    with pytest.raises(ValueError, match="history"):
        load_home(rl.data_dir, 1).observation_input(5, 0.5)


def test_forecast_is_the_mean_of_the_same_hour_over_past_days(rl: RLSettings) -> None:
    home = load_home(rl.data_dir, 12)
    row = 4000
    assert np.array_equal(
        past_mean_forecast(home.load_kw, row, HORIZON, 1),
        seasonal_naive(home.load_kw, row, HORIZON, 24),
    )
    week = past_mean_forecast(home.load_kw, row, HORIZON, 7)
    hour = 5  # the forecast of row + 5: that hour on each of the 7 days before `row`
    expected = np.mean([home.load_kw[row + hour - 24 * d] for d in range(1, 8)])
    assert week[hour] == pytest.approx(expected)
    with pytest.raises(ValueError, match="days"):
        past_mean_forecast(home.load_kw, row, HORIZON, 8)


def test_the_observation_uses_the_configured_days(rl: RLSettings) -> None:
    naive = load_home(rl.data_dir, 12, forecast_days=1).observation_input(4000, 0.4)
    week = load_home(rl.data_dir, 12, forecast_days=7).observation_input(4000, 0.4)
    assert naive.load_forecast_kw != week.load_forecast_kw
    assert naive.prices_ahead == week.prices_ahead
